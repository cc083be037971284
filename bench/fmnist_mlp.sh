#!/bin/sh
# bench/fmnist_mlp.sh [ROUNDS] - hpc against PyTorch on the Fashion-MNIST MLP.
#
# Runs, alternating, ROUNDS times: hpc on bench/fmnist_mlp.hp (the peer's exact
# workload) and ../shared/peers/fmnist_mlp.py in each of PyTorch's three thread
# settings (../shared/peers/README.md), one epoch each.  Reports the median
# samples/s of each, the ratio against PyTorch's fastest setting, test
# accuracy, peak RSS and hpc's compile time; then trains examples/fashion_mlp.hp
# for 10 epochs for its test accuracy.  Also runs two hand-written,
# specialised C loops of the same workload (the yardsticks of performance.md)
# and reports hpc against each: bench/handwritten_mlp.c and the shared
# ../shared/peers/handwritten/mlp.c (mode 2: one worker per core with
# single-threaded sgemm, weight gradients split by output neuron, Adam fused
# per chunk; built as its header says, skipped when it is absent).  Writes its
# section of bench/RESULTS.md (with BENCH_SUMMARY=FILE it also appends its
# ratios there: bench/training.sh).  Run from the repository root after `make`.
set -eu
ROUNDS=${1:-5}
HPC=${HPC:-build/hpc}
PEER=${PEER:-../shared/peers/fmnist_mlp.py}
SHARED_C=${SHARED_C:-../shared/peers/handwritten/mlp.c}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -x "$HPC" ] || { echo "build hpc first (make)"; exit 1; }
[ -f "$PEER" ] || { echo "no peer program at $PEER"; exit 1; }
cc -std=c11 -D_GNU_SOURCE -O3 -march=native -fno-math-errno -fno-trapping-math bench/handwritten_mlp.c \
    -lopenblas -lz -lpthread -lm -o "$out/handwritten"
shared=false
if [ -f "$SHARED_C" ]; then
    gcc -O3 -march=native -fno-math-errno -fno-trapping-math -fopenmp "$SHARED_C" -lopenblas -lz -lm -o "$out/shared_c"
    shared=true
fi

: > "$out/rows"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$out/hpc"
    /usr/bin/time -f %M -o "$out/rss" "$HPC" run bench/fmnist_mlp.hp --out "$out/hpc" --quiet
    $PY - "$out/hpc/summary.json" "$(cat "$out/rss")" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("hpc", s["samples_per_second"], s["test_accuracy"], sys.argv[2], s["compile_ms"])
PYEOF
    /usr/bin/time -f %M -o "$out/rss" "$out/handwritten" 1 > "$out/hw.json"
    $PY - "$out/hw.json" "$(cat "$out/rss")" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("handwritten_c", s["samples_per_s"], s["test_accuracy"], sys.argv[2], 0)
PYEOF
    if $shared; then
        # 1 epoch, mode 2, one BLAS thread per worker
        /usr/bin/time -f %M -o "$out/rss" "$out/shared_c" 1 2 1 > "$out/shc.json"
        $PY - "$out/shc.json" "$(cat "$out/rss")" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("shared_c", s["samples_per_s"], s["test_accuracy"], sys.argv[2], 0)
PYEOF
    fi
    for cfg in "2 1" "1 2" "1 1"; do
        set -- $cfg
        OPENBLAS_NUM_THREADS=$2 /usr/bin/time -f %M -o "$out/rss" $PY "$PEER" --epochs 1 --threads "$1" > "$out/peer.json"
        $PY - "$out/peer.json" "$(cat "$out/rss")" "torch$1/blas$2" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(sys.argv[3], s["samples_per_s"], s["test_accuracy"], sys.argv[2], 0)
PYEOF
    done
    echo "round $r done" >&2
done

"$HPC" run examples/fashion_mlp.hp --out "$out/ten" --quiet
$PY - "$out/rows" "$out/ten/summary.json" "$ROUNDS" <<'PYEOF' | tee "$out/section.md"
import json, os, statistics, sys, platform, datetime, subprocess
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, sps, acc, rss, cms in rows:
    by.setdefault(name, []).append((float(sps), float(acc), int(rss), float(cms)))
med = {k: statistics.median(x[0] for x in v) for k, v in by.items()}
best = max((k for k in by if k.startswith("torch")), key=lambda k: med[k])
ten = json.load(open(sys.argv[2]))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"## Fashion-MNIST MLP, 1 epoch ({datetime.date.today()}, {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores)\n")
print(f"Command: `bench/fmnist_mlp.sh {sys.argv[3]}` ({sys.argv[3]} alternating rounds; medians)\n")
print("| program | samples/s (median) | runs | test accuracy | peak RSS | compile |")
print("|---|---|---|---|---|---|")
for k in ["hpc"] + [k for k in ["handwritten_c", "shared_c"] if k in by] + sorted(k for k in by if k.startswith("torch")):
    v = by[k]
    runs = ", ".join(f"{x[0]/1000:.1f}k" for x in v)
    acc = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    cms = f"{statistics.median(x[3] for x in v):.0f} ms" if k == "hpc" else ""
    label = {"hpc": "hpc", "handwritten_c": "hand-written C (bench/handwritten_mlp.c)",
             "shared_c": "hand-written C (../shared/peers/handwritten/mlp.c, mode 2)"}.get(k, f"PyTorch {k}")
    print(f"| {label} | {med[k]/1000:.1f}k | {runs} | {acc:.4f} | {rss:.0f} MiB | {cms} |")
ratio = med["hpc"] / med[best]
rss_ratio = statistics.median(x[2] for x in by["hpc"]) / statistics.median(x[2] for x in by[best])
print(f"\nhpc / PyTorch at its fastest setting ({best}): **{ratio:.2f}x** samples/s; peak RSS {rss_ratio:.2f}x.")
if "handwritten_c" in by:
    print(f"hand-written C / PyTorch: {med['handwritten_c'] / med[best]:.2f}x; hpc / hand-written C: {med['hpc'] / med['handwritten_c']:.2f}x.")
if "shared_c" in by:
    print(f"shared hand-written C / PyTorch: {med['shared_c'] / med[best]:.2f}x; "
          f"hpc / shared hand-written C: **{med['hpc'] / med['shared_c']:.2f}x** (issue 14's target: at least 1.0x).")
summary = [f"mlp_torch {ratio:.4f} {med['hpc']:.0f} {med[best]:.0f}"]
if "shared_c" in by:
    summary.append(f"mlp_handwritten {med['hpc'] / med['shared_c']:.4f} {med['hpc']:.0f} {med['shared_c']:.0f}")
if os.environ.get("BENCH_SUMMARY"):
    open(os.environ["BENCH_SUMMARY"], "a").write("".join(l + "\n" for l in summary))
print()
print(f"examples/fashion_mlp.hp, 10 epochs (one_cycle, early stopping): test accuracy {ten['test_accuracy']:.4f} "
      f"after {ten['epochs']} epochs, {ten['samples_per_second']/1000:.1f}k samples/s, compiled in {ten['compile_ms']:.0f} ms.")
PYEOF
# this workload's section of bench/RESULTS.md is replaced; the others are kept
$PY bench/splice_results.py "$out/section.md" bench/RESULTS.md "## Fashion-MNIST MLP, 1 epoch"
