#!/bin/sh
# bench/charlm.sh [ROUNDS] - hpc against PyTorch on the char-LSTM language model.
#
# The corpus: ../shared/peers/corpus.py writes its 1,000,000 bytes to a
# temporary directory, and both programs read that one file.  hpc runs a copy
# of bench/charlm.hp with the corpus path ("/tmp/peers_corpus.txt") replaced
# by that file's; ../shared/peers/charlm_lstm.py gets it with --text.
#
# The steps: hpc trains EPOCHS (default 1) whole epochs, and its epoch is the
# full windows, floor((floor(900000 / 32) - 1) / 64) = 439 steps, read from
# `hpc explain`; the peer gets --steps with the same count.
#
# Runs, alternating, ROUNDS (default 3) times: hpc, then the peer in each of
# PyTorch's three thread settings (../shared/peers/README.md).  Reports the
# median tokens/s of each, the ratio against PyTorch's fastest setting,
# validation bits per character after the same number of steps, peak RSS and
# hpc's compile time.  Replaces its own section of bench/RESULTS.md (or of
# $RESULTS; with BENCH_SUMMARY=FILE it also appends its ratio there:
# bench/training.sh).  Run from the repository root after `make`.
#
# From hpc's summary.json it reads: tokens_per_second (else samples_per_second,
# which design.md defines as tokens/s for text data), val_bpc (else valid_bpc,
# else val_loss or valid_loss in nats / ln 2), steps, compile_ms.
set -eu
ROUNDS=${1:-3}
EPOCHS=${EPOCHS:-1}
HPC=${HPC:-build/hpc}
PEER=${PEER:-../shared/peers/charlm_lstm.py}
CORPUS=${CORPUS:-$(dirname "$PEER")/corpus.py}
RESULTS=${RESULTS:-bench/RESULTS.md}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
die() { echo "bench/charlm.sh: $*" >&2; exit 1; }
[ -x "$HPC" ] || die "build hpc first (make)"
[ -f "$PEER" ] || die "no peer program at $PEER"
[ -f "$CORPUS" ] || die "no corpus writer at $CORPUS"

$PY "$CORPUS" "$out/corpus.txt"
sed "s|\"/tmp/peers_corpus.txt\"|\"$out/corpus.txt\"|" bench/charlm.hp > "$out/charlm.hp"
grep -q "$out/corpus.txt" "$out/charlm.hp" || die "bench/charlm.hp no longer reads \"/tmp/peers_corpus.txt\""
"$HPC" explain "$out/charlm.hp" > "$out/explain" || die "hpc explain failed on bench/charlm.hp"
SPE=$(sed -n 's/.*(\([0-9][0-9]*\) steps per epoch).*/\1/p' "$out/explain" | head -n 1)
[ -n "$SPE" ] || die "cannot read the steps per epoch from \`hpc explain\`"
STEPS=$((EPOCHS * SPE))
echo "corpus $out/corpus.txt; $EPOCHS epoch(s) = $STEPS steps of 32 x 64 tokens" >&2

: > "$out/rows"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$out/hpc"
    if ! /usr/bin/time -f %M -o "$out/rss" "$HPC" run "$out/charlm.hp" --epochs "$EPOCHS" --out "$out/hpc" --quiet \
        > "$out/hpc.log" 2>&1; then
        echo "bench/charlm.sh: hpc cannot train bench/charlm.hp yet; \`hpc run\` said:" >&2
        sed 's/^/    /' "$out/hpc.log" >&2
        exit 1
    fi
    $PY - "$out/hpc/summary.json" "$(tail -n 1 "$out/rss")" "$STEPS" >> "$out/rows" <<'PYEOF'
import json, math, sys
try:
    s = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    sys.exit(f"bench/charlm.sh: hpc run wrote no readable summary.json: {e}")
def pick(*keys):
    for k in keys:
        if isinstance(s.get(k), (int, float)):
            return k, float(s[k])
    return None, None
tk, tps = pick("tokens_per_second", "samples_per_second")
bk, bpc = pick("val_bpc", "valid_bpc")
if bk is None:
    bk, loss = pick("val_loss", "valid_loss")
    bpc = loss / math.log(2) if loss is not None else None
