#!/bin/sh
# Sequence classification from numeric data (`input [T, F]`, issue 13 item 2):
# an LSTM reading Fashion-MNIST rows (a 30,000-image subset of the training
# file, the network of examples/fashion_rnn.hp) passes 85% test accuracy;
# `hpc predict` gives the run's accuracy; a run killed mid-epoch and resumed
# is bit-identical to an uninterrupted one; CSV rows of T x F features train,
# predict and say what is wrong with a wrong shape; `hpc build` builds the
# classifier (build_seq.sh compares its predictions); `hpc explain` describes
# the sequences.
# usage: seq.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

# The first N images and labels of the training file, as plain IDX files.
be32() { # N: 4 bytes, big-endian, as printf octal escapes
    printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))"
    printf "\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"
}
N=30000
{ printf '\000\000\010\003'; be32 $N; be32 28; be32 28
  gzip -dc "$FM/train-images-idx3-ubyte.gz" | tail -c +17 | head -c $((N * 784)); } > "$tmp/img"
{ printf '\000\000\010\001'; be32 $N
  gzip -dc "$FM/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c $N; } > "$tmp/lab"
[ "$(wc -c < "$tmp/img")" = $((16 + N * 784)) ] || fail "the image subset has $(wc -c < "$tmp/img") bytes"

# 1. examples/fashion_rnn.hp's network on the subset: above 85% on the test set
sed -e "s|\"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\"|\"$tmp/img\"|" \
    -e "s|\"/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz\"|\"$tmp/lab\"|" \
    -e 's|epochs    = 3|epochs    = 5\n    schedule  = one_cycle(max = 5e-3)\n    threads   = 2|' \
    "$SRC/examples/fashion_rnn.hp" > "$tmp/rows.hp"
grep -q "$tmp/img" "$tmp/rows.hp" || fail "examples/fashion_rnn.hp no longer reads the training file"
grep -q one_cycle "$tmp/rows.hp" || fail "examples/fashion_rnn.hp no longer says epochs = 3"
"$HPC" explain "$tmp/rows.hp" > "$tmp/explain" 2>&1 || fail "explain"
grep -q "each sample is a sequence of 28 steps of 28 features" "$tmp/explain" || fail "explain does not say the sequence"
grep -q "input \[28, 28\] *\[28, 28\]" "$tmp/explain" || fail "explain's input row"
start=$(date +%s)
"$HPC" run "$tmp/rows.hp" --out "$tmp/rows" --quiet 2> "$tmp/rows.err" || { fail "run fashion_rnn"; cat "$tmp/rows.err"; }
echo "fashion_rnn on $N images, 5 epochs: $(($(date +%s) - start)) s"
acc=$(sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p' "$tmp/rows/summary.json")
echo "test accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a > 0.85) }' || fail "fashion_rnn: test accuracy $acc, not above 0.85"
grep -q "input \[28, 28\]" "$tmp/rows/experiment.hp" || fail "experiment.hp does not write input [28, 28]"
"$HPC" predict "$tmp/rows" "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" \
    > "$tmp/pred.csv" 2> "$tmp/pred.err" || fail "predict"
grep -q "accuracy $acc on 10000 samples" "$tmp/pred.err" || { fail "predict's accuracy is not the run's $acc"; cat "$tmp/pred.err"; }
[ "$(wc -l < "$tmp/pred.csv")" = 10001 ] || fail "predict: $(wc -l < "$tmp/pred.csv") lines"
"$HPC" build "$tmp/rows.hp" --weights "$tmp/rows" -o "$tmp/lib" > "$tmp/build.out" 2>&1 \
    || { fail "build of a sequence classifier"; cat "$tmp/build.out"; } # its predictions: build_seq.sh
grep -q "fashion_rnn_predict(input\[784\], output\[10\])" "$tmp/build.out" || { fail "build's summary"; cat "$tmp/build.out"; }

# 2. killed mid-epoch and resumed: the same metrics, steps and weights (GRU stack, dropout, checkpoints)
cat > "$tmp/small.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model m { input [28, 28]; gru 24, stack = 2, dropout = 0.2; last; dense classes }
experiment small {
    data = slice; model = m; batch = 64; epochs = 3; seed = 5; threads = 2
    optimizer = adam(lr = 3e-3); checkpoint = 20 steps
}
HP
"$HPC" run "$tmp/small.hp" --out "$tmp/full" --quiet || fail "the uninterrupted run"
"$HPC" run "$tmp/small.hp" --out "$tmp/killed" --quiet &
pid=$!
i=0
while [ "$( (wc -l < "$tmp/killed/steps.csv") 2>/dev/null || echo 0)" -lt 160 ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
kill -9 $pid; wait $pid 2>/dev/null
[ "$(wc -l < "$tmp/killed/steps.csv")" -lt 376 ] || fail "the run finished before it could be killed"
"$HPC" resume "$tmp/killed" --quiet || fail "resume after SIGKILL"
cut -d, -f1-7 "$tmp/full/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$tmp/killed/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" || { fail "resume: metrics.csv differs"; diff "$tmp/ma" "$tmp/mb" | head; }
cmp -s "$tmp/full/steps.csv" "$tmp/killed/steps.csv" || fail "resume: steps.csv differs"
"$HPC" predict "$tmp/full" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pa" 2>/dev/null || fail "predict (full)"
"$HPC" predict "$tmp/killed" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pb" 2>/dev/null || fail "predict (resumed)"
cmp -s "$tmp/pa" "$tmp/pb" || fail "resume: the final weights differ"

# 3. CSV sequences: label, then T x F features step by step.  Class 1 rises, class 0 falls.
awk 'BEGIN { srand(3); print "label,x0,y0,x1,y1,x2,y2,x3,y3"
    for (i = 0; i < 400; i++) { c = i % 2; s = rand(); line = c
        for (t = 0; t < 4; t++) { v = (c ? t : 3 - t) / 3 + 0.3 * rand(); line = line "," v "," s }
        print line } }' > "$tmp/seq.csv"
cat > "$tmp/csv.hp" <<HP
data rising {
    train = csv("$tmp/seq.csv", label = "first")
    valid = split(train, 0.25)
    test  = split(train, 0.2)
}
model m { input [4, 2]; lstm 8; last; dense classes }
experiment e { data = rising; model = m; batch = 32; epochs = 30; optimizer = adam(lr = 1e-2); seed = 2 }
HP
"$HPC" run "$tmp/csv.hp" --out "$tmp/csv" --quiet 2> "$tmp/csv.err" || { fail "run on CSV sequences"; cat "$tmp/csv.err"; }
acc=$(sed -n 's/.*"test_accuracy": \([0-9.]*\).*/\1/p' "$tmp/csv/summary.json")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' || fail "CSV sequences: test accuracy $acc"
"$HPC" predict "$tmp/csv" "$tmp/seq.csv" > "$tmp/csvpred" 2> "$tmp/csvpred.err" || fail "predict on CSV sequences"
[ "$(wc -l < "$tmp/csvpred")" = 401 ] || fail "predict on CSV sequences: $(wc -l < "$tmp/csvpred") lines"
sed 's/input \[4, 2\]/input [3, 2]/' "$tmp/csv.hp" > "$tmp/bad.hp"
"$HPC" check "$tmp/bad.hp" > /dev/null 2> "$tmp/bad.err" && fail "check of input [3, 2] on 8 features"
grep -q "bad.hp:6:17: error: input \[3, 2\] is a sequence of 3 steps of 2 features, 6 values per sample, but data 'rising' has samples of \[8\] (8 values); a CSV sequence row" "$tmp/bad.err" \
    || { fail "the CSV shape error"; cat "$tmp/bad.err"; }
sed 's/last; //' "$tmp/csv.hp" > "$tmp/nolast.hp"
"$HPC" check "$tmp/nolast.hp" > /dev/null 2> "$tmp/nolast.err" && fail "check of a sequence output on CSV data"
grep -q "nolast.hp:6:.*error: an output at every time step needs text data.*add \`last\` before the output layer" "$tmp/nolast.err" \
    || { fail "the missing-last error"; cat "$tmp/nolast.err"; }

finish "sequence"
