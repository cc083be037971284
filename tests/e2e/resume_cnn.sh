#!/bin/sh
# A convolutional network killed mid-epoch resumes bit-identically: SIGKILL
# in the middle of epoch 2, `hpc resume`, and the metrics, every step's loss
# and the final weights (predictions) equal an uninterrupted run's.  The conv
# layers' weight gradients are summed over per-thread scratch and the pools
# run the specialised kernels (docs/internals.md, "Convolutions"), so this
# holds them to a fixed summation order across a restart; the second conv
# (16 -> 16 channels) takes the Winograd lowering (runtime/conv_wino.c), the
# first im2col + GEMM; each conv's relu and max pool run in its kernel.  A
# profiled run (HPC_PROFILE=1) gives the same steps and prints its table.
# The same network with a batchnorm after each conv resumes bit-identically.
# usage: resume_cnn.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
unset HPC_PROFILE # set only where a case asks for it

cat > "$tmp/cnn.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.8)
    test  = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    normalize = standard
}
model cnn {
    input [1, 28, 28]
    conv 16, relu
    maxpool
    conv 16, relu
    maxpool
    flatten
    dropout 0.25
    dense classes, softmax
}
experiment small {
    data = slice; model = cnn; batch = 50; epochs = 3; seed = 5; threads = 2
    optimizer = sgd(lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4)
    checkpoint = 7 steps
}
HP

wait_lines() { # FILE N: until FILE has N lines
    i=0
    while [ "$({ wc -l < "$1"; } 2>/dev/null || echo 0)" -lt "$2" ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
}
same_run() { # DIR-A DIR-B WHAT
    cut -d, -f1-7 "$1/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$2/metrics.csv" > "$tmp/mb"
    cmp -s "$tmp/ma" "$tmp/mb" || { fail "$3: metrics.csv differs"; diff "$tmp/ma" "$tmp/mb" | head; }
    cmp -s "$1/steps.csv" "$2/steps.csv" || fail "$3: steps.csv differs"
    "$HPC" predict "$1" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pa" 2>/dev/null || fail "$3: predict"
    "$HPC" predict "$2" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pb" 2>/dev/null
    cmp -s "$tmp/pa" "$tmp/pb" || fail "$3: the final weights differ (predictions differ)"
}

"$HPC" run "$tmp/cnn.hp" --out "$tmp/full" --quiet || fail "the uninterrupted run"
steps=$(($(wc -l < "$tmp/full/steps.csv") - 1))
[ "$steps" = 120 ] || fail "expected 120 steps (40 per epoch), got $steps"

# SIGKILL in the middle of epoch 2 (steps.csv: a header, then a line a step)
"$HPC" run "$tmp/cnn.hp" --out "$tmp/killed" --quiet &
pid=$!
wait_lines "$tmp/killed/steps.csv" 60
kill -9 $pid; wait $pid 2>/dev/null
[ "$(wc -l < "$tmp/killed/steps.csv")" -lt 121 ] || fail "the run finished before it could be killed"
"$HPC" resume "$tmp/killed" --quiet || fail "resume after SIGKILL: exit $?"
same_run "$tmp/full" "$tmp/killed" "CNN: SIGKILL + resume"

# the profile mode changes no number and reports every layer
HPC_PROFILE=1 "$HPC" run "$tmp/cnn.hp" --out "$tmp/prof" --quiet 2> "$tmp/prof.err" || fail "the profiled run"
cmp -s "$tmp/full/steps.csv" "$tmp/prof/steps.csv" || fail "HPC_PROFILE changed the steps"
grep -q "^profile: thread CPU ms per training step (mean of 2 threads, 120 steps)" "$tmp/prof.err" ||
    { fail "no profile header"; cat "$tmp/prof.err"; }
for k in "1 *conv *9" "2 *maxpool *10" "3 *conv *11" "7 *dense *15"; do
    grep -q "^$k " "$tmp/prof.err" || fail "profile: no row '$k'"
done
# conv's weight gradient is timed apart from its data gradient: non-zero
awk '$2 == "conv" && $6 + 0 <= 0 { bad = 1 } END { exit bad }' "$tmp/prof.err" || fail "profile: conv weight grad not timed"
"$HPC" run "$tmp/cnn.hp" --out "$tmp/quiet" --quiet --epochs 1 2> "$tmp/quiet.err" || fail "a plain run"
grep -q "^profile:" "$tmp/quiet.err" && fail "without HPC_PROFILE a run prints no profile"

# with batch norm: conv -> batchnorm -> relu -> maxpool, the relu and the pool
# computed in the batchnorm's passes (docs/internals.md, "batchnorm"); the
# statistics summed over both threads' partials in a fixed order
sed -e 's/conv 16, relu/conv 16\n    batchnorm\n    relu/' "$tmp/cnn.hp" > "$tmp/bn.hp"
[ "$(grep -c '^ *batchnorm$' "$tmp/bn.hp")" = 2 ] || fail "the batchnorm model"
"$HPC" run "$tmp/bn.hp" --out "$tmp/bnfull" --quiet || fail "the uninterrupted batchnorm run"
"$HPC" run "$tmp/bn.hp" --out "$tmp/bnkilled" --quiet &
pid=$!
wait_lines "$tmp/bnkilled/steps.csv" 60
kill -9 $pid; wait $pid 2>/dev/null
[ "$(wc -l < "$tmp/bnkilled/steps.csv")" -lt 121 ] || fail "the batchnorm run finished before it could be killed"
"$HPC" resume "$tmp/bnkilled" --quiet || fail "batchnorm: resume after SIGKILL: exit $?"
same_run "$tmp/bnfull" "$tmp/bnkilled" "CNN with batchnorm: SIGKILL + resume"
HPC_PROFILE=1 "$HPC" run "$tmp/bn.hp" --out "$tmp/bnprof" --quiet --epochs 1 2> "$tmp/bnprof.err" || fail "batchnorm: profiled"
head -41 "$tmp/bnfull/steps.csv" | cmp -s - "$tmp/bnprof/steps.csv" || fail "batchnorm: HPC_PROFILE changed the steps"

finish resume_cnn
