#!/bin/sh
# `hpc check` agrees with `hpc run`: what run refuses before its first step,
# check reports at its line: text data with 0 steps per epoch, a model that
# cannot fit in this machine's memory (with the figure), a CSV feature that is
# not a number (the file is read to its end), more dropout sites than the
# code generator has.  usage: check_run.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
tiny_data

both() { # NAME CHECK-STATUS RUN-STATUS TEXT
    bounded 20 4000000 "$HPC" check "$tmp/$1.hp"
    expect "$2" "$4" "$1: check"
    bounded 20 4000000 "$HPC" run "$tmp/$1.hp" --out "$tmp/run-$1" --quiet
    expect "$3" "$4" "$1: run"
    [ -f "$tmp/run-$1/steps.csv" ] && fail "$1: run started training"
}

# text: 600 bytes, batch 128, seq 7: 4-token streams, no window of 8
awk 'BEGIN { for (i = 0; i < 60; i++) printf "abcdefghi\n" }' > "$tmp/t.txt"
cat > "$tmp/text0.hp" <<HP
data d { train = text("$tmp/t.txt", seq = 7) }
model m { input tokens; embed 16; gru 8; dense vocab, softmax }
experiment e { data = d; model = m; batch = 128 }
HP
both text0 1 1 "text0.hp:3:45: error: with batch 128 and seq = 7, the 600 training tokens give 0 steps per epoch"
sed 's/batch = 128/batch = 64/' "$tmp/text0.hp" > "$tmp/text1.hp"
bounded 20 4000000 "$HPC" check "$tmp/text1.hp"
expect 0 "ok" "text, batch 64: one step per epoch"

# memory: 4e12 parameters
tiny_hp mem "threads = 1"
sed -i 's/dense 8, relu/dense 2000000, relu; dense 2000000, relu/' "$tmp/mem.hp"
both mem 1 1 "error: this run needs about 59605.3 GiB of memory (parameters and gradients 29802.4 GiB"
expect 1 "this machine has" "mem: the machine's figure"

# a feature that is not a number, on the last line of the file
cp "$tmp/d.csv" "$tmp/nan.csv"
echo "7,seven,1" >> "$tmp/nan.csv"
tiny_hp nan "threads = 1"
sed -i "s|$tmp/d.csv|$tmp/nan.csv|" "$tmp/nan.hp"
both nan 1 3 "nan.csv: line 66, field 2 ('seven'): not a number (column 'b')"

# 65 dropout sites (HPRT_MAX_DROPOUT is 64), the 65th on line 3
tiny_hp drop "threads = 1"
sed -i 's/dense 8, relu;/dense 8, relu; repeat 65 { dropout 0.1 };/' "$tmp/drop.hp"
both drop 1 1 "drop.hp:2:"
expect 1 "the model has more than 64 dropout sites" "drop: message"
sed -i 's/repeat 65/repeat 64/' "$tmp/drop.hp" # 64 are fine (laid out: tests/unit/test_limits.c)
bounded 20 4000000 "$HPC" check "$tmp/drop.hp"
expect 0 "drop.hp: ok" "64 dropout sites"
# adaptive batch sizes: each stage and its partial last batch get a compiled
# step, at most 32; 36 once ran until a stage had none ("a bug in hpc")
awk 'BEGIN { print "a,b,label"; for (i = 0; i < 39999; i++) printf "%d,%d,%d\n", i, i % 3, i % 2 }' > "$tmp/odd.csv"
tiny_hp ada "threads = 1"
sed -i "s|$tmp/d.csv|$tmp/odd.csv|; s/batch = 16;/batch = adaptive(start = 1, every = 1 epochs, max = 16777216);/; s/epochs = 2;/epochs = 40;/" "$tmp/ada.hp"
both ada 1 1 "ada.hp:3:45: error: this run meets 34 batch sizes (each stage and its last partial batch); the most a run can compile is 32"
finish "check/run"
