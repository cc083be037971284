#!/bin/sh
# Embedded categorical CSV columns end to end (issue 13, categorical data):
# `categories = [embed("city", 4)]` where the city alone decides the label
# (20 cities): the model learns it (validation accuracy above 0.95), explain
# lists the column, experiment.hp and categories.txt keep the mapping (the
# run directory's categories.txt is the checkpoint's encoding), predict maps
# city names (an unseen city goes to the unknown bucket, id 0) with and
# without the label column, `normalize = standard` and `scale` leave the ids
# alone, a run killed mid-epoch resumes bit-identically, a warm start loads
# the tables, `hpc build` refuses the model at its line; check reports the
# mistakes at their .hp lines.  usage: catembed.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

# 20 cities; the label is 1 for the cities whose number is a multiple of 3;
# x1 and x2 are noise.  A city seen only in the rows split off (city20) is
# not a training category.
awk 'BEGIN {
    srand(11)
    print "x1,city,x2,bought"
    for (i = 0; i < 6000; i++) {
        c = int(rand() * 20)
        if (i >= 4900 && i % 50 == 0) c = 20
        printf "%.3f,city%02d,%.3f,%d\n", rand() * 10, c, rand(), (c % 3 == 0) ? 1 : 0
    }
}' > "$tmp/shop.csv"
write() { # NAME SETTINGS
    cat > "$tmp/$1.hp" <<HP
data shop {
    train = csv("$tmp/shop.csv", label = "bought", categories = [embed("city", 4)])
    valid = split(train, 0.2)
    $2
}
model m { input features; dense 16, relu; dense classes, softmax }
experiment e {
    data = shop; model = m; optimizer = adam(lr = 0.01)
    batch = 16; epochs = 4; seed = 3; threads = 2  # hpc: allow(batch-pow2)
    checkpoint = 25 steps
}
HP
}
write s ""
write n "normalize = standard
    scale = 0.5"

"$HPC" check "$tmp/s.hp" > "$tmp/check.out" 2>&1 || { fail "check"; cat "$tmp/check.out"; }
"$HPC" explain "$tmp/s.hp" > "$tmp/explain.out" 2>&1 || fail "explain"
grep -q "feature column 1 'city'  embedded, 4 values per category; 20 categories (ids 1-20) and the unknown bucket (id 0, zeros): 84 parameters: city00, city01" \
    "$tmp/explain.out" || { fail "explain: the embedded column"; cat "$tmp/explain.out"; }
grep -q "1  embed_columns input.city 21x4      \[6\]                      84" "$tmp/explain.out" ||
    fail "explain: the embed_columns layer"
grep -q "0  input 6 " "$tmp/explain.out" || fail "explain: features counts 4 for the city"

"$HPC" run "$tmp/s.hp" --out "$tmp/run" --quiet || fail "run"
acc=$(awk -F, 'END { print $7 }' "$tmp/run/metrics.csv")
awk -v a="$acc" 'BEGIN { exit !(a > 0.95) }' || fail "validation accuracy $acc <= 0.95"
grep -q 'categories = \[embed(1, 4)\]' "$tmp/run/experiment.hp" || fail "experiment.hp keeps the embedded column"
# categories.txt: the encoding, one a line; city20 (only in the split-off rows) is not a category
{ echo "classes 0"; echo "embed 1 20 4"; echo "city"; for i in $(seq 0 19); do printf 'city%02d\n' "$i"; done; } |
    cmp -s - "$tmp/run/categories.txt" || { fail "categories.txt"; cat "$tmp/run/categories.txt"; }

