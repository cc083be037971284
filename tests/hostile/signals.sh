#!/bin/sh
# Signals: SIGTERM and SIGINT stop training within a second, leave a
# checkpoint that `hpc resume` completes, and exit 143 and 130; before
# training starts (loading, compiling) they end hpc at once with the same
# statuses.  usage: signals.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
tiny_data
tiny_hp long "threads = 1"
sed -i 's/epochs = 2/epochs = 400/' "$tmp/long.hp"

wait_lines() { # FILE N: until FILE has N lines (at most 30 s)
    i=0
    while [ "$( (cat "$1" 2>/dev/null || :) | wc -l)" -lt "$2" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
}
now_ms() { date +%s%3N; }
stop_run() { # SIGNAL DIR WANT-STATUS
    "$HPC" run "$tmp/long.hp" --out "$tmp/$2" --quiet --allow batch-pow2 2> "$tmp/$2.err" &
    pid=$!
    wait_lines "$tmp/$2/steps.csv" 60
    t0=$(now_ms)
    kill -"$1" $pid
    wait $pid
    st=$?
    t1=$(now_ms)
    [ $st = "$3" ] || { fail "$1 during training: exit $st, expected $3"; cat "$tmp/$2.err"; }
    [ $((t1 - t0)) -lt 1500 ] || fail "$1 during training: $((t1 - t0)) ms to stop"
    grep -q "a checkpoint is in $tmp/$2/last.hpw" "$tmp/$2.err" || fail "$1: no checkpoint message"
    [ "$(wc -l < "$tmp/$2/steps.csv")" -lt 1201 ] || fail "$1: the run finished before the signal"
    "$HPC" resume "$tmp/$2" --quiet 2> /dev/null || fail "$1: resume exit $?"
    [ "$(wc -l < "$tmp/$2/metrics.csv")" = 401 ] || fail "$1: the resumed run did not complete 400 epochs"
}
stop_run TERM term 143
stop_run INT int 130

# before training: loading and compiling end at once, with the signal's status
# (SIGINT too, though a shell starts background jobs with it ignored)
awk 'BEGIN { print "a,b,label"; for (i = 0; i < 400000; i++) printf "%d,%d,%d\n", i, i % 3, i % 2 }' > "$tmp/big.csv"
sed "s|$tmp/d.csv|$tmp/big.csv|" "$tmp/long.hp" > "$tmp/big.hp"   # checking and loading take most of a second
for sig in TERM INT; do
    "$HPC" run "$tmp/big.hp" --out "$tmp/early-$sig" --quiet --allow batch-pow2 > /dev/null 2>&1 &
    pid=$!
    sleep 0.3
    t0=$(now_ms)
    kill -$sig $pid
    wait $pid
    st=$?
    t1=$(now_ms)
    want=$([ $sig = TERM ] && echo 143 || echo 130)
    [ $st = "$want" ] || fail "$sig before training: exit $st, expected $want"
    [ $((t1 - t0)) -lt 1000 ] || fail "$sig before training: $((t1 - t0)) ms"
done
finish "signals"
