#!/bin/sh
# hpc build --quantize int8: on a Fashion-MNIST MLP (trained briefly on the
# t10k images) the int8 artifact's test accuracy is within 0.005 of the
# float32 artifact's and its labels agree on >= 99% of the 10,000 samples;
# --report's accuracy (the C reference of the int8 arithmetic) is the
# artifact's; the VNNI, AVX2 and SSE2 kernels give the same labels and
# probabilities, and so does the portable artifact at each of its levels; the object needs nothing beyond libc/libm and the header
# compiles as C and C++; what the int8 path does not cover is refused at its line.
# The example CNN (conv, maxpool, flatten, dropout, dense) the same way: int8
# within 0.005 of float32 on the 10,000 test images, labels agreeing on >= 99%,
# --report's int8 accuracy the artifact's, the same predictions at every level.
# usage: build_int8.sh HPC SOURCE_DIR
. "$(dirname "$0")/lib.sh"

cat > "$tmp/m.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    test  = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    scale = 1 / 255
}
model mlp { input 784; dense 128, relu; dropout 0.2; dense 64; relu; dense classes, softmax }
experiment small { data = slice; model = mlp; batch = 64; epochs = 2; seed = 4; threads = 2 }
HP
"$HPC" run "$tmp/m.hp" --out "$tmp/run" --quiet || fail "training"
img="$FM/t10k-images-idx3-ubyte.gz" lab="$FM/t10k-labels-idx1-ubyte.gz"

# build CPU DIR [--quantize int8 ...]: the artifact and classify.c linked with it (-DPRINT: DIR/p.csv)
build() {
    cpu=$1 dir=$2; shift 2
    "$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/$dir" --name fashion_mlp --cpu "$cpu" "$@" > "$tmp/$dir.out" 2>&1 \
        || { fail "build --cpu $cpu $*"; cat "$tmp/$dir.out"; return; }
    cc -O2 -I"$tmp/$dir" "$SRC/examples/deploy/classify.c" "$tmp/$dir/libfashion_mlp.a" -lm -o "$tmp/$dir/acc" || fail "classify.c, $dir"
    cc -O2 -DPRINT -I"$tmp/$dir" "$SRC/examples/deploy/classify.c" "$tmp/$dir/libfashion_mlp.a" -lm -o "$tmp/$dir/print" || fail "classify.c -DPRINT, $dir"
    "$tmp/$dir/print" "$img" "$lab" > "$tmp/$dir/p.csv" || fail "classify, $dir"
}
accuracy() { "$tmp/$1/acc" "$img" "$lab" | awk '{ print $2 }'; }
# same_preds A B: the same labels, probabilities within 1e-6 (the kernels' integers are the same; the float
# epilogues may contract into FMAs differently)
same_preds() {
    paste -d, "$1" "$2" | awk -F, '
        { n = NF / 2; if ($2 != $(2 + n)) bad++; for (k = 3; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (d > 1e-6) { bad++; break } } }
        END { exit !(NR == 10000 && !bad) }'
}

have() { grep -q -w "$1" /proc/cpuinfo; }
cpu=x86-64-v2
have avx2 && cpu=x86-64-v3
have avx512_vnni && have avx512bw && cpu=native
build "$cpu" f
build "$cpu" q --quantize int8 --report

# accuracy within 0.005 of float32's; labels agree on >= 99%
af=$(accuracy f) aq=$(accuracy q)
awk -v f="$af" -v q="$aq" 'BEGIN { d = q - f; if (d < 0) d = -d; exit !(d <= 0.005 && f > 0.7) }' \
    || fail "int8 accuracy $aq vs float32 $af: more than 0.005 apart"
paste -d, "$tmp/q/p.csv" "$tmp/f/p.csv" | awk -F, '{ n = NF / 2; if ($2 == $(2 + n)) same++ } END { exit !(NR == 10000 && same >= 9900) }' \
    || fail "int8 and float32 labels agree on fewer than 99% of 10000 samples"

# --report: the C reference's int8 accuracy is the artifact's; the header states it
grep -q "^int8: test accuracy $aq, float32 $af" "$tmp/q.out" || { fail "--report: not the artifacts' accuracies ($aq, $af)"; cat "$tmp/q.out"; }
grep -q "int8 $aq, float32 $af" "$tmp/q/fashion_mlp.h" || fail "the header does not state the accuracy"
grep -q '#define FASHION_MLP_QUANTIZATION "int8"' "$tmp/q/fashion_mlp.h" || fail "the header does not state the quantization"