# predict: city names; an unseen city (id 0: a zero vector) still predicts
cat > "$tmp/new.csv" <<CSV
x1,city,x2,bought
1.0,city03,0.5,1
2.0,city04,0.5,0
3.0,city18,0.5,1
4.0,atlantis,0.5,0
CSV
"$HPC" predict "$tmp/run" "$tmp/new.csv" > "$tmp/pred.csv" 2> "$tmp/pred.err" || { fail "predict"; cat "$tmp/pred.err"; }
sed -n 2p "$tmp/pred.csv" | grep -q "^0,1,1," || fail "predict: city03: $(sed -n 2p "$tmp/pred.csv")"
sed -n 3p "$tmp/pred.csv" | grep -q "^1,0,0," || fail "predict: city04: $(sed -n 3p "$tmp/pred.csv")"
sed -n 4p "$tmp/pred.csv" | grep -q "^2,1,1," || fail "predict: city18: $(sed -n 4p "$tmp/pred.csv")"
sed -n 5p "$tmp/pred.csv" | grep -q "^3,[01],0," || fail "predict: an unknown city: $(sed -n 5p "$tmp/pred.csv")"
cut -d, -f1-3 "$tmp/new.csv" > "$tmp/nolabel.csv"
"$HPC" predict "$tmp/run" "$tmp/nolabel.csv" > "$tmp/nolabel.out" 2>&1 || { fail "predict without labels"; cat "$tmp/nolabel.out"; }
sed -n 2p "$tmp/nolabel.out" | grep -q "^0,1," || fail "predict without labels: $(sed -n 2p "$tmp/nolabel.out")"
# the unknown bucket: atlantis and another unseen city give the same probabilities
printf 'x1,city,x2\n4.0,atlantis,0.5\n4.0,city99,0.5\n' > "$tmp/unk.csv"
"$HPC" predict "$tmp/run" "$tmp/unk.csv" > "$tmp/unk.out" 2>/dev/null || fail "predict unknown cities"
[ "$(sed -n 2p "$tmp/unk.out" | cut -d, -f2-)" = "$(sed -n 3p "$tmp/unk.out" | cut -d, -f2-)" ] ||
    fail "two unknown cities differ: $(cat "$tmp/unk.out")"

# normalize = standard and scale: the ids stay ids (the model learns as well)
"$HPC" run "$tmp/n.hp" --out "$tmp/runn" --quiet || fail "run with normalize and scale"
acc=$(awk -F, 'END { print $7 }' "$tmp/runn/metrics.csv")
awk -v a="$acc" 'BEGIN { exit !(a > 0.95) }' || fail "normalize/scale: validation accuracy $acc <= 0.95"
"$HPC" predict "$tmp/runn" "$tmp/new.csv" > "$tmp/predn.csv" 2>/dev/null || fail "predict (normalize)"
sed -n 2p "$tmp/predn.csv" | grep -q "^0,1,1," || fail "predict (normalize): city03"

# min_count: 5% of the rows have a city of their own (seen once): with
# min_count = 3 they go to the unknown bucket, which learns (the label's
# share among them), and the 20 cities stay
awk 'BEGIN {
    srand(5)
    print "x1,city,x2,bought"
    for (i = 0; i < 3000; i++) {
        c = int(rand() * 20)
        if (rand() < 0.05) c = 100 + i
        printf "%.3f,city%02d,%.3f,%d\n", rand(), c, rand(), (c % 3 == 0) ? 1 : 0
    }
}' > "$tmp/rare.csv"
sed "s|$tmp/shop.csv|$tmp/rare.csv|; s|embed(\"city\", 4)|embed(\"city\", 4, min_count = 3)|" "$tmp/s.hp" > "$tmp/r.hp"
"$HPC" explain "$tmp/r.hp" 2>&1 | grep -q "20 categories (ids 1-20) and the unknown bucket (id 0, also the categories seen fewer than 3 times)" ||
    fail "explain: min_count"
"$HPC" run "$tmp/r.hp" --out "$tmp/runr" --epochs 2 --quiet || fail "run with min_count"
grep -q 'categories = \[embed(1, 4, min_count = 3)\]' "$tmp/runr/experiment.hp" || fail "experiment.hp keeps min_count"
[ "$(sed -n 2p "$tmp/runr/categories.txt")" = "embed 1 20 4" ] || fail "min_count: categories.txt: $(sed -n 2p "$tmp/runr/categories.txt")"
acc=$(awk -F, 'END { print $7 }' "$tmp/runr/metrics.csv")
awk -v a="$acc" 'BEGIN { exit !(a > 0.95) }' || fail "min_count: validation accuracy $acc <= 0.95"

# a run killed mid-epoch resumes bit-identically
wait_lines() {
    i=0
    while [ "$({ wc -l < "$1"; } 2>/dev/null || echo 0)" -lt "$2" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
}
"$HPC" run "$tmp/s.hp" --out "$tmp/killed" --quiet &
pid=$!
wait_lines "$tmp/killed/steps.csv" 400
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ "$(wc -l < "$tmp/killed/steps.csv")" -lt 1201 ] || echo "note: the run finished before it could be killed"
"$HPC" resume "$tmp/killed" --quiet > "$tmp/resume.out" 2>&1 || { fail "resume after SIGKILL"; cat "$tmp/resume.out"; }
cut -d, -f1-7 "$tmp/run/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$tmp/killed/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" || { fail "resume: metrics.csv differs"; diff "$tmp/ma" "$tmp/mb" | head; }
cmp -s "$tmp/run/steps.csv" "$tmp/killed/steps.csv" || fail "resume: steps.csv differs"
"$HPC" predict "$tmp/killed" "$tmp/new.csv" > "$tmp/predk.csv" 2>/dev/null
cmp -s "$tmp/pred.csv" "$tmp/predk.csv" || fail "resume: the final tables differ (predictions differ)"

