#!/bin/sh
# Thread counts: the file's `threads`, `--set threads=` and `--threads` share
# one limit, 1 to 64 (HPRT_MAX_THREADS), each a located error; `threads = 65`
# once hung at 200% CPU ignoring signals.  A count above the cores is used
# when asked for, the same in the compiled step and the driver.
# usage: threads.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
tiny_data

tiny_hp t65 "threads = 65"
bounded 10 2000000 "$HPC" check "$tmp/t65.hp"
expect 1 "t65.hp:3:" "threads = 65 (check)"
expect 1 "threads must be between 1 and 64; it is 65" "threads = 65 (check)"
bounded 10 2000000 "$HPC" run "$tmp/t65.hp" --out "$tmp/r65" --quiet
expect 1 "threads must be between 1 and 64; it is 65" "threads = 65 (run)"
tiny_hp t1 "threads = 1"
bounded 10 2000000 "$HPC" run "$tmp/t1.hp" --set threads=65 --out "$tmp/s65" --quiet
expect 1 "threads must be between 1 and 64; it is 65" "--set threads=65"
bounded 10 2000000 "$HPC" run "$tmp/t1.hp" --threads 65 --out "$tmp/o65" --quiet
expect 2 "--threads takes a whole number from 1 to 64" "--threads 65"
bounded 10 2000000 "$HPC" run "$tmp/t1.hp" --threads 0 --out "$tmp/o0" --quiet
expect 2 "--threads takes a whole number from 1 to 64" "--threads 0"

# more threads than this machine's cores, asked for: used, and the run ends
cores=$(getconf _NPROCESSORS_ONLN)
n=$((cores + 1))
bounded 60 4000000 "$HPC" run "$tmp/t1.hp" --threads $n --out "$tmp/more" --quiet
[ $st = 0 ] || { fail "--threads $n on $cores cores: exit $st"; cat "$tmp/out"; }
grep -q "\"threads\": $n," "$tmp/more/summary.json" || fail "--threads $n: summary.json has another count"
# by default one per core, never more
bounded 60 4000000 "$HPC" run "$tmp/t1.hp" --set threads=$cores --out "$tmp/def" --quiet
grep -q "\"threads\": $cores," "$tmp/def/summary.json" || fail "threads = cores: summary.json"
finish "threads"
