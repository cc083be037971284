#!/bin/sh
# hpc search end to end, on a slice of Fashion-MNIST (the 10,000 test images):
# the study directory's files; ASHA promotions continue from checkpoints and
# train as an uninterrupted run would; kill -9 at several moments, then
# `hpc resume`, gives the uninterrupted study's results; best.hp reproduces
# the best trial; the compile cache; a diverging trial fails and the study
# goes on; every trial failing exits 4; lints and explain.
# usage: search.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

study_base "$tmp/base.hp"
cat > "$tmp/asha.hp" <<HP
import "base.hp"
search sweep {
    base      = small
    vary model.hidden   in {16, 32}
    vary optimizer.lr   in log(3e-4, 3e-3)
    vary model.p        in uniform(0, 0.3)
    strategy  = asha(max_epochs = 3, eta = 3, trials = 7)
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP

# ---- an uninterrupted study ----
"$HPC" search "$tmp/asha.hp" --out "$tmp/s" > "$tmp/out" 2>&1 || { fail "search exited $?"; cat "$tmp/out"; }
for f in study.hp study.args journal.jsonl results.csv summary.json best.hp history.svg parallel.svg; do
    [ -s "$tmp/s/$f" ] || fail "no $f in the study directory"
done
[ "$(head -1 "$tmp/s/results.csv")" = "trial,status,epochs,val_accuracy,seconds,model.hidden,optimizer.lr,model.p" ] ||
    fail "results.csv header: $(head -1 "$tmp/s/results.csv")"
[ "$(wc -l < "$tmp/s/results.csv")" = 8 ] || fail "results.csv: one row per trial"
grep -q ',running,' "$tmp/s/results.csv" && fail "a finished study has running trials"
grep -q '"strategy": "asha"' "$tmp/s/summary.json" || fail "summary.json: strategy"
grep -q '"trials": 7' "$tmp/s/summary.json" || fail "summary.json: trials"
# the data set is loaded once per process, whatever the number of jobs
grep -q '"data_loads": 1,' "$tmp/s/summary.json" || fail "summary.json: the data was loaded more than once: $(grep data_loads "$tmp/s/summary.json")"
for k in completed pruned failed epochs_trained compiles compile_ms seconds best; do
    grep -q "\"$k\"" "$tmp/s/summary.json" || fail "summary.json: no $k"
done
grep -q "best: trial" "$tmp/out" || fail "no table of the best trials"
# every trial is a run directory; the journal's first line is the study
[ -f "$tmp/s/trials/0000/metrics.csv" ] && [ -f "$tmp/s/trials/0000/last.hpw" ] || fail "trial 0 is not a run directory"
head -1 "$tmp/s/journal.jsonl" | grep -q '"event": "study"' || fail "journal: the study first"

# ---- a promoted trial trains exactly as an uninterrupted run ----
promoted=$(awk -F, 'NR > 1 && $3 == 3 { printf "%04d", $1; exit }' "$tmp/s/results.csv")
if [ -z "$promoted" ]; then
    fail "no trial reached the top rung"
else
    grep -q '"to": 3' "$tmp/s/journal.jsonl" || fail "no promotion in the journal"
    "$HPC" run "$tmp/s/trials/$promoted/experiment.hp" --out "$tmp/straight" --quiet > /dev/null 2>&1 ||
        fail "the promoted trial's experiment.hp does not run"
    cut -d, -f1-7 "$tmp/s/trials/$promoted/metrics.csv" > "$tmp/a.csv"
    cut -d, -f1-7 "$tmp/straight/metrics.csv" > "$tmp/b.csv"
    cmp -s "$tmp/a.csv" "$tmp/b.csv" || { fail "the promoted trial differs from an uninterrupted run"; diff "$tmp/a.csv" "$tmp/b.csv"; }
fi

# ---- best.hp reproduces the best trial ----
best=$(sed -n 's/.*"trial": \([0-9]*\),.*/\1/p' "$tmp/s/summary.json" | head -1)
"$HPC" run "$tmp/s/best.hp" --out "$tmp/best" --quiet > /dev/null 2>&1 || fail "best.hp does not run"
cut -d, -f1-7 "$tmp/best/metrics.csv" > "$tmp/a.csv"
cut -d, -f1-7 "$tmp/s/trials/$(printf %04d "$best")/metrics.csv" > "$tmp/b.csv"
head -n "$(wc -l < "$tmp/b.csv")" "$tmp/a.csv" | cmp -s - "$tmp/b.csv" || fail "best.hp does not reproduce trial $best"

# ---- kill -9 at several moments, then resume: the same results ----
cols() { cut -d, -f1-4,6- "$1"; }
for delay in 0.3 1.5 3; do
    rm -rf "$tmp/k"
    "$HPC" search "$tmp/asha.hp" --out "$tmp/k" --quiet > /dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    [ -d "$tmp/k" ] || continue
    # and a torn last line, as a kill in the middle of a write leaves
    [ -f "$tmp/k/journal.jsonl" ] && printf '{"event": "epoch", "tri' >> "$tmp/k/journal.jsonl"
    "$HPC" resume "$tmp/k" --quiet > "$tmp/rout" 2>&1 || { fail "resume after kill at ${delay}s exited $?"; cat "$tmp/rout"; }
    cols "$tmp/s/results.csv" > "$tmp/a.csv"
    cols "$tmp/k/results.csv" > "$tmp/b.csv"
    cmp -s "$tmp/a.csv" "$tmp/b.csv" || { fail "killed at ${delay}s and resumed: results differ"; diff "$tmp/a.csv" "$tmp/b.csv"; }
done
"$HPC" resume "$tmp/s" > "$tmp/out" 2>&1 || fail "resuming a finished study exited $?"

# ---- the compile cache: a run-time setting alone compiles once; 3 shapes 3 times ----
cat > "$tmp/cache.hp" <<HP
import "base.hp"
search rt {
    base      = small
    vary optimizer.lr in {1e-3, 2e-3, 3e-3}
    vary model.p      in {0.1, 0.2}
    objective = maximize(val_accuracy)
    parallel  = 1
}
search shapes {
    base      = small
    vary model.hidden in {8, 16, 24}
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP
"$HPC" search "$tmp/cache.hp" rt --out "$tmp/rt" --quiet > /dev/null 2>&1 || fail "search rt exited $?"
grep -q '"compiles": 1,' "$tmp/rt/summary.json" || fail "run-time settings alone: $(grep compiles "$tmp/rt/summary.json")"
# a trial that reused trial 0's compiled model trains as its own run does (its rate and dropout rate apply)
"$HPC" run "$tmp/rt/trials/0005/experiment.hp" --out "$tmp/rt5" --quiet > /dev/null 2>&1 || fail "trial 5's experiment.hp does not run"
cut -d, -f1-7 "$tmp/rt/trials/0005/metrics.csv" > "$tmp/a.csv"
cut -d, -f1-7 "$tmp/rt5/metrics.csv" > "$tmp/b.csv"
cmp -s "$tmp/a.csv" "$tmp/b.csv" || { fail "a trial on a reused model differs from its own run"; diff "$tmp/a.csv" "$tmp/b.csv"; }
"$HPC" search "$tmp/cache.hp" shapes --out "$tmp/sh" --quiet > /dev/null 2>&1 || fail "search shapes exited $?"
grep -q '"compiles": 3,' "$tmp/sh/summary.json" || fail "three shapes: $(grep compiles "$tmp/sh/summary.json")"
# two workers at a time: still each shape compiled once (the other worker links it)
"$HPC" search "$tmp/cache.hp" rt --parallel 2 --out "$tmp/rt2" --quiet > /dev/null 2>&1 || fail "search rt --parallel 2 exited $?"
grep -q '"compiles": 1,' "$tmp/rt2/summary.json" || fail "run-time settings, 2 workers: $(grep compiles "$tmp/rt2/summary.json")"
"$HPC" search "$tmp/cache.hp" shapes --parallel 2 --out "$tmp/sh2" --quiet > /dev/null 2>&1 || fail "search shapes --parallel 2 exited $?"
grep -q '"compiles": 3,' "$tmp/sh2/summary.json" || fail "three shapes, 2 workers: $(grep compiles "$tmp/sh2/summary.json")"
# every trial of the two-worker study trains as its own run does (linked code is the same code)
for t in 0000 0001 0002 0003 0004 0005; do
    "$HPC" run "$tmp/rt2/trials/$t/experiment.hp" --out "$tmp/rt2run$t" --quiet > /dev/null 2>&1 || fail "trial $t's experiment.hp does not run"
    cut -d, -f1-7 "$tmp/rt2/trials/$t/metrics.csv" > "$tmp/a.csv"
    cut -d, -f1-7 "$tmp/rt2run$t/metrics.csv" > "$tmp/b.csv"
    cmp -s "$tmp/a.csv" "$tmp/b.csv" || { fail "trial $t of a two-worker study differs from its own run"; diff "$tmp/a.csv" "$tmp/b.csv"; }
done

# ---- a diverging trial fails, the study completes; every trial failing exits 4 ----
cat > "$tmp/div.hp" <<HP
import "base.hp"
search div {
    base      = small
    vary optimizer.lr in {1e-3, 1e30}
    objective = maximize(val_accuracy)
}
search alldiv {
    base      = small
    vary optimizer.lr in {1e30, 1e31}
    objective = maximize(val_accuracy)
}
HP
"$HPC" search "$tmp/div.hp" div --out "$tmp/div" --quiet > "$tmp/out" 2>&1 || fail "a study with one diverging trial exited $?"
grep -q '^1,failed,' "$tmp/div/results.csv" || fail "the diverging trial is not failed: $(cat "$tmp/div/results.csv")"
grep -q '^0,completed,' "$tmp/div/results.csv" || fail "the good trial did not complete"
grep -q '"event": "failed"' "$tmp/div/journal.jsonl" || fail "no failure in the journal"
"$HPC" search "$tmp/div.hp" alldiv --out "$tmp/alldiv" --quiet > "$tmp/out" 2>&1
[ $? = 4 ] || fail "every trial failing should exit 4"

# ---- an existing --out is refused ----
"$HPC" search "$tmp/div.hp" div --out "$tmp/div" --quiet > "$tmp/out" 2>&1
[ $? = 2 ] || fail "an existing --out should exit 2"

# ---- lints at the vary line, and explain ----
cat > "$tmp/lint.hp" <<HP
import "base.hp"
search lint {
    base      = small
    vary batch in {32, 100, 128, 200}
    strategy  = hyperband(max_epochs = 27, eta = 3)
    objective = maximize(val_accuracy)
}
HP
"$HPC" check "$tmp/lint.hp" > "$tmp/out" 2>&1
grep -q "lint.hp:4:10: warning: this space includes batch sizes that are not powers of two: 100, 200 \[batch-pow2\]" "$tmp/out" ||
    { fail "no batch lint at the vary line"; cat "$tmp/out"; }
"$HPC" explain "$tmp/lint.hp" lint > "$tmp/out" 2>&1 || fail "explain a hyperband search exited $?"
grep -q "27 x 1, 9 x 3, 3 x 9, 1 x 27" "$tmp/out" || fail "explain: hyperband's first bracket"
grep -q "49 trials" "$tmp/out" || fail "explain: hyperband's trials"
"$HPC" explain "$tmp/asha.hp" sweep > "$tmp/out" 2>&1 || fail "explain an asha search exited $?"
grep -q "model.hidden .* 2$" "$tmp/out" || fail "explain: model.hidden changes shapes"
grep -q "optimizer.lr .*same (a run-time setting)" "$tmp/out" || fail "explain: lr is a run-time setting"
grep -q "at most 11 epochs in all" "$tmp/out" || fail "explain: asha's epochs ($(grep 'epochs in all' "$tmp/out"))"

# ---- recurrent and convolutional models, two trials at a time ----
cat > "$tmp/ns.hp" <<HP
data drugs {
    train = text("$FORT/drugs", seq = 32)
    valid = split(train, 0.1)
}
model lm(cell = gru, depth = 1, dim = 16) {
    input tokens
    embed dim
    cell 32, stack = depth
    dense vocab, softmax
}
experiment small_lm {
    data      = drugs
    model     = lm
    optimizer = adam(lr = 3e-3)
    batch     = 64
    epochs    = 2
}
search cells {
    base      = small_lm
    vary model.cell  in {gru, lstm}
    vary model.depth in 1..2
    strategy  = hyperband(max_epochs = 3, eta = 3)
    objective = minimize(val_bpc)
    parallel  = 2
}
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model cnn(filters = 4) {
    input [1, 28, 28]
    conv filters, relu
    maxpool 2
    flatten
    dense classes, softmax
}
experiment small_cnn {
    data   = slice
    model  = cnn
    batch  = 64
    epochs = 1
}
search convs {
    base      = small_cnn
    vary model.filters in {4, 8}
    vary optimizer.lr  in log(1e-3, 1e-2)
    strategy  = tpe(trials = 3, startup = 2, seed = 5)
    objective = maximize(val_accuracy)
    parallel  = 2
}
HP
"$HPC" search "$tmp/ns.hp" cells --out "$tmp/cells" --quiet > "$tmp/out" 2>&1 || { fail "a recurrent search exited $?"; cat "$tmp/out"; }
[ "$(grep -c ',completed,' "$tmp/cells/results.csv")" -ge 2 ] || fail "recurrent search: $(cat "$tmp/cells/results.csv")"
[ "$(wc -l < "$tmp/cells/results.csv")" = 6 ] || fail "hyperband(3, 3) runs 5 trials"
"$HPC" search "$tmp/ns.hp" convs --out "$tmp/convs" --quiet > "$tmp/out" 2>&1 || { fail "a conv search exited $?"; cat "$tmp/out"; }
[ "$(grep -c ',completed,' "$tmp/convs/results.csv")" = 3 ] || fail "conv search: $(cat "$tmp/convs/results.csv")"

# ---- hostile: a grid past 1,000,000 configurations is refused by check, at its line; a damaged study.args ----
cat > "$tmp/huge.hp" <<HP
import "base.hp"
search huge {
    base      = small
    vary model.hidden in 1..2000
    vary batch        in 1..1000
    objective = maximize(val_accuracy)
}
HP
"$HPC" check "$tmp/huge.hp" > "$tmp/out" 2>&1 && fail "check accepted a grid of 2,000,000"
grep -q "huge.hp:2:8: error: search 'huge' has more than 1,000,000 grid configurations" "$tmp/out" || fail "huge grid: $(cat "$tmp/out")"
"$HPC" search "$tmp/huge.hp" --out "$tmp/huge" > "$tmp/out" 2>&1
[ $? = 1 ] || fail "search of a huge grid should exit 1"
{ echo 'import "base.hp"'; echo "search many {"; echo "    base = small"
  i=0; while [ $i -lt 65 ]; do echo "    vary seed in {$i}"; i=$((i + 1)); done; echo "}"; } > "$tmp/many.hp"
"$HPC" check "$tmp/many.hp" > "$tmp/out" 2>&1 && fail "check accepted 65 varied paths"
grep -q "many.hp:68:5: error: search 'many' varies more than 64 paths" "$tmp/out" || fail "65 paths: $(grep -v twice "$tmp/out" | head -3)"
echo "trials lots" >> "$tmp/div/study.args"
"$HPC" resume "$tmp/div" > "$tmp/out" 2>&1
[ $? = 2 ] || fail "a damaged study.args should exit 2"
grep -q "study.args:[0-9]*: not a line of study.args" "$tmp/out" || fail "damaged study.args: $(cat "$tmp/out")"

finish "search"
