#!/bin/sh
# bench/fmnist_cnn.sh [ROUNDS] - hpc against PyTorch + oneDNN on the Fashion-MNIST CNN.
#
# Two networks, each against its PyTorch twin (the same layers, optimizer and
# batch; Debian's torch runs the convolutions through oneDNN):
#   bench/fmnist_cnn.hp      against ../shared/peers/fmnist_cnn.py (no batch norm)
#   examples/fashion_cnn.hp  against bench/fmnist_cnn_bn.py (the same peer with a
#                            BatchNorm2d after each conv)
# Runs, alternating, ROUNDS times: hpc on each .hp for one epoch, then each
# peer in each of PyTorch's three thread settings (../shared/peers/README.md),
# one epoch each.  Reports the median samples/s of each, the ratios against
# PyTorch's fastest setting, test accuracy after the epoch, peak RSS and hpc's
# compile time; then one more epoch of each .hp with HPC_PROFILE=1 for the
# time per layer and pass (docs/cli.md).  Writes its section of
# bench/RESULTS.md; with BENCH_SUMMARY=FILE it also appends the ratios there
# (bench/training.sh).  Run from the repository root after building.
set -eu
ROUNDS=${1:-5}
HPC=${HPC:-build/hpc}
PEER=${PEER:-../shared/peers/fmnist_cnn.py}
BNPEER=bench/fmnist_cnn_bn.py
PLAIN=bench/fmnist_cnn.hp
EXAMPLE=examples/fashion_cnn.hp
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -x "$HPC" ] || { echo "build hpc first (cmake --build build)"; exit 1; }
[ -f "$PEER" ] || { echo "no peer program at $PEER"; exit 1; }

: > "$out/rows"
hpc_row() { # NAME FILE: one epoch of FILE, a row
    /usr/bin/time -f %M -o "$out/rss" "$HPC" run "$2" --epochs 1 --out "$out/hpc" --force --quiet
    $PY - "$out/hpc/summary.json" "$(cat "$out/rss")" "$1" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(sys.argv[3], s["samples_per_second"], s["test_accuracy"], sys.argv[2], s["compile_ms"])
PYEOF
}
peer_row() { # PREFIX TORCH BLAS PROGRAM [ARGS]: one epoch of a peer, a row
    pre=$1 t=$2 bl=$3
    shift 3
    OPENBLAS_NUM_THREADS=$bl /usr/bin/time -f %M -o "$out/rss" $PY "$@" --epochs 1 --threads "$t" > "$out/peer.json"
    $PY - "$out/peer.json" "$(cat "$out/rss")" "${pre}torch$t/blas$bl" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(sys.argv[3], s["samples_per_s"], s["test_accuracy"], sys.argv[2], 0)
PYEOF
}
for r in $(seq 1 "$ROUNDS"); do
    hpc_row hpc "$PLAIN"
    for cfg in "2 1" "1 2" "1 1"; do peer_row "" $cfg "$PEER"; done
    hpc_row bn_hpc "$EXAMPLE"
    for cfg in "2 1" "1 2" "1 1"; do peer_row bn_ $cfg "$BNPEER" --peer "$PEER"; done
    echo "round $r done" >&2
done

# where the time goes: one profiled epoch (thread CPU time per layer and pass)
HPC_PROFILE=1 "$HPC" run "$PLAIN" --epochs 1 --out "$out/prof" --force --quiet 2> "$out/profile.txt"
HPC_PROFILE=1 "$HPC" run "$EXAMPLE" --epochs 1 --out "$out/prof" --force --quiet 2> "$out/profile_bn.txt"

$PY - "$out/rows" "$ROUNDS" "$out/profile.txt" "$out/profile_bn.txt" <<'PYEOF' | tee "$out/section.md"
import os, statistics, sys, datetime, subprocess
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, sps, acc, rss, cms in rows:
    by.setdefault(name, []).append((float(sps), float(acc), int(rss), float(cms)))
med = {k: statistics.median(x[0] for x in v) for k, v in by.items()}
acc = {k: statistics.median(x[1] for x in v) for k, v in by.items()}
rss = {k: statistics.median(x[2] for x in v) for k, v in by.items()}
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"## Fashion-MNIST CNN, 1 epoch ({datetime.date.today()}, {cpu}, {nproc} cores)\n")
print(f"Command: `bench/fmnist_cnn.sh {sys.argv[2]}` ({sys.argv[2]} alternating rounds; medians)\n")
print("| program | samples/s (median) | runs | test accuracy | peak RSS | compile |")
print("|---|---|---|---|---|---|")
labels = {"hpc": "hpc (bench/fmnist_cnn.hp, no batch norm)", "bn_hpc": "hpc (examples/fashion_cnn.hp, batch norm)"}
def best(prefix):
    return max((k for k in by if k.startswith(prefix + "torch")), key=lambda k: med[k])
for pre in ["", "bn_"]:
    for k in [pre + "hpc"] + sorted(k for k in by if k.startswith(pre + "torch")):
        v = by[k]
        runs = ", ".join(f"{x[0]/1000:.2f}k" for x in v)
        cms = f"{statistics.median(x[3] for x in v):.0f} ms" if k.endswith("hpc") else ""
        label = labels.get(k) or ("PyTorch " + k[len(pre):] + (" (bench/fmnist_cnn_bn.py)" if pre else " (../shared/peers/fmnist_cnn.py)"))
        print(f"| {label} | {med[k]/1000:.2f}k | {runs} | {acc[k]:.4f} | {rss[k]/1024:.0f} MiB | {cms} |")
summary = []
print()
for pre, what in [("", "the shared peer's network (no batch norm)"), ("bn_", "examples/fashion_cnn.hp's network (batch norm)")]:
    h, b = pre + "hpc", best(pre)
    ratio = med[h] / med[b]
    print(f"{what}: hpc / PyTorch at its fastest setting ({b[len(pre):]}): **{ratio:.2f}x** samples/s; "
          f"test accuracy {acc[h] - acc[b]:+.4f}; peak RSS {rss[h] / rss[b]:.2f}x.")
    summary.append(f"cnn{'_bn' if pre else ''} {ratio:.4f} {med[h]:.0f} {med[b]:.0f} {acc[h] - acc[b]:+.4f}")
x = med["bn_hpc"] / med[best("")]
print(f"\nexamples/fashion_cnn.hp (batch norm) against the shared peer without it: **{x:.2f}x** samples/s; "
      f"test accuracy {acc['bn_hpc'] - acc[best('')]:+.4f}. Batch norm costs hpc {med['hpc'] / med['bn_hpc']:.2f}x "
      f"the time per sample, PyTorch {med[best('')] / med[best('bn_')]:.2f}x.\n")
summary.append(f"cnn_example_vs_shared {x:.4f} {med['bn_hpc']:.0f} {med[best('')]:.0f} {acc['bn_hpc'] - acc[best('')]:+.4f}")
if os.environ.get("BENCH_SUMMARY"):
    open(os.environ["BENCH_SUMMARY"], "a").write("".join(l + "\n" for l in summary))
for title, f in [("bench/fmnist_cnn.hp", sys.argv[3]), ("examples/fashion_cnn.hp", sys.argv[4])]:
    print(f"hpc's step by layer and pass, {title} (`HPC_PROFILE=1`, one more epoch):\n")
    print("```")
    print(open(f).read().rstrip())
    print("```\n")
PYEOF
# this workload's section of bench/RESULTS.md is replaced; the others are kept
$PY bench/splice_results.py "$out/section.md" bench/RESULTS.md "## Fashion-MNIST CNN, 1 epoch"
