/* test_aot_int8.c - hpc build --quantize int8: the emitted int8 code (JIT
 * compiled for the host, once per kernel ISA the host runs: VNNI vpdpbusd,
 * AVX-512BW, AVX2 and SSE2 pmaddwd) against a plain C reference written here:
 * the int32 sums of a layer and the bytes it requantizes for the next layer
 * equal the reference's exactly, in a full tile and one sample at a time;
 * the probabilities equal hp_q8_forward_int8's (the reference --report uses).
 * The same for a CNN (conv with padding, stride 2 and 3 channels, maxpool,
 * conv, avgpool, dense): conv2's bytes, the avgpool's and the dense sums
 * equal a plain C reference's.  The calibration (a pool joins the range of
 * the layer it feeds), the per-channel weight scales and the ISA of a CPU
 * name. */
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
/* The int8 forward pass of m for isa, JIT-compiled (*j: free it after). */
static predict_fn jit_q8(const hp_q8_model *m, hp_q8_isa isa, hp_jit **j)
{
    cg_error err;
    *j = hp_jit_new(&err);
    assert_non_null(*j);
    ir_target tg = hp_jit_target(*j);
    cg g;
    memset(&g, 0, sizeof g);
    assert_int_equal(cg_module_new(&g, hp_jit_context(*j), "q8", &tg, &err), 0);
    g.threads = 1;
    g.libm_exp = true;
    assert_int_equal(hp_q8_emit(&g, m, isa, "q8_predict_with", LLVMInt64TypeInContext(g.ctx)), 0);
    LLVMDisposeBuilder(g.b);
    assert_int_equal(ir_optimize(g.mod, &tg, &err), 0);
    hp_jit_symbol syms[] = {{"expf", (void *)expf, 1}};
    assert_int_equal(hp_jit_define(*j, syms, 1, &err), 0);
    assert_int_equal(hp_jit_add_module(*j, g.mod, &err), 0);
    predict_fn f = (predict_fn)hp_jit_lookup(*j, "q8_predict_with", &err);
    assert_non_null(f);
    return f;
}

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
    hp_jit *j;
    predict_fn f = jit_q8(&t.m, isa, &j);

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

/* ---- a CNN: conv (padding with a nonzero zero point, stride 2, 3 channels), maxpool, conv, avgpool (3 x 3:
 * the rounding), dense ---- */

enum { C1 = 3, H1 = 9, W1 = 9, F1 = 5, F2 = 6 };         /* conv1 3 -> 5, k 3, stride 2, pad 1: [5, 5, 5] (25 pixels) */
enum { P1 = 5, PM = 4, P2 = 4, PA = 2, CIN = C1 * H1 * W1, DIN = F2 * PA * PA };

typedef struct {
    float w1[F1 * C1 * 9], b1[F1], w2[F2 * F1 * 9], b2[F2], w3[OUT * DIN], b3[OUT];
    hp_q8_model m;
} cnn;

