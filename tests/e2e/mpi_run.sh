#!/bin/sh
# Data-parallel `hpc run` under mpirun (docs/distributed.md): on 2 and 3 ranks
# (3: 64-row batches split 22/21/21 and a last batch of 12 rows) the loss of
# every early step equals the single-process run's to 1e-5 relative, for an
# MLP with dropout and for a stacked LSTM with dropout; the weights are
# checked identical on every rank at each epoch end (and a rank made to differ
# stops every rank with exit 4, naming it); early stopping stops every rank at
# the epoch the single process stops at; an MPI run resumes under another
# number of ranks and in one process (its checkpoint holding the whole
# optimizer state of the sharded update); an interrupt under mpirun stops every
# rank after one step with a checkpoint that resumes (an LSTM's carried
# streams too, interrupted on 3 ranks and resumed on 2); only rank 0 prints; without mpirun
# nothing is said about MPI.  Registered only when CMake found MPI.
# usage: mpi_run.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
# running as root in CI; the sanitizer build's Open MPI leaks at MPI_Finalize
# (not ours), so leak checking is off for the processes mpirun starts only
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { N=$1; shift; ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" mpirun --oversubscribe -n "$N" "$HPC" "$@"; }

# the loss column of the first $3 steps of two steps.csv, 1e-5 relative
same_losses() { # A B N WHAT
    awk -F, -v N="$3" 'FNR == NR { a[FNR] = $5; next }
        FNR > 1 && FNR <= N + 1 { d = $5 - a[FNR]; if (d < 0) d = -d; m = a[FNR] < 0 ? -a[FNR] : a[FNR];
                                  if (d > 1e-5 * m || $5 == "") { print "step " FNR - 2 ": " a[FNR] " vs " $5; bad = 1 } }
        END { exit bad }' "$1" "$2" > "$tmp/losses" || { fail "$4: the losses differ"; head -3 "$tmp/losses"; }
    [ "$(wc -l < "$2")" -gt "$3" ] || fail "$4: fewer than $3 steps"
}

# the pids of mpirun PID's children (its ranks)
ranks_of() {
    for st in /proc/[0-9]*/status; do
        awk -v p="$1" '$1 == "PPid:" && $2 == p { ok = 1 } $1 == "Pid:" { pid = $2 } END { if (ok) print pid }' "$st" 2> /dev/null
    done
}

cat > "$tmp/mlp.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.25)
    scale = 1 / 255
}
model mlp { input 784; dense 32, relu; dropout 0.2; dense classes, softmax }
experiment small {
    data = slice; model = mlp; batch = 64; epochs = 12; seed = 5; threads = 1
    optimizer = adam(lr = 3e-2)
    stop = early(monitor = val_loss, patience = 1)
}
HP

"$HPC" run "$tmp/mlp.hp" --out "$tmp/one" > "$tmp/one.out" 2>&1 || fail "the single-process run: exit $?"
grep -qiw "mpi\|rank\|ranks" "$tmp/one.out" && fail "without mpirun hpc run speaks of MPI"
grep -q "early stop" "$tmp/one/events.log" || fail "the single-process run did not stop early (the test needs it to)"

for n in 2 3; do
    mpi $n run "$tmp/mlp.hp" --out "$tmp/mlp$n" --threads 1 > "$tmp/mlp$n.out" 2> "$tmp/mlp$n.err" ||
        { fail "$n ranks: exit $?"; cat "$tmp/mlp$n.err"; }
    same_losses "$tmp/one/steps.csv" "$tmp/mlp$n/steps.csv" 150 "MLP on $n ranks"
    # every rank stopped at the same epoch (the weight check at each epoch end would have failed otherwise)
    [ "$(wc -l < "$tmp/mlp$n/metrics.csv")" = "$(wc -l < "$tmp/one/metrics.csv")" ] ||
        fail "$n ranks: early stopping stopped after another epoch than one process"
    grep -q "early stop" "$tmp/mlp$n/events.log" || fail "$n ranks: no early stop"
    [ "$(grep -c '^epoch' "$tmp/mlp$n.out")" = "$(($(wc -l < "$tmp/one/metrics.csv") - 1))" ] ||
        fail "$n ranks: not one line per epoch (only rank 0 prints)"
    grep -q "$n ranks x 1 threads" "$tmp/mlp$n.out" || fail "$n ranks: the header does not say the ranks"
    [ -s "$tmp/mlp$n.err" ] && { fail "$n ranks: something on stderr"; head -3 "$tmp/mlp$n.err"; }
