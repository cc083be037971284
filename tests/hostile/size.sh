#!/bin/sh
# `hpc check` is linear in the file: 15,000 one-line models (about 0.5 MB)
# check in bounded time and memory (they took 1.9 GB and 8.7 s once); files
# over 16 MB and files that are not regular are refused without being read.
# usage: size.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

models() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "model m%d { input 4; dense 2 }\n", i }' > "$2"; }
models 15000 "$tmp/m15.hp"
bounded 5 600000 "$HPC" check "$tmp/m15.hp"
expect 0 "m15.hp: ok" "15,000 models"
# and as many experiments that use them (names are looked up, not searched)
awk 'BEGIN { for (i = 0; i < 8000; i++) printf "model m%d { input 4; dense 2 }\nexperiment e%d { model = m%d }\n", i, i, i }' > "$tmp/x8.hp"
bounded 5 600000 "$HPC" check "$tmp/x8.hp"
expect 1 "needs 'data = ...'" "8,000 experiments"
expect 1 "more errors not shown" "8,000 experiments: the error cap"
# the same error 15,000 times at 15,000 places: reported up to the cap, quickly
awk 'BEGIN { for (i = 0; i < 15000; i++) printf "model m%d { input 4; dense 0 }\n", i }' > "$tmp/bad.hp"
bounded 5 600000 "$HPC" check "$tmp/bad.hp"
expect 1 "units must be at least 1" "15,000 errors"

# a model with 30,000 parameters: the limit is 1000 (their duplicate check took 17 s)
awk 'BEGIN { printf "model m("; for (i = 0; i < 30000; i++) printf "%sp%d = 1", i ? ", " : "", i; printf ") { input 4; dense 2 }\n" }' > "$tmp/params.hp"
bounded 5 600000 "$HPC" check "$tmp/params.hp"
expect 1 "params.hp:1:9899: error: model 'm' has more than 1000 parameters" "30,000 model parameters"
# 30,000 named arguments, 30,000 settings, a list of 100,000 items: linear
awk 'BEGIN { printf "model m { input 4; dense 2"; for (i = 0; i < 30000; i++) printf ", a%d = 1", i; printf " }\n" }' > "$tmp/args.hp"
bounded 5 600000 "$HPC" check "$tmp/args.hp"
expect 1 "dense has no parameter 'a0'" "30,000 arguments"
awk 'BEGIN { printf "experiment e {\n"; for (i = 0; i < 30000; i++) printf "  s%d = 1\n", i; printf "}\n" }' > "$tmp/set.hp"
bounded 5 600000 "$HPC" check "$tmp/set.hp"
expect 1 "unknown setting 's0'" "30,000 settings"
awk 'BEGIN { printf "experiment e { epochs = [1"; for (i = 0; i < 100000; i++) printf ", 1"; printf "] }\n" }' > "$tmp/list.hp"
bounded 5 600000 "$HPC" check "$tmp/list.hp"
expect 1 "epochs must be a number, not a list" "a list of 100,000 items"

# over 16 MB, and not a regular file
awk 'BEGIN { for (i = 0; i < 600000; i++) printf "# a comment line of thirty bytes\n" }' > "$tmp/big.hp"
bounded 5 600000 "$HPC" check "$tmp/big.hp"
expect 2 "File too large" "a 19 MB file"
bounded 5 600000 "$HPC" check /dev/zero
expect 2 "cannot read '/dev/zero'" "/dev/zero"
finish "size"
