#!/bin/sh
# Messages say what is wrong with the number given: `seed = 1e30`, `dense
# 1e400` (one error, not a second about 0), every wrong argument of a call
# reported (an unknown one does not hide the others), a UTF-8 BOM at the start
# of a .hp file accepted, a label of 1000000 refused with the class limit.
# usage: messages.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
tiny_data

tiny_hp seed "seed = 1e30"
sed -i 's/seed = 1; //' "$tmp/seed.hp"
bounded 10 2000000 "$HPC" check "$tmp/seed.hp"
expect 1 "seed.hp:3:" "seed = 1e30"
expect 1 "seed must be at most 9223372036854775807; it is 1e+30" "seed = 1e30"
grep -q "at least 0" "$tmp/out" && fail "seed = 1e30: 'at least 0'"

printf 'model m {\n    input 4\n    dense 1e400\n}\n' > "$tmp/huge.hp"
bounded 10 2000000 "$HPC" check "$tmp/huge.hp"
expect 1 "huge.hp:3:11: error: number '1e400' is too large" "dense 1e400"
expect 1 "1 error" "dense 1e400: one error"

printf 'model m {\n    input 4\n    dense 2, foo = 3, relu, init = bogus\n}\n' > "$tmp/args.hp"
bounded 10 2000000 "$HPC" check "$tmp/args.hp"
expect 1 "args.hp:3:14: error: dense has no parameter 'foo'" "unknown argument"
expect 1 "args.hp:3:36: error: unknown init 'bogus'" "the error after an unknown argument"

printf '\357\273\277model m {\n    input 4\n    dense 2\n}\n' > "$tmp/bom.hp"
bounded 10 2000000 "$HPC" check "$tmp/bom.hp"
expect 0 "bom.hp: ok" "a BOM"
printf '\357\273\277model m {\n    input 4\n    dense 0\n}\n' > "$tmp/bom2.hp"
bounded 10 2000000 "$HPC" check "$tmp/bom2.hp"
expect 1 "bom2.hp:3:11: error: units must be at least 1" "a BOM: columns count from the first character after it"

cp "$tmp/d.csv" "$tmp/big.csv"
echo "1,2,1000000" >> "$tmp/big.csv"
tiny_hp big ""
sed -i "s|$tmp/d.csv|$tmp/big.csv|" "$tmp/big.hp"
bounded 10 2000000 "$HPC" check "$tmp/big.hp"
expect 1 "big.csv: line 66, field 3: label 1000000 (column 'label') would make 1000001 classes; the most is 65536" "label 1000000"
bounded 10 2000000 "$HPC" run "$tmp/big.hp" --out "$tmp/run-big" --quiet
expect 3 "the most is 65536" "label 1000000: run"
finish "messages"
