#!/bin/sh
# bench/fashion_rnn.sh [ROUNDS] - hpc against PyTorch on sequence
# classification: an LSTM(28 -> 128) reading the 28 rows of a Fashion-MNIST
# image as 28 time steps, the last step -> dense 10 (examples/fashion_rnn.hp
# and ../shared/peers/fmnist_rows_lstm.py: Adam 2e-3, batch 128, inputs /255,
# the 60,000 training images reshuffled every epoch, the 10,000 test images).
#
# Runs, alternating, ROUNDS (default 3) times: hpc for EPOCHS (default 1)
# epochs, then the peer for as many in each of PyTorch's three thread
# settings (../shared/peers/README.md).  Reports the median samples/s of
# each, the ratio against PyTorch's fastest setting, the test accuracy after
# the same epochs, peak RSS and hpc's compile time.  Replaces its own section
# of bench/RESULTS.md (or of $RESULTS).  Run from the repository root after
# `make`.
#
# From hpc's summary.json it reads: samples_per_second, test_accuracy,
# compile_ms, epochs; from the peer's last JSON line: samples_per_s,
# test_accuracy.
set -eu
ROUNDS=${1:-3}
EPOCHS=${EPOCHS:-1}
HPC=${HPC:-build/hpc}
PEER=${PEER:-../shared/peers/fmnist_rows_lstm.py}
RESULTS=${RESULTS:-bench/RESULTS.md}
HP=${HP:-examples/fashion_rnn.hp}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
die() { echo "bench/fashion_rnn.sh: $*" >&2; exit 1; }
[ -x "$HPC" ] || die "build hpc first (make)"
[ -f "$PEER" ] || die "no peer program at $PEER"
[ -f "$HP" ] || die "no $HP"
"$HPC" explain "$HP" > "$out/explain" 2>&1 || die "hpc explain failed on $HP"
grep -q "each sample is a sequence of 28 steps of 28 features" "$out/explain" \
    || die "$HP no longer reads 28 rows of 28 pixels"
echo "$EPOCHS epoch(s) of 60000 images, batch 128" >&2

: > "$out/rows"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$out/hpc"
    if ! /usr/bin/time -f %M -o "$out/rss" "$HPC" run "$HP" --epochs "$EPOCHS" --out "$out/hpc" --quiet \
        > "$out/hpc.log" 2>&1; then
        echo "bench/fashion_rnn.sh: hpc cannot train $HP; \`hpc run\` said:" >&2
        sed 's/^/    /' "$out/hpc.log" >&2
        exit 1
    fi
    $PY - "$out/hpc/summary.json" "$(tail -n 1 "$out/rss")" "$EPOCHS" >> "$out/rows" <<'PYEOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"bench/fashion_rnn.sh: hpc run wrote no readable summary.json: {e}")
missing = [k for k in ("samples_per_second", "test_accuracy", "compile_ms") if not isinstance(s.get(k), (int, float))]
if missing:
    sys.exit("bench/fashion_rnn.sh: hpc trained, but its summary.json has no " + ", ".join(missing))
if s.get("epochs") != int(sys.argv[3]):
    print(f"bench/fashion_rnn.sh: warning: hpc reports {s.get('epochs')} epochs, the peer runs {sys.argv[3]}",
          file=sys.stderr)
print("hpc", s["samples_per_second"], s["test_accuracy"], sys.argv[2], s["compile_ms"])
PYEOF
    for cfg in "2 1" "1 2" "1 1"; do
        set -- $cfg
        OPENBLAS_NUM_THREADS=$2 /usr/bin/time -f %M -o "$out/rss" \
            $PY "$PEER" --epochs "$EPOCHS" --threads "$1" > "$out/peer.json"
        $PY - "$out/peer.json" "$(tail -n 1 "$out/rss")" "torch$1/blas$2" >> "$out/rows" <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]).read().strip().splitlines()]
secs = sum(l["train_seconds"] for l in lines)
n = 60000 * len(lines)
print(sys.argv[3], n / secs, lines[-1]["test_accuracy"], sys.argv[2], 0)
PYEOF
    done
    echo "round $r done" >&2
done

$PY - "$out/rows" "$ROUNDS" "$EPOCHS" <<'PYEOF' | tee "$out/section.md"
import statistics, sys, datetime, subprocess
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, sps, acc, rss, cms in rows:
    by.setdefault(name, []).append((float(sps), float(acc), int(rss), float(cms)))
med = {k: statistics.median(x[0] for x in v) for k, v in by.items()}
best = max((k for k in by if k != "hpc"), key=lambda k: med[k])
sh = lambda c: subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
epochs = int(sys.argv[3])
print(f"## Fashion-MNIST rows LSTM, {epochs} epoch{'s' if epochs != 1 else ''} "
      f"({datetime.date.today()}, {cpu}, {sh('nproc')} cores)\n")
env = "" if epochs == 1 else f"EPOCHS={epochs} "
print(f"Command: `{env}bench/fashion_rnn.sh {sys.argv[2]}` ({sys.argv[2]} alternating rounds; medians). "
      f"LSTM(28 -> 128) over the 28 rows of each image, last step -> dense 10; Adam 2e-3, batch 128, inputs / 255; "
      f"examples/fashion_rnn.hp against ../shared/peers/fmnist_rows_lstm.py.\n")
print("| program | samples/s (median) | runs | test accuracy | peak RSS | compile |")
print("|---|---|---|---|---|---|")
for k in ["hpc"] + sorted(k for k in by if k != "hpc"):
    v = by[k]
    runs = ", ".join(f"{x[0]/1000:.1f}k" for x in v)
    acc = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    cms = f"{statistics.median(x[3] for x in v):.0f} ms" if k == "hpc" else ""
    label = f"PyTorch {k}" if k != "hpc" else "hpc"
    print(f"| {label} | {med[k]/1000:.1f}k | {runs} | {acc:.4f} | {rss:.0f} MiB | {cms} |")
ratio = med["hpc"] / med[best]
rss_ratio = statistics.median(x[2] for x in by["hpc"]) / statistics.median(x[2] for x in by[best])
print(f"\nhpc / PyTorch at its fastest setting ({best}): **{ratio:.2f}x** samples/s; peak RSS {rss_ratio:.2f}x.")
PYEOF
# this workload's section of bench/RESULTS.md is replaced; the others are kept
$PY bench/splice_results.py "$out/section.md" "$RESULTS" "## Fashion-MNIST rows LSTM, "
