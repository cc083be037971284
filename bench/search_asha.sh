#!/bin/sh
# bench/search_asha.sh [ROUNDS] - hpc search against Optuna + PyTorch on one study.
#
# Runs, alternating, ROUNDS times (default 1; a study takes minutes): `hpc
# search bench/search_asha.hp` and ../shared/peers/fmnist_search_optuna.py,
# the same study (data split, space, ASHA with rungs at 1, 3 and 9 epochs, 27
# trials, random sampling, maximise validation accuracy).  Reports, as
# medians: wall seconds of the whole study, epochs trained, trials completed
# and pruned, the best validation accuracy; for hpc also its compiles and the
# search's own overhead (everything but the trials' epochs: data loading,
# compiling, scheduling, the journal) as a share of the study's time.
# PARALLEL=N sets hpc's trials at a time (default: the file's, 2) and
# THREADS=N the peer's torch threads (default 2).  Writes its section of
# bench/RESULTS.md.  Run from the repository root after `make`.
set -eu
ROUNDS=${1:-1}
HPC=${HPC:-build/hpc}
PEER=${PEER:-../shared/peers/fmnist_search_optuna.py}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -x "$HPC" ] || { echo "build hpc first (make)"; exit 1; }
[ -f "$PEER" ] || { echo "no peer program at $PEER"; exit 1; }
$PY -c "import optuna, torch" 2>/dev/null || { echo "the peer needs Debian's python3-optuna and python3-torch (apt-get install python3-optuna python3-torch)"; exit 1; }
par=""
[ -n "${PARALLEL:-}" ] && par="--parallel $PARALLEL"

: > "$out/rows"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$out/study"
    start=$(date +%s.%N)
    "$HPC" search bench/search_asha.hp $par --out "$out/study" --quiet
    end=$(date +%s.%N)
    $PY - "$out/study/summary.json" "$out/study/journal.jsonl" "$start" "$end" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
train = 0.0
events = [json.loads(line) for line in open(sys.argv[2])]
for e in events:
    if e["event"] == "epoch" and e.get("seconds") is not None:
        train += e["seconds"]
# the tail: epochs trained after the next-to-last job ended, by the one job left (the other workers idle)
dones = [i for i, e in enumerate(events) if e["event"] == "done"]
tail = sum(e.get("seconds") or 0 for e in events[dones[-2]:] if e["event"] == "epoch") if len(dones) > 1 else 0
wall = float(sys.argv[4]) - float(sys.argv[3])
print("hpc", wall, s["epochs_trained"], s["completed"], s["pruned"], s["best"]["value"], s["compiles"],
      s["compile_ms"], train, tail, s.get("data_loads", 0))
PYEOF
    OPENBLAS_NUM_THREADS=1 $PY "$PEER" --threads "${THREADS:-2}" > "$out/peer.json"
    $PY - "$out/peer.json" >> "$out/rows" <<'PYEOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print("optuna", s["wall_seconds"], s["epochs_trained"], s["completed"], s["pruned"], s["best_val_accuracy"], 0, 0, 0, 0, 0)
PYEOF
    echo "round $r done" >&2
done

$PY - "$out/rows" "$ROUNDS" "${PARALLEL:-2}" <<'PYEOF' | tee "$out/section.md"
import statistics, sys, subprocess, datetime
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, *v in rows:
    by.setdefault(name, []).append([float(x) for x in v])
med = {k: [statistics.median(r[i] for r in v) for i in range(10)] for k, v in by.items()}
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
print(f"## Search: ASHA over the Fashion-MNIST MLP, 27 trials (bench/search_asha.sh)\n")
print(f"{datetime.date.today()}, {cpu}, {sys.argv[2]} round(s) alternating, medians; hpc with parallel = {sys.argv[3]}.\n")
print("| | wall seconds | epochs trained | completed / pruned | best val accuracy |")
print("|---|---|---|---|---|")
for k in ("hpc", "optuna"):
    m = med[k]
    print(f"| {'hpc search' if k == 'hpc' else 'Optuna + PyTorch'} | {m[0]:.1f} | {m[1]:.0f} | {m[2]:.0f} / {m[3]:.0f} | {m[4]:.4f} |")
h, o = med["hpc"], med["optuna"]
P = float(sys.argv[3])
worker = h[0] * P  # worker seconds: every worker for the whole study
over = max(worker - h[7], 0)
idle = h[8] * (P - 1)
print(f"\nhpc finishes the study **{o[0] / h[0]:.2f}x** sooner; best validation accuracy {h[4] - o[4]:+.4f} against Optuna's.")
print(f"Of the {worker:.1f} worker-seconds ({P:.0f} workers for {h[0]:.1f} s), the trials' epochs took {h[7]:.1f} s: "
      f"the rest, **{100 * over / worker:.1f}%**, is the search's overhead. Of it, compiling {h[5]:.0f} step modules "
      f"(each shape once) took {h[6] / 1000:.1f} s ({100 * h[6] / 1000 / worker:.1f}%); at the end "
      f"{P - 1:.0f} worker(s) idled while the last job trained alone for {h[8]:.1f} s ({100 * idle / worker:.1f}%); "
      f"the data set was loaded {h[9]:.0f} time(s); everything else (data loading, job set-up, checkpoints, journal) "
      f"took {100 * max(over - h[6] / 1000 - idle, 0) / worker:.1f}%.")
PYEOF
# this workload's section of bench/RESULTS.md is replaced; the others are kept
$PY bench/splice_results.py "$out/section.md" bench/RESULTS.md "## Search: ASHA"
