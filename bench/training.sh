#!/bin/sh
# bench/training.sh [ROUNDS] - issue 14's figures in one run: training speed on
# the three workloads against their peers, on this machine, one after another:
#   bench/fmnist_mlp.sh ROUNDS   the MLP against the shared hand-written C loop
#                                (../shared/peers/handwritten/mlp.c) and PyTorch
#   bench/fmnist_cnn.sh ROUNDS   the CNN against PyTorch + oneDNN, with and
#                                without batch norm
#   bench/charlm.sh ROUNDS       the char-LSTM against PyTorch
# Each script alternates its own programs ROUNDS times (default 2) and writes
# its section of bench/RESULTS.md; this one then writes a section with the
# ratios side by side and the targets of issue 14.  About 7 minutes a round
# on the 2-core AMD EPYC.  Run from the repository root after `make`.
set -eu
ROUNDS=${1:-2}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
: > "$out/summary"
start=$(date +%s)
for w in fmnist_mlp fmnist_cnn charlm; do
    BENCH_SUMMARY="$out/summary" sh "bench/$w.sh" "$ROUNDS"
done
$PY - "$out/summary" "$ROUNDS" "$(( $(date +%s) - start ))" <<'PYEOF' | tee "$out/section.md"
import datetime, subprocess, sys
got = {}
for line in open(sys.argv[1]):
    f = line.split()
    got[f[0]] = [float(x) for x in f[1:4]]
sh = lambda c: subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
print(f"## Training speed against the peers, issue 14's figures ({datetime.date.today()}, {cpu}, {sh('nproc')} cores)\n")
print(f"Command: `bench/training.sh {sys.argv[2]}`: bench/fmnist_mlp.sh, bench/fmnist_cnn.sh and bench/charlm.sh, "
      f"{sys.argv[2]} alternating rounds each, one after another ({int(sys.argv[3]) // 60} minutes); their own sections "
      f"below have every run. Ratios of medians, each against the peer measured in the same script.\n")
print("| workload | hpc | peer | ratio | target |")
print("|---|---|---|---|---|")
# (key, workload, peer, target, whose target): issue 14's, or the project's bar (README)
rows = [("mlp_handwritten", "Fashion-MNIST MLP (bench/fmnist_mlp.hp), samples/s", "shared hand-written C loop", 1.0, ""),
        ("mlp_torch", "Fashion-MNIST MLP, samples/s", "PyTorch, fastest setting", 2.5, " (the project's bar)"),
        ("cnn", "CNN without batch norm (bench/fmnist_cnn.hp), samples/s", "PyTorch + oneDNN (../shared/peers/fmnist_cnn.py)", 1.5, ""),
        ("cnn_bn", "examples/fashion_cnn.hp (batch norm), samples/s", "PyTorch + oneDNN with BatchNorm2d (bench/fmnist_cnn_bn.py)", 1.5, ""),
        ("cnn_example_vs_shared", "examples/fashion_cnn.hp (batch norm), samples/s", "PyTorch + oneDNN without it", 1.5, ""),
        ("charlm", "char-LSTM (bench/charlm.hp), tokens/s", "PyTorch, fastest setting", 2.5, "")]
for key, what, peer, target, whose in rows:
    if key not in got:
        print(f"| {what} | (missing) | | | {target:.1f}x{whose} |")
        continue
    r, h, p = got[key]
    mark = "met" if r >= target else "**not met**"
    print(f"| {what} | {h / 1000:.1f}k | {peer}: {p / 1000:.1f}k | **{r:.2f}x** | {target:.1f}x{whose}, {mark} |")
PYEOF
$PY bench/splice_results.py "$out/section.md" bench/RESULTS.md "## Training speed against the peers"
