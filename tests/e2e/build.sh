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
nm -u "$tmp/out/fashion_mlp.o" | awk '{ print $2 }' | grep -v -E '^(memcpy|memset|memmove|malloc|free|getenv|strcmp|expf|exp|tanhf|erff|logf|sqrtf)$' > "$tmp/undef"
[ -s "$tmp/undef" ] && { fail "undefined symbols beyond libc/libm:"; cat "$tmp/undef"; }

# the header as C and as C++: the upper-case macros and the deprecated spellings
cat > "$tmp/h.c" <<'C'
#include "fashion_mlp.h"
#include <string.h>
int main(void)
{
    float x[FASHION_MLP_INPUT_SIZE] = {0}, y[fashion_mlp_OUTPUT_SIZE];
    char s[fashion_mlp_SCRATCH_BYTES + FASHION_MLP_SCRATCH_BYTES];
    int ok = fashion_mlp_INPUT_SIZE == FASHION_MLP_INPUT_SIZE && fashion_mlp_NUM_CLASSES == FASHION_MLP_NUM_CLASSES &&
             FASHION_MLP_OUTPUT_SIZE == 10 && strstr(FASHION_MLP_ISA_LEVELS, fashion_mlp_isa()) != 0 &&
             strcmp(FASHION_MLP_QUANTIZATION, "float32") == 0;
    return !ok || fashion_mlp_predict(x, y, 1) != 0 || fashion_mlp_predict_with(x, y, 1, s) != 0;
}
C
grep -q '^ \* Accuracy: test accuracy 0\.[0-9]* of the float32 weights' "$tmp/out/fashion_mlp.h" || fail "the header does not state the test accuracy"
grep -q '^ \* Instruction sets: x86-64-v2 (SSE4.2), x86-64-v3 (AVX2, FMA), x86-64-v4 (AVX-512)' "$tmp/out/fashion_mlp.h" ||
    fail "the header does not list the ISA levels"
grep -q 'Deprecated spellings, kept for one release' "$tmp/out/fashion_mlp.h" || fail "the old spellings are not marked deprecated"
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

