#!/bin/sh
# hpc run end to end: a small model on a slice of Fashion-MNIST (the 10,000
# test images) trains well above chance in seconds; two runs with one seed give
# identical metrics; the run directory has its files; bad data exits 3 naming
# the file.  usage: run.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

cat > "$tmp/small.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model mlp(hidden = 64) {
    input 784
    dense hidden, relu
    dropout 0.1
    dense classes, softmax
}
experiment small {
    data      = slice
    model     = mlp
    optimizer = adam(lr = 2e-3)
    schedule  = cosine()
    batch     = 64
    epochs    = 3
    seed      = 7
    threads   = 2
}
HP

"$HPC" run "$tmp/small.hp" --out "$tmp/a" > "$tmp/out" 2>&1 || { fail "run exited $?"; cat "$tmp/out"; }
for f in experiment.hp metrics.csv steps.csv events.log summary.json; do
    [ -f "$tmp/a/$f" ] || fail "no $f in the run directory"
done
acc=$(sed -n 's/.*"val_accuracy": \([0-9.]*\).*/\1/p' "$tmp/a/summary.json")
awk -v a="$acc" 'BEGIN { exit !(a > 0.7) }' || fail "validation accuracy $acc is not well above chance"
grep -q '"stopped": "completed"' "$tmp/a/summary.json" || fail "summary: not completed"
[ "$(head -1 "$tmp/a/metrics.csv")" = "epoch,step,lr,batch,train_loss,val_loss,val_accuracy,seconds" ] || fail "metrics.csv header"
[ "$(wc -l < "$tmp/a/metrics.csv")" = 4 ] || fail "metrics.csv: one row per epoch"
head -1 "$tmp/a/steps.csv" | grep -q "^step,epoch,lr,batch,loss" || fail "steps.csv header"
# 8000 training images / 64 = 125 steps per epoch
[ "$(wc -l < "$tmp/a/steps.csv")" = 376 ] || fail "steps.csv: one row per step ($(wc -l < "$tmp/a/steps.csv"))"
grep -q "^0,1,0.002,64," "$tmp/a/steps.csv" || fail "steps.csv: step 0 at the base rate"

# the same file, seed and threads: identical metrics but for the time
"$HPC" run "$tmp/small.hp" --out "$tmp/b" --quiet || fail "second run"
cut -d, -f1-7 "$tmp/a/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$tmp/b/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" || fail "metrics.csv differs between two runs with one seed"
cmp -s "$tmp/a/steps.csv" "$tmp/b/steps.csv" || fail "steps.csv differs between two runs with one seed"

# experiment.hp reproduces the run
"$HPC" run "$tmp/a/experiment.hp" --out "$tmp/c" --quiet || fail "running experiment.hp"
cut -d, -f1-7 "$tmp/c/metrics.csv" > "$tmp/mc"
cmp -s "$tmp/ma" "$tmp/mc" || fail "experiment.hp does not reproduce the run"

# --set, --epochs
"$HPC" run "$tmp/small.hp" --out "$tmp/d" --quiet --epochs 1 --set model.hidden=32 || fail "--epochs --set"
[ "$(wc -l < "$tmp/d/metrics.csv")" = 2 ] || fail "--epochs 1"
grep -q "dense 32" "$tmp/d/experiment.hp" || fail "--set model.hidden"

# bad data: exit 3 and the file named
bad() { # NAME TRAIN-SOURCE [WANT-IN-MESSAGE]
    sed "s|train = idx(\"$FM/t10k-images-idx3-ubyte.gz\", \"$FM/t10k-labels-idx1-ubyte.gz\")|train = $2|" "$tmp/small.hp" > "$tmp/$1.hp"
    "$HPC" run "$tmp/$1.hp" --out "$tmp/run-$1" > "$tmp/$1.out" 2>&1
    st=$?
    [ $st = 3 ] || { fail "$1: exit $st, expected 3"; cat "$tmp/$1.out"; }
    grep -q "$3" "$tmp/$1.out" || { fail "$1: the message does not name '$3'"; cat "$tmp/$1.out"; }
}
head -c 200000 "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/trunc.gz"
bad truncated "idx(\"$tmp/trunc.gz\", \"$FM/t10k-labels-idx1-ubyte.gz\")" "trunc.gz"
bad magic "idx(\"$FM/t10k-labels-idx1-ubyte.gz\", \"$FM/t10k-labels-idx1-ubyte.gz\")" "wrong magic"
: > "$tmp/empty.gz"
bad empty "idx(\"$tmp/empty.gz\", \"$FM/t10k-labels-idx1-ubyte.gz\")" "empty.gz"
bad missing "idx(\"$tmp/nope.gz\", \"$FM/t10k-labels-idx1-ubyte.gz\")" "nope.gz"
# CSV cases (a model for 3 features)
csvcase() { # NAME CONTENT WANT
    printf "$2" > "$tmp/$1.csv"
    cat > "$tmp/$1.hp" <<HP
data d { train = csv("$tmp/$1.csv"); valid = split(train, 0.5) }
model m { input 3; dense classes }
experiment e { data = d; model = m; batch = 2 } # hpc: allow(batch-pow2)
HP
    "$HPC" run "$tmp/$1.hp" --out "$tmp/run-$1" > "$tmp/$1.out" 2>&1
    st=$?
    [ $st = 3 ] || { fail "$1: exit $st, expected 3"; cat "$tmp/$1.out"; }
    grep -q "$3" "$tmp/$1.out" || { fail "$1: the message does not name '$3'"; cat "$tmp/$1.out"; }
}
csvcase fields "a,b,c,y\n1,2,3,0\n4,5,1\n7,8,9,1\n1,1,1,0\n" "fields.csv"
csvcase nonnumber "a,b,c,y\n1,2,3,0\n4,x,6,1\n7,8,9,1\n1,1,1,0\n" "nonnumber.csv: line 3"
csvcase csvempty "" "csvempty.csv"
# a label outside the training classes
printf "a,b,c,y\n1,2,3,0\n4,5,6,1\n7,8,9,1\n1,1,1,0\n" > "$tmp/tr.csv"
printf "a,b,c,y\n1,2,3,0\n4,5,6,7\n" > "$tmp/te.csv"
cat > "$tmp/labels.hp" <<HP
data d { train = csv("$tmp/tr.csv"); test = csv("$tmp/te.csv") }
model m { input 3; dense classes }
experiment e { data = d; model = m; batch = 2 } # hpc: allow(batch-pow2, no-valid)
HP
"$HPC" run "$tmp/labels.hp" --out "$tmp/run-labels" > "$tmp/labels.out" 2>&1
st=$?
[ $st = 3 ] || fail "label out of range: exit $st, expected 3"
grep -q "labels up to 7" "$tmp/labels.out" || { fail "label out of range message"; cat "$tmp/labels.out"; }

# a NaN loss stops the run with the step and a hint, exit 4
sed 's/adam(lr = 2e-3)/sgd(lr = 1e30)/' "$tmp/small.hp" > "$tmp/nan.hp"
"$HPC" run "$tmp/nan.hp" --out "$tmp/run-nan" --allow lr-range > "$tmp/nan.out" 2>&1
st=$?
[ $st = 4 ] || { fail "NaN: exit $st, expected 4"; cat "$tmp/nan.out"; }
grep -q "at step" "$tmp/nan.out" || { fail "NaN: no step in the message"; cat "$tmp/nan.out"; }
grep -q '"stopped": "nan"' "$tmp/run-nan/summary.json" || fail "NaN: summary does not say nan"

finish run
