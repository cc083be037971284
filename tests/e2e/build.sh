#!/bin/sh
# hpc build: the artifact links with libc and libm alone, its header compiles
# as C and C++, its predictions equal hpc predict's (and, cross-compiled for
# AArch64 and run under qemu, the host's); bad uses get clear errors.
# usage: build.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

cat > "$tmp/m.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    test  = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    scale = 1 / 255
}
model mlp { input 784; dense 64, gelu; dropout 0.2; dense 32, tanh; dense classes, softmax }
experiment small { data = slice; model = mlp; batch = 64; epochs = 2; seed = 4; threads = 2 }
HP
"$HPC" run "$tmp/m.hp" --out "$tmp/run" --quiet || fail "training"
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/out" --name fashion_mlp --exe > "$tmp/build.out" 2>&1 || { fail "build: exit $?"; cat "$tmp/build.out"; }
for f in fashion_mlp.o libfashion_mlp.a fashion_mlp.h fashion_mlp; do [ -f "$tmp/out/$f" ] || fail "no $f"; done

# no undefined symbol outside libc and libm
nm -u "$tmp/out/fashion_mlp.o" | awk '{ print $2 }' | grep -v -E '^(memcpy|memset|memmove|malloc|free|expf|exp|tanhf|erff|logf|sqrtf)$' > "$tmp/undef"
[ -s "$tmp/undef" ] && { fail "undefined symbols beyond libc/libm:"; cat "$tmp/undef"; }

# the header as C and as C++
printf '#include "fashion_mlp.h"\nint main(void) { float x[fashion_mlp_INPUT_SIZE] = {0}, y[fashion_mlp_OUTPUT_SIZE]; return fashion_mlp_predict(x, y, 1); }\n' > "$tmp/h.c"
cc -Wall -Wextra -Werror -I"$tmp/out" "$tmp/h.c" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/h" || fail "the header as C"
"$tmp/h" || fail "predict on zeros"
cp "$tmp/h.c" "$tmp/h.cc"
c++ -Wall -Wextra -Werror -I"$tmp/out" "$tmp/h.cc" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/hpp" || fail "the header as C++"
printf '#include "fashion_mlp.h"\nint main(void) { float y[10]; return fashion_mlp_predict((const float *)0, y, 1) == -1 ? 0 : 1; }\n' > "$tmp/null.c"
cc -I"$tmp/out" "$tmp/null.c" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/null" && "$tmp/null" || fail "NULL input is not -1"

# the artifact's predictions equal hpc predict's (1e-5 per probability, identical labels)
cc -O2 -DPRINT -I"$tmp/out" "$SRC/examples/deploy/classify.c" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/classify" || fail "classify.c"
"$tmp/classify" > "$tmp/aot.csv" || fail "classify run"
"$HPC" predict "$tmp/run" "$FM/t10k-images-idx3-ubyte.gz" 2>/dev/null | tail -n +2 | cut -d, -f1,2,3- > "$tmp/jit.csv"
cmp_preds() { # A B WHAT
    paste -d, "$1" "$2" | awk -F, -v what="$3" '
        { n = (NF - 0) / 2; for (k = 2; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (k == 2 && d != 0) { bad++; next } if (d > 1e-5) { bad++; next } } rows++ }
        END { if (bad || rows != 10000) { printf "%s: %d rows, %d differ\n", what, rows, bad; exit 1 } }' || fail "$3"
}
cmp_preds "$tmp/aot.csv" "$tmp/jit.csv" "artifact vs hpc predict"

# built for this CPU (AVX-512 here: wider tiles): the same predictions
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/native" --name fashion_mlp --cpu native > /dev/null || fail "build --cpu native"
cc -O2 -DPRINT -I"$tmp/native" "$SRC/examples/deploy/classify.c" "$tmp/native/libfashion_mlp.a" -lm -o "$tmp/classify-native" || fail "classify.c, native"
"$tmp/classify-native" > "$tmp/native.csv" || fail "classify run, native"
cmp_preds "$tmp/native.csv" "$tmp/jit.csv" "native artifact vs hpc predict"

# --exe: the predictor reads CSV rows
awk 'BEGIN { for (i = 0; i < 784; i++) printf "%s%d", i ? "," : "", i % 255; print "" }' > "$tmp/row.csv"
"$tmp/out/fashion_mlp" "$tmp/row.csv" | grep -q -E '^[0-9],' || fail "the --exe predictor"