# a warm start loads the tables: at a rate of 1e-30 the predictions are the saved ones
"$HPC" run "$tmp/s.hp" --from "$tmp/run/last.hpw" --epochs 1 --set optimizer.lr=1e-30 --allow lr-range \
    --out "$tmp/warm" > "$tmp/warm.out" 2>&1 || { fail "run --from"; cat "$tmp/warm.out"; }
grep -q "loaded 3 of 3 layers with parameters" "$tmp/warm.out" || { fail "run --from: the tables"; cat "$tmp/warm.out"; }
grep -q "^from: loaded layer 1 \`embed_columns input.city 21x4\`" "$tmp/warm/events.log" || fail "events.log names the tables"
"$HPC" predict "$tmp/warm" "$tmp/new.csv" --weights last > "$tmp/predw.csv" 2>/dev/null
cmp -s "$tmp/pred.csv" "$tmp/predw.csv" || fail "run --from: the loaded tables are not the saved ones"

# ... but not into a model whose city has other categories (the same sizes): refused, or skipped with --from-partial
sed 's/city05/town05/' "$tmp/shop.csv" > "$tmp/shop2.csv"
sed "s|$tmp/shop.csv|$tmp/shop2.csv|" "$tmp/s.hp" > "$tmp/s2.hp"
"$HPC" run "$tmp/s2.hp" --from "$tmp/run/last.hpw" --epochs 1 --out "$tmp/warm2" > "$tmp/warm2.out" 2>&1 &&
    fail "run --from: tables of other categories were loaded"
grep -q "s2.hp:6: layer 1 \`embed_columns input.city 21x4\` .*; the checkpoint's embedded columns have other categories" \
    "$tmp/warm2.out" || { fail "run --from: other categories"; cat "$tmp/warm2.out"; }
"$HPC" run "$tmp/s2.hp" --from "$tmp/run/last.hpw" --from-partial --epochs 1 --out "$tmp/warm3" --quiet ||
    fail "run --from-partial"
grep -q "^from: skipped layer 1 \`embed_columns" "$tmp/warm3/events.log" || fail "--from-partial: the tables skipped"

# hpc build: the header names each embedded column's categories (id = index + 1); the
# artifact takes the id as the column's float and agrees with predict (unknown: id 0 or
# anything outside 1..20); with normalize and scale too (the ids are neither)
for r in run runn; do
    "$HPC" build "$tmp/s.hp" --weights "$tmp/$r" -o "$tmp/out$r" --name shop --exe > "$tmp/build.out" 2>&1 ||
        { fail "build $r"; cat "$tmp/build.out"; }
done
grep -q "^#define SHOP_CITY_INPUT_INDEX 1 " "$tmp/outrun/shop.h" || fail "build: SHOP_CITY_INPUT_INDEX"
grep -q "^#define SHOP_CITY_NUM_CATEGORIES 20$" "$tmp/outrun/shop.h" || fail "build: SHOP_CITY_NUM_CATEGORIES"
grep -q "^static const char \*const shop_city_categories\[SHOP_CITY_NUM_CATEGORIES\] = {$" "$tmp/outrun/shop.h" ||
    fail "build: shop_city_categories"
