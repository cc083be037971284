#!/bin/sh
# bench/fmnist_cnn.sh [ROUNDS] - hpc against PyTorch + oneDNN on the Fashion-MNIST CNN.
#
# Runs, alternating, ROUNDS times: hpc on examples/fashion_cnn.hp for one
# epoch and ../shared/peers/fmnist_cnn.py (the same network, optimizer and
# batch; Debian's torch runs the convolutions through oneDNN) in each of
# PyTorch's three thread settings (../shared/peers/README.md), one epoch each.
# Reports the median samples/s of each, the ratio against PyTorch's fastest
# setting, test accuracy after the epoch, peak RSS and hpc's compile time;
# then one more hpc epoch with HPC_PROFILE=1 for the time per layer and pass
# (docs/cli.md).  Writes its section of bench/RESULTS.md.
# Run from the repository root after building (cmake --build build).
set -eu
ROUNDS=${1:-5}
HPC=${HPC:-build/hpc}
PEER=${PEER:-../shared/peers/fmnist_cnn.py}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -x "$HPC" ] || { echo "build hpc first (cmake --build build)"; exit 1; }
[ -f "$PEER" ] || { echo "no peer program at $PEER"; exit 1; }

: > "$out/rows"
for r in $(seq 1 "$ROUNDS"); do
    /usr/bin/time -f %M -o "$out/rss" "$HPC" run examples/fashion_cnn.hp --epochs 1 --out "$out/hpc" --force --quiet
    $PY - "$out/hpc/summary.json" "$(cat "$out/rss")" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("hpc", s["samples_per_second"], s["test_accuracy"], sys.argv[2], s["compile_ms"])
PYEOF
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

# where the time goes: one profiled epoch (thread CPU time per layer and pass)
HPC_PROFILE=1 "$HPC" run examples/fashion_cnn.hp --epochs 1 --out "$out/prof" --force --quiet 2> "$out/profile.txt"

$PY - "$out/rows" "$ROUNDS" "$out/profile.txt" <<'PYEOF' | tee "$out/section.md"
import statistics, sys, datetime, subprocess
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, sps, acc, rss, cms in rows:
    by.setdefault(name, []).append((float(sps), float(acc), int(rss), float(cms)))
med = {k: statistics.median(x[0] for x in v) for k, v in by.items()}
best = max((k for k in by if k.startswith("torch")), key=lambda k: med[k])
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"## Fashion-MNIST CNN, 1 epoch ({datetime.date.today()}, {cpu}, {nproc} cores)\n")
print(f"Command: `bench/fmnist_cnn.sh {sys.argv[2]}` ({sys.argv[2]} alternating rounds; medians)\n")
print("| program | samples/s (median) | runs | test accuracy | peak RSS | compile |")
print("|---|---|---|---|---|---|")
for k in ["hpc"] + sorted(k for k in by if k.startswith("torch")):
    v = by[k]
    runs = ", ".join(f"{x[0]/1000:.2f}k" for x in v)
    acc = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    cms = f"{statistics.median(x[3] for x in v):.0f} ms" if k == "hpc" else ""
    label = "hpc (examples/fashion_cnn.hp)" if k == "hpc" else f"PyTorch {k}"
    print(f"| {label} | {med[k]/1000:.2f}k | {runs} | {acc:.4f} | {rss:.0f} MiB | {cms} |")
ratio = med["hpc"] / med[best]
rss_ratio = statistics.median(x[2] for x in by["hpc"]) / statistics.median(x[2] for x in by[best])
acc_gap = statistics.median(x[1] for x in by["hpc"]) - statistics.median(x[1] for x in by[best])
print(f"\nhpc / PyTorch at its fastest setting ({best}): **{ratio:.2f}x** samples/s; "
      f"test accuracy {acc_gap:+.4f}; peak RSS {rss_ratio:.2f}x.\n")
print("hpc's step by layer and pass (`HPC_PROFILE=1`, one more epoch):\n")
print("```")
print(open(sys.argv[3]).read().rstrip())
print("```")
PYEOF
# this workload's section of bench/RESULTS.md is replaced; the others are kept
$PY bench/splice_results.py "$out/section.md" bench/RESULTS.md "## Fashion-MNIST CNN, 1 epoch"