# the portable artifact (the default): its level choice against a C reference
# of the same CPUID/XCR0 decision (made-up words, then this machine's), then
# forced to each level this machine runs, the native artifact's predictions
cat > "$tmp/isa.c" <<'C'
#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fashion_mlp.h"
int fashion_mlp_isa_select(unsigned l1_ecx, unsigned l7_ebx, unsigned e1_ecx, unsigned xcr0, unsigned l7_ecx); /* hidden: tests */
/* a float artifact's levels do not read CPUID.(7,0):ECX (VNNI is an int8 level) */
#define SELECT(a, b, c, d) fashion_mlp_isa_select(a, b, c, d, ~0u)
static const char *const names[] = {"x86-64-v2", "x86-64-v3", "x86-64-v4"};
#define B(w, i) (((w) >> (i)) & 1u)
/* the x86-64 psABI levels from the bits' names (CPUID.1:ECX c1, CPUID.(7,0):EBX b7, CPUID.80000001h:ECX e1) */
static int ref(unsigned c1, unsigned b7, unsigned e1, unsigned x)
{
    int v2 = B(c1, 0) && B(c1, 9) && B(c1, 13) && B(c1, 19) && B(c1, 20) && B(c1, 23) && B(e1, 0); /* SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT LAHF */
    int v3 = v2 && B(c1, 12) && B(c1, 22) && B(c1, 27) && B(c1, 28) && B(c1, 29) /* FMA MOVBE OSXSAVE AVX F16C */
             && B(b7, 3) && B(b7, 5) && B(b7, 8) && B(e1, 5) && B(x, 1) && B(x, 2); /* BMI1 AVX2 BMI2 LZCNT; XMM YMM state */
    int v4 = v3 && B(b7, 16) && B(b7, 17) && B(b7, 28) && B(b7, 30) && B(b7, 31) /* AVX512 F DQ CD BW VL */
             && B(x, 5) && B(x, 6) && B(x, 7); /* opmask, ZMM_Hi256, Hi16_ZMM state */
    return v4 ? 2 : v3 ? 1 : 0;
}
static int bad;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "isa.c:%d: %s\n", __LINE__, #c); bad = 1; } } while (0)
static void *first_call(void *p)
{
    float x[FASHION_MLP_INPUT_SIZE] = {0}, y[FASHION_MLP_OUTPUT_SIZE];
    *(const char **)p = fashion_mlp_predict(x, y, 1) == 0 ? fashion_mlp_isa() : "error";
    return NULL;
}
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "current") == 0) { /* the level chosen at the first call */
        puts(fashion_mlp_isa());
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "threads") == 0) { /* racing first calls agree */
        pthread_t t[8];
        const char *got[8];
        for (int i = 0; i < 8; i++)
            CHECK(pthread_create(&t[i], NULL, first_call, &got[i]) == 0);
        for (int i = 0; i < 8; i++)
            CHECK(pthread_join(t[i], NULL) == 0);
        for (int i = 0; i < 8; i++)
            CHECK(strcmp(got[i], fashion_mlp_isa()) == 0);
        return bad;
    }
    /* made-up words: the cases by name, then bits dropped at random from a full v4 CPU */
    const unsigned c1 = 0x38D83201u, b7 = 0xD0030128u, e1 = 0x21u, x4 = 0xE7u;
    CHECK(SELECT(~0u, ~0u, ~0u, ~0u) == 2);
    CHECK(SELECT(0, 0, 0, 0) == 0);
    CHECK(SELECT(c1, b7, e1, x4) == 2);
    CHECK(SELECT(c1, b7, e1, 0x7) == 1);              /* the OS did not enable the AVX-512 state */
    CHECK(SELECT(c1, b7, e1, 0x3) == 0);              /* nor the AVX state */
    CHECK(SELECT(c1, b7 & ~(1u << 31), e1, x4) == 1); /* no AVX512VL */
    CHECK(SELECT(c1 & ~(1u << 12), b7, e1, x4) == 0); /* no FMA */
    CHECK(SELECT(c1, b7, e1 & ~(1u << 5), x4) == 0); /* no LZCNT */
    srand(7);
    for (int i = 0; i < 200000; i++) {
        unsigned w[4] = {c1, b7, e1, x4};
        for (int k = 0; k < 4; k++)
            if (rand() % 2)
                w[k] &= ~(1u << (rand() % 32));
        if (SELECT(w[0], w[1], w[2], w[3]) != ref(w[0], w[1], w[2], w[3])) {
            fprintf(stderr, "isa_select(%#x, %#x, %#x, %#x) is not the reference's %d\n", w[0], w[1], w[2], w[3], ref(w[0], w[1], w[2], w[3]));
            return 1;
        }
    }
    /* this machine */
    unsigned a, b, c, d, l1 = 0, l7 = 0, le = 0, xcr0 = 0, max = __get_cpuid_max(0, NULL);
    if (__get_cpuid(1, &a, &b, &c, &d))
        l1 = c;
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        l7 = b;
    }
    if (__get_cpuid(0x80000001u, &a, &b, &c, &d))
        le = c;
    if (B(l1, 27)) {
        __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
        xcr0 = a;
    }
    int best = ref(l1, l7, le, xcr0);
    CHECK(SELECT(l1, l7, le, xcr0) == best);
    const char *env = getenv("FASHION_MLP_ISA");
    CHECK(strcmp(fashion_mlp_isa(), env ? env : names[best]) == 0); /* the first call: the best, or the forced one */
    CHECK(fashion_mlp_force_isa("x86-64-v9") == -1 && fashion_mlp_force_isa(NULL) == -1);
    for (int k = 2; k >= 0; k--) {
        CHECK(fashion_mlp_force_isa(names[k]) == (k <= best ? 0 : -1)); /* a level the CPU lacks is refused */
        CHECK(strcmp(fashion_mlp_isa(), names[k <= best ? k : best]) == 0);
    }
    for (int k = 0; k <= best && !bad && !env; k++)
        puts(names[k]);
    return bad;
}
C
cc -O2 -pthread -I"$tmp/out" "$tmp/isa.c" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/isa" || fail "isa.c"
"$tmp/isa" > "$tmp/levels" || fail "the level choice (isa_select, force_isa)"
[ -s "$tmp/levels" ] || fail "no ISA level supported"
"$tmp/isa" threads || fail "racing first calls"
[ "$(FASHION_MLP_ISA=x86-64-v9 "$tmp/isa" current)" = "$(tail -n 1 "$tmp/levels")" ] || fail "an unknown FASHION_MLP_ISA: not the best level"
for level in $(cat "$tmp/levels"); do
    [ "$(FASHION_MLP_ISA=$level "$tmp/isa" current)" = "$level" ] || fail "FASHION_MLP_ISA=$level: fashion_mlp_isa() says $(FASHION_MLP_ISA=$level "$tmp/isa" current)"
    FASHION_MLP_ISA=$level "$tmp/isa" > /dev/null || fail "the level checks with FASHION_MLP_ISA=$level"
    FASHION_MLP_ISA=$level "$tmp/classify" > "$tmp/$level.csv" || fail "classify run at $level"
    cmp_preds "$tmp/$level.csv" "$tmp/native.csv" "portable at $level vs native"
done
# in a static binary too (CPUID read by the object itself: no libgcc, no ifunc)
if cc -static -pthread -I"$tmp/out" "$tmp/isa.c" "$tmp/out/libfashion_mlp.a" -lm -o "$tmp/isa-static" 2>/dev/null; then
    "$tmp/isa-static" > "$tmp/levels-static" && cmp -s "$tmp/levels" "$tmp/levels-static" || fail "the static binary's levels"
else
    echo "note: no static libc; the static link was skipped"
fi
# one level: --cpu CPU and --cpu native build that CPU's forward pass alone
cc -O2 -I"$tmp/native" "$tmp/isa.c" "$tmp/native/libfashion_mlp.a" -lm -o "$tmp/isa-native" 2>/dev/null && fail "a --cpu native object has isa_select"
printf '#include <string.h>\n#include "fashion_mlp.h"\nint main(void) { return strcmp(fashion_mlp_isa(), FASHION_MLP_ISA_LEVELS) || fashion_mlp_force_isa("x86-64-v2") != -1 || fashion_mlp_force_isa(FASHION_MLP_ISA_LEVELS) != 0; }\n' > "$tmp/one.c"
cc -I"$tmp/native" "$tmp/one.c" "$tmp/native/libfashion_mlp.a" -lm -o "$tmp/one" && "$tmp/one" || fail "--cpu native: NAME_isa and NAME_force_isa"

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
    printf '#include <stdio.h>\n#include "fashion_mlp.h"\nint main(void) { puts(fashion_mlp_isa()); return 0; }\n' > "$tmp/arm-isa.c"
    aarch64-linux-gnu-gcc -I"$tmp/arm" "$tmp/arm-isa.c" "$tmp/arm/libfashion_mlp.a" -lm -o "$tmp/arm-isa" || fail "linking arm-isa.c"
    [ "$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$tmp/arm-isa")" = aarch64 ] || fail "the AArch64 artifact's NAME_isa() is not aarch64"
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
