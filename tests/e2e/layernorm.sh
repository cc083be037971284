#!/bin/sh
# layernorm end to end: a classifier with a layernorm learns, `hpc explain`
# shows it, `hpc predict` (from the checkpoint) and `hpc build`'s artifact
# agree; a language model with a layernorm per step
# trains and builds (NAME_step), and `hpc sample` and the artifact agree; bad
# uses are errors at their line.  usage: layernorm.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

rows() { # N SEED
    awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed)
        for (i = 0; i < n; i++) { k = i % 3; printf "%.3f,%.3f,%.3f,%.3f,%d\n", 100 + 5 * k + 3 * rand(), 0.1 * k + 0.2 * rand(), 7, -5 * k + 3 * rand(), k } }'
}
{ echo "a,b,c,d,label"; rows 300 5; } > "$tmp/train.csv"
{ echo "a,b,c,d"; rows 40 6 | cut -d, -f1-4; } > "$tmp/rows.csv"
cat > "$tmp/m.hp" <<HP
data rows { train = csv("$tmp/train.csv"); valid = split(train, 0.2) }
model mlp { input 4; layernorm; dense 16, tanh; layernorm eps = 1e-3; dense classes, softmax }
experiment small { data = rows; model = mlp; batch = 32; epochs = 12; seed = 2; threads = 2; optimizer = adam(lr = 0.03) }
HP
"$HPC" explain "$tmp/m.hp" > "$tmp/explain" 2>&1 || fail "explain"
grep -q "layernorm (eps 1e-05) *\[4\] *8 " "$tmp/explain" || { fail "explain: the first layernorm"; cat "$tmp/explain"; }
grep -q "layernorm (eps 0.001) *\[16\] *32 " "$tmp/explain" || fail "explain: the second layernorm"
"$HPC" run "$tmp/m.hp" --out "$tmp/run" --quiet --allow batch-pow2 || fail "training"
"$HPC" predict "$tmp/run" "$tmp/train.csv" 2>&1 > /dev/null | awk '/^accuracy/ { if ($2 < 0.9) bad = 1; seen = 1 } END { exit !seen || bad }' \
    || fail "the model with layernorm did not learn the rows"
"$HPC" predict "$tmp/run" "$tmp/rows.csv" > "$tmp/p" 2>/dev/null || fail "predict"
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/out" --name rows --exe > "$tmp/b.err" 2>&1 || { fail "build"; cat "$tmp/b.err"; }
"$tmp/out/rows" "$tmp/rows.csv" > "$tmp/exe" 2>/dev/null || fail "the --exe predictor"
tail -n +2 "$tmp/p" | cut -d, -f2- > "$tmp/p.cols"
paste -d, "$tmp/p.cols" "$tmp/exe" | awk -F, '
    { n = NF / 2; if ($1 != $(1 + n)) bad++; for (k = 2; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (d > 1e-5) bad++ } rows++ }
    END { exit bad || rows != 40 }' || { fail "the artifact's predictions differ from hpc predict's"; head -3 "$tmp/p.cols" "$tmp/exe"; }

# a language model with a layernorm at every step
cat > "$tmp/lm.hp" <<HP
data fort { train = text("$FORT/computers", seq = 16); valid = split(train, 0.1) }
model lm { input tokens; embed 16; gru 32; layernorm; dense vocab, softmax }
experiment charlm { data = fort; model = lm; batch = 32; epochs = 1; seed = 3; threads = 2 }
HP
"$HPC" run "$tmp/lm.hp" --out "$tmp/lm" --quiet --allow batch-pow2 > "$tmp/lm.out" 2>&1 || { fail "the language model"; cat "$tmp/lm.out"; }
"$HPC" build "$tmp/lm.hp" --weights "$tmp/lm" -o "$tmp/lmout" --name lm > "$tmp/lmb.err" 2>&1 || { fail "build of the language model"; cat "$tmp/lmb.err"; }
[ -f "$tmp/lmout/liblm.a" ] || fail "no liblm.a"
# hpc sample runs the compiled step, layernorm included; the artifact's NAME_step gives the same greedy text
"$HPC" sample "$tmp/lm" --len 60 --temperature 0 --prime "The " > "$tmp/s.out" 2> "$tmp/s.err" || { fail "sample exited $?"; cat "$tmp/s.err"; }
[ "$(wc -c < "$tmp/s.out")" -ge 60 ] || fail "sample printed $(wc -c < "$tmp/s.out") bytes"
if cc -O2 -Wall -Wextra -Werror -DMODEL_HEADER="\"lm.h\"" -DMODEL=lm -DMODEL_UPPER=LM -I"$tmp/lmout" "$SRC/examples/deploy/generate.c" "$tmp/lmout/liblm.a" -lm \
    -o "$tmp/generate" 2> "$tmp/err"; then
    "$tmp/generate" --len 60 --temperature 0 --prime "The " > "$tmp/ga" || fail "generate exited $?"
    cmp -s "$tmp/ga" "$tmp/s.out" || { fail "the artifact's greedy text differs from hpc sample's"; cat "$tmp/ga" "$tmp/s.out"; }
else
    fail "generate.c does not compile against the artifact"; cat "$tmp/err"
fi

# bad uses
cat > "$tmp/bad.hp" <<HP
data fort { train = text("$FORT/computers", seq = 16) }
model lm { input tokens; layernorm; embed 16; gru 32; dense vocab }
model neg { input tokens; embed 16; layernorm eps = -1; dense vocab }
experiment a { data = fort; model = lm }
experiment b { data = fort; model = neg }
HP
"$HPC" check "$tmp/bad.hp" > "$tmp/bad.out" 2>&1 && fail "check accepted a layernorm on tokens"
grep -q "bad.hp:2:26: error: layernorm needs features, but its input is tokens\[16\]" "$tmp/bad.out" || { fail "the tokens message"; cat "$tmp/bad.out"; }
grep -q "bad.hp:3:53: error: eps must be greater than 0; it is -1" "$tmp/bad.out" || { fail "the eps message"; cat "$tmp/bad.out"; }

finish layernorm
