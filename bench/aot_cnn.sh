#!/bin/sh
# bench/aot_cnn.sh - bench/fmnist_cnn.hp's network (conv 32 3x3, maxpool,
# conv 64 3x3, maxpool, dense 128, dense 10) compiled ahead of time (hpc
# build) against PyTorch's eager inference of the same network: per-sample
# latency (batch 1, median of N calls) and throughput at batch 128, one
# thread, in CPU time (CLOCK_THREAD_CPUTIME_ID; PyTorch: time.thread_time) and
# wall-clock time.  The network's model block is trained one short epoch on
# part of the test images first (the speed does not depend on the weights).
# Rows: the portable default at each ISA level this machine runs
# (FASHION_MLP_ISA), --cpu native, and, with OLD_HPC=path/to/an/older/hpc,
# that hpc's artifact (e.g. the naive conv loops before compiler/aot_conv.c).
# Prints the table; with --results it also replaces its section of
# bench/RESULTS.md (run it on a quiet machine).
#   usage: bench/aot_cnn.sh [--results]     (HPC=build/hpc, N=2000 calls)
set -eu
HPC=${HPC:-build/hpc}
N=${N:-2000}
PY=/usr/bin/python3
FM=/usr/share/datasets/fashion-mnist
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/lat.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "fashion_mlp.h"
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv)
{
    int N = atoi(argv[1]), reps = N / 64 > 2 ? N / 64 : 2;
    enum { B = 128 };
    static float x[B * FASHION_MLP_INPUT_SIZE], y[B * FASHION_MLP_OUTPUT_SIZE];
    double *t = malloc(sizeof(double) * N), *w = malloc(sizeof(double) * N);
    if (!t || !w)
        return 1;
    for (int i = 0; i < B * FASHION_MLP_INPUT_SIZE; i++) x[i] = (float)(i % 251);
    fashion_mlp_predict(x, y, 1); /* the level chosen, the scratch touched */
    for (int i = 0; i < N; i++) {
        double a = now(CLOCK_THREAD_CPUTIME_ID), b = now(CLOCK_MONOTONIC);
        if (fashion_mlp_predict(x + (i % B) * FASHION_MLP_INPUT_SIZE, y, 1) != 0)
            return 1;
        t[i] = now(CLOCK_THREAD_CPUTIME_ID) - a;
        w[i] = now(CLOCK_MONOTONIC) - b;
    }
    qsort(t, N, sizeof *t, cmp);
    qsort(w, N, sizeof *w, cmp);
    double a = now(CLOCK_THREAD_CPUTIME_ID), b = now(CLOCK_MONOTONIC);
    for (int r = 0; r < reps; r++)
        if (fashion_mlp_predict(x, y, B) != 0)
            return 1;
    double cpu = now(CLOCK_THREAD_CPUTIME_ID) - a, wall = now(CLOCK_MONOTONIC) - b;
    /* cpu_latency_us wall_latency_us cpu_throughput wall_throughput isa */
    printf("%.1f %.1f %.0f %.0f %s\n", t[N / 2] * 1e6, w[N / 2] * 1e6, reps * B / cpu, reps * B / wall, fashion_mlp_isa());
    free(t);
    free(w);
    return 0;
}
C
{
    cat <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.8)
    normalize = standard
}
HP
    sed -n '/^model cnn/,/^}/p' bench/fmnist_cnn.hp
    echo 'experiment bench { data = slice; model = cnn(); batch = 64; epochs = 1; seed = 7 }'
} > "$out/cnn.hp"
"$HPC" run "$out/cnn.hp" --out "$out/run" --quiet
build() { # HPC DIR [ARGS]: the artifact and lat.c linked to it
    h=$1 d=$2
    shift 2
    "$h" build "$out/cnn.hp" --weights "$out/run" -o "$out/$d" --name fashion_mlp "$@" > /dev/null 2>&1
    cc -O2 -I"$out/$d" "$out/lat.c" "$out/$d/libfashion_mlp.a" -lm -o "$out/lat_$d"
}
build "$HPC" portable
build "$HPC" native --cpu native
rows=""
levels=$(for l in x86-64-v2 x86-64-v3 x86-64-v4; do [ "$(FASHION_MLP_ISA=$l "$out/lat_portable" 3 | cut -d' ' -f5)" = "$l" ] && echo "$l"; done || true)
line() { # LABEL RESULT: one table row
    set -- "$1" $2
    printf '| %s | %s us | %s us | %s | %s |\n' "$1" "$2" "$3" "$4" "$5"
}
{
    for l in $levels; do line "hpc build, portable default, at $l" "$(FASHION_MLP_ISA=$l "$out/lat_portable" "$N")"; done
    line "hpc build --cpu native" "$("$out/lat_native" "$N")"
    if [ -n "${OLD_HPC:-}" ]; then
        build "$OLD_HPC" old
        line "older hpc ($OLD_HPC), portable default (best level)" "$("$out/lat_old" $((N / 20 > 20 ? N / 20 : 20)))"
    fi
    line "PyTorch $($PY -c 'import torch; print(torch.__version__)') eager" "$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $PY - "$N" <<'PYEOF'
import sys, time, statistics, torch, torch.nn as nn
torch.set_num_threads(1)
N = int(sys.argv[1])
m = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1)).eval()
x = torch.rand(128, 1, 28, 28)
with torch.no_grad():
    m(x[:1])
    ts, ws = [], []
    for i in range(N):
        a, b = time.thread_time(), time.perf_counter()
        m(x[i % 128:i % 128 + 1])
        ts.append(time.thread_time() - a)
        ws.append(time.perf_counter() - b)
    reps = max(2, N // 64)
    a, b = time.thread_time(), time.perf_counter()
    for r in range(reps):
        m(x)
    cpu, wall = time.thread_time() - a, time.perf_counter() - b
print(f"{statistics.median(ts) * 1e6:.1f} {statistics.median(ws) * 1e6:.1f} {reps * 128 / cpu:.0f} {reps * 128 / wall:.0f}")
PYEOF
)"
} > "$out/rows"

table() {
    echo "## Fashion-MNIST CNN compiled ahead of time ($(date +%F), $(nproc) cores, one thread)"
    echo
    echo "Command: \`bench/aot_cnn.sh\` (bench/fmnist_cnn.hp's network, the example's without batch norm; batch 1: median of $N calls; batch 128 throughput; CPU time of the calling thread and wall-clock)"
    echo
    echo "| program | latency, batch 1, CPU | wall | batch 128, samples per CPU second | per wall second |"
    echo "|---|---|---|---|---|"
    cat "$out/rows"
}
table
if [ "${1:-}" = --results ]; then
    table > "$out/section.md"
    $PY bench/splice_results.py "$out/section.md" bench/RESULTS.md "## Fashion-MNIST CNN compiled ahead of time"
fi