grep -q '^#define SHOP_INPUT_SIZE 3 ' "$tmp/outrun/shop.h" || fail "build: the input is 3 floats (the id one)"
cat > "$tmp/use.c" <<C
#include <string.h>
#include "shop.h"
/* a caller maps a city name to its id: its index in shop_city_categories + 1, else 0 */
float city_id(const char *s)
{
    for (int i = 0; i < SHOP_CITY_NUM_CATEGORIES; i++)
        if (strcmp(shop_city_categories[i], s) == 0)
            return (float)(i + 1);
    return 0.0f;
}
C
cc -std=c11 -Wall -Werror -c "$tmp/use.c" -I "$tmp/outrun" -o "$tmp/use.o" || fail "the header does not compile"
# city03 is id 4, city04 id 5, city18 id 19; atlantis: 0, and 99 and 2.5-ish values outside the ids
printf '1.0,4,0.5\n2.0,5,0.5\n3.0,19,0.5\n4.0,0,0.5\n4.0,99,0.5\n' > "$tmp/ids.csv"
for r in run runn; do
    "$tmp/out$r/shop" < "$tmp/ids.csv" > "$tmp/exe$r.out" || fail "build --exe $r"
    cut -d, -f1 "$tmp/exe$r.out" | tr '\n' ' ' > "$tmp/exe$r.cls"
    "$HPC" predict "$tmp/$r" "$tmp/new.csv" 2>/dev/null | sed 1d | cut -d, -f2 | tr '\n' ' ' > "$tmp/pred$r.cls"
    [ "$(cut -d' ' -f1-4 "$tmp/exe$r.cls")" = "$(cut -d' ' -f1-4 "$tmp/pred$r.cls")" ] ||
        fail "build $r: the artifact $(cat "$tmp/exe$r.cls") and predict $(cat "$tmp/pred$r.cls") differ"
    [ "$(sed -n 4p "$tmp/exe$r.out" | cut -d, -f2-)" = "$(sed -n 5p "$tmp/exe$r.out" | cut -d, -f2-)" ] ||
        fail "build $r: id 99 is not the unknown bucket"
done

# check: the mistakes at their lines
check_err() { # CATEGORIES EXPECTED-TEXT [VALID]
    cat > "$tmp/bad.hp" <<HP
data shop {
    train = csv("$tmp/shop.csv", label = "bought",
        categories = $1)
    valid = ${3:-split(train, 0.2)}
}
model m { input features; dense 4; dense classes, softmax }
experiment e { data = shop; model = m }
HP
    "$HPC" check "$tmp/bad.hp" > "$tmp/bad.out" 2>&1 && fail "check accepted categories = $1"
    grep -q "$2" "$tmp/bad.out" || { fail "check: categories = $1"; cat "$tmp/bad.out"; }
}
check_err '[embed("bought", 4)]' "bad.hp:3:22: error: .*categorical column 3 is the label column"
check_err '[embed("town", 4)]' "bad.hp:3:22: error: .*no column named 'town'"
check_err '[embed("city", 0)]' "bad.hp:3:37: error: the embedding size must be between 1 and 1024; it is 0"
check_err '[embed("city", 1025)]' "bad.hp:3:37: error: the embedding size must be between 1 and 1024"
check_err '["city", embed(1, 4)]' "bad.hp:3:22: error: .*categorical column 1 is declared twice"
check_err '[embed("city", 4)]' "bad.hp:4:.*error: 'categories' belongs to 'train'" \
    "csv(\"$tmp/shop.csv\", label = \"bought\", categories = [embed(\"city\", 4)])"
check_err '[embed("city")]' "bad.hp:3:23: error: embed(...) needs 'dim'"
check_err '[embed("city", 4, min_count = 0)]' "bad.hp:3:52: error: min_count must be at least 1; it is 0"
check_err '[embed("city", 4, min_count = 100000)]' "bad.hp:2:.*error: embedded column 1 'city' has no category seen min_count times"
# a wider embedding than categories: a note at the list (no split: city20 is a category)
cat > "$tmp/wide.hp" <<HP
data shop {
    train = csv("$tmp/shop.csv", label = "bought",
        categories = [embed("city", 32)])
}
model m { input features; dense 4; dense classes, softmax }
experiment e { data = shop; model = m }
HP
"$HPC" check "$tmp/wide.hp" > "$tmp/wide.out" 2>&1
grep -q "wide.hp:3:22: note: feature column 1 'city' is embedded in 32 values but has 21 categories.*\[embed-wide\]" \
    "$tmp/wide.out" || { fail "check: the embed-wide note"; cat "$tmp/wide.out"; }
"$HPC" check "$tmp/wide.hp" --allow embed-wide > "$tmp/wide2.out" 2>&1
grep -q "embed-wide" "$tmp/wide2.out" && fail "--allow embed-wide"
# a model written with embed_columns
cat > "$tmp/own.hp" <<HP
data shop { train = csv("$tmp/shop.csv", label = "bought", categories = [embed("city", 4)]) }
model m { input features; embed_columns; dense classes, softmax }
experiment e { data = shop; model = m }
HP
"$HPC" check "$tmp/own.hp" > "$tmp/own.out" 2>&1 && fail "check accepted embed_columns in a model"
grep -q "own.hp:2:27: error: \`embed_columns\` is not written in a model" "$tmp/own.out" || { fail "embed_columns refusal"; cat "$tmp/own.out"; }

finish catembed
