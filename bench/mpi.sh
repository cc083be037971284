#!/bin/sh
# bench/mpi.sh [ROUNDS] - data-parallel hpc against one process (issue 18).
#
# On this 2-core machine: `mpirun -n 2 hpc run --threads 1` (two ranks, one
# thread each, the gradients summed with MPI every step) against `hpc run
# --threads 2` (one process, two worker threads), one epoch each, alternating
# ROUNDS times, on the Fashion-MNIST MLP (bench/fmnist_mlp.hp) and the
# char-LSTM (bench/charlm.hp, its corpus at /tmp/peers_corpus.txt).  Reports
# the median training throughput of each (summary.json's samples_per_second:
# the training steps, evaluation excluded), the ratio (goal: >= 0.90), the
# median CPU time (user + system of all processes) and the accuracy: test
# accuracy for the MLP (goal: within 0.003 of one process), validation bits
# per character for the char-LSTM (goal: within 1%).  Then times
# MPI_Allreduce alone on 2 ranks (bench/mpi_allreduce.c, built with mpicc) at
# each model's gradient size and a range of sizes: the per-byte cost the
# scaling model of docs/distributed.md takes; and beside it the sharded
# update's MPI_Reduce_scatter + MPI_Allgatherv pair, which hpc's steps use.  Prints tables; writes nothing
# into the repository.  Run from the repository root after `make`.
set -eu
ROUNDS=${1:-3}
HPC=${HPC:-build/hpc}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -x "$HPC" ] || { echo "build hpc first (make)"; exit 1; }
command -v mpirun > /dev/null || { echo "no mpirun (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
[ -f /tmp/peers_corpus.txt ] || $PY ../shared/peers/corpus.py > /dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

one() { # LABEL FILE MODE: a run's throughput, accuracy figure and CPU seconds, as one row
    rm -rf "$out/run"
    if [ "$3" = mpi ]; then
        /usr/bin/time -f "%U %S" -o "$out/cpu" mpirun -n 2 --bind-to core "$HPC" run "$2" --out "$out/run" \
            --threads 1 --quiet > /dev/null
    else
        /usr/bin/time -f "%U %S" -o "$out/cpu" "$HPC" run "$2" --out "$out/run" --threads 2 --quiet > /dev/null
    fi
    $PY - "$1" "$3" "$out/run/summary.json" "$(cat "$out/cpu")" >> "$out/rows" <<'PYEOF'
import json, math, sys
s = json.load(open(sys.argv[3]))
u, k = (float(x) for x in sys.argv[4].split())
acc = s.get("test_accuracy")
if acc is None:  # the char-LSTM: validation bits per character
    acc = s["val_loss"] / math.log(2)
print(sys.argv[1], sys.argv[2], s["samples_per_second"], acc, u + k)
PYEOF
}

: > "$out/rows"
for r in $(seq 1 "$ROUNDS"); do
    for m in one mpi; do one mlp bench/fmnist_mlp.hp $m; done
    for m in mpi one; do one charlm bench/charlm.hp $m; done
done
$PY - "$out/rows" <<'PYEOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"{'model':8} {'mode':5} {'samples/s':>11} {'accuracy/bpc':>13} {'CPU s':>7}  (medians of {len(rows) // 4} rounds)")
med = {}
for model in ("mlp", "charlm"):
    for mode in ("one", "mpi"):
        r = [x for x in rows if x[0] == model and x[1] == mode]
        m = [statistics.median(float(x[i]) for x in r) for i in (2, 3, 4)]
        med[model, mode] = m
        print(f"{model:8} {mode:5} {m[0]:11.0f} {m[1]:13.4f} {m[2]:7.2f}")
for model, what in (("mlp", "test accuracy difference"), ("charlm", "bpc relative difference")):
    a, b = med[model, "one"], med[model, "mpi"]
    diff = b[1] - a[1] if model == "mlp" else (b[1] - a[1]) / a[1]
    print(f"{model}: 2 ranks x 1 thread / 1 process x 2 threads throughput {b[0] / a[0]:.3f} (goal >= 0.90); "
          f"{what} {diff:+.4f}")
PYEOF

mpicc -O2 bench/mpi_allreduce.c -o "$out/allreduce"
params() { "$HPC" explain "$1" 2>/dev/null | sed -n 's/^ *total *\([0-9,]*\).*/\1/p' | head -1 | tr -d ,; }
mlp=$(params bench/fmnist_mlp.hp)
lm=$(params bench/charlm.hp)
echo "MPI_Allreduce of float sums, and the reduce-scatter + allgather pair, on 2 ranks of this machine (the models' gradients: MLP $mlp, char-LSTM $lm floats)"
mpirun -n 2 --bind-to core "$out/allreduce" ${mlp:-269322} ${lm:-800000} 1024 65536 1048576 4194304
