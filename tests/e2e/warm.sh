#!/bin/sh
# Warm starts and extended runs (issue 13, items 5-7): `hpc run --from`
# loads exactly the saved weights (the first step's loss is the one the
# checkpoint's weights give, bit for bit; predictions unchanged after a run at
# rate 0), names a mismatching layer with its shapes and line, and with
# --from-partial says which layers it loaded and skipped; `hpc resume RUN
# --epochs N` continues a finished run as if it had been started with N epochs
# (a constant schedule: the same files), recomputes a schedule for the new
# length (the rates of a run started with N epochs), restarts a stop rule that
# ended the run, and refuses N <= the epochs done; `hpc predict` with labels
# prints per-class precision, recall, F1 and the confusion matrix that its own
# rows give.  usage: warm.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

write() { # NAME LAYERS SETTINGS
    cat > "$tmp/$1.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
    shuffle = false
}
model mlp { input 784; $2 }
experiment small {
    data = slice; model = mlp; batch = 64; seed = 3; threads = 2
    optimizer = adam(lr = 2e-3)
    $3
}
HP
}
write base "dense 32, relu; dense classes, softmax" "epochs = 2"
write long "dense 32, relu; dense classes, softmax" "epochs = 4"
write narrow "dense 16, relu; dense classes, softmax" "epochs = 1"
write wider "dense 32, relu; dense 24, relu; dense classes, softmax" "epochs = 1"
write cos2 "dense 32, relu; dense classes, softmax" "epochs = 2; schedule = cosine"
write cos4 "dense 32, relu; dense classes, softmax" "epochs = 4; schedule = cosine"
write stop "dense 32, relu; dense classes, softmax" "epochs = 6; stop = early(patience = 0, min_delta = 10)"

"$HPC" run "$tmp/base.hp" --out "$tmp/a" --quiet || fail "the 2-epoch run"
"$HPC" run "$tmp/long.hp" --out "$tmp/full" --quiet || fail "the 4-epoch run"
cp -r "$tmp/a" "$tmp/a2"

# ---- resume --epochs: a finished run extended is the longer run, file for file
"$HPC" resume "$tmp/a" --epochs 4 > "$tmp/ext.out" 2>&1 || { fail "resume --epochs 4: exit $?"; cat "$tmp/ext.out"; }
grep -q "resume: extended from 2 to 4 epochs (2 done; 250 to 500 steps); schedule constant" "$tmp/ext.out" ||
    { fail "the extension is not announced"; cat "$tmp/ext.out"; }
grep -q "^resume: extended from 2 to 4 epochs" "$tmp/a/events.log" || fail "events.log lacks the extension"
grep -q "epochs *= 4$" "$tmp/a/experiment.hp" || fail "experiment.hp still has the old length"
cut -d, -f1-7 "$tmp/a/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$tmp/full/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" || { fail "extended metrics.csv differs from the 4-epoch run's"; diff "$tmp/ma" "$tmp/mb"; }
cmp -s "$tmp/a/steps.csv" "$tmp/full/steps.csv" || fail "extended steps.csv differs from the 4-epoch run's"
[ "$(wc -l < "$tmp/a/metrics.csv")" = 5 ] || fail "the extended run has not 4 epochs of metrics"

# refusals: N <= the epochs done
"$HPC" resume "$tmp/a" --epochs 4 > /dev/null 2> "$tmp/r.err"; st=$?
[ $st = 2 ] || fail "resume --epochs 4 of a 4-epoch run: exit $st, expected 2"
grep -q "has trained 4 epochs: --epochs is the new total and must be more than 4" "$tmp/r.err" ||
    { fail "the refusal's message"; cat "$tmp/r.err"; }
"$HPC" resume "$tmp/a" --epochs 3 > /dev/null 2>&1 && fail "resume --epochs 3 of a 4-epoch run was accepted"
"$HPC" resume "$tmp/a" --epochs 0 > /dev/null 2>&1 && fail "resume --epochs 0 was accepted"
"$HPC" resume "$tmp/a" > "$tmp/r.out" 2>&1 || fail "a plain resume of a complete run"
grep -q "nothing to resume (--epochs N extends it to N)" "$tmp/r.out" || fail "the complete run's hint"