# the kernel of the target: vpdpbusd with VNNI, else pmaddwd
if [ "$cpu" = native ]; then
    objdump -d "$tmp/q/fashion_mlp.o" | grep -q vpdpbusd || fail "no vpdpbusd in the VNNI build"
fi
# the AVX2 (x86-64-v3) and SSE2 (default x86-64-v2) kernels: the same labels, probabilities within 1e-6
for other in x86-64-v3 x86-64-v2; do
    [ "$other" = x86-64-v3 ] && ! have avx2 && continue
    build "$other" "q_$other" --quantize int8 --calibrate 1000
    objdump -d "$tmp/q_$other/fashion_mlp.o" | grep -q pmaddwd || fail "$other: no pmaddwd"
    objdump -d "$tmp/q_$other/fashion_mlp.o" | grep -q -E "vpdpbusd|zmm" && fail "$other: an AVX-512 instruction"
    same_preds "$tmp/q/p.csv" "$tmp/q_$other/p.csv" || fail "$other kernel: other predictions than the $cpu one"
done

# the portable default: every level's int8 pass in one object (vpdpbusd in the
# VNNI level's), the best picked here, and each level forced gives the same predictions
build portable q_portable --quantize int8
objdump -d "$tmp/q_portable/fashion_mlp.o" | grep -q vpdpbusd || fail "portable int8: no VNNI level"
best=x86-64-v2
have avx2 && best=x86-64-v3
have avx512bw && have avx512vl && best=x86-64-v4
have avx512_vnni && have avx512bw && best=x86-64-v4-vnni
printf '#include <stdio.h>\n#include "fashion_mlp.h"\nint main(void) { puts(fashion_mlp_isa()); return 0; }\n' > "$tmp/isa.c"
cc -I"$tmp/q_portable" "$tmp/isa.c" "$tmp/q_portable/libfashion_mlp.a" -lm -o "$tmp/isa8" || fail "portable int8: NAME_isa"
[ "$("$tmp/isa8")" = "$best" ] || fail "portable int8 runs $("$tmp/isa8") here, not $best"
for lvl in x86-64-v2 x86-64-v3 x86-64-v4 x86-64-v4-vnni; do
    [ "$(FASHION_MLP_ISA=$lvl "$tmp/isa8")" = "$lvl" ] || continue # a level this CPU lacks
    FASHION_MLP_ISA=$lvl "$tmp/q_portable/print" "$img" "$lab" > "$tmp/q_portable/$lvl.csv" || fail "portable int8 at $lvl"
    same_preds "$tmp/q_portable/$lvl.csv" "$tmp/q_portable/p.csv" || fail "portable int8 at $lvl: other predictions than at $best"
done
[ "$cpu" = native ] && { same_preds "$tmp/q_portable/p.csv" "$tmp/q/p.csv" || fail "portable int8: other predictions than --cpu native"; }

# no undefined symbol outside libc and libm; the header as C and C++
nm -u "$tmp/q/fashion_mlp.o" | awk '{ print $2 }' | grep -v -E '^(memcpy|memset|memmove|malloc|free|getenv|strcmp|expf|exp|tanhf|erff|logf|sqrtf)$' > "$tmp/undef"
[ -s "$tmp/undef" ] && { fail "undefined symbols beyond libc/libm:"; cat "$tmp/undef"; }
printf '#include "fashion_mlp.h"\nint main(void) { float x[fashion_mlp_INPUT_SIZE] = {0}, y[fashion_mlp_OUTPUT_SIZE]; static char s[fashion_mlp_SCRATCH_BYTES]; return fashion_mlp_predict(x, y, 1) || fashion_mlp_predict_with(x, y, 1, s) || FASHION_MLP_QUANTIZATION[0] != 0x69; }\n' > "$tmp/h.c"
cc -Wall -Wextra -Werror -I"$tmp/q" "$tmp/h.c" "$tmp/q/libfashion_mlp.a" -lm -o "$tmp/h" || fail "the header as C"
"$tmp/h" || fail "predict on zeros"
cp "$tmp/h.c" "$tmp/h.cc"
c++ -Wall -Wextra -Werror -I"$tmp/q" "$tmp/h.cc" "$tmp/q/libfashion_mlp.a" -lm -o "$tmp/hpp" || fail "the header as C++"

