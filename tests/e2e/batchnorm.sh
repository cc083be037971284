#!/bin/sh
# batchnorm end to end: a CNN with batch norm after a conv (folded by hpc
# build) and after a dense with an activation (applied as a multiply-add)
# learns; `hpc explain` shows it; a run killed mid-epoch and resumed is
# bit-identical to an uninterrupted one (the running statistics are in the
# checkpoints); `hpc predict` (from last.hpw, running statistics) and `hpc
# build`'s artifact agree; the note and the bad uses are reported at their
# lines.  usage: batchnorm.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

cat > "$tmp/m.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    scale = 1 / 255
}
model cnn { input [1, 28, 28]; conv 4; batchnorm; relu; maxpool; dense 16, relu; batchnorm momentum = 0.2; dense classes, softmax }
experiment small { data = slice; model = cnn; batch = 64; epochs = 2; seed = 7; threads = 2; checkpoint = 20 steps }
HP
"$HPC" explain "$tmp/m.hp" > "$tmp/explain" 2>&1 || fail "explain"
grep -q "batchnorm (momentum 0.1) *\[4, 28, 28\] *8 " "$tmp/explain" || { fail "explain: the first batchnorm"; cat "$tmp/explain"; }
grep -q "batchnorm (momentum 0.2) *\[16\] *32 " "$tmp/explain" || fail "explain: the second batchnorm"

"$HPC" run "$tmp/m.hp" --out "$tmp/full" --quiet || fail "training"
awk -F, 'NR == 3 { exit !($7 > 0.7) }' "$tmp/full/metrics.csv" || { fail "the model with batchnorm did not learn"; cat "$tmp/full/metrics.csv"; }

# SIGKILL in epoch 2 (125 steps an epoch), then resume: the same run
"$HPC" run "$tmp/m.hp" --out "$tmp/killed" --quiet &
pid=$!
i=0
while [ "$(cat "$tmp/killed/steps.csv" 2>/dev/null | wc -l)" -lt 170 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
kill -9 $pid; wait $pid 2>/dev/null
[ "$(wc -l < "$tmp/killed/steps.csv")" -lt 251 ] || fail "the run finished before it could be killed"
"$HPC" resume "$tmp/killed" --quiet || fail "resume after SIGKILL: exit $?"
cut -d, -f1-7 "$tmp/full/metrics.csv" > "$tmp/ma"; cut -d, -f1-7 "$tmp/killed/metrics.csv" > "$tmp/mb"
cmp -s "$tmp/ma" "$tmp/mb" || { fail "resume: metrics.csv differs"; diff "$tmp/ma" "$tmp/mb" | head; }
cmp -s "$tmp/full/steps.csv" "$tmp/killed/steps.csv" || fail "resume: steps.csv differs"
"$HPC" predict "$tmp/full" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pa" 2>/dev/null || fail "predict"
"$HPC" predict "$tmp/killed" "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/pb" 2>/dev/null || fail "predict, resumed"
cmp -s "$tmp/pa" "$tmp/pb" || fail "resume: the final weights or running statistics differ"
"$HPC" predict "$tmp/full" "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" 2>&1 > /dev/null \
    | awk '/^accuracy/ { if ($2 < 0.7) bad = 1; seen = 1 } END { exit !seen || bad }' || fail "predict's accuracy"

# hpc build: the artifact's predictions equal hpc predict's
"$HPC" build "$tmp/m.hp" --weights "$tmp/full" -o "$tmp/out" --name fashion_mlp > "$tmp/b.err" 2>&1 || { fail "build"; cat "$tmp/b.err"; }
cc -O2 -DPRINT -I"$tmp/out" "$SRC/examples/deploy/classify.c" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/classify" || fail "classify.c"
"$tmp/classify" > "$tmp/aot.csv" || fail "classify run"
tail -n +2 "$tmp/pa" > "$tmp/jit.csv"
paste -d, "$tmp/aot.csv" "$tmp/jit.csv" | awk -F, '
    { n = NF / 2; for (k = 2; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (k == 2 && d != 0) { bad++; next } if (d > 1e-5) { bad++; next } } rows++ }
    END { if (bad || rows != 10000) { printf "%d rows, %d differ\n", rows, bad; exit 1 } }' || fail "the artifact's predictions differ from hpc predict's"

# the note, and bad uses at their lines
cat > "$tmp/note.hp" <<HP
data slice { train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz"); valid = split(train, 0.2) }
model m {
    input 784; dense 64; batchnorm
    dropout 0.2
    dense classes
}
experiment e { data = slice; model = m }
HP
"$HPC" check "$tmp/note.hp" > "$tmp/note.out" 2>&1 || { fail "check of the note"; cat "$tmp/note.out"; }
grep -q "note.hp:4:5: note: dropout right after batchnorm.*\[dropout-after-batchnorm\]" "$tmp/note.out" || { fail "the note"; cat "$tmp/note.out"; }
cat > "$tmp/bad.hp" <<HP
data fort { train = text("$FORT/computers", seq = 16) }
model lm { input tokens; embed 16; gru 32; batchnorm; dense vocab }
model tok { input tokens; batchnorm; embed 16; gru 32; dense vocab }
model mom { input tokens; embed 16; gru 32; batchnorm momentum = 2; dense vocab }
experiment a { data = fort; model = lm }
experiment b { data = fort; model = tok }
experiment c { data = fort; model = mom }
HP
"$HPC" check "$tmp/bad.hp" > "$tmp/bad.out" 2>&1 && fail "check accepted batchnorm on sequences"
grep -q "bad.hp:2:44: error: batchnorm cannot follow \`gru\` (line 2)" "$tmp/bad.out" || { fail "the recurrent message"; cat "$tmp/bad.out"; }
grep -q "bad.hp:3:27: error: batchnorm needs features, but its input is tokens\[16\]" "$tmp/bad.out" || { fail "the tokens message"; cat "$tmp/bad.out"; }
grep -q "bad.hp:4:66: error: momentum must be in \[0, 1\]; it is 2" "$tmp/bad.out" || { fail "the momentum message"; cat "$tmp/bad.out"; }

finish batchnorm
