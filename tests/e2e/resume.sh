#!/bin/sh
# Runs that survive: SIGKILL mid-epoch then `hpc resume` gives the same
# metrics, steps and weights as an uninterrupted run; SIGINT writes a
# checkpoint and exits 130; damaged, truncated and foreign checkpoints are
# refused without being overwritten; a NaN stop names the step and a layer and
# leaves a loadable checkpoint; `hpc predict` agrees with the run's test
# accuracy.  usage: resume.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

write() { # NAME HIDDEN SETTINGS
    cat > "$tmp/$1.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    test  = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    scale = 1 / 255
}
model mlp { input 784; dense $2, relu; dropout 0.2; dense classes, softmax }
experiment small {
    data = slice; model = mlp; batch = 64; epochs = 5; seed = 11; threads = 2
    $3
}
HP
}
write base 48 "optimizer = adam(lr = 2e-3); schedule = one_cycle(max = 4e-3); stop = early(patience = 8)
    checkpoint = 30 steps"

# wait until FILE has at least N lines (the run is that far)
wait_lines() {
    i=0
    while [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -lt "$2" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
}
same_run() { # DIR-A DIR-B WHAT
    cut -d, -f1-7 "$1/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$2/metrics.csv" > "$tmp/mb"
    cmp -s "$tmp/ma" "$tmp/mb" || { fail "$3: metrics.csv differs"; diff "$tmp/ma" "$tmp/mb" | head; }
    cmp -s "$1/steps.csv" "$2/steps.csv" || fail "$3: steps.csv differs"
    "$HPC" predict "$1" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pa" 2>/dev/null
    "$HPC" predict "$2" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pb" 2>/dev/null
    cmp -s "$tmp/pa" "$tmp/pb" || fail "$3: the final weights differ (predictions differ)"
}

"$HPC" run "$tmp/base.hp" --out "$tmp/full" --quiet || fail "the uninterrupted run"
for f in last.hpw best.hpw; do [ -f "$tmp/full/$f" ] || fail "no $f"; done

# SIGKILL in the middle of epoch 3 (125 steps per epoch), then resume
"$HPC" run "$tmp/base.hp" --out "$tmp/killed" --quiet &
pid=$!
wait_lines "$tmp/killed/steps.csv" 300
kill -9 $pid; wait $pid 2>/dev/null
[ "$(wc -l < "$tmp/killed/steps.csv")" -lt 626 ] || fail "the run finished before it could be killed"
"$HPC" resume "$tmp/killed" --quiet || fail "resume after SIGKILL: exit $?"
same_run "$tmp/full" "$tmp/killed" "SIGKILL + resume"

# SIGINT: a checkpoint, exit 130, the hint; resume completes the run identically
"$HPC" run "$tmp/base.hp" --out "$tmp/int" --quiet 2> "$tmp/int.err" &
pid=$!
wait_lines "$tmp/int/steps.csv" 200
kill -INT $pid; wait $pid
st=$?
[ $st = 130 ] || fail "SIGINT: exit $st, expected 130"
grep -q "resume with: hpc resume $tmp/int" "$tmp/int.err" || { fail "SIGINT: no resume hint"; cat "$tmp/int.err"; }
grep -q '"stopped": "interrupted"' "$tmp/int/summary.json" || fail "SIGINT: summary does not say interrupted"
"$HPC" resume "$tmp/int" --quiet || fail "resume after SIGINT"
same_run "$tmp/full" "$tmp/int" "SIGINT + resume"
"$HPC" resume "$tmp/int" > "$tmp/again.out" 2>&1 || fail "resume of a complete run"
grep -q "the run is complete" "$tmp/again.out" || fail "resume of a complete run: no message"

# damaged, truncated, foreign checkpoints: refused, and left as they were
refuse() { # NAME WANT
    cp -r "$tmp/killed" "$tmp/$1"
    rm -f "$tmp/$1/summary.json"
    $3 "$tmp/$1/last.hpw"
    sum=$(cksum < "$tmp/$1/last.hpw")
    "$HPC" resume "$tmp/$1" > "$tmp/$1.out" 2>&1 && fail "$1: resumed"
    grep -q "$2" "$tmp/$1.out" || { fail "$1: message"; cat "$tmp/$1.out"; }
    grep -q "last.hpw" "$tmp/$1.out" || fail "$1: the message does not name the file"
    [ "$(cksum < "$tmp/$1/last.hpw")" = "$sum" ] || fail "$1: the checkpoint was overwritten"
}
flip() { printf 'X' | dd of="$1" bs=1 seek=5000 conv=notrunc 2>/dev/null; }
cut_half() { head -c 100000 "$1" > "$1.cut" && mv "$1.cut" "$1"; }
keep() { :; }
refuse corrupt "damaged" flip
refuse truncated "damaged" cut_half
write other 32 "optimizer = adam(lr = 2e-3)"
"$HPC" run "$tmp/other.hp" --out "$tmp/other" --quiet --epochs 1 || fail "the other run"
foreign() { cp "$tmp/other/last.hpw" "$1"; }
refuse foreign "belongs to a different model" foreign

# a NaN loss: exit 4, the step and a layer named, last.hpw still loadable
write nan 48 "optimizer = sgd(lr = 1e30)"  # lr = 1e3 stays finite here, in PyTorch too
"$HPC" run "$tmp/nan.hp" --out "$tmp/nan" --allow lr-range > "$tmp/nan.out" 2>&1
st=$?
[ $st = 4 ] || { fail "NaN: exit $st, expected 4"; cat "$tmp/nan.out"; }
grep -q "at step [0-9]" "$tmp/nan.out" || fail "NaN: no step"
grep -q "the first layer whose output is not finite: layer [0-9], .* (line 7)\|the loss itself overflowed" "$tmp/nan.out" || { fail "NaN: no layer"; cat "$tmp/nan.out"; }
"$HPC" predict "$tmp/nan" "$FM/t10k-images-idx3-ubyte.gz" --weights last > /dev/null 2>&1 || fail "NaN: last.hpw is not loadable"

# predict agrees with the run's test accuracy
acc=$(sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p' "$tmp/full/summary.json")
"$HPC" predict "$tmp/full" "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" --format json > "$tmp/p.json" 2> "$tmp/p.err" || fail "predict"
grep -q "accuracy $acc on 10000 samples" "$tmp/p.err" || { fail "predict's accuracy is not the run's $acc"; cat "$tmp/p.err"; }
head -1 "$tmp/p.json" | grep -q '^{"row": 0, "predicted": [0-9], "label": [0-9], "probabilities": \[' || fail "predict json"

# an --out that cannot be created
"$HPC" run "$tmp/base.hp" --out /proc/nope/run --quiet > "$tmp/out.err" 2>&1
[ $? = 4 ] || fail "unwritable --out: exit status"
grep -q "cannot create the run directory" "$tmp/out.err" || fail "unwritable --out: message"

finish resume
