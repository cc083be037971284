#!/bin/sh
# hpc build of convolutional networks (compiler/aot_conv.c: padded planes,
# rows of vectors, register blocks of output channels; vectorised pools):
# the artifact's probabilities equal hpc predict's within 1e-5 with the same
# labels, at every ISA level this machine runs (NAME_UPPER_ISA), one sample
# at a time and in one call.  Three networks: examples/fashion_cnn.hp's
# (its model block with its batch norms folded into the convs, trained one
# short epoch on part of the test images),
# and two of odd shapes on CSV rows: 3 input channels, 5x5 kernels with
# stride 2 and no padding, 37 output channels (a partial block of channels),
# a batchnorm folded into the conv before it, an overlapping avgpool, rows
# of 100 outputs (several groups of vectors), a stride of 5 (the gathered
# loads), 9x9 kernels and pools (the loop over a kernel row); widths that are
# no multiple of 4, 8 or 16.  Under valgrind (when installed), the loads of a
# row's last vector stay inside NAME_SCRATCH_BYTES.  The odd shapes are also
# cross-compiled for AArch64 and run under qemu-aarch64 (when installed).
# usage: build_cnn.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

cmp_preds() { # A B WHAT ROWS: labels equal, probabilities within 1e-5
    paste -d, "$1" "$2" | awk -F, -v what="$3" -v want="$4" '
        { n = NF / 2; for (k = 2; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (k == 2 && d != 0) { bad++; next } if (d > 1e-5) { bad++; next } } rows++ }
        END { if (bad || rows != want) { printf "%s: %d rows, %d differ\n", what, rows, bad; exit 1 } }' || fail "$3"
}
levels() { # DIR NAME: the ISA levels this machine runs, from the artifact NAME in DIR
    up=$(echo "$2" | tr a-z A-Z)
    cat > "$tmp/lv.c" <<C
#include <stdio.h>
#include <string.h>
#include "$2.h"
int main(void)
{
    const char *all[] = {"x86-64-v2", "x86-64-v3", "x86-64-v4"};
    for (int k = 0; k < 3; k++)
        if (strstr(${up}_ISA_LEVELS, all[k]) && $2_force_isa(all[k]) == 0)
            puts(all[k]);
    return 0;
}
C
    cc -I"$1" "$tmp/lv.c" "$1/lib$2.a" -lm -o "$tmp/lv" && "$tmp/lv"
}

cat > "$tmp/vg.c" <<'C'
/* 11 samples (a full tile and 3) and 1 through NAME_predict_with with a heap
 * scratch of exactly NET_SCRATCH_BYTES: valgrind reports a read or write past it */
#include <stdio.h>
#include <stdlib.h>
#include "net.h"
int main(void)
{
    enum { N = 11 };
    float *x = malloc(sizeof(float) * N * NET_INPUT_SIZE), *y = malloc(sizeof(float) * N * NET_OUTPUT_SIZE);
    void *s = malloc(NET_SCRATCH_BYTES);
    if (!x || !y || !s)
        return 1;
    for (long i = 0; i < (long)N * NET_INPUT_SIZE; i++)
        x[i] = (float)(i % 253) * 0.01f;
    int rc = net_predict_with(x, y, N, s) | net_predict_with(x, y, 1, s);
    free(x);
    free(y);
    free(s);
    return rc;
}
C
memcheck() { # DIR NAME WHAT: the scratch bounds under valgrind, at the levels it emulates (not AVX-512)
    command -v valgrind > /dev/null || { echo "note: no valgrind; the scratch bounds were not checked"; return; }
    up=$(echo "$2" | tr a-z A-Z)
    sed "s/NET_/${up}_/g; s/net_/$2_/g; s/net\.h/$2.h/" "$tmp/vg.c" > "$tmp/vg_$2.c"
    cc -g -O1 -I"$1" "$tmp/vg_$2.c" "$1/lib$2.a" -lm -o "$tmp/vg_$2" || { fail "$3: vg.c"; return; }
    for level in x86-64-v2 x86-64-v3; do
        env "${up}_ISA=$level" valgrind -q --error-exitcode=9 "$tmp/vg_$2" > "$tmp/vg.out" 2>&1 || { fail "$3 at $level: valgrind"; cat "$tmp/vg.out"; }
    done
}

