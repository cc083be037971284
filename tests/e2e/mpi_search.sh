#!/bin/sh
# hpc search over MPI ranks (registered only when CMake found MPI): studies
# over 2 ranks (ASHA with promotions, random) complete every trial exactly
# once with the worker rank training trials; kill -9 of the worker rank in
# the middle of a study, then `hpc resume` without mpirun and under mpirun
# with another number of ranks, completes it with every trial once and no
# finished epoch journaled twice.
# Open MPI leaks at MPI_Finalize: the processes started by mpirun run with
# ASAN_OPTIONS=detect_leaks=0 (the sanitizer build); the rest as usual.
# usage: mpi_search.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun --oversubscribe "$@"; }

study_base "$tmp/base.hp"
cat > "$tmp/asha.hp" <<HP
import "base.hp"
search sweep {
    base      = small
    vary model.hidden   in {16, 32}
    vary optimizer.lr   in log(3e-4, 3e-3)
    vary model.p        in uniform(0, 0.3)
    strategy  = asha(max_epochs = 3, eta = 3, trials = 9)
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP
cat > "$tmp/random.hp" <<HP
import "base.hp"
search rsweep {
    base      = small
    vary model.hidden   in {32, 64}
    vary optimizer.lr   in log(3e-4, 3e-3)
    strategy  = random(trials = 6)
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP

# the trial number of a journal line
num='function num(k,   s) { match($0, "\"" k "\": [0-9]+"); s = substr($0, RSTART, RLENGTH); sub(/.*: /, "", s); return s + 0 }'

# check DIR TRIALS WHAT: every trial once in results.csv and the journal, none
# running; each trial's epochs journaled 1, 2, ... each once, as many as
# results.csv says; the study's end journaled once
check() {
    d=$1 n=$2 what=$3
    [ -s "$d/results.csv" ] || { fail "$what: no results.csv"; return; }
    rows=$(tail -n +2 "$d/results.csv" | wc -l)
    [ "$rows" = "$n" ] || fail "$what: results.csv has $rows trials, not $n"
    [ "$(tail -n +2 "$d/results.csv" | cut -d, -f1 | sort -n | uniq | wc -l)" = "$n" ] || fail "$what: a trial twice in results.csv"
    [ "$(tail -n +2 "$d/results.csv" | cut -d, -f1 | sort -n | tail -1)" = "$((n - 1))" ] || fail "$what: results.csv's trials are not 0..$((n - 1))"
    grep -q ',running,' "$d/results.csv" && fail "$what: a trial is still running"
    [ "$(grep -c '"event": "end"' "$d/journal.jsonl")" = 1 ] || fail "$what: the journal's end is not there once"
    awk "$num"'
        /"event": "trial"/ { t = num("trial"); if (t in made) { print "trial " t " created twice"; bad = 1 } made[t] = 1 }
        /"event": "epoch"/ { t = num("trial"); e = num("epoch")
                             if (e != last[t] + 1) { print "trial " t ": epoch " e " after epoch " last[t] + 0; bad = 1 }
                             last[t] = e }
        END { for (t in last) print t, last[t] > "'"$tmp/epochs"'"; exit bad }' "$d/journal.jsonl" > "$tmp/jcheck" ||
        fail "$what: the journal: $(cat "$tmp/jcheck")"
    tail -n +2 "$d/results.csv" | cut -d, -f1,3 | tr , ' ' | sort > "$tmp/r_epochs"
    sort "$tmp/epochs" > "$tmp/j_epochs"
    cmp -s "$tmp/r_epochs" "$tmp/j_epochs" || fail "$what: results.csv's epochs are not the journal's: $(diff "$tmp/r_epochs" "$tmp/j_epochs" | tr '\n' ' ')"
}

# ---- ASHA over 2 ranks: promotions, every trial once, rank 1 trains ----
mpi -n 2 "$HPC" search "$tmp/asha.hp" --out "$tmp/a" > "$tmp/out" 2>&1 || { fail "asha over 2 ranks exited $?"; cat "$tmp/out"; }
check "$tmp/a" 9 "asha over 2 ranks"
grep -q '"to": 3' "$tmp/a/journal.jsonl" || fail "asha over 2 ranks: no promotion"
grep -q '"rank": 1' "$tmp/a/journal.jsonl" || fail "asha over 2 ranks: rank 1 trained no job"
grep -q 'over 2 MPI ranks: 2 trials at a time' "$tmp/out" || fail "asha over 2 ranks: $(head -3 "$tmp/out")"
for t in $(grep '"rank": 1' "$tmp/a/journal.jsonl" | sed 's/.*"trial": \([0-9]*\).*/\1/'); do
    [ -f "$tmp/a/trials/$(printf %04d "$t")/last.hpw" ] || fail "asha over 2 ranks: rank 1's trial $t has no checkpoint"
done
grep -q '"best"' "$tmp/a/summary.json" && [ -s "$tmp/a/best.hp" ] || fail "asha over 2 ranks: no summary or best.hp"

# ---- random over 2 ranks, then the same study without mpirun: the same trials, the same results ----
mpi -n 2 "$HPC" search "$tmp/random.hp" --out "$tmp/r" > "$tmp/out" 2>&1 || { fail "random over 2 ranks exited $?"; cat "$tmp/out"; }
check "$tmp/r" 6 "random over 2 ranks"
grep -q '"rank": 1' "$tmp/r/journal.jsonl" || fail "random over 2 ranks: rank 1 trained no trial"
"$HPC" search "$tmp/random.hp" --out "$tmp/r1" --parallel 1 > "$tmp/out" 2>&1 || { fail "random without mpirun exited $?"; cat "$tmp/out"; }
grep -q 'MPI' "$tmp/out" && fail "a study without mpirun talks of MPI"
grep -q '"rank"' "$tmp/r1/journal.jsonl" && fail "a study without mpirun journals ranks"
cut -d, -f1-4,6- "$tmp/r/results.csv" > "$tmp/a.csv"
cut -d, -f1-4,6- "$tmp/r1/results.csv" > "$tmp/b.csv"
cmp -s "$tmp/a.csv" "$tmp/b.csv" || { fail "random: the trials over 2 ranks differ from one process's"; diff "$tmp/a.csv" "$tmp/b.csv"; }

# ---- kill -9 of rank 1 in the middle of a job, then resume ----
cat > "$tmp/long.hp" <<HP
import "base.hp"
search lsweep {
    base      = small
    vary model.hidden   in {96, 128}
    vary optimizer.lr   in log(3e-4, 3e-3)
    strategy  = random(trials = 6)
    objective = maximize(val_accuracy)
    parallel  = 1
}
HP
# kill_rank1 DIR: starts the study over 2 ranks and kills rank 1 once a job
# of its has journaled an epoch (so it has a checkpoint and more to train)
kill_rank1() {
    mpi -n 2 "$HPC" search "$tmp/long.hp" --out "$1" --set epochs=5 > "$tmp/kout" 2>&1 &
    mpid=$!
    pid= i=0
    while [ -z "$pid" ] && [ $i -lt 1200 ]; do
        sleep 0.05
        i=$((i + 1))
        [ -f "$1/journal.jsonl" ] || continue
        awk "$num"'
            /"event": "start"/ && /"rank": 1[,}]/ { t = num("trial"); run[t] = 1; ep[t] = 0 }
            /"event": "epoch"/ { t = num("trial"); if (t in run) ep[t]++ }
            /"event": "(done|failed)"/ { delete run[num("trial")] }
            END { for (t in run) if (ep[t] > 0) exit 0; exit 1 }' "$1/journal.jsonl" || continue
        for p in /proc/[0-9]*; do # this study's hpc processes, then the one that is rank 1
            tr '\0' ' ' 2> /dev/null < "$p/cmdline" | grep -qF -- "search $tmp/long.hp --out $1" || continue
            tr '\0' '\n' 2> /dev/null < "$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=1' || continue
            pid=${p#/proc/}
        done
    done
    if [ -z "$pid" ]; then
        fail "kill: rank 1 never had a job with a journaled epoch"
    else
        kill -9 "$pid"
    fi
    wait $mpid && fail "kill: mpirun exited 0 after rank 1 was killed"
    grep -q '"event": "end"' "$1/journal.jsonl" && fail "kill: the study ended before rank 1 was killed"
}
kill_rank1 "$tmp/k1"
"$HPC" resume "$tmp/k1" > "$tmp/out" 2>&1 || { fail "resume without mpirun exited $?"; cat "$tmp/out"; }
check "$tmp/k1" 6 "killed, resumed without mpirun"

kill_rank1 "$tmp/k2"
mpi -n 3 "$HPC" resume "$tmp/k2" > "$tmp/out" 2>&1 || { fail "resume over 3 ranks exited $?"; cat "$tmp/out"; }
check "$tmp/k2" 6 "killed, resumed over 3 ranks"
grep -q 'over 3 MPI ranks' "$tmp/out" || fail "resume over 3 ranks: $(head -3 "$tmp/out")"
# the two studies are the same trials: the kill lost nothing and changed nothing
cut -d, -f1-4,6- "$tmp/k1/results.csv" > "$tmp/a.csv"
cut -d, -f1-4,6- "$tmp/k2/results.csv" > "$tmp/b.csv"
cmp -s "$tmp/a.csv" "$tmp/b.csv" || { fail "the two killed and resumed studies differ"; diff "$tmp/a.csv" "$tmp/b.csv"; }

finish mpi_search
