#!/bin/sh
# No silent data loss: `hpc predict` gives one row out per sample in, whether
# or not the input has a header line (--header / --no-header, else the stated
# rule, with a warning when the first line is taken as the header); an
# existing --out / -o directory is refused unless --force; `hpc build` refuses
# artifact names that shadow system libraries.  usage: dataloss.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
tiny_data
tiny_hp t "threads = 1"
bounded 60 4000000 "$HPC" run "$tmp/t.hp" --out "$tmp/run" --quiet
[ $st = 0 ] || { fail "training: exit $st"; cat "$tmp/out"; }

rows() { "$HPC" predict "$tmp/run" "$@" 2> "$tmp/err" | tail -n +2 | wc -l; }
printf '1,2\n3,4\n5,6\n' > "$tmp/plain.csv"             # what the issue saw: 3 in, 2 out
printf 'a,b\n1,2\n3,4\n5,6\n' > "$tmp/header.csv"
[ "$(rows "$tmp/plain.csv")" = 3 ] || fail "predict, no header: not 3 rows"
[ -s "$tmp/err" ] && { fail "predict, no header: a warning"; cat "$tmp/err"; }
[ "$(rows "$tmp/header.csv")" = 3 ] || fail "predict, a header: not 3 rows"
grep -q 'warning: .*header.csv: the first line ("a", ...) is not all numbers: read as the header' "$tmp/err" ||
    { fail "predict, a header: no warning"; cat "$tmp/err"; }
[ "$(rows "$tmp/plain.csv" --no-header)" = 3 ] || fail "predict --no-header: not 3 rows"
[ "$(rows "$tmp/plain.csv" --header)" = 2 ] || fail "predict --header: the first line is not the header"
"$HPC" predict "$tmp/run" "$tmp/header.csv" --no-header > /dev/null 2> "$tmp/err"
[ $? = 3 ] || fail "predict --no-header on a header: exit status"
grep -q "line 1, field 1 ('a'): not a number" "$tmp/err" || fail "predict --no-header on a header: message"
"$HPC" predict "$tmp/run" "$tmp/plain.csv" --header --no-header > /dev/null 2>&1
[ $? = 2 ] || fail "--header --no-header: exit status"

# an existing run directory
bounded 30 4000000 "$HPC" run "$tmp/t.hp" --out "$tmp/run" --quiet
expect 2 "'$tmp/run' exists; give another --out, or --force" "run --out an existing run"
cmp -s "$tmp/run/last.hpw" "$tmp/run/last.hpw" || fail "the existing run was touched"
bounded 30 4000000 "$HPC" lr-find "$tmp/t.hp" --out "$tmp/run" --quiet
expect 2 "exists; give another --out, or --force" "lr-find --out an existing run"
: > "$tmp/run/lr_find.csv" # an earlier run's file that this run does not write
bounded 60 4000000 "$HPC" run "$tmp/t.hp" --out "$tmp/run" --force --quiet
[ $st = 0 ] || { fail "run --force: exit $st"; cat "$tmp/out"; }
[ -e "$tmp/run/lr_find.csv" ] && fail "run --force: an earlier run's lr_find.csv was kept"
[ -f "$tmp/run/last.hpw" ] || fail "run --force: no last.hpw"

# hpc build: names of system libraries, an existing -o
for n in c m pthread dl rt; do
    bounded 30 4000000 "$HPC" build "$tmp/t.hp" --weights "$tmp/run" -o "$tmp/b-$n" --name $n
    expect 2 "'$n' would build lib$n.a, which shadows the system library" "build --name $n"
    [ -e "$tmp/b-$n/lib$n.a" ] && fail "build --name $n: lib$n.a written"
done
sed 's/experiment e /experiment m /; s/model m /model mm /; s/model = m;/model = mm;/' "$tmp/t.hp" > "$tmp/m.hp"
bounded 30 4000000 "$HPC" build "$tmp/m.hp" --weights "$tmp/run/last.hpw" -o "$tmp/b-m2"
expect 2 "'m' would build libm.a" "build of an experiment called m"
bounded 60 4000000 "$HPC" build "$tmp/t.hp" --weights "$tmp/run" -o "$tmp/b" --name tiny
[ $st = 0 ] || { fail "build: exit $st"; cat "$tmp/out"; }
bounded 60 4000000 "$HPC" build "$tmp/t.hp" --weights "$tmp/run" -o "$tmp/b" --name tiny
expect 2 "'$tmp/b' exists; give another -o, or --force" "build -o an existing directory"
bounded 60 4000000 "$HPC" build "$tmp/t.hp" --weights "$tmp/run" -o "$tmp/b" --name tiny --force
[ $st = 0 ] || { fail "build --force: exit $st"; cat "$tmp/out"; }
finish "data loss"
