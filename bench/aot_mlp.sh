#!/bin/sh
# bench/aot_mlp.sh - the Fashion-MNIST MLP compiled ahead of time (hpc build)
# against PyTorch's eager inference of the same model: per-sample latency
# (batch 1, median of 10,000 calls) and throughput at batch 128, one thread.
# Trains examples/fashion_mlp.hp first.  Appends to bench/RESULTS.md.
set -eu
HPC=${HPC:-build/hpc}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$HPC" run examples/fashion_mlp.hp --out "$out/run" --quiet
"$HPC" build examples/fashion_mlp.hp --weights "$out/run" -o "$out/aot" --name fashion_mlp --cpu native > /dev/null
cat > "$out/lat.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "fashion_mlp.h"
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void)
{
    enum { N = 10000, B = 128 };
    static float x[B * fashion_mlp_INPUT_SIZE], y[B * fashion_mlp_OUTPUT_SIZE];
    static double t[N];
    for (int i = 0; i < B * fashion_mlp_INPUT_SIZE; i++) x[i] = (float)(i % 251);
    for (int i = 0; i < N; i++) { double a = now(); fashion_mlp_predict(x + (i % B) * fashion_mlp_INPUT_SIZE, y, 1); t[i] = now() - a; }
    qsort(t, N, sizeof *t, cmp);
    double a = now();
    for (int r = 0; r < 200; r++) fashion_mlp_predict(x, y, B);
    double thr = 200.0 * B / (now() - a);
    printf("%.2f %.0f\n", t[N / 2] * 1e6, thr);
    return 0;
}
C
cc -O2 -I"$out/aot" "$out/lat.c" "$out/aot/libfashion_mlp.a" -lm -o "$out/lat"
set -- $("$out/lat")
hpc_us=$1; hpc_thr=$2
size=$(stat -c %s "$out/aot/fashion_mlp.o")
set -- $(OPENBLAS_NUM_THREADS=1 $PY - <<'PYEOF'
import time, statistics, torch, torch.nn as nn
torch.set_num_threads(1)
m = nn.Sequential(nn.Linear(784,256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256,256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256,10), nn.Softmax(dim=1)).eval()
x = torch.rand(128, 784)
with torch.no_grad():
    ts = []
    for i in range(10000):
        a = time.perf_counter(); m(x[i % 128:i % 128 + 1]); ts.append(time.perf_counter() - a)
    a = time.perf_counter()
    for r in range(200): m(x)
    thr = 200 * 128 / (time.perf_counter() - a)
print(f"{statistics.median(ts) * 1e6:.2f} {thr:.0f}")
PYEOF
)
$PY - <<'PYEOF'
import re
try:
    old = open("bench/RESULTS.md").read()
except FileNotFoundError:
    old = "# Benchmarks\n\n"
parts = re.split(r"(?m)^(?=## )", old)
open("bench/RESULTS.md", "w").write("".join(p for p in parts if not p.startswith("## Fashion-MNIST MLP compiled ahead of time")).rstrip() + "\n")
PYEOF
{
    echo
    echo "## Fashion-MNIST MLP compiled ahead of time ($(date +%F), $(nproc) cores, one thread)"
    echo
    echo "Command: \`bench/aot_mlp.sh\` (hpc build --cpu native; PyTorch eager, torch.no_grad, 1 thread)"
    echo
    echo "| program | latency, batch 1 (median of 10,000) | throughput, batch 128 |"
    echo "|---|---|---|"
    echo "| hpc build artifact ($size bytes) | $hpc_us us | $hpc_thr samples/s |"
    echo "| PyTorch eager | $1 us | $2 samples/s |"
} | tee -a bench/RESULTS.md
