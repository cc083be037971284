/* test_aot_int8.c - hpc build --quantize int8: the emitted int8 code (JIT
 * compiled for the host, once per kernel ISA the host runs: VNNI vpdpbusd,
 * AVX-512BW, AVX2 and SSE2 pmaddwd) against a plain C reference written here:
 * the int32 sums of a layer and the bytes it requantizes for the next layer
 * equal the reference's exactly, in a full tile and one sample at a time;
 * the probabilities equal hp_q8_forward_int8's (the reference --report uses).
 * The calibration, the per-channel weight scales and the ISA of a CPU name. */
#include <math.h>
#include <stdint.h>

#include "aot_int8.h"
#include "hpc_test.h"
#include "hprt_rng.h"
#include "jit.h"

enum { IN = 37, HID = 50, OUT = 10 }; /* neither a multiple of the vector widths: the padding is exercised */

typedef struct {
    float w1[HID * IN], b1[HID], w2[OUT * HID], b2[OUT];
    hp_q8_model m;
} net;

static void net_init(net *t)
{
    hprt_rng r;
    hprt_rng_seed(&r, 7);
    for (int i = 0; i < HID * IN; i++)
        t->w1[i] = (float)(hprt_rng_uniform(&r) - 0.5);
    for (int i = 0; i < HID; i++)
        t->b1[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.1f;
    for (int i = 0; i < OUT * HID; i++)
        t->w2[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.5f;
    for (int i = 0; i < OUT; i++)
        t->b2[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.1f;
    t->w1[5] = 0.9f; /* one weight per row decides its scale */
    memset(&t->m, 0, sizeof t->m);
    t->m.n = 2;
    t->m.features = IN;
    t->m.classes = OUT;
    t->m.scale = 1;
    t->m.final_softmax = true;
    t->m.layers = calloc(2, sizeof *t->m.layers);
    assert_non_null(t->m.layers);
    assert_int_equal(hp_q8_layer_init(&t->m.layers[0], IN, HID, t->w1, t->b1), 0);
    assert_int_equal(hp_q8_layer_init(&t->m.layers[1], HID, OUT, t->w2, t->b2), 0);
    t->m.layers[0].acts[t->m.layers[0].n_acts++] = PLAN_ACT_RELU;
    hp_q8_set_range(&t->m.layers[0], -1.5f, 2.0f); /* a zero point inside the range */
    hp_q8_set_range(&t->m.layers[1], 0.0f, 3.0f);
}

static void test_weights_per_channel(void **state)
{
    (void)state;
    net t;
    net_init(&t);
    const hp_q8_layer *L = &t.m.layers[0];
    for (long j = 0; j < HID; j++) {
        float mx = 0;
        for (long k = 0; k < IN; k++)
            mx = fmaxf(mx, fabsf(t.w1[j * IN + k]));
        assert_true(L->w_scale[j] == mx / 127.0f);
        int peak = 0;
        for (long k = 0; k < IN; k++) {
            int q = L->w[j * L->in_pad + k];
            assert_true(q >= -127 && q <= 127);
            peak = abs(q) > peak ? abs(q) : peak;
            assert_true(fabsf(q * L->w_scale[j] - t.w1[j * IN + k]) <= 0.5f * L->w_scale[j] * 1.0001f);
        }
        assert_int_equal(peak, 127);
        for (long k = IN; k < L->in_pad; k++)
            assert_int_equal(L->w[j * L->in_pad + k], 0);
    }
    assert_int_equal(L->in_zero, 109); /* round(1.5 / (3.5 / 255)) */
    hp_q8_free(&t.m);
}

typedef int (*predict_fn)(const float *, float *, size_t, void *);

/* The plain reference: bytes of x for layer L's input */
static uint8_t q_ref(float y, float inv, int z)
{
    float t = rintf(y * inv) + (float)z;
    if (!(t >= 0))
        t = 0;
    if (t > 255)
        t = 255;
    return (uint8_t)t;
}

static void check_isa(hp_q8_isa isa)
{
    net t;
    net_init(&t);
    cg_error err;
    hp_jit *j = hp_jit_new(&err);
    assert_non_null(j);
    ir_target tg = hp_jit_target(j);
    cg g;
    memset(&g, 0, sizeof g);
    assert_int_equal(cg_module_new(&g, hp_jit_context(j), "q8", &tg, &err), 0);
    g.threads = 1;
    g.libm_exp = true;
    assert_int_equal(hp_q8_emit(&g, &t.m, isa, "q8_predict_with", LLVMInt64TypeInContext(g.ctx)), 0);
    LLVMDisposeBuilder(g.b);
    assert_int_equal(ir_optimize(g.mod, &tg, &err), 0);
    hp_jit_symbol syms[] = {{"expf", (void *)expf, 1}};
    assert_int_equal(hp_jit_define(j, syms, 1, &err), 0);
    assert_int_equal(hp_jit_add_module(j, g.mod, &err), 0);
    predict_fn f = (predict_fn)hp_jit_lookup(j, "q8_predict_with", &err);
    assert_non_null(f);

    long qb, acc_off, bytes = hp_q8_scratch_bytes(&t.m, &qb, &acc_off);
    uint8_t *scratch = malloc((size_t)bytes);
    assert_non_null(scratch);
    enum { N = 4 };
    float x[N * IN], out[N * OUT], ref[OUT];
    hprt_rng r;
    hprt_rng_seed(&r, 11);
    for (int i = 0; i < N * IN; i++) /* beyond the calibrated range too: the bytes saturate */
        x[i] = (float)(hprt_rng_uniform(&r) * 5 - 2.2);
    const hp_q8_layer *L0 = &t.m.layers[0], *L1 = &t.m.layers[1];
    /* n = 4: one full tile; n = 3: one sample at a time; the scratch keeps the last layer's
     * int32 sums and the bytes layer 0 wrote for layer 1 */
    for (int n = N; n >= N - 1; n--) {
        memset(scratch, 0xAB, (size_t)bytes);
        assert_int_equal(f(x, out, (size_t)n, scratch), 0);
        for (int s = 0; s < n; s++) {
            uint8_t q0[IN + 3] = {0}, q1[HID + 2] = {0};
            for (int k = 0; k < IN; k++)
                q0[k] = q_ref(x[s * IN + k], L0->in_inv, L0->in_zero);
            for (int h = 0; h < HID; h++) {
                int32_t a = 0;
                for (int k = 0; k < IN; k++)
                    a += (int32_t)q0[k] * (int32_t)L0->w[h * L0->in_pad + k];
                float y = (float)(a - L0->zsum[h]) * L0->mult[h] + t.b1[h];
                y = y < 0 ? 0.0f : y;
                q1[h] = q_ref(y, L1->in_inv, L1->in_zero);
                if (scratch[qb + s * L1->in_pad + h] != q1[h]) {
                    print_error("isa %s, n %d, sample %d, unit %d: byte %d, reference %d\n", hp_q8_isa_name(isa), n,
                                s, h, scratch[qb + s * L1->in_pad + h], q1[h]);
                    fail();
                }
            }
            for (int o = 0; o < OUT; o++) {
                int32_t a = 0;
                for (int h = 0; h < HID; h++)
                    a += (int32_t)q1[h] * (int32_t)L1->w[o * L1->in_pad + h];
                int32_t got;
                memcpy(&got, scratch + acc_off + 4 * (s * L1->out_pad + o), 4);
                if (got != a) {
                    print_error("isa %s, n %d, sample %d, output %d: int32 sum %d, reference %d\n",
                                hp_q8_isa_name(isa), n, s, o, got, a);
                    fail();
                }
            }
            assert_int_equal(hp_q8_forward_int8(&t.m, x + s * IN, ref), 0);
            double sum = 0;
            for (int o = 0; o < OUT; o++) {
                assert_close(out[s * OUT + o], ref[o], 1e-6);
                sum += out[s * OUT + o];
            }
            assert_close(sum, 1, 1e-5);
        }
    }
    /* NULL pointers with n > 0 */
    assert_int_equal(f(NULL, out, 1, scratch), -1);
    assert_int_equal(f(x, out, 0, scratch), 0);
    free(scratch);
    hp_jit_free(j);
    hp_q8_free(&t.m);
}

static void test_kernels_exact(void **state)
{
    (void)state;
    __builtin_cpu_init();
    check_isa((hp_q8_isa){false, false, false});
    if (__builtin_cpu_supports("avx2"))
        check_isa((hp_q8_isa){false, false, true});
    else
        print_message("no AVX2 here: the AVX2 kernel is not run\n");
    if (__builtin_cpu_supports("avx512bw"))
        check_isa((hp_q8_isa){false, true, true});
    else
        print_message("no AVX-512BW here: its kernel is not run\n");
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
        check_isa((hp_q8_isa){true, true, true});
    else
        print_message("no AVX512_VNNI here: the vpdpbusd kernel is not run\n");
}

static void test_calibration(void **state)
{
    (void)state;
    net t;
    net_init(&t);
    float x[3 * IN];
    for (int i = 0; i < 3 * IN; i++)
        x[i] = (float)(i % 11) * 0.25f - 0.5f; /* -0.5 .. 2 */
    assert_int_equal(hp_q8_calibrate(&t.m, x, 3), 0);
    assert_true(t.m.layers[0].lo == -0.5f && t.m.layers[0].hi == 2.0f);
    assert_true(t.m.layers[1].lo == 0.0f && t.m.layers[1].hi > 0); /* a ReLU's output: zero point 0 */
    assert_int_equal(t.m.layers[1].in_zero, 0);
    assert_int_equal(t.m.calibrated, 3);
    hp_q8_free(&t.m);
}

static void test_isa_of_cpu(void **state)
{
    (void)state;
    hp_q8_isa a = hp_q8_isa_for("znver4", NULL), b = hp_q8_isa_for("x86-64-v3", NULL),
              c = hp_q8_isa_for("x86-64-v2", NULL), d = hp_q8_isa_for("x86-64-v4", NULL),
              e = hp_q8_isa_for("whatever", "+avx2,+avx512bw,+avx512vnni");
    assert_true(a.vnni && a.avx512bw && a.avx2);
    assert_true(!b.vnni && !b.avx512bw && b.avx2);
    assert_true(!c.vnni && !c.avx512bw && !c.avx2);
    assert_true(!d.vnni && d.avx512bw);
    assert_true(e.vnni && e.avx512bw && e.avx2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_per_channel),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_isa_of_cpu),
        cmocka_unit_test(test_kernels_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