# a schedule is recomputed for the new length: from step 251 on, the rates of a 4-epoch cosine
"$HPC" run "$tmp/cos2.hp" --out "$tmp/c" --quiet || fail "the 2-epoch cosine run"
"$HPC" run "$tmp/cos4.hp" --out "$tmp/c4" --quiet || fail "the 4-epoch cosine run"
"$HPC" resume "$tmp/c" --epochs 4 --quiet || fail "resume --epochs 4 of the cosine run"
grep -q "schedule cosine(min = 0) recomputed over 500 steps: the rate of step 251 is 0.001 (0 on the 2-epoch schedule)" \
    "$tmp/c/events.log" || { fail "the cosine extension's event"; cat "$tmp/c/events.log"; }
awk -F, 'NR > 251 { print $3 }' "$tmp/c/steps.csv" > "$tmp/lr_ext"
awk -F, 'NR > 251 { print $3 }' "$tmp/c4/steps.csv" > "$tmp/lr_full"
[ -s "$tmp/lr_ext" ] && cmp -s "$tmp/lr_ext" "$tmp/lr_full" || fail "the extended rates are not the 4-epoch schedule's"

# a stop rule that ended the run starts again
"$HPC" run "$tmp/stop.hp" --out "$tmp/s" --quiet || fail "the early-stopped run"
grep -q "early stop" "$tmp/s/events.log" || fail "the stop rule did not end the run"
rows=$(wc -l < "$tmp/s/metrics.csv")
"$HPC" resume "$tmp/s" --epochs 8 --quiet || fail "resume --epochs 8 of a stopped run"
grep -q "the stop rule that ended the run starts again" "$tmp/s/events.log" || fail "the stop rule's reset is not stated"
[ "$(wc -l < "$tmp/s/metrics.csv")" -gt "$rows" ] || fail "the stopped run did not train on"

# a search trial's run directory extends too
cat > "$tmp/study.hp" <<HP
import "cos2.hp"
search sweep {
    base = small
    vary optimizer.lr in {1e-3, 2e-3}
    strategy = grid
}
HP
"$HPC" search "$tmp/study.hp" --out "$tmp/st" --quiet > /dev/null 2>&1 || fail "the search"
"$HPC" resume "$tmp/st/trials/0001" --epochs 3 --quiet || fail "resume --epochs 3 of a search trial"
grep -q "^resume: extended from 2 to 3 epochs" "$tmp/st/trials/0001/events.log" || fail "the trial's extension event"
[ "$(wc -l < "$tmp/st/trials/0001/metrics.csv")" = 4 ] || fail "the extended trial has not 3 epochs of metrics"

# ---- --from: the saved weights exactly
"$HPC" run "$tmp/base.hp" --from "$tmp/a2/last.hpw" --epochs 1 --out "$tmp/b" > "$tmp/b.out" 2>&1 ||
    { fail "run --from: exit $?"; cat "$tmp/b.out"; }
grep -q "from $tmp/a2/last.hpw: loaded 2 of 2 layers with parameters (25450 of 25450 parameters); the optimizer state starts fresh" \
    "$tmp/b.out" || { fail "run --from: what was loaded"; cat "$tmp/b.out"; }
grep -q "^from: loaded layer 1 \`dense 32, relu\`" "$tmp/b/events.log" || fail "events.log lacks the loaded layers"
# the first step's loss is the loss of the saved weights on the first batch:
# that of step 251 of the saved run continued (no shuffling: the same batch)
cp -r "$tmp/a2" "$tmp/a3"
"$HPC" resume "$tmp/a3" --epochs 3 --quiet || fail "resume --epochs 3"
l1=$(awk -F, 'NR == 2 { print $5 }' "$tmp/b/steps.csv")
l251=$(awk -F, 'NR == 252 { print $5 }' "$tmp/a3/steps.csv")
[ -n "$l1" ] && [ "$l1" = "$l251" ] || fail "the first step's loss $l1 is not the saved weights' $l251"
# at a rate of 1e-30 (every update far below half an ulp of its weight) the
# weights stay what was loaded: the same predictions as the checkpoint's
"$HPC" run "$tmp/base.hp" --from "$tmp/a2/last.hpw" --epochs 1 --set optimizer.lr=1e-30 --allow lr-range \
    --out "$tmp/z" --quiet || fail "run --from at rate 1e-30"