done

# threads per rank without --threads: the node's cores over its 2 ranks (at least 1), or OMP_NUM_THREADS
# (the file's `threads` when it asks for fewer)
want=$(($(nproc) / 2)); [ $want -ge 1 ] || want=1
sed 's/threads = 1//' "$tmp/mlp.hp" > "$tmp/any.hp"
mpi 2 run "$tmp/any.hp" --out "$tmp/thr" --epochs 1 2> /dev/null | grep -q "2 ranks x $want threads" ||
    fail "2 ranks on $(nproc) cores: not $want threads each"
OMP_NUM_THREADS=1 mpi 2 run "$tmp/any.hp" --out "$tmp/thr1" --epochs 1 2> /dev/null | grep -q "2 ranks x 1 threads" ||
    fail "OMP_NUM_THREADS=1: not 1 thread per rank"

# a rank whose weights differ: every rank stops after the epoch with exit 4, the message names it
HPC_TEST_PERTURB_RANK=2 mpi 3 run "$tmp/mlp.hp" --out "$tmp/bad" --threads 1 > /dev/null 2> "$tmp/bad.err"
st=$?
[ $st = 4 ] || fail "differing weights: exit $st, expected 4"
grep -q "weights of rank 2 differ from rank 0's" "$tmp/bad.err" || { fail "differing weights: no message naming rank 2"; cat "$tmp/bad.err"; }
grep -q "MPI_ABORT" "$tmp/bad.err" && fail "differing weights: a rank aborted instead of stopping with the others"

# resume: 2 epochs on 2 ranks, then extended to 4 on 3 ranks and in one process, against 4 epochs in one process.
# Each rank's Adam state is current only in its slice of the parameters (the sharded update), so this also
# checks that last.hpw holds the whole optimizer state: with one slice's m and v missing, epoch 3's losses
# differ by far more than 1e-5
sed 's/epochs = 12/epochs = 4/; s/stop = early.*//' "$tmp/mlp.hp" > "$tmp/four.hp"
"$HPC" run "$tmp/four.hp" --out "$tmp/four" --quiet || fail "4 epochs in one process"
mpi 2 run "$tmp/four.hp" --out "$tmp/two" --threads 1 --epochs 2 --quiet || fail "2 epochs on 2 ranks"
cp -r "$tmp/two" "$tmp/two1"
mpi 3 resume "$tmp/two" --epochs 4 --quiet || fail "resume on 3 ranks of a run on 2: exit $?"
"$HPC" resume "$tmp/two1" --epochs 4 --quiet || fail "resume in one process of a run on 2 ranks: exit $?"
for d in two two1; do
    [ "$(wc -l < "$tmp/$d/steps.csv")" = "$(wc -l < "$tmp/four/steps.csv")" ] || fail "$d: not every step after resume"
    tail -n +250 "$tmp/four/steps.csv" > "$tmp/f.tail"; tail -n +250 "$tmp/$d/steps.csv" > "$tmp/d.tail"
    same_losses "$tmp/f.tail" "$tmp/d.tail" 20 "resumed $d, epoch 3"
done

# an interrupt under mpirun: every rank stops after the same step, rank 0 checkpoints; one process resumes
# (100 epochs: 4 take well under a second on a quiet machine, and mpirun takes
# a second or two to pass the signal on)
sed 's/epochs = 4/epochs = 100/' "$tmp/four.hp" > "$tmp/thirty.hp"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" mpirun --oversubscribe -n 2 "$HPC" run "$tmp/thirty.hp" \
    --out "$tmp/int" --threads 1 --quiet 2> "$tmp/int.err" &
