#!/bin/sh
# hpc build: the artifact links with libc and libm alone, its header compiles
# as C and C++, its predictions equal hpc predict's (and, cross-compiled for
# AArch64 and run under qemu, the host's); bad uses get clear errors.
# usage: build.sh HPC SOURCE_DIR
HPC=$1
SRC=$2
FM=/usr/share/datasets/fashion-mnist
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

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

if [ $fails -gt 0 ]; then echo "$fails failures"; exit 1; fi
echo "all build checks passed"