"$HPC" predict "$tmp/a2" "$FM/t10k-images-idx3-ubyte.gz" --weights last > "$tmp/pa" 2>/dev/null
"$HPC" predict "$tmp/z" "$FM/t10k-images-idx3-ubyte.gz" --weights last > "$tmp/pz" 2>/dev/null
[ -s "$tmp/pa" ] && cmp -s "$tmp/pa" "$tmp/pz" || fail "the loaded weights are not the saved ones"
# batchnorm's running statistics come with its weights: with momentum 0 they
# do not move while training, so the loaded model predicts as the saved one
write bn "dense 32; batchnorm momentum = 0; relu; dense classes, softmax" "epochs = 1"
write bn1 "dense 32; batchnorm; relu; dense classes, softmax" "epochs = 1"
"$HPC" run "$tmp/bn1.hp" --out "$tmp/bna" --quiet || fail "the batchnorm run"
"$HPC" run "$tmp/bn.hp" --from "$tmp/bna/last.hpw" --set optimizer.lr=1e-30 --allow lr-range --out "$tmp/bnz" --quiet ||
    fail "run --from a batchnorm run"
"$HPC" predict "$tmp/bna" "$FM/t10k-images-idx3-ubyte.gz" --weights last > "$tmp/pa" 2>/dev/null
"$HPC" predict "$tmp/bnz" "$FM/t10k-images-idx3-ubyte.gz" --weights last > "$tmp/pz" 2>/dev/null
[ -s "$tmp/pa" ] && cmp -s "$tmp/pa" "$tmp/pz" || fail "batchnorm's running statistics were not loaded"
# a run directory means its best.hpw
"$HPC" run "$tmp/base.hp" --from "$tmp/a2" --epochs 1 --out "$tmp/bd" > "$tmp/bd.out" 2>&1 || fail "run --from RUN_DIR"
grep -q "from $tmp/a2/best.hpw: loaded" "$tmp/bd.out" || fail "--from RUN_DIR does not load best.hpw"

# --from names something that is not a checkpoint: refused before training, with the reason
"$HPC" run "$tmp/base.hp" --from "$tmp/nothere.hpw" --out "$tmp/nf1" > "$tmp/nf.out" 2>&1
[ $? = 2 ] && grep -q "from $tmp/nothere.hpw: No such file or directory" "$tmp/nf.out" || fail "--from a missing file: $(cat "$tmp/nf.out")"
"$HPC" run "$tmp/base.hp" --from /dev/null --out "$tmp/nf2" > "$tmp/nf.out" 2>&1
[ $? = 2 ] && grep -q "from /dev/null: not a checkpoint file (.hpw) or a run directory" "$tmp/nf.out" || fail "--from /dev/null: $(cat "$tmp/nf.out")"
mkdir "$tmp/emptyrun"
"$HPC" run "$tmp/base.hp" --from "$tmp/emptyrun" --out "$tmp/nf3" > "$tmp/nf.out" 2>&1
[ $? = 2 ] && grep -q "the directory holds no best.hpw or last.hpw" "$tmp/nf.out" || fail "--from an empty directory: $(cat "$tmp/nf.out")"
[ -e "$tmp/nf1" ] || [ -e "$tmp/nf2" ] || [ -e "$tmp/nf3" ] && fail "a refused --from left a run directory"
# a .hpw with no experiment.hp beside it loads into its own model only
mkdir "$tmp/solo" && cp "$tmp/a2/last.hpw" "$tmp/solo/x.hpw"
"$HPC" run "$tmp/base.hp" --from "$tmp/solo/x.hpw" --epochs 1 --out "$tmp/so" > "$tmp/so.out" 2>&1 ||
    { fail "run --from a lone .hpw: exit $?"; cat "$tmp/so.out"; }
grep -q "from $tmp/solo/x.hpw: loaded every layer (25450 parameters)" "$tmp/so.out" || fail "the lone .hpw's message"
[ "$(awk -F, 'NR == 2 { print $5 }' "$tmp/so/steps.csv")" = "$l1" ] || fail "the lone .hpw's first step loss"
"$HPC" run "$tmp/wider.hp" --from "$tmp/solo/x.hpw" --from-partial --out "$tmp/so2" > /dev/null 2> "$tmp/so2.err"; st=$?
[ $st = 2 ] || fail "a lone .hpw of another model: exit $st, expected 2"
grep -q "belongs to a different model" "$tmp/so2.err" || fail "a lone .hpw of another model: the message"