static void cnn_init(cnn *t)
{
    hprt_rng r;
    hprt_rng_seed(&r, 9);
    for (size_t i = 0; i < sizeof t->w1 / sizeof *t->w1; i++)
        t->w1[i] = (float)(hprt_rng_uniform(&r) - 0.5);
    for (size_t i = 0; i < sizeof t->w2 / sizeof *t->w2; i++)
        t->w2[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.5f;
    for (size_t i = 0; i < sizeof t->w3 / sizeof *t->w3; i++)
        t->w3[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.5f;
    for (int i = 0; i < F1; i++)
        t->b1[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.2f;
    for (int i = 0; i < F2; i++)
        t->b2[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.2f;
    for (int i = 0; i < OUT; i++)
        t->b3[i] = (float)(hprt_rng_uniform(&r) - 0.5) * 0.1f;
    memset(&t->m, 0, sizeof t->m);
    t->m.n = 5;
    t->m.features = CIN;
    t->m.classes = OUT;
    t->m.scale = 1;
    t->m.final_softmax = true;
    hp_q8_layer *L = t->m.layers = calloc(5, sizeof *t->m.layers);
    assert_non_null(L);
    assert_int_equal(hp_q8_conv_init(&L[0], C1, H1, W1, F1, 3, 2, 1, t->w1, t->b1), 0); /* linear */
    hp_q8_pool_init(&L[1], HP_Q8_MAXPOOL, F1, P1, P1, 2, 1);
    assert_int_equal(hp_q8_conv_init(&L[2], F1, PM, PM, F2, 3, 1, 1, t->w2, t->b2), 0);
    L[2].acts[L[2].n_acts++] = PLAN_ACT_RELU;
    hp_q8_pool_init(&L[3], HP_Q8_AVGPOOL, F2, P2, P2, 3, 1);
    assert_int_equal(hp_q8_layer_init(&L[4], DIN, OUT, t->w3, t->b3), 0);
    assert_true(L[0].Ho == P1 && L[0].Wo == P1 && L[1].Ho == PM && L[2].Ho == P2 && L[3].Ho == PA);
    assert_int_equal(L[0].in_pad, 28); /* 27 inputs: C not a multiple of 4 */
    hp_q8_set_range(&L[0], -1.5f, 2.0f);
    hp_q8_set_range(&L[1], -2.0f, 3.0f); /* conv1's output, the maxpool and conv2 read one quantization */
    hp_q8_set_range(&L[2], -2.0f, 3.0f);
    hp_q8_set_range(&L[3], 0.0f, 2.5f); /* conv2's (ReLU) output, the avgpool and the dense layer */
    hp_q8_set_range(&L[4], 0.0f, 2.5f);
    assert_true(L[0].in_zero != 0 && L[2].in_zero != 0);
}

/* conv of the bytes x ([C, H, W], zero point z for the padding) with weights w (F x C*k*k, row stride kp):
 * the int32 sums, acc[f][oh][ow] */
static void conv_ref(const uint8_t *x, int C, int H, int W, int z, const int8_t *w, long kp, int F, int k, int s,
                     int pad, int Ho, int Wo, int32_t *acc)
{
    for (int f = 0; f < F; f++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                int32_t a = 0;
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int ih = oh * s + i - pad, iw = ow * s + j - pad;
                            int v = ih < 0 || ih >= H || iw < 0 || iw >= W ? z : x[(c * H + ih) * W + iw];
                            a += v * w[f * kp + (c * k + i) * k + j];
                        }
                acc[(f * Ho + oh) * Wo + ow] = a;
            }
}

/* the bytes of conv L's sums acc (F x P) for the next layer N */
static void requant_ref(const hp_q8_layer *L, const hp_q8_layer *N, const int32_t *acc, long P, bool relu,
                        uint8_t *q)
{
    for (long f = 0; f < L->out; f++)
        for (long p = 0; p < P; p++) {
            float y = (float)(acc[f * P + p] - L->zsum[f]) * L->mult[f] + L->bias[f];
            y = relu && y < 0 ? 0.0f : y;
            q[f * P + p] = q_ref(y, N->in_inv, N->in_zero);
        }
}

static void check_cnn_isa(hp_q8_isa isa)
{
    cnn t;
    cnn_init(&t);
    const hp_q8_layer *L = t.m.layers;
    hp_jit *j;
    predict_fn f = jit_q8(&t.m, isa, &j);

    long qb, acc_off, bytes = hp_q8_scratch_bytes(&t.m, &qb, &acc_off);
    uint8_t *scratch = malloc((size_t)bytes);
    assert_non_null(scratch);
    enum { N = 5 }; /* a full tile of 4 and one more */
    static float x[N * CIN];
    float out[N * OUT], ref[OUT];
    hprt_rng r;
    hprt_rng_seed(&r, 13);
    for (int i = 0; i < N * CIN; i++) /* beyond the calibrated range too: the bytes saturate */
        x[i] = (float)(hprt_rng_uniform(&r) * 4.4 - 2.0);
    for (int n = N; n >= N - 1; n--) {
        memset(scratch, 0xAB, (size_t)bytes);
        assert_int_equal(f(x, out, (size_t)n, scratch), 0);
        /* the scratch keeps the last tile: conv2's bytes at qb, the avgpool's at 0, the dense sums at acc_off */
        int first = n > 4 ? 4 : 0;
        for (int s = 0; s < n; s++) {
            uint8_t q0[CIN], q1[F1 * P1 * P1], qm[F1 * PM * PM], q2[F2 * P2 * P2], qa[DIN];
            int32_t a1[F1 * P1 * P1], a2[F2 * P2 * P2];
            for (int k = 0; k < CIN; k++)
                q0[k] = q_ref(x[s * CIN + k], L[0].in_inv, L[0].in_zero);
            conv_ref(q0, C1, H1, W1, L[0].in_zero, L[0].w, L[0].in_pad, F1, 3, 2, 1, P1, P1, a1);
            requant_ref(&L[0], &L[1], a1, P1 * P1, false, q1);
            for (int c = 0; c < F1; c++) /* maxpool 2, stride 1 */
                for (int i = 0; i < PM; i++)
                    for (int jj = 0; jj < PM; jj++) {
                        const uint8_t *p = q1 + (c * P1 + i) * P1 + jj;
                        uint8_t m = p[0] > p[1] ? p[0] : p[1], m2 = p[P1] > p[P1 + 1] ? p[P1] : p[P1 + 1];
                        qm[(c * PM + i) * PM + jj] = m > m2 ? m : m2;
                    }
            conv_ref(qm, F1, PM, PM, L[2].in_zero, L[2].w, L[2].in_pad, F2, 3, 1, 1, P2, P2, a2);
            requant_ref(&L[2], &L[3], a2, P2 * P2, true, q2);
            for (int c = 0; c < F2; c++) /* avgpool 3, stride 1: (sum + 4) / 9 */
                for (int i = 0; i < PA; i++)
                    for (int jj = 0; jj < PA; jj++) {
                        int sum = 0;
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++)
                                sum += q2[(c * P2 + i + u) * P2 + jj + v];
                        qa[(c * PA + i) * PA + jj] = (uint8_t)((sum + 4) / 9);
                    }
            if (s >= first) { /* in the last tile: the scratch holds its bytes and sums */
                int row = s - first;
                for (int k = 0; k < F2 * P2 * P2; k++)
                    if (scratch[qb + row * L[3].in_stride + k] != q2[k]) {
                        print_error("isa %s, n %d, sample %d: conv2 byte %d is %d, reference %d\n",
                                    hp_q8_isa_name(isa), n, s, k, scratch[qb + row * L[3].in_stride + k], q2[k]);
                        fail();
                    }
                for (int k = 0; k < DIN; k++)
                    if (scratch[row * L[4].in_stride + k] != qa[k]) {
                        print_error("isa %s, n %d, sample %d: avgpool byte %d is %d, reference %d\n",
                                    hp_q8_isa_name(isa), n, s, k, scratch[row * L[4].in_stride + k], qa[k]);
                        fail();
                    }
                for (int o = 0; o < OUT; o++) {
                    int32_t a = 0, got;
                    for (int k = 0; k < DIN; k++)
                        a += (int32_t)qa[k] * (int32_t)L[4].w[o * L[4].in_pad + k];
                    memcpy(&got, scratch + acc_off + 4 * (row * L[4].out_pad + o), 4);
                    if (got != a) {
                        print_error("isa %s, n %d, sample %d, output %d: int32 sum %d, reference %d\n",
                                    hp_q8_isa_name(isa), n, s, o, got, a);
                        fail();
                    }
                }
            }
            assert_int_equal(hp_q8_forward_int8(&t.m, x + s * CIN, ref), 0);
            for (int o = 0; o < OUT; o++)
                assert_close(out[s * OUT + o], ref[o], 1e-6);
        }
    }
    free(scratch);
    hp_jit_free(j);
    hp_q8_free(&t.m);
}

static void test_conv_exact(void **state)
{
    (void)state;
    __builtin_cpu_init();
    check_cnn_isa((hp_q8_isa){false, false, false});
    if (__builtin_cpu_supports("avx2"))
        check_cnn_isa((hp_q8_isa){false, false, true});
    if (__builtin_cpu_supports("avx512bw"))
        check_cnn_isa((hp_q8_isa){false, true, true});
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
        check_cnn_isa((hp_q8_isa){true, true, true});
}

/* A pool's bytes share the quantization of the layer its output reaches: calibration joins their ranges. */
static void test_cnn_calibration(void **state)
{
    (void)state;
    cnn t;
    cnn_init(&t);
    static float x[2 * CIN];
    for (int i = 0; i < 2 * CIN; i++)
        x[i] = (float)(i % 13) * 0.25f - 1.0f; /* -1 .. 2 */
    assert_int_equal(hp_q8_calibrate(&t.m, x, 2), 0);
    const hp_q8_layer *L = t.m.layers;
    assert_true(L[0].lo == -1.0f && L[0].hi == 2.0f);
    assert_true(L[1].lo == L[2].lo && L[1].hi == L[2].hi && L[1].in_zero == L[2].in_zero && L[1].lo < 0);
    assert_true(L[3].lo == 0.0f && L[3].hi == L[4].hi && L[3].in_zero == 0 && L[4].in_zero == 0);
    hp_q8_free(&t.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_per_channel),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_isa_of_cpu),
        cmocka_unit_test(test_kernels_exact),
        cmocka_unit_test(test_conv_exact),
        cmocka_unit_test(test_cnn_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