# --- examples/fashion_cnn.hp's network ---
{
    cat <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.8)
    test  = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    normalize = standard
}
HP
    sed -n '/^model cnn/,/^}/p' "$SRC/examples/fashion_cnn.hp"
    echo 'experiment small { data = slice; model = cnn(); batch = 64; epochs = 1; seed = 3; threads = 2 }'
} > "$tmp/cnn.hp"
grep -q 'batchnorm' "$tmp/cnn.hp" || fail "the model block of examples/fashion_cnn.hp was not found"
"$HPC" run "$tmp/cnn.hp" --out "$tmp/cnn" --quiet || fail "training the example CNN"
"$HPC" build "$tmp/cnn.hp" --weights "$tmp/cnn" -o "$tmp/cnn_out" --name fashion_mlp > "$tmp/b.err" 2>&1 || { fail "build of the example CNN"; cat "$tmp/b.err"; }
cc -O2 -DPRINT -I"$tmp/cnn_out" "$SRC/examples/deploy/classify.c" "$tmp/cnn_out/libfashion_mlp.a" -lm -o "$tmp/classify" || fail "classify.c"
"$HPC" predict "$tmp/cnn" "$FM/t10k-images-idx3-ubyte.gz" 2>/dev/null | tail -n +2 > "$tmp/cnn_jit.csv"
n=0
# classify checks one sample at a time against one call for all (1e-5)
for level in $(levels "$tmp/cnn_out" fashion_mlp); do
    FASHION_MLP_ISA=$level "$tmp/classify" > "$tmp/cnn_$level.csv" 2> "$tmp/cnn_$level.err" || { fail "classify at $level"; cat "$tmp/cnn_$level.err"; }
    cmp_preds "$tmp/cnn_$level.csv" "$tmp/cnn_jit.csv" "the example CNN at $level vs hpc predict" 10000
    n=$((n + 1))
done
[ $n -ge 1 ] || fail "no ISA level ran"
memcheck "$tmp/cnn_out" fashion_mlp "the example CNN"

# --- odd shapes, on CSV rows of 3 channels ---
rows() { # N FEATURES SEED: a header, then N rows of FEATURES values and a label 0..2
    awk -v n="$1" -v f="$2" -v seed="$3" 'BEGIN { srand(seed)
        for (j = 0; j < f; j++) printf "f%d,", j; print "label"
        for (i = 0; i < n; i++) { k = i % 3; for (j = 0; j < f; j++) printf "%.3f,", (j % (7 + k)) * 0.1 + rand(); print k } }'
}
cat > "$tmp/drive.c" <<'C'
/* reads CSV rows of NET_INPUT_SIZE values (a header first); prints row,label,probabilities
 * of each predicted alone, after checking one call for all of them gives the same */