# bad uses
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/b1" --quantize int4 > "$tmp/e1" 2>&1; [ $? = 2 ] || fail "--quantize int4: exit status"
grep -q "takes int8, not 'int4'" "$tmp/e1" || { fail "--quantize int4 message"; cat "$tmp/e1"; }
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/b2" --calibrate 10 > "$tmp/e2" 2>&1; [ $? = 2 ] || fail "--calibrate alone: exit status"
grep -q "goes with --quantize int8" "$tmp/e2" || { fail "--calibrate alone message"; cat "$tmp/e2"; }
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/b3" --quantize int8 --calibrate 0 > "$tmp/e3" 2>&1; [ $? = 2 ] || fail "--calibrate 0: exit status"
"$HPC" build "$tmp/m.hp" --weights "$tmp/run" -o "$tmp/b4" --quantize int8 --target aarch64-linux-gnu > "$tmp/e4" 2>&1; [ $? = 2 ] || fail "int8 for aarch64: exit status"
grep -q "x86-64 targets only" "$tmp/e4" || { fail "int8 for aarch64 message"; cat "$tmp/e4"; }
# an activation right after a pool is refused at its line (put before the pool, it is covered)
cat > "$tmp/pr.hp" <<HP
data slice { train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz"); valid = split(train, 0.9); scale = 1 / 255 }
model cnn {
    input [1, 28, 28]
    conv 4
    maxpool
    relu
    flatten
    dense classes, softmax
}
experiment small { data = slice; model = cnn; epochs = 1; batch = 64 }
HP
"$HPC" run "$tmp/pr.hp" --out "$tmp/prrun" --quiet > /dev/null 2>&1 || fail "training the CNN with a relu after its pool"
"$HPC" build "$tmp/pr.hp" --weights "$tmp/prrun" -o "$tmp/b5" --quantize int8 > "$tmp/e5" 2>&1; [ $? = 2 ] || fail "int8 relu after a pool: exit status"
grep -q "pr.hp:6: \`relu\`: an activation right after a pool" "$tmp/e5" || { fail "int8 relu after a pool: message"; cat "$tmp/e5"; }
[ -e "$tmp/b5" ] && fail "a refused build left its output directory"

# The example CNN (examples/fashion_cnn.hp's model, with 8 filters so the float artifact's direct conv
# loops and --report's C references stay quick; the pixels scaled by 1 / 255 rather than standardised
# per pixel: docs/deploy.md says why), trained 1 epoch on 8,000 of the t10k images and run on all 10,000: the int8 artifact's accuracy within 0.005 of the float one's, labels agreeing on >= 99%,
# --report's int8 accuracy exactly the artifact's; every level of the portable int8 artifact gives the
# same predictions as --cpu native; libc/libm only.
sed -n '/^model cnn/,/^}/p' "$SRC/examples/fashion_cnn.hp" > "$tmp/cnn_model"
grep -q "batchnorm" "$tmp/cnn_model" || fail "the example CNN's model was not found"
cat > "$tmp/cnn.hp" <<HP
data slice {
    train = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    valid = split(train, 0.2)
    test  = idx("$FM/t10k-images-idx3-ubyte.gz", "$FM/t10k-labels-idx1-ubyte.gz")
    scale = 1 / 255
}
$(cat "$tmp/cnn_model")
experiment small {
    data = slice; model = cnn(filters = 8); batch = 64; epochs = 1; seed = 5; threads = 2
    optimizer = sgd(lr = 0.05, momentum = 0.9, nesterov = true)
}
HP
"$HPC" run "$tmp/cnn.hp" --out "$tmp/cnnrun" --quiet > /dev/null 2>&1 || fail "training the example CNN"
gzip -dc "$img" > "$tmp/img.raw" && gzip -dc "$lab" > "$tmp/lab.raw" || fail "gzip -dc"
# all 10,000 images in one call: "label,predicted,probabilities..." per image
cat > "$tmp/pred.c" <<'C'
#include <stdio.h>
#include "fashion_cnn.h"
enum { N = 10000, F = FASHION_CNN_INPUT_SIZE, K = FASHION_CNN_OUTPUT_SIZE };
static unsigned char img[16 + N * F], lab[8 + N];
static float x[N * F], y[N * K];
int main(int argc, char **argv)
{
    FILE *a = argc > 2 ? fopen(argv[1], "rb") : NULL, *b = argc > 2 ? fopen(argv[2], "rb") : NULL;
    if (!a || !b || fread(img, 1, sizeof img, a) != sizeof img || fread(lab, 1, sizeof lab, b) != sizeof lab)
        return 1;
    for (long i = 0; i < (long)N * F; i++)
        x[i] = img[16 + i];
    if (fashion_cnn_predict(x, y, N) != 0)
        return 1;
    for (long i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            best = y[i * K + k] > y[i * K + best] ? k : best;
        printf("%d,%d", lab[8 + i], best);
        for (int k = 0; k < K; k++)
            printf(",%.9g", y[i * K + k]);
        printf("\n");
    }
    return fclose(a) || fclose(b);
}
C
# cnn CPU DIR [--quantize int8 ...]: the artifact, pred.c linked with it, DIR/p.csv
cnn() {
    cpu=$1 dir=$2; shift 2
    "$HPC" build "$tmp/cnn.hp" --weights "$tmp/cnnrun" -o "$tmp/$dir" --name fashion_cnn --cpu "$cpu" "$@" > "$tmp/$dir.out" 2>&1 \
        || { fail "CNN build --cpu $cpu $*"; cat "$tmp/$dir.out"; return; }
    cc -O2 -I"$tmp/$dir" "$tmp/pred.c" "$tmp/$dir/libfashion_cnn.a" -lm -o "$tmp/$dir/pred" || fail "pred.c, $dir"
    "$tmp/$dir/pred" "$tmp/img.raw" "$tmp/lab.raw" > "$tmp/$dir/p.csv" || fail "predicting, $dir"
}
cnn_acc() { awk -F, '{ r += $1 == $2 } END { printf "%.4f", r / NR }' "$tmp/$1/p.csv"; }
# same labels, probabilities within 1e-6
cnn_same() {
    paste -d, "$1" "$2" | awk -F, '
        { n = NF / 2; if ($2 != $(2 + n)) bad++; for (k = 3; k <= n; k++) { d = $k - $(k + n); if (d < 0) d = -d; if (d > 1e-6) { bad++; break } } }
        END { exit !(NR == 10000 && !bad) }'
}
cnn "$cpu" cf
cnn "$cpu" cq --quantize int8 --report
cf=$(cnn_acc cf) cq=$(cnn_acc cq)
awk -v f="$cf" -v q="$cq" 'BEGIN { d = q - f; if (d < 0) d = -d; exit !(d <= 0.005 && f > 0.5) }' \
    || fail "CNN: int8 accuracy $cq vs float32 $cf: more than 0.005 apart"
paste -d, "$tmp/cq/p.csv" "$tmp/cf/p.csv" | awk -F, '{ n = NF / 2; if ($2 == $(2 + n)) same++ } END { exit !(NR == 10000 && same >= 9900) }' \
    || fail "CNN: int8 and float32 labels agree on fewer than 99% of 10000 samples"
grep -q "^int8: test accuracy $cq, " "$tmp/cq.out" || { fail "CNN --report: not the artifact's int8 accuracy ($cq)"; cat "$tmp/cq.out"; }
grep -q "int8 $cq, float32" "$tmp/cq/fashion_cnn.h" || fail "CNN: the header does not state the accuracy"
if [ "$cpu" = native ]; then
    objdump -d "$tmp/cq/fashion_cnn.o" | grep -q vpdpbusd || fail "CNN: no vpdpbusd in the VNNI build"
fi
cnn portable cqp --quantize int8
printf '#include <stdio.h>\n#include "fashion_cnn.h"\nint main(void) { puts(fashion_cnn_isa()); return 0; }\n' > "$tmp/cisa.c"
cc -I"$tmp/cqp" "$tmp/cisa.c" "$tmp/cqp/libfashion_cnn.a" -lm -o "$tmp/cisa" || fail "CNN portable int8: NAME_isa"
[ "$("$tmp/cisa")" = "$best" ] || fail "CNN portable int8 runs $("$tmp/cisa") here, not $best"
levels=0
for lvl in x86-64-v2 x86-64-v3 x86-64-v4 x86-64-v4-vnni; do
    [ "$(FASHION_CNN_ISA=$lvl "$tmp/cisa")" = "$lvl" ] || continue # a level this CPU lacks
    FASHION_CNN_ISA=$lvl "$tmp/cqp/pred" "$tmp/img.raw" "$tmp/lab.raw" > "$tmp/cqp/$lvl.csv" || fail "CNN portable int8 at $lvl"
    cnn_same "$tmp/cqp/$lvl.csv" "$tmp/cq/p.csv" || fail "CNN portable int8 at $lvl: other predictions than --cpu $cpu"
    levels=$((levels + 1))
done
[ $levels -ge 1 ] || fail "CNN portable int8: no level ran"
nm -u "$tmp/cqp/fashion_cnn.o" | awk '{ print $2 }' | grep -v -E '^(memcpy|memset|memmove|malloc|free|getenv|strcmp|expf|exp|tanhf|erff|logf|sqrtf)$' > "$tmp/cundef"
[ -s "$tmp/cundef" ] && { fail "CNN: undefined symbols beyond libc/libm:"; cat "$tmp/cundef"; }

# a batchnorm right after a dense layer without an activation is folded into it, as in the float artifact:
# the int8 model's accuracy within 0.005 of the float one's, labels agreeing on >= 99%
sed 's/model mlp { input 784; dense 128, relu;/model mlp { input 784; dense 128; batchnorm; relu;/' "$tmp/m.hp" > "$tmp/bn.hp"
grep -q "batchnorm" "$tmp/bn.hp" || fail "the batchnorm model was not written"
"$HPC" run "$tmp/bn.hp" --out "$tmp/bnrun" --quiet > /dev/null 2>&1 || fail "training with batchnorm"
for kind in f q; do
    [ $kind = q ] && set -- --quantize int8 || set --
    "$HPC" build "$tmp/bn.hp" --weights "$tmp/bnrun" -o "$tmp/bn_$kind" --name fashion_mlp "$@" > "$tmp/bn_$kind.out" 2>&1 \
        || { fail "build with batchnorm ($kind)"; cat "$tmp/bn_$kind.out"; continue; }
    cc -O2 -I"$tmp/bn_$kind" "$SRC/examples/deploy/classify.c" "$tmp/bn_$kind/libfashion_mlp.a" -lm -o "$tmp/bn_$kind/acc" || fail "classify.c, bn_$kind"
    cc -O2 -DPRINT -I"$tmp/bn_$kind" "$SRC/examples/deploy/classify.c" "$tmp/bn_$kind/libfashion_mlp.a" -lm -o "$tmp/bn_$kind/print" || fail "classify.c -DPRINT, bn_$kind"
    "$tmp/bn_$kind/print" "$img" "$lab" > "$tmp/bn_$kind/p.csv" || fail "classify, bn_$kind"
done
bf=$(accuracy bn_f) bq=$(accuracy bn_q)
awk -v f="$bf" -v q="$bq" 'BEGIN { d = q - f; if (d < 0) d = -d; exit !(d <= 0.005 && f > 0.7) }' \
    || fail "batchnorm folded: int8 accuracy $bq vs float32 $bf: more than 0.005 apart"
paste -d, "$tmp/bn_q/p.csv" "$tmp/bn_f/p.csv" | awk -F, '{ n = NF / 2; if ($2 == $(2 + n)) same++ } END { exit !(NR == 10000 && same >= 9900) }' \
    || fail "batchnorm folded: int8 and float32 labels agree on fewer than 99% of 10000 samples"
# after an activation a batchnorm cannot be folded: refused at its line
sed 's/model mlp { input 784; dense 128, relu;/model mlp { input 784; dense 128, relu; batchnorm;/' "$tmp/m.hp" > "$tmp/bn2.hp"
"$HPC" run "$tmp/bn2.hp" --out "$tmp/bn2run" --quiet > /dev/null 2>&1 || fail "training with batchnorm after relu"
"$HPC" build "$tmp/bn2.hp" --weights "$tmp/bn2run" -o "$tmp/b6" --quantize int8 > "$tmp/e6" 2>&1; [ $? = 2 ] || fail "int8 unfoldable batchnorm: exit status"
line=$(grep -n "batchnorm" "$tmp/bn2.hp" | cut -d: -f1)
grep -q "bn2.hp:$line: \`batchnorm\`: --quantize int8 folds a batchnorm" "$tmp/e6" || { fail "int8 unfoldable batchnorm message"; cat "$tmp/e6"; }

finish build_int8