pid=$! # mpirun's: it forwards the signal to every rank
i=0
while [ "$( (wc -l < "$tmp/int/steps.csv") 2>/dev/null || echo 0)" -lt 60 ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
kill -INT $pid
wait $pid # mpirun's own status (Open MPI ends the job with SIGTERM to every rank and exits 1)
grep -q "interrupted after step" "$tmp/int.err" || { fail "SIGINT: no checkpoint from rank 0"; cat "$tmp/int.err"; }
grep -q "^rank" "$tmp/int.err" && { fail "SIGINT: a rank failed"; cat "$tmp/int.err"; }
"$HPC" resume "$tmp/int" --quiet || fail "resume of an interrupted MPI run: exit $?"
four_steps=$(( $(wc -l < "$tmp/four/steps.csv") - 1 ))
[ "$(( $(wc -l < "$tmp/int/steps.csv") - 1 ))" = "$(( four_steps / 4 * 100 ))" ] || fail "interrupted + resumed: not every step"

# a stacked LSTM with dropout between its layers, text streams split 6/5/5
cat > "$tmp/lm.hp" <<HP
data fort {
    train = text("$FORT/computers", seq = 32)
    valid = split(train, 0.1)
}
model lm { input tokens; embed 50; lstm 64, stack = 2, dropout = 0.1; dense vocab, softmax }
experiment charlm {
    data = fort; model = lm; optimizer = adam(lr = 3e-3); clip = 5
    batch = 16                     # hpc: allow(batch-pow2)
    epochs = 1; seed = 3; threads = 1
}
HP
# on 3 ranks, interrupted mid-epoch, resumed on 2: the streams' carried state
# goes through the checkpoint in its one-process form, so the resumed steps
# continue the streams exactly
"$HPC" run "$tmp/lm.hp" --out "$tmp/lm1" --quiet 2> /dev/null || fail "the LSTM in one process"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" mpirun --oversubscribe -n 3 "$HPC" run "$tmp/lm.hp" \
    --out "$tmp/lm3" --threads 1 --quiet 2> /dev/null &
pid=$!
i=0
while [ "$( (wc -l < "$tmp/lm3/steps.csv") 2>/dev/null || echo 0)" -lt 120 ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
# the ranks themselves get the signal (as from a terminal's Ctrl-C): mpirun
# passes its own on too late for a run this short on a quiet machine
kill -INT $(ranks_of $pid) 2> /dev/null
wait $pid
at=$(($(wc -l < "$tmp/lm3/steps.csv") - 1)) # steps done before the interrupt
[ $at -lt 400 ] || fail "the LSTM run ended before it was interrupted"
same_losses "$tmp/lm1/steps.csv" "$tmp/lm3/steps.csv" 100 "LSTM on 3 ranks"
mpi 2 resume "$tmp/lm3" --quiet 2> /dev/null || fail "the LSTM resumed on 2 ranks: exit $?"
tail -n +$((at + 1)) "$tmp/lm1/steps.csv" > "$tmp/l1.tail"; tail -n +$((at + 1)) "$tmp/lm3/steps.csv" > "$tmp/l3.tail"
same_losses "$tmp/l1.tail" "$tmp/l3.tail" 40 "LSTM interrupted on 3 ranks at step $at, resumed on 2"

# fewer rows than ranks: refused, no rank left waiting
mpi 3 run "$tmp/lm.hp" --out "$tmp/few" --threads 1 --quiet --set batch=2 > /dev/null 2> "$tmp/few.err"
st=$?
[ $st = 2 ] || fail "a batch smaller than the ranks: exit $st, expected 2"
grep -q "less than one for each of the 3 ranks" "$tmp/few.err" || { fail "a batch smaller than the ranks: no reason"; cat "$tmp/few.err"; }

# an existing --out: rank 0 refuses it, and every rank exits with its status (2), not a status of its own
mkdir -p "$tmp/taken"
mpi 2 run "$tmp/mlp.hp" --out "$tmp/taken" --threads 1 --quiet > /dev/null 2> "$tmp/taken.err"
st=$?
[ $st = 2 ] || { fail "an existing --out under mpirun: exit $st, expected 2"; cat "$tmp/taken.err"; }
grep -q "exists; give another --out" "$tmp/taken.err" || { fail "an existing --out under mpirun: no reason"; cat "$tmp/taken.err"; }

# class weights: refused at the loss line (each rank alone cannot divide by the batch's weight sum)
sed 's/optimizer = adam(lr = 3e-2)/optimizer = adam(lr = 3e-2)\n    loss = cross_entropy(weights = balanced)/' "$tmp/mlp.hp" > "$tmp/cw.hp"
line=$(grep -n "loss = cross_entropy" "$tmp/cw.hp" | cut -d: -f1)
mpi 2 run "$tmp/cw.hp" --out "$tmp/cw" --threads 1 --quiet > /dev/null 2> "$tmp/cw.err"
st=$?
[ $st = 2 ] || fail "class weights under mpirun: exit $st, expected 2"
grep -q "cw.hp:$line: class weights are not data-parallel" "$tmp/cw.err" || { fail "class weights: not refused at line $line"; cat "$tmp/cw.err"; }
[ -e "$tmp/cw" ] && fail "class weights: a run directory was made"

finish "data-parallel run"
