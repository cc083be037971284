#!/bin/sh
# hpc build of sequence classifiers (`input [T, F]`): examples/fashion_rnn.hp
# trained briefly on a subset, built, and the artifact's predictions on 2,000
# test images against `hpc predict` (the same labels, probabilities within
# 1e-5; a batch call within 1e-6 of one call per sample); the object links with libc
# and libm alone; the header compiles as C and C++; a model with every layer a
# sequence classifier can hold (per-step dense and layernorm, a gru stack with
# dropout, lstm, rnn, last, dense, layernorm, dropout, softmax) and
# normalize = standard gives hpc predict's predictions too; --exe reads CSV
# rows of T·F numbers; an AArch64 build under qemu gives the host's
# predictions; a cross_entropy model without a final softmax layer
# (feed-forward too) writes probabilities, not logits.
# usage: build_seq.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

be32() { # N: 4 bytes, big-endian, as printf octal escapes
    printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))"
    printf "\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"
}
N=3000 # training images
{ printf '\000\000\010\003'; be32 $N; be32 28; be32 28
  gzip -dc "$FM/train-images-idx3-ubyte.gz" | tail -c +17 | head -c $((N * 784)); } > "$tmp/img"
{ printf '\000\000\010\001'; be32 $N
  gzip -dc "$FM/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c $N; } > "$tmp/lab"
M=2000 # test images compared
{ printf '\000\000\010\003'; be32 $M; be32 28; be32 28
  gzip -dc "$FM/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c $((M * 784)); } > "$tmp/test"
[ "$(wc -c < "$tmp/test")" = $((16 + M * 784)) ] || fail "the test subset has $(wc -c < "$tmp/test") bytes"

# The artifact MODEL over the first N images of a plain IDX file: "row,label,p0,..." per image, from one call
# for all of them, checked against one call per image for the first 50.
cat > "$tmp/drv.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include MODEL_H
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define PRED CAT(MODEL, _predict)
#define IN CAT(MODEL, _INPUT_SIZE)
#define OUT CAT(MODEL, _OUTPUT_SIZE)
int main(int argc, char **argv)
{
    FILE *f = argc == 3 ? fopen(argv[1], "rb") : NULL;
    long n = argc == 3 ? atol(argv[2]) : 0;
    if (!f || n <= 0 || fseek(f, 16, SEEK_SET) != 0)
        return 2;
    unsigned char *raw = malloc((size_t)n * IN);
    float *x = malloc(sizeof(float) * (size_t)n * IN), *y = malloc(sizeof(float) * (size_t)n * OUT), y1[OUT];
    if (!raw || !x || !y || fread(raw, IN, (size_t)n, f) != (size_t)n)
        return 2;
    for (long i = 0; i < n * IN; i++)
        x[i] = raw[i];
    if (PRED(x, y, (size_t)n) != 0)
        return 3;
    for (long i = 0; i < n; i++) {
        /* one sample alone as in the batch (a batch's tiles of a dense layer may
         * contract products into FMAs differently: within 1e-6) */
        if (i < 50 && PRED(x + i * IN, y1, 1) != 0)
            return 4;
        for (int k = 0; i < 50 && k < OUT; k++)
            if (fabsf(y1[k] - y[i * OUT + k]) > 1e-6f)
                return 4;
        int best = 0;
        for (int k = 1; k < OUT; k++)
            if (y[i * OUT + k] > y[i * OUT + best])
                best = k;
        printf("%ld,%d", i, best);
        for (int k = 0; k < OUT; k++)
            printf(",%.9g", y[i * OUT + k]);
        printf("\n");
    }
    fclose(f);
    free(raw);
    free(x);
    free(y);
    return 0;
}
C
cmp_preds() { # AOT JIT WHAT [ROWS]: the same labels, probabilities within 1e-5, ROWS (M) rows
    paste -d, "$1" "$2" | awk -F, -v what="$3" -v m="${4:-$M}" '
        { n = NF / 2; for (k = 2; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (k == 2 && d != 0) { bad++; next } if (d > 1e-5) { bad++; next } } rows++ }
        END { if (bad || rows != m) { printf "%s: %d rows, %d differ\n", what, rows, bad; exit 1 } }' || fail "$3"
}
check_artifact() { # DIR NAME WHAT
    nm -u "$1/$2.o" | awk '{ print $2 }' | grep -v -E '^(memcpy|memset|memmove|malloc|free|getenv|strcmp|expf|exp|tanhf|erff|logf|sqrtf)$' > "$tmp/undef"
    [ -s "$tmp/undef" ] && { fail "$3: undefined symbols beyond libc/libm:"; cat "$tmp/undef"; }
    printf '#include "%s.h"\nint main(void) { float x[%s_INPUT_SIZE] = {0}, y[%s_OUTPUT_SIZE]; return %s_predict(x, y, 1); }\n' \
        "$2" "$2" "$2" "$2" > "$tmp/h.c"
    cc -Wall -Wextra -Werror -I"$1" "$tmp/h.c" "$1/lib$2.a" -lm -o "$tmp/h" || fail "$3: the header as C"
    "$tmp/h" || fail "$3: predict on zeros"
    cp "$tmp/h.c" "$tmp/h.cc"
    c++ -Wall -Wextra -Werror -I"$1" "$tmp/h.cc" "$1/lib$2.a" -lm -o "$tmp/hpp" || fail "$3: the header as C++"
    printf '#include "%s.h"\nint main(void) { float y[%s_OUTPUT_SIZE]; return %s_predict((const float *)0, y, 1) == -1 ? 0 : 1; }\n' \
        "$2" "$2" "$2" > "$tmp/null.c"
    cc -I"$1" "$tmp/null.c" "$1/lib$2.a" -lm -o "$tmp/null" && "$tmp/null" || fail "$3: NULL input is not -1"
    cc -O2 -Wall -Wextra -Werror -DMODEL="$2" -DMODEL_H="\"$2.h\"" -I"$1" "$tmp/drv.c" "$1/lib$2.a" -lm -o "$tmp/drv-$2" \
        || fail "$3: the driver"
}

# 1. examples/fashion_rnn.hp (an LSTM of 128 over the 28 rows) on the subset, one epoch
sed -e "s|\"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\"|\"$tmp/img\"|" \
    -e "s|\"/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz\"|\"$tmp/lab\"|" \
    -e 's|epochs    = 3|epochs    = 1\n    threads   = 2|' \
    "$SRC/examples/fashion_rnn.hp" > "$tmp/rows.hp"
grep -q "$tmp/img" "$tmp/rows.hp" || fail "examples/fashion_rnn.hp no longer reads the training file"
"$HPC" run "$tmp/rows.hp" --out "$tmp/rows" --quiet 2> "$tmp/rows.err" || { fail "run fashion_rnn"; cat "$tmp/rows.err"; }
"$HPC" build "$tmp/rows.hp" --weights "$tmp/rows" -o "$tmp/out" --name rows_lstm --exe > "$tmp/build.out" 2>&1 \
    || { fail "build of fashion_rnn: exit $?"; cat "$tmp/build.out"; }
grep -q "rows_lstm_predict(input\[784\], output\[10\])" "$tmp/build.out" || { fail "build's summary line"; cat "$tmp/build.out"; }
check_artifact "$tmp/out" rows_lstm "fashion_rnn"
"$tmp/drv-rows_lstm" "$tmp/test" $M > "$tmp/aot.csv" || fail "fashion_rnn: the artifact's predictions (exit $?)"
"$HPC" predict "$tmp/rows" "$tmp/test" 2>/dev/null | tail -n +2 > "$tmp/jit.csv" || fail "hpc predict"
cmp_preds "$tmp/aot.csv" "$tmp/jit.csv" "fashion_rnn: artifact vs hpc predict"
awk -F, '{ n[$2]++ } END { if (length(n) < 5) exit 1 }' "$tmp/aot.csv" || fail "fashion_rnn: the model predicts fewer than 5 classes"
# --exe: CSV rows of 784 numbers (the first test image)
gzip -dc "$FM/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 784 | od -An -v -tu1 | tr -s ' \n' '\n\n' | grep . \
    | paste -s -d, > "$tmp/row.csv"
"$tmp/out/rows_lstm" "$tmp/row.csv" > "$tmp/exe.csv" || fail "the --exe predictor"
[ "$(cut -d, -f1 "$tmp/exe.csv")" = "$(head -1 "$tmp/aot.csv" | cut -d, -f2)" ] || fail "--exe: another label than the library's"

# cross-compiled for AArch64, run under qemu (200 images): the host's predictions
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    "$HPC" build "$tmp/rows.hp" --weights "$tmp/rows" -o "$tmp/arm" --name rows_lstm --target aarch64-linux-gnu > /dev/null \
        || fail "build for aarch64"
    aarch64-linux-gnu-gcc -O2 -DMODEL=rows_lstm -DMODEL_H='"rows_lstm.h"' -I"$tmp/arm" "$tmp/drv.c" "$tmp/arm/librows_lstm.a" \
        -lm -o "$tmp/drv-arm" || fail "linking for aarch64"
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$tmp/drv-arm" "$tmp/test" 200 > "$tmp/arm.csv" || fail "running under qemu"
    head -200 "$tmp/aot.csv" > "$tmp/aot200.csv"
    cmp_preds "$tmp/arm.csv" "$tmp/aot200.csv" "aarch64 vs host" 200
else
    echo "note: no aarch64 cross compiler or qemu; the cross-compilation check was skipped"
fi

# 2. every layer a sequence classifier may hold, with normalize = standard
cat > "$tmp/all.hp" <<HP
data slice {
    train = idx("$tmp/img", "$tmp/lab")
    valid = split(train, 0.2)
    scale = 1 / 255
    normalize = standard
}
model m {
    input [28, 28]
    dense 16, relu                    # at every step
    layernorm                         # each step
    tanh
    gru 24, stack = 2, dropout = 0.2
    lstm 12
    rnn 10
    last
    dense 20, gelu
    layernorm
    dropout 0.1
    dense classes, softmax
}
experiment small { data = slice; model = m; batch = 64; epochs = 1; seed = 5; threads = 2; optimizer = adam(lr = 3e-3) }
HP
"$HPC" run "$tmp/all.hp" --out "$tmp/all" --quiet --allow stack-depth --allow vanilla-rnn 2> "$tmp/all.err" \
    || { fail "run of every layer"; cat "$tmp/all.err"; }
"$HPC" build "$tmp/all.hp" --weights "$tmp/all" -o "$tmp/allo" --name every > "$tmp/allb.out" 2>&1 \
    || { fail "build of every layer"; cat "$tmp/allb.out"; }
check_artifact "$tmp/allo" every "every layer"
"$tmp/drv-every" "$tmp/test" $M > "$tmp/aot2.csv" || fail "every layer: the artifact's predictions (exit $?)"
"$HPC" predict "$tmp/all" "$tmp/test" 2>/dev/null | tail -n +2 > "$tmp/jit2.csv" || fail "hpc predict, every layer"
cmp_preds "$tmp/aot2.csv" "$tmp/jit2.csv" "every layer: artifact vs hpc predict"

# 3. cross_entropy on a model without a final softmax (the loss's softmax): NAME_predict writes probabilities,
#    as hpc predict does, for a sequence classifier (1.) and a feed-forward model alike
cat > "$tmp/ff.hp" <<HP
data slice { train = idx("$tmp/img", "$tmp/lab"); valid = split(train, 0.2); scale = 1 / 255 }
model mlp { input 784; dense 32, relu; dense classes }
experiment small { data = slice; model = mlp; batch = 64; epochs = 1; seed = 4 }
HP
"$HPC" run "$tmp/ff.hp" --out "$tmp/ff" --quiet 2> "$tmp/ff.err" || { fail "run of the MLP"; cat "$tmp/ff.err"; }
"$HPC" build "$tmp/ff.hp" --weights "$tmp/ff" -o "$tmp/ffo" --name mlp > "$tmp/ffb.out" 2>&1 || { fail "build of the MLP"; cat "$tmp/ffb.out"; }
check_artifact "$tmp/ffo" mlp "MLP"
"$tmp/drv-mlp" "$tmp/test" $M > "$tmp/aot3.csv" || fail "MLP: the artifact's predictions (exit $?)"
"$HPC" predict "$tmp/ff" "$tmp/test" 2>/dev/null | tail -n +2 > "$tmp/jit3.csv" || fail "hpc predict, MLP"
cmp_preds "$tmp/aot3.csv" "$tmp/jit3.csv" "MLP without a softmax layer: artifact vs hpc predict"

# 4. bad uses: the wrong model's weights
"$HPC" build "$tmp/all.hp" --weights "$tmp/rows" -o "$tmp/bad" > "$tmp/bad.out" 2>&1 && fail "another model's weights were accepted"
grep -q "belongs to a different model" "$tmp/bad.out" || { fail "another model's weights: the message"; cat "$tmp/bad.out"; }

finish build_seq