missing = [k for k, v in (("tokens_per_second or samples_per_second", tps),
                          ("val_bpc, valid_bpc, val_loss or valid_loss", bpc),
                          ("compile_ms", s.get("compile_ms"))) if v is None]
if missing:
    sys.exit("bench/charlm.sh: hpc trained, but its summary.json has no " + "; no ".join(missing))
steps = s.get("steps")
if steps != int(sys.argv[3]):
    print(f"bench/charlm.sh: warning: hpc reports {steps} steps, the peer runs {sys.argv[3]}", file=sys.stderr)
if isinstance(steps, int) and s.get("seconds"):
    est = steps * 32 * 64 / s["seconds"]
    if abs(tps / est - 1) > 0.1:
        print(f"bench/charlm.sh: warning: {tk} {tps:.0f} but steps x 2048 / seconds = {est:.0f}", file=sys.stderr)
print("hpc", tps, bpc, sys.argv[2], s["compile_ms"], steps)
PYEOF
    for cfg in "2 1" "1 2" "1 1"; do
        set -- $cfg
        OPENBLAS_NUM_THREADS=$2 /usr/bin/time -f %M -o "$out/rss" \
            $PY "$PEER" --steps "$STEPS" --threads "$1" --text "$out/corpus.txt" > "$out/peer.json"
        $PY - "$out/peer.json" "$(tail -n 1 "$out/rss")" "torch$1/blas$2" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(sys.argv[3], s["tokens_per_s"], s["val_bpc"], sys.argv[2], 0, s["steps"])
PYEOF
    done
    echo "round $r done" >&2
done

$PY - "$out/rows" "$ROUNDS" "$STEPS" "$EPOCHS" <<'PYEOF' | tee "$out/section.md"
import os, statistics, sys, datetime, subprocess
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, tps, bpc, rss, cms, steps in rows:
    by.setdefault(name, []).append((float(tps), float(bpc), int(rss), float(cms), steps))
med = {k: statistics.median(x[0] for x in v) for k, v in by.items()}
best = max((k for k in by if k != "hpc"), key=lambda k: med[k])
sh = lambda c: subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
steps, epochs = sys.argv[3], int(sys.argv[4])
print(f"## Char-LSTM language model, {steps} steps ({datetime.date.today()}, {cpu}, {sh('nproc')} cores)\n")
env = "" if epochs == 1 else f"EPOCHS={epochs} "
print(f"Command: `{env}bench/charlm.sh {sys.argv[2]}` ({sys.argv[2]} alternating rounds; medians). "
      f"Embedding 64, LSTM 256 x 2, seq 64, batch 32, Adam 2e-3, clip 5; the 1,000,000-byte corpus of "
      f"`../shared/peers/corpus.py`, {epochs} epoch{'s' if epochs != 1 else ''} = {steps} steps in both.\n")
print("| program | tokens/s (median) | runs | valid bits/char | peak RSS | compile |")
print("|---|---|---|---|---|---|")
for k in ["hpc"] + sorted(k for k in by if k != "hpc"):
    v = by[k]
    runs = ", ".join(f"{x[0]/1000:.1f}k" for x in v)
    bpc = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    cms = f"{statistics.median(x[3] for x in v):.0f} ms" if k == "hpc" else ""
    label = f"PyTorch {k}" if k != "hpc" else "hpc"
    print(f"| {label} | {med[k]/1000:.1f}k | {runs} | {bpc:.3f} | {rss:.0f} MiB | {cms} |")
ratio = med["hpc"] / med[best]
rss_ratio = statistics.median(x[2] for x in by["hpc"]) / statistics.median(x[2] for x in by[best])
print(f"\nhpc / PyTorch at its fastest setting ({best}): **{ratio:.2f}x** tokens/s; peak RSS {rss_ratio:.2f}x.")
if os.environ.get("BENCH_SUMMARY"):
    open(os.environ["BENCH_SUMMARY"], "a").write(f"charlm {ratio:.4f} {med['hpc']:.0f} {med[best]:.0f}\n")
PYEOF
# this workload's section of bench/RESULTS.md is replaced; the others are kept
$PY bench/splice_results.py "$out/section.md" "$RESULTS" "## Char-LSTM language model, "