# a mismatch names the layers, their shapes and lines
"$HPC" run "$tmp/narrow.hp" --from "$tmp/a2" --out "$tmp/n" > /dev/null 2> "$tmp/n.err"; st=$?
[ $st = 2 ] || fail "a mismatching --from: exit $st, expected 2"
grep -q "$tmp/narrow.hp:7: layer 1 \`dense 16, relu\` \[784\] -> \[16\] (12560 parameters); the checkpoint's is layer 1 \`dense 32, relu\` \[784\] -> \[32\] (25120 parameters)" \
    "$tmp/n.err" || { fail "the mismatch's message"; cat "$tmp/n.err"; }
grep -q "\-\-from-partial loads the layers that match" "$tmp/n.err" || fail "the mismatch does not mention --from-partial"
"$HPC" run "$tmp/wider.hp" --from "$tmp/a2" --out "$tmp/w0" > /dev/null 2>&1 && fail "a partial match without --from-partial"

# --from-partial: what was loaded and skipped, on the terminal and in events.log
"$HPC" run "$tmp/wider.hp" --from "$tmp/a2" --from-partial --out "$tmp/w" > "$tmp/w.out" 2>&1 ||
    { fail "run --from-partial: exit $?"; cat "$tmp/w.out"; }
for f in "$tmp/w.out" "$tmp/w/events.log"; do
    grep -q "loaded 1 of 3 layers with parameters (25120 of 26162 parameters)" "$f" || fail "$f: the count loaded"
    grep -q "from: loaded layer 1 \`dense 32, relu\` \[784\] -> \[32\] (25120 parameters) (line 7)" "$f" ||
        fail "$f: the loaded layer"
    grep -q "from: skipped layer 2 \`dense 24, relu\` \[32\] -> \[24\] (792 parameters) (line 7): the checkpoint's is layer 2 \`dense 10, softmax\`" "$f" ||
        fail "$f: the skipped layer 2"
    grep -q "from: skipped layer 3 \`dense 10, softmax\` \[24\] -> \[10\] (250 parameters) (line 7): not in the checkpoint" "$f" ||
        fail "$f: the skipped layer 3"
done
"$HPC" run "$tmp/base.hp" --from-partial --out "$tmp/x" > /dev/null 2>&1 && fail "--from-partial without --from"
"$HPC" run "$tmp/base.hp" --from "$tmp/nothing" --out "$tmp/x2" > /dev/null 2>&1 && fail "--from of a missing path"

# ---- predict: per-class results, the confusion matrix its own rows give
"$HPC" predict "$tmp/a2" "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" \
    > "$tmp/p.csv" 2> "$tmp/p.err" || fail "predict with labels"
grep -q "^class  precision  recall      f1  support$" "$tmp/p.err" || fail "predict: no per-class table"
grep -q "^confusion matrix (rows: label, columns: predicted)$" "$tmp/p.err" || fail "predict: no confusion matrix"
# the matrix and the macro F1 recomputed from the rows (predicted, label)
awk -F, 'NR > 1 { m[$3, $2]++; n[$3]++; p[$2]++ }
    END {
        for (i = 0; i < 10; i++) { s = sprintf("%5d", i); for (j = 0; j < 10; j++) s = s sprintf(" %4d", m[i, j] + 0); print s }
        for (i = 0; i < 10; i++) {
            pr = p[i] ? m[i, i] / p[i] : 0; rc = n[i] ? m[i, i] / n[i] : 0
            f += pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0
        }
        printf "macro f1 %.4f\n", f / 10
    }' "$tmp/p.csv" > "$tmp/want"
sed -n '/^confusion matrix/,$p' "$tmp/p.err" | sed -n '3,12p' > "$tmp/got"
head -10 "$tmp/want" | tr -s ' ' > "$tmp/want10"; tr -s ' ' < "$tmp/got" > "$tmp/got10"
cmp -s "$tmp/want10" "$tmp/got10" || { fail "the confusion matrix is not the rows'"; diff "$tmp/got10" "$tmp/want10"; }
f1=$(awk '/^macro/ { print $4 }' "$tmp/p.err")
[ "macro f1 $f1" = "$(tail -1 "$tmp/want")" ] || fail "macro F1 $f1, the rows give $(tail -1 "$tmp/want")"
"$HPC" predict "$tmp/a2" "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" --format json \
    > "$tmp/p.json" 2> /dev/null || fail "predict --format json"
tail -1 "$tmp/p.json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["classes"]) == 10 and len(d["confusion"]) == 10, d.keys()
assert sum(map(sum, d["confusion"])) == d["samples"] == 10000
assert abs(d["accuracy"] - sum(d["confusion"][i][i] for i in range(10)) / 10000) < 1e-12
' || fail "predict --format json: the summary line"

finish warm