#include <stdio.h>
#include <stdlib.h>
#include "net.h"
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "r");
    int c, n = 0, cap = 64;
    float *x = malloc(sizeof(float) * NET_INPUT_SIZE * cap);
    if (!f || !x)
        return 1;
    while ((c = fgetc(f)) != '\n' && c != EOF) {}
    for (;;) {
        if (n == cap && !(x = realloc(x, sizeof(float) * NET_INPUT_SIZE * (cap *= 2))))
            return 1;
        int k = 0;
        for (; k < NET_INPUT_SIZE; k++)
            if (fscanf(f, "%f,", &x[(long)n * NET_INPUT_SIZE + k]) != 1)
                break;
        if (k < NET_INPUT_SIZE)
            break;
        n++;
    }
    float *y = malloc(sizeof(float) * NET_OUTPUT_SIZE * (n + 1)), *yb = malloc(sizeof(float) * NET_OUTPUT_SIZE * (n + 1));
    if (!y || !yb || net_predict(x, yb, (size_t)n) != 0)
        return 1;
    for (int i = 0; i < n; i++) {
        if (net_predict(x + (long)i * NET_INPUT_SIZE, y + (long)i * NET_OUTPUT_SIZE, 1) != 0)
            return 1;
        int best = 0;
        for (int k = 0; k < NET_OUTPUT_SIZE; k++) {
            float a = y[i * NET_OUTPUT_SIZE + k], b = yb[i * NET_OUTPUT_SIZE + k];
            if (!((a > b ? a - b : b - a) <= 1e-5f)) {
                fprintf(stderr, "row %d: %g alone, %g in one call\n", i, a, b);
                return 2;
            }
            best = a > y[i * NET_OUTPUT_SIZE + best] ? k : best;
        }
        printf("%d,%d", i, best);
        for (int k = 0; k < NET_OUTPUT_SIZE; k++)
            printf(",%.9g", y[i * NET_OUTPUT_SIZE + k]);
        printf("\n");
    }
    fclose(f);
    free(x);
    free(y);
    free(yb);
    return 0;
}
C
odd() { # NAME SHAPE MODEL-BODY
    rows 240 "$2" 5 > "$tmp/$1.csv"
    rows 50 "$2" 6 | cut -d, -f1-"$2" > "$tmp/$1_in.csv"
    cat > "$tmp/$1.hp" <<HP
data rows { train = csv("$tmp/$1.csv"); valid = split(train, 0.25) }
model m { $3 }
experiment small { data = rows; model = m; batch = 32; epochs = 2; seed = 2; optimizer = adam(lr = 0.01) }
HP
    "$HPC" run "$tmp/$1.hp" --out "$tmp/$1_run" --quiet --allow batch-pow2 > "$tmp/$1.err" 2>&1 || { fail "$1: training"; cat "$tmp/$1.err"; return; }
    "$HPC" predict "$tmp/$1_run" "$tmp/$1_in.csv" 2>/dev/null | tail -n +2 > "$tmp/$1_jit.csv"
    "$HPC" build "$tmp/$1.hp" --weights "$tmp/$1_run" -o "$tmp/$1_out" --name net > "$tmp/$1.err" 2>&1 || { fail "$1: build"; cat "$tmp/$1.err"; return; }
    cc -O2 -I"$tmp/$1_out" "$tmp/drive.c" "$tmp/$1_out/libnet.a" -lm -o "$tmp/$1_drive" || { fail "$1: drive.c"; return; }
    for level in $(levels "$tmp/$1_out" net); do
        NET_ISA=$level "$tmp/$1_drive" "$tmp/$1_in.csv" > "$tmp/$1_$level.csv" || fail "$1 at $level: one call and one sample at a time differ"
        cmp_preds "$tmp/$1_$level.csv" "$tmp/$1_jit.csv" "$1 at $level vs hpc predict" 50
    done
    memcheck "$tmp/$1_out" net "$1"
    # cross-compiled for AArch64 (NEON, 4-float vectors), run under qemu
    if command -v aarch64-linux-gnu-gcc > /dev/null && command -v qemu-aarch64 > /dev/null; then
        "$HPC" build "$tmp/$1.hp" --weights "$tmp/$1_run" -o "$tmp/$1_arm" --name net --target aarch64-linux-gnu > "$tmp/$1.err" 2>&1 &&
            aarch64-linux-gnu-gcc -O2 -I"$tmp/$1_arm" "$tmp/drive.c" "$tmp/$1_arm/libnet.a" -lm -o "$tmp/$1_adrive" ||
            { fail "$1: the AArch64 build"; cat "$tmp/$1.err"; return; }
        qemu-aarch64 -L /usr/aarch64-linux-gnu "$tmp/$1_adrive" "$tmp/$1_in.csv" > "$tmp/$1_arm.csv" || fail "$1 under qemu-aarch64"
        cmp_preds "$tmp/$1_arm.csv" "$tmp/$1_jit.csv" "$1, AArch64 under qemu, vs hpc predict" 50
    else
        echo "note: no aarch64 cross compiler or qemu; the AArch64 build was not checked"
    fi
}
odd strided 1197 'input [3, 21, 19]
    conv 37, relu, kernel = 5, stride = 2, pad = valid
    conv 7, kernel = 3
    batchnorm
    tanh
    avgpool size = 3, stride = 2
    dense classes, softmax'
odd wide 3600 'input [3, 12, 100]
    conv 5, gelu
    maxpool size = 9, stride = 3
    conv 6, relu, kernel = 3, stride = 5
    conv 9, sigmoid, kernel = 9
    dense classes, softmax'

finish build_cnn
