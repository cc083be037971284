#!/bin/sh
# run.sh BUILD SECONDS | run.sh BUILD replay
#
# Runs every libFuzzer target built in BUILD (cmake -DHPC_FUZZ=ON, clang):
# for SECONDS each, one after the other, each growing its corpus in
# BUILD/corpus/TARGET from the committed seeds; or, with `replay`, once over
# the committed seeds only (examples/ and tests/cases/ for fuzz_check,
# tests/fuzz/corpus/TARGET for the others).  A crash, a leak, a timeout (10 s
# for one input), memory beyond 2 GB or a sanitizer report stops it with a
# non-zero status; the input is saved as BUILD/artifacts/TARGET-*.
# `make fuzz` and `make fuzz-ci` call it.
set -e
B=$(cd "$1" && pwd)
WHAT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$B/artifacts"
for t in check idx csv text ckpt journal; do
    if [ "$t" = check ]; then
        seeds="$SRC/examples $SRC/tests/cases"
        opts="-dict=$SRC/tests/fuzz/hp.dict"
        len=4096
    else
        seeds="$SRC/tests/fuzz/corpus/$t"
        opts=""
        len=8192
    fi
    opts="$opts -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$B/artifacts/$t-"
    if [ "$WHAT" = replay ]; then
        echo "fuzz_$t: replaying $seeds"
        # shellcheck disable=SC2086
        "$B/fuzz_$t" -runs=0 $opts $seeds # whole seeds: no -max_len
    else
        echo "fuzz_$t: $WHAT seconds"
        mkdir -p "$B/corpus/$t"
        # shellcheck disable=SC2086
        "$B/fuzz_$t" -max_total_time="$WHAT" -max_len=$len -print_final_stats=1 $opts "$B/corpus/$t" $seeds
    fi
done