# cross-compiled for AArch64, run under qemu: the host's predictions
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    "$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/arm" --name fashion_mlp --target aarch64-linux-gnu > /dev/null || fail "build for aarch64"
    file "$tmp/arm/fashion_mlp.o" 2>/dev/null | grep -q -i "aarch64" || [ ! -x /usr/bin/file ] || fail "not an AArch64 object"
    aarch64-linux-gnu-gcc -O2 -DPRINT -I"$tmp/arm" "$SRC/examples/deploy/classify.c" "$tmp/arm/libfashion_mlp.a" -lm -o "$tmp/classify-arm" || fail "linking for aarch64"
    gzip -dc "$FM/t10k-images-idx3-ubyte.gz" > "$tmp/img"; gzip -dc "$FM/t10k-labels-idx1-ubyte.gz" > "$tmp/lab"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$tmp/classify-arm" "$tmp/img" "$tmp/lab" > "$tmp/arm.csv" || fail "running under qemu"
    cmp_preds "$tmp/arm.csv" "$tmp/aot.csv" "aarch64 vs host"
else
    echo "note: no aarch64 cross compiler or qemu; the cross-compilation check was skipped"
fi

# bad uses
cat > "$tmp/other.hp" <<HP
data slice { train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz"); valid = split(train, 0.2); scale = 1 / 255 }
model mlp { input 784; dense 16, relu; dense classes, softmax }
experiment small { data = slice; model = mlp }
HP
"$HPC" build "$tmp/other.hp" --weights "$tmp/run" -o "$tmp/o2" > "$tmp/b1" 2>&1 && fail "a foreign checkpoint was accepted"
grep -q "belongs to a different model" "$tmp/b1" || { fail "foreign checkpoint message"; cat "$tmp/b1"; }
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/o3" --target nonsense-cpu-os > "$tmp/b2" 2>&1
[ $? = 2 ] || fail "unknown triple: exit status"
grep -q "unknown target 'nonsense-cpu-os'" "$tmp/b2" || { fail "unknown triple message"; cat "$tmp/b2"; }
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o /proc/nope/out > "$tmp/b3" 2>&1 && fail "an unwritable OUT was accepted"
grep -q "cannot create /proc/nope/out" "$tmp/b3" || { fail "unwritable OUT message"; cat "$tmp/b3"; }

# normalize = standard: the training statistics travel in the checkpoint, so
# predict and build keep the run's preprocessing when the training file changes
mkdir "$tmp/norm"
rows() { # N SHIFT SEED
    awk -v n="$1" -v shift="$2" -v seed="$3" 'BEGIN { srand(seed)
        for (i = 0; i < n; i++) { k = i % 3; printf "%.3f,%.3f,%.3f,%.3f,%d\n", shift + 1000 + 50 * k + 30 * rand(), 0.01 * k + 0.02 * rand(), 7, -5 * k + 3 * rand(), k } }'
}
{ echo "a,b,c,d,label"; rows 300 0 5; } > "$tmp/norm/train.csv"
{ echo "a,b,c,d"; rows 40 0 6 | cut -d, -f1-4; } > "$tmp/rows.csv"
cat > "$tmp/norm.hp" <<HP
data rows { train = csv("$tmp/norm/train.csv"); valid = split(train, 0.2); normalize = standard }
model mlp { input 4; dense 8, tanh; dense classes, softmax }
experiment small { data = rows; model = mlp; batch = 32; epochs = 20; seed = 2; optimizer = adam(lr = 0.03) }
HP
"$HPC" run "$tmp/norm.hp" --out "$tmp/nrun" --quiet --allow batch-pow2 || fail "training with normalize = standard"
"$HPC" predict "$tmp/nrun" "$tmp/norm/train.csv" 2>&1 > /dev/null | awk '/^accuracy/ { if ($2 < 0.9) bad = 1; seen = 1 } END { exit !seen || bad }' \
    || fail "normalize = standard: the model did not learn the rows"
"$HPC" predict "$tmp/nrun" "$tmp/rows.csv" > "$tmp/np1" 2>/dev/null || fail "predict, normalize = standard"
rows 300 4000 7 >> "$tmp/norm/train.csv" # statistics recomputed now would be others
"$HPC" predict "$tmp/nrun" "$tmp/rows.csv" > "$tmp/np2" 2> "$tmp/np2.err" || { fail "predict after the data changed"; cat "$tmp/np2.err"; }
cmp -s "$tmp/np1" "$tmp/np2" || fail "predict after the training data changed: other predictions"
"$HPC" build "$tmp/norm.hp" --weights "$tmp/nrun" -o "$tmp/nout" --name rows --exe > "$tmp/nb.err" 2>&1 || { fail "build, normalize = standard"; cat "$tmp/nb.err"; }
"$tmp/nout/rows" "$tmp/rows.csv" > "$tmp/nexe" 2>/dev/null || fail "the --exe predictor, normalize = standard"
tail -n +2 "$tmp/np1" | cut -d, -f2 > "$tmp/np1.labels"
cut -d, -f1 "$tmp/nexe" > "$tmp/nexe.labels"
cmp -s "$tmp/np1.labels" "$tmp/nexe.labels" || fail "normalize = standard: the artifact's labels differ from hpc predict's"
[ "$(wc -l < "$tmp/nexe.labels")" = 40 ] || fail "normalize = standard: the artifact labelled $(wc -l < "$tmp/nexe.labels") rows, not 40"

finish build
