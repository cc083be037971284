/* test_rt_layers.c - the reference layers, losses, BLAS wrapper and
 * initialisation.
 *
 * Gradients are checked against central finite differences of a small
 * double-precision forward written here from the textbook definitions: the
 * inputs are the library's float inputs widened to double, the objective is
 * L = Σ r·y with fixed random r (so dL/dy = r is what the backward receives),
 * and h = 1e-4 in double makes the difference accurate to ~1e-8.  The float
 * forward is checked against the same double forward.  Shapes are chosen not
 * to be multiples of 8.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"

/* ---- helpers ---------------------------------------------------------------------- */

#define FWD_RTOL 1e-5
#define FWD_ATOL 1e-6

/* Uniform in [lo, hi), but never within `gap` of zero (keeps relu's kink
 * farther than TU_FD_H from every input). */
static void rand_fill(hprt_rng *r, float *x, size_t n, double lo, double hi, double gap)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        do
            v = lo + (hi - lo) * hprt_rng_uniform(r);
        while (fabs(v) < gap);
        x[i] = (float)v;
    }
}

static void check_forward(const float *y, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_close_abs(y[i], want[i], FWD_RTOL, FWD_ATOL);
}

/* ---- hprt_gemm --------------------------------------------------------------------- */

static void gemm_case(bool ta, bool tb, int M, int N, int K, float alpha, float beta)
{
    hprt_rng r;
    hprt_rng_seed(&r, 7);
    /* stored shapes, each with 3 columns of padding to exercise ld */
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int lda = ac + 3, ldb = bc + 3, ldc = N + 3;
    float *A = tu_fnew((size_t)ar * lda), *B = tu_fnew((size_t)br * ldb), *C = tu_fnew((size_t)M * ldc);
    rand_fill(&r, A, (size_t)ar * lda, -1, 1, 0);
    rand_fill(&r, B, (size_t)br * ldb, -1, 1, 0);
    rand_fill(&r, C, (size_t)M * ldc, -1, 1, 0);
    double *want = malloc((size_t)M * N * sizeof *want);
    assert_non_null(want);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            want[(size_t)i * N + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * C[(size_t)i * ldc + j]);
        }
    if (beta == 0.0f) /* beta = 0 must ignore C, even NaN */
        for (size_t i = 0; i < (size_t)M * ldc; i++)
            C[i] = NAN;
    float pad = C[N];
    hprt_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            assert_close_abs(C[(size_t)i * ldc + j], want[(size_t)i * N + j], 1e-5, 1e-5);
    /* the padding column of C is not touched */
    assert_memory_equal(&C[N], &pad, sizeof pad);
    free(A), free(B), free(C), free(want);
}

static void test_gemm(void **state)
{
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(ta, tb, 5, 7, 11, 1.0f, 0.0f);
            gemm_case(ta, tb, 13, 3, 9, 0.5f, 2.0f);
        }
    hprt_blas_set_threads(1);
}

/* ---- dense ------------------------------------------------------------------------- */

typedef struct {
    int B, in, out;
    double *X, *W, *b, *R, *Y;
} dense_ctx;

static void dense_d(dense_ctx *c)
{
    for (int r = 0; r < c->B; r++)
        for (int j = 0; j < c->out; j++) {
            double s = c->b[j];
            for (int i = 0; i < c->in; i++)
                s += c->X[(size_t)r * c->in + i] * c->W[(size_t)j * c->in + i];
            c->Y[(size_t)r * c->out + j] = s;
        }
}

static double dense_obj(void *v)
{
    dense_ctx *c = v;
    dense_d(c);
    return tu_dot(c->R, c->Y, (size_t)c->B * c->out);
}

static void dense_case(int B, int in, int out)
{
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(B * 1000 + in * 10 + out));
    size_t nx = (size_t)B * in, nw = (size_t)out * in, ny = (size_t)B * out;
    float *X = tu_fnew(nx), *W = tu_fnew(nw), *b = tu_fnew(out), *dY = tu_fnew(ny), *Y = tu_fnew(ny);
    float *dX = tu_fnew(nx), *dW = tu_fnew(nw), *db = tu_fnew(out);
    rand_fill(&r, X, nx, -1, 1, 0);
    rand_fill(&r, W, nw, -1, 1, 0);
    rand_fill(&r, b, out, -1, 1, 0);
    rand_fill(&r, dY, ny, -1, 1, 0);
    tu_poison(Y, ny), tu_poison(dX, nx), tu_poison(dW, nw), tu_poison(db, out);

    hprt_dense_forward(X, W, b, Y, B, in, out);
    hprt_dense_backward(X, W, dY, dX, dW, db, B, in, out);

    dense_ctx c = {B, in, out, tu_to_double(X, nx), tu_to_double(W, nw), tu_to_double(b, out),
                   tu_to_double(dY, ny), tu_to_double(Y, ny)};
    dense_d(&c);
    check_forward(Y, c.Y, ny);
    tu_check_grad(dense_obj, &c, c.X, nx, dX);
    tu_check_grad(dense_obj, &c, c.W, nw, dW);
    tu_check_grad(dense_obj, &c, c.b, out, db);

    /* without a bias; without dX (the first layer) */
    hprt_dense_forward(X, W, NULL, Y, B, in, out);
    for (int j = 0; j < out; j++)
        c.b[j] = 0.0;
    dense_d(&c);
    check_forward(Y, c.Y, ny);
    float *dW2 = tu_fnew(nw);
    hprt_dense_backward(X, W, dY, NULL, dW2, NULL, B, in, out);
    assert_memory_equal(dW, dW2, nw * sizeof *dW);

    free(X), free(W), free(b), free(dY), free(Y), free(dX), free(dW), free(db), free(dW2);
    free(c.X), free(c.W), free(c.b), free(c.R), free(c.Y);
}

static void test_dense(void **state)
{
    (void)state;
    dense_case(5, 7, 3);
    dense_case(13, 37, 11);
    dense_case(1, 1, 1);
}

/* ---- activations ------------------------------------------------------------------- */

typedef struct {
    hprt_act kind;
    int rows, cols;
    double *X, *R, *Y;
} act_ctx;

static double act1(hprt_act kind, double x)
{
    switch (kind) {
    case HPRT_ACT_RELU: return x > 0 ? x : 0;
    case HPRT_ACT_TANH: return tanh(x);
    case HPRT_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case HPRT_ACT_GELU: return x * 0.5 * erfc(-x / sqrt(2.0)); /* x·Φ(x) */
    default: return x;
    }
}

static void act_d(act_ctx *c)
{
    for (int r = 0; r < c->rows; r++) {
        const double *x = c->X + (size_t)r * c->cols;
        double *y = c->Y + (size_t)r * c->cols;
        if (c->kind != HPRT_ACT_SOFTMAX) {
            for (int j = 0; j < c->cols; j++)
                y[j] = act1(c->kind, x[j]);
            continue;
        }
        double s = 0.0; /* the inputs are small: no max needed here */
        for (int j = 0; j < c->cols; j++)
            s += exp(x[j]);
        for (int j = 0; j < c->cols; j++)
            y[j] = exp(x[j]) / s;
    }
}

static double act_obj(void *v)
{
    act_ctx *c = v;
    act_d(c);
    return tu_dot(c->R, c->Y, (size_t)c->rows * c->cols);
}

/* The direct entry points, to check they agree with the dispatcher. */
static void act_direct_backward(hprt_act kind, const float *x, const float *y,
                                const float *dy, float *dx, int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    switch (kind) {
    case HPRT_ACT_RELU: hprt_relu_backward(y, dy, dx, n); break;
    case HPRT_ACT_TANH: hprt_tanh_backward(y, dy, dx, n); break;
    case HPRT_ACT_SIGMOID: hprt_sigmoid_backward(y, dy, dx, n); break;
    case HPRT_ACT_GELU: hprt_gelu_backward(x, dy, dx, n); break;
    case HPRT_ACT_SOFTMAX: hprt_softmax_backward(y, dy, dx, rows, cols); break;
    default: memcpy(dx, dy, n * sizeof *dx); break;
    }
}

static void act_case(hprt_act kind, int rows, int cols)
{
    hprt_rng r;
    hprt_rng_seed(&r, 100 + (uint64_t)kind);
    size_t n = (size_t)rows * cols;
    float *X = tu_fnew(n), *Y = tu_fnew(n), *dY = tu_fnew(n), *dX = tu_fnew(n), *dX2 = tu_fnew(n), *T = tu_fnew(n);
    rand_fill(&r, X, n, -3, 3, 0.01);
    rand_fill(&r, dY, n, -1, 1, 0);

    hprt_act_forward(kind, X, Y, rows, cols);
    hprt_act_backward(kind, X, Y, dY, dX, rows, cols);
    act_direct_backward(kind, X, Y, dY, dX2, rows, cols);
    assert_memory_equal(dX, dX2, n * sizeof *dX);

    act_ctx c = {kind, rows, cols, tu_to_double(X, n), tu_to_double(dY, n), tu_to_double(X, n)};
    act_d(&c);
    check_forward(Y, c.Y, n);
    tu_check_grad(act_obj, &c, c.X, n, dX);

    /* in place: y == x, dx == dy */
    memcpy(T, X, n * sizeof *T);
    hprt_act_forward(kind, T, T, rows, cols);
    assert_memory_equal(T, Y, n * sizeof *T);
    memcpy(T, dY, n * sizeof *T);
    hprt_act_backward(kind, X, Y, T, T, rows, cols);
    assert_memory_equal(T, dX, n * sizeof *T);

    free(X), free(Y), free(dY), free(dX), free(dX2), free(T);
    free(c.X), free(c.R), free(c.Y);
}

static void test_activations(void **state)
{
    (void)state;
    const hprt_act kinds[] = {HPRT_ACT_NONE, HPRT_ACT_RELU, HPRT_ACT_TANH,
                              HPRT_ACT_SIGMOID, HPRT_ACT_GELU, HPRT_ACT_SOFTMAX};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        act_case(kinds[k], 3, 7);
        act_case(kinds[k], 1, 13);
    }
}

/* Known values, and the edges that must not produce NaN. */
static void test_activation_values(void **state)
{
    (void)state;
    float x[5] = {-1.0f, 0.0f, 1.0f, 100.0f, -100.0f}, y[5];
    hprt_gelu_forward(x, y, 3);
    assert_close(y[0], -0.15865525393145707, 1e-6); /* torch.nn.functional.gelu(-1) */
    assert_true(y[1] == 0.0f);
    assert_close(y[2], 0.8413447460685429, 1e-6);
    hprt_sigmoid_forward(x, y, 5);
    assert_true(y[3] == 1.0f && y[4] >= 0.0f && y[4] < 1e-30f);
    hprt_relu_forward(x, y, 5);
    assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 1.0f);
    float nan_in = NAN, nan_out;
    hprt_relu_forward(&nan_in, &nan_out, 1);
    assert_true(isnan(nan_out)); /* a NaN must not be hidden by relu */

    /* softmax: huge logits do not overflow; rows sum to 1 */
    float z[6] = {1000.0f, 1001.0f, 1002.0f, -5.0f, 0.0f, 5.0f}, p[6];
    hprt_softmax_forward(z, p, 2, 3);
    assert_close(p[0], 0.09003057317038046, 1e-6);
    assert_close(p[2], 0.6652409557748219, 1e-6);
    assert_close((double)p[3] + p[4] + p[5], 1.0, 1e-6);
}

/* ---- dropout -------------------------------------------------------------------------- */

static void test_dropout_threshold(void **state)
{
    (void)state;
    assert_int_equal(hprt_dropout_threshold(0.0f), 0);
    assert_int_equal(hprt_dropout_threshold(0.5f), 0x80000000u);
    assert_int_equal(hprt_dropout_threshold(0.25f), 0x40000000u);
    assert_int_equal(hprt_dropout_threshold(1e-10f), 1); /* ceil, not floor */
    /* the integer test is exactly hash/2^32 >= p, for every p and hash */
    hprt_rng r;
    hprt_rng_seed(&r, 3);
    const float ps[] = {0.0f, 0.1f, 0.2f, 0.25f, 0.3f, 0.5f, 0.7f, 0.9f, 0.99f, 1e-7f};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        uint32_t thr = hprt_dropout_threshold(ps[k]);
        /* on both sides of the threshold, and at random */
        const uint32_t edge[3] = {thr, thr - 1, thr + 1};
        for (int e = 0; e < 3; e++)
            assert_int_equal(edge[e] >= thr, (double)edge[e] / 4294967296.0 >= (double)ps[k]);
        for (int i = 0; i < 1000; i++) {
            uint64_t key = hprt_rng_next(&r), idx = hprt_rng_next(&r);
            uint32_t h = hprt_hash_u32(key, idx);
            assert_int_equal(hprt_dropout_keep(key, idx, ps[k]),
                             (double)h / 4294967296.0 >= (double)ps[k]);
        }
    }
}

static void test_dropout_mask(void **state)
{
    (void)state;
    enum { N = 100003 };
    const float p = 0.3f;
    uint64_t key = hprt_dropout_key(42, 7, 2);
    /* deterministic, and different for another step, layer or seed */
    assert_true(key == hprt_dropout_key(42, 7, 2));
    assert_true(key != hprt_dropout_key(42, 8, 2));
    assert_true(key != hprt_dropout_key(42, 7, 3));
    assert_true(key != hprt_dropout_key(43, 7, 2));
    assert_true(hprt_dropout_key(0, 1, 0) != hprt_dropout_key(0, 0, 1));

    float *x = tu_fnew(N), *y = tu_fnew(N), *y2 = tu_fnew(N);
    for (int i = 0; i < N; i++)
        x[i] = 1.0f + (float)(i % 17);
    hprt_dropout_forward(x, y, N, p, key, 0);
    const float scale = 1.0f / (1.0f - p);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        bool keep = hprt_dropout_keep(key, (uint64_t)i, p);
        kept += keep;
        assert_true(y[i] == (keep ? x[i] * scale : 0.0f));
    }
    /* 70% kept, within 4.5 standard deviations (σ ≈ 145) */
    assert_true(fabs(kept - 0.7 * N) < 650);

    /* a partition computed with its index0 is the same slice of the mask */
    const size_t cut = 40001;
    hprt_dropout_forward(x, y2, cut, p, key, 0);
    hprt_dropout_forward(x + cut, y2 + cut, N - cut, p, key, cut);
    assert_memory_equal(y, y2, N * sizeof *y);

    /* p = 0 is the identity */
    hprt_dropout_forward(x, y2, N, 0.0f, key, 0);
    assert_memory_equal(x, y2, N * sizeof *x);
    free(x), free(y), free(y2);
}

typedef struct {
    size_t n;
    float p;
    uint64_t key, index0;
    double *X, *R;
} dropout_ctx;

static double dropout_obj(void *v)
{
    dropout_ctx *c = v;
    double scale = 1.0f / (1.0f - c->p), s = 0.0;
    for (size_t i = 0; i < c->n; i++)
        if (hprt_dropout_keep(c->key, c->index0 + i, c->p))
            s += c->R[i] * c->X[i] * scale;
    return s;
}

static void test_dropout_grad(void **state)
{
    (void)state;
    enum { N = 29 };
    hprt_rng r;
    hprt_rng_seed(&r, 5);
    float x[N], dy[N], y[N], dx[N];
    rand_fill(&r, x, N, -2, 2, 0);
    rand_fill(&r, dy, N, -1, 1, 0);
    dropout_ctx c = {N, 0.4f, hprt_dropout_key(1, 2, 3), 1000, tu_to_double(x, N), tu_to_double(dy, N)};
    hprt_dropout_forward(x, y, N, c.p, c.key, c.index0);
    hprt_dropout_backward(dy, dx, N, c.p, c.key, c.index0);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        dropped += y[i] == 0.0f;
        /* forward and backward use the same mask */
        assert_int_equal(y[i] == 0.0f, dx[i] == 0.0f);
    }
    assert_true(dropped > 0 && dropped < N);
    tu_check_grad(dropout_obj, &c, c.X, N, dx);
    /* in place */
    hprt_dropout_backward(dy, dy, N, c.p, c.key, c.index0);
    assert_memory_equal(dy, dx, sizeof dx);
    free(c.X), free(c.R);
}

/* ---- losses -------------------------------------------------------------------------- */

typedef struct {
    int B, K;
    double *Z;
    const int32_t *labels;
} ce_ctx;

static double ce_obj(void *v)
{
    ce_ctx *c = v;
    double total = 0.0;
    for (int b = 0; b < c->B; b++) {
        const double *z = c->Z + (size_t)b * c->K;
        double s = 0.0;
        for (int j = 0; j < c->K; j++)
            s += exp(z[j]);
        total += log(s) - z[c->labels[b]];
    }
    return total / c->B;
}

static void test_softmax_xent_known(void **state)
{
    (void)state;
    /* hand-computed: logsumexp([1,2,3]) − 3 and logsumexp(row 2) − 0.5 */
    const float z[7] = {1.0f, 2.0f, 3.0f, 0.5f, -1.25f, 2.0f, 0.0f};
    float d[7];
    const int32_t y2[1] = {0};
    const int32_t y1[1] = {2};
    assert_close(hprt_softmax_xent(z, y1, 1, 3, NULL), 0.4076059644443806, 1e-12);
    assert_close(hprt_softmax_xent(z + 3, y2, 1, 4, d), 1.8344986126036624, 1e-12);
    const double p2[4] = {0.15969355003210822, 0.027750577932680404, 0.7156968377823844,
                          0.09685903425282703};
    assert_close(d[0], p2[0] - 1.0, 1e-6);
    for (int j = 1; j < 4; j++)
        assert_close(d[j], p2[j], 1e-6);

    /* a batch of two rows with K = 3: the mean, and gradients / B */
    const float zz[6] = {1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 0.0f};
    const int32_t yy[2] = {2, 1};
    double want = (0.4076059644443806 + log(3.0)) / 2;
    assert_close(hprt_softmax_xent(zz, yy, 2, 3, d), want, 1e-12);
    assert_close(d[0], 0.09003057317038046 / 2, 1e-6);
    assert_close(d[1], 0.24472847105479767 / 2, 1e-6);
    assert_close(d[2], (0.6652409557748219 - 1.0) / 2, 1e-6);
    assert_close(d[4], (1.0 / 3 - 1.0) / 2, 1e-6);

    /* very confident and wrong: finite */
    const float big[2] = {1000.0f, -1000.0f};
    const int32_t wrong[1] = {1};
    assert_close(hprt_softmax_xent(big, wrong, 1, 2, d), 2000.0, 1e-12);
    assert_true(d[0] == 1.0f && d[1] == -1.0f);

    /* a bad label: NaN, not a crash */
    const int32_t bad[1] = {3};
    assert_true(isnan(hprt_softmax_xent(z, bad, 1, 3, d)));
}

static void test_softmax_xent_grad(void **state)
{
    (void)state;
    enum { B = 5, K = 11 };
    hprt_rng r;
    hprt_rng_seed(&r, 11);
    float z[B * K], d[B * K];
    int32_t y[B] = {0, 10, 3, 3, 7};
    rand_fill(&r, z, B * K, -3, 3, 0);
    tu_poison(d, B * K);
    ce_ctx c = {B, K, tu_to_double(z, B * K), y};
    assert_close(hprt_softmax_xent(z, y, B, K, d), ce_obj(&c), 1e-12);
    tu_check_grad(ce_obj, &c, c.Z, B * K, d);
    free(c.Z);
}

typedef struct {
    size_t n;
    double *Y, *T;
} mse_ctx;

static double mse_obj(void *v)
{
    mse_ctx *c = v;
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++)
        s += (c->Y[i] - c->T[i]) * (c->Y[i] - c->T[i]);
    return s / c->n;
}

static void test_mse(void **state)
{
    (void)state;
    enum { B = 3, K = 7, N = B * K };
    hprt_rng r;
    hprt_rng_seed(&r, 13);
    float y[N], t[N], d[N], d2[N];
    rand_fill(&r, y, N, -1, 1, 0);
    rand_fill(&r, t, N, -1, 1, 0);
    mse_ctx c = {N, tu_to_double(y, N), tu_to_double(t, N)};
    tu_poison(d, N);
    assert_close(hprt_mse(y, t, N, d), mse_obj(&c), 1e-12);
    tu_check_grad(mse_obj, &c, c.Y, N, d);

    /* known: y = (1, 2), t = (0, 0): (1 + 4)/2, grads 2·(1, 2)/2 */
    const float a[2] = {1.0f, 2.0f}, zero[2] = {0.0f, 0.0f};
    float da[2];
    assert_close(hprt_mse(a, zero, 2, da), 2.5, 1e-15);
    assert_true(da[0] == 1.0f && da[1] == 2.0f);

    /* one-hot targets from labels equal the float-target version */
    const int32_t labels[B] = {6, 0, 3};
    for (int b = 0; b < B; b++)
        for (int j = 0; j < K; j++)
            t[b * K + j] = j == labels[b] ? 1.0f : 0.0f;
    double l1 = hprt_mse(y, t, N, d);
    double l2 = hprt_mse_onehot(y, labels, B, K, d2);
    assert_close(l2, l1, 1e-15);
    assert_memory_equal(d, d2, sizeof d);
    const int32_t bad[B] = {6, 7, 3};
    assert_true(isnan(hprt_mse_onehot(y, bad, B, K, d2)));
    free(c.Y), free(c.T);
}

static void test_accuracy(void **state)
{
    (void)state;
    const float s[12] = {0.1f, 0.7f, 0.2f,   /* argmax 1 */
                         0.5f, 0.5f, 0.0f,   /* tie: the first, 0 */
                         -3.0f, -1.0f, -2.0f,/* 1 */
                         0.0f, 0.0f, 9.0f};  /* 2 */
    const int32_t y[4] = {1, 1, 1, 0};
    assert_int_equal(hprt_accuracy_count(s, y, 4, 3), 2);
    const int32_t y2[4] = {1, 0, 1, 2};
    assert_int_equal(hprt_accuracy_count(s, y2, 4, 3), 4);
}

/* ---- convolution ----------------------------------------------------------------------- */

typedef struct {
    hprt_conv2d_geom g;
    int B;
    double *X, *W, *b, *R, *Y;
} conv_ctx;

static void conv_d(conv_ctx *c)
{
    const hprt_conv2d_geom *g = &c->g;
    for (int n = 0; n < c->B; n++)
        for (int f = 0; f < g->F; f++)
            for (int oy = 0; oy < g->Ho; oy++)
                for (int ox = 0; ox < g->Wo; ox++) {
                    double s = c->b[f];
                    for (int ch = 0; ch < g->C; ch++)
                        for (int ky = 0; ky < g->k; ky++)
                            for (int kx = 0; kx < g->k; kx++) {
                                int iy = oy * g->stride + ky - g->pad, ix = ox * g->stride + kx - g->pad;
                                if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W)
                                    continue;
                                s += c->W[((f * g->C + ch) * g->k + ky) * g->k + kx] *
                                     c->X[(((size_t)n * g->C + ch) * g->H + iy) * g->W + ix];
                            }
                    c->Y[(((size_t)n * g->F + f) * g->Ho + oy) * g->Wo + ox] = s;
                }
}

static double conv_obj(void *v)
{
    conv_ctx *c = v;
    conv_d(c);
    return tu_dot(c->R, c->Y, (size_t)c->B * c->g.F * c->g.Ho * c->g.Wo);
}

static void conv_case(int B, int C, int H, int W, int F, int k, int stride, int lo, int hi)
{
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, k, stride, lo, hi);
    assert_true(g.Ho > 0 && g.Wo > 0);
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(H * 100 + k * 10 + stride));
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)B * F * g.Ho * g.Wo;
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew(F), *Y = tu_fnew(ny), *dY = tu_fnew(ny);
    float *dX = tu_fnew(nx), *dW = tu_fnew(nw), *db = tu_fnew(F);
    rand_fill(&r, X, nx, -1, 1, 0);
    rand_fill(&r, Wt, nw, -1, 1, 0);
    rand_fill(&r, b, F, -1, 1, 0);
    rand_fill(&r, dY, ny, -1, 1, 0);
    tu_poison(Y, ny), tu_poison(dX, nx), tu_poison(dW, nw), tu_poison(db, F);

    hprt_conv2d_forward(&g, X, Wt, b, Y, B);
    hprt_conv2d_backward(&g, X, Wt, dY, dX, dW, db, B);

    conv_ctx c = {g, B, tu_to_double(X, nx), tu_to_double(Wt, nw), tu_to_double(b, F), tu_to_double(dY, ny),
                  tu_to_double(Y, ny)};
    conv_d(&c);
    check_forward(Y, c.Y, ny);
    tu_check_grad(conv_obj, &c, c.X, nx, dX);
    tu_check_grad(conv_obj, &c, c.W, nw, dW);
    tu_check_grad(conv_obj, &c, c.b, F, db);

    free(X), free(Wt), free(b), free(Y), free(dY), free(dX), free(dW), free(db);
    free(c.X), free(c.W), free(c.b), free(c.R), free(c.Y);
}

static void test_conv(void **state)
{
    (void)state;
    conv_case(2, 3, 7, 6, 5, 3, 1, 1, 1); /* pad = same */
    conv_case(2, 2, 9, 7, 3, 3, 2, 1, 1); /* strided, padded */
    conv_case(1, 3, 5, 6, 2, 2, 1, 0, 1); /* even kernel, same: asymmetric pad */
    conv_case(3, 1, 5, 5, 4, 5, 1, 0, 0); /* valid, kernel = image */
    conv_case(2, 2, 11, 9, 3, 3, 3, 0, 0);/* stride 3, valid */
}

/* A hand-computed example: 1×3×3 input 1..9, one 2×2 kernel [[1,0],[0,-1]],
 * bias 0.5, valid: y = x[i][j] − x[i+1][j+1] + 0.5 = −4 + 0.5 everywhere. */
static void test_conv_known(void **state)
{
    (void)state;
    hprt_conv2d_geom g = hprt_conv2d_geom_make(1, 3, 3, 1, 2, 1, 0, 0);
    assert_int_equal(g.Ho, 2);
    assert_int_equal(g.Wo, 2);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, -1}, b[1] = {0.5f};
    float y[4];
    hprt_conv2d_forward(&g, x, w, b, y, 1);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == -3.5f);
    /* pad 1, same: the corner (0,0) sees only x[0][0]·(−1) at kernel (1,1) */
    g = hprt_conv2d_geom_make(1, 3, 3, 1, 2, 1, 1, 0);
    assert_int_equal(g.Ho, 3);
    float y3[9];
    hprt_conv2d_forward(&g, x, w, NULL, y3, 1);
    assert_true(y3[0] == -1.0f);
    assert_true(y3[4] == 1.0f - 5.0f);
    /* geometry: kernel larger than the padded image */
    g = hprt_conv2d_geom_make(1, 2, 2, 1, 5, 1, 1, 1);
    assert_true(g.Ho <= 0);
}

/* ---- convolution, fast path (im2col + GEMM) ------------------------------------------------ */

#define FAST_RTOL 1e-4

/* Elementwise |a − ref| <= 1e-4·|ref| + 1e-5·max|ref|: relative, with a floor
 * for elements that cancel to near zero (float vs double accumulation). */
static void check_fast(const float *a, const float *ref, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(ref[i]));
    for (size_t i = 0; i < n; i++)
        assert_close_abs(a[i], ref[i], FAST_RTOL, 1e-5 * m + 1e-30);
}

/* scratch of exactly hprt_conv2d_scratch floats (so ASan sees an overrun),
 * poisoned: its contents on entry must not matter */
static float *scratch_new(const hprt_conv2d_geom *g)
{
    size_t n = hprt_conv2d_scratch(g);
    size_t want = hprt_conv2d_wino_pays(g) ? hprt_conv2d_wino_scratch(g)
                                           : (size_t)g->C * g->k * g->k * g->Ho * g->Wo; /* im2col */
    assert_int_equal(n, want);
    float *s = tu_fnew(n);
    tu_poison(s, n);
    return s;
}

/* Fast forward/backward against the reference on one geometry, with and
 * without the optional outputs. */
static void conv_fast_case(int B, int C, int H, int W, int F, int k, int stride, int lo, int hi)
{
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, k, stride, lo, hi);
    assert_true(g.Ho > 0 && g.Wo > 0);
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(B * 1000 + H * 100 + k * 10 + stride + F));
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)B * F * g.Ho * g.Wo;
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew(F), *dY = tu_fnew(ny);
    float *Y0 = tu_fnew(ny), *dX0 = tu_fnew(nx), *dW0 = tu_fnew(nw), *db0 = tu_fnew(F);
    float *Y1 = tu_fnew(ny), *dX1 = tu_fnew(nx), *dW1 = tu_fnew(nw), *db1 = tu_fnew(F);
    float *S = scratch_new(&g);
    rand_fill(&r, X, nx, -1, 1, 0);
    rand_fill(&r, Wt, nw, -1, 1, 0);
    rand_fill(&r, b, F, -1, 1, 0);
    rand_fill(&r, dY, ny, -1, 1, 0);

    hprt_conv2d_forward(&g, X, Wt, b, Y0, B);
    hprt_conv2d_backward(&g, X, Wt, dY, dX0, dW0, db0, B);

    tu_poison(Y1, ny), tu_poison(dX1, nx), tu_poison(dW1, nw), tu_poison(db1, F);
    hprt_conv2d_forward_fast(&g, X, Wt, b, Y1, B, S);
    check_fast(Y1, Y0, ny);
    tu_poison(S, hprt_conv2d_scratch(&g));
    hprt_conv2d_backward_fast(&g, X, Wt, dY, dX1, dW1, db1, B, S);
    check_fast(dX1, dX0, nx);
    check_fast(dW1, dW0, nw);
    check_fast(db1, db0, F);

    /* no bias; the optional gradients skipped one at a time */
    hprt_conv2d_forward(&g, X, Wt, NULL, Y0, B);
    tu_poison(Y1, ny);
    hprt_conv2d_forward_fast(&g, X, Wt, NULL, Y1, B, S);
    check_fast(Y1, Y0, ny);
    tu_poison(dW1, nw), tu_poison(db1, F);
    hprt_conv2d_backward_fast(&g, X, Wt, dY, NULL, dW1, db1, B, S);
    check_fast(dW1, dW0, nw);
    check_fast(db1, db0, F);
    tu_poison(dX1, nx), tu_poison(dW1, nw);
    hprt_conv2d_backward_fast(&g, X, Wt, dY, dX1, dW1, NULL, B, S);
    check_fast(dX1, dX0, nx);
    check_fast(dW1, dW0, nw);
    tu_poison(dX1, nx);
    hprt_conv2d_backward_fast(&g, X, Wt, dY, dX1, NULL, NULL, B, S);
    check_fast(dX1, dX0, nx);

    free(X), free(Wt), free(b), free(dY), free(S);
    free(Y0), free(dX0), free(dW0), free(db0), free(Y1), free(dX1), free(dW1), free(db1);
}

static void test_conv_fast_vs_reference(void **state)
{
    (void)state;
    /*             B  C   H   W  F  k  s lo hi */
    conv_fast_case(3, 3, 13, 11, 5, 3, 1, 1, 1); /* same */
    conv_fast_case(1, 1, 10, 9, 1, 3, 2, 1, 1);  /* strided, padded */
    conv_fast_case(3, 3, 7, 6, 5, 2, 1, 0, 1);   /* even kernel, same: asymmetric pad */
    conv_fast_case(1, 3, 12, 9, 5, 4, 1, 1, 2);  /* k = 4, same */
    conv_fast_case(3, 1, 11, 13, 5, 3, 2, 0, 0); /* valid, stride 2 */
    conv_fast_case(1, 3, 10, 10, 5, 4, 2, 1, 1); /* even kernel, stride 2 */
    conv_fast_case(2, 3, 5, 5, 1, 5, 1, 0, 0);   /* valid, kernel = image */
    conv_fast_case(2, 2, 11, 9, 3, 3, 3, 0, 0);  /* stride 3 */
    conv_fast_case(3, 3, 6, 7, 5, 3, 2, 2, 2);   /* pad 2 */
    conv_fast_case(1, 2, 4, 5, 2, 3, 1, 3, 3);   /* pad = k: all-zero border outputs */
    conv_fast_case(2, 3, 9, 7, 5, 1, 1, 0, 0);   /* 1×1: im2col is the identity */
    conv_fast_case(2, 3, 9, 7, 5, 1, 2, 0, 0);   /* 1×1 strided */
    conv_fast_case(1, 3, 9, 7, 5, 1, 1, 0, 1);   /* 1×1 with padding below/right */
    conv_fast_case(3, 5, 15, 15, 7, 3, 1, 1, 1); /* a few more channels */
    conv_fast_case(2, 32, 14, 14, 9, 3, 1, 1, 1);/* wide input, as the CNN's second layer */
    /* one input channel, stride 1 */
    conv_fast_case(3, 1, 28, 28, 32, 3, 1, 1, 1);/* the CNN's first layer */
    conv_fast_case(2, 1, 5, 9, 17, 3, 1, 0, 0);  /* valid, odd sizes, 17 filters */
    conv_fast_case(2, 1, 7, 6, 3, 2, 1, 0, 1);   /* even kernel, asymmetric pad */
    conv_fast_case(1, 1, 4, 5, 2, 3, 1, 2, 2);   /* pad 2 */
    /* 16 channels both ways, 3×3 stride 1: Winograd (conv_wino.c) */
    conv_fast_case(3, 16, 9, 7, 16, 3, 1, 1, 1);
    conv_fast_case(5, 24, 6, 5, 20, 3, 1, 0, 0);
}

/* Central differences of the same double objective as test_conv, against the
 * fast backward's gradients; and the fast forward against the double one. */
static void conv_fast_grad_case(int B, int C, int H, int W, int F, int k, int stride, int lo, int hi)
{
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, k, stride, lo, hi);
    assert_true(g.Ho > 0 && g.Wo > 0);
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(H * 100 + k * 10 + stride + 7));
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)B * F * g.Ho * g.Wo;
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew(F), *Y = tu_fnew(ny), *dY = tu_fnew(ny);
    float *dX = tu_fnew(nx), *dW = tu_fnew(nw), *db = tu_fnew(F);
    float *S = scratch_new(&g);
    rand_fill(&r, X, nx, -1, 1, 0);
    rand_fill(&r, Wt, nw, -1, 1, 0);
    rand_fill(&r, b, F, -1, 1, 0);
    rand_fill(&r, dY, ny, -1, 1, 0);
    tu_poison(Y, ny), tu_poison(dX, nx), tu_poison(dW, nw), tu_poison(db, F);

    hprt_conv2d_forward_fast(&g, X, Wt, b, Y, B, S);
    hprt_conv2d_backward_fast(&g, X, Wt, dY, dX, dW, db, B, S);

    conv_ctx c = {g, B, tu_to_double(X, nx), tu_to_double(Wt, nw), tu_to_double(b, F), tu_to_double(dY, ny),
                  tu_to_double(Y, ny)};
    conv_d(&c);
    check_forward(Y, c.Y, ny);
    tu_check_grad(conv_obj, &c, c.X, nx, dX);
    tu_check_grad(conv_obj, &c, c.W, nw, dW);
    tu_check_grad(conv_obj, &c, c.b, F, db);

    free(X), free(Wt), free(b), free(Y), free(dY), free(dX), free(dW), free(db), free(S);
    free(c.X), free(c.W), free(c.b), free(c.R), free(c.Y);
}

static void test_conv_fast_grad(void **state)
{
    (void)state;
    conv_fast_grad_case(2, 3, 7, 6, 5, 3, 1, 1, 1); /* same */
    conv_fast_grad_case(2, 2, 9, 7, 3, 3, 2, 1, 1); /* strided, padded */
    conv_fast_grad_case(1, 3, 5, 6, 2, 2, 1, 0, 1); /* even kernel, asymmetric pad */
    conv_fast_grad_case(3, 1, 5, 5, 4, 5, 1, 0, 0); /* valid, kernel = image */
    conv_fast_grad_case(2, 2, 11, 9, 3, 3, 3, 0, 0);/* stride 3, valid */
    conv_fast_grad_case(2, 3, 5, 7, 2, 1, 1, 0, 0); /* 1×1 */
    /* one input channel, stride 1, the first conv's case */
    conv_fast_grad_case(3, 1, 7, 7, 5, 3, 1, 1, 1); /* same, odd size */
    conv_fast_grad_case(2, 1, 5, 9, 17, 3, 1, 0, 0);/* valid, 5×9, 17 filters */
    conv_fast_grad_case(2, 1, 6, 8, 3, 3, 1, 1, 0); /* asymmetric pad */
    conv_fast_grad_case(2, 1, 4, 5, 2, 3, 1, 2, 2); /* pad 2 */
}

/* Degenerate cases: no output (gradients all zero, Y untouched), B = 0. */
static void test_conv_fast_empty(void **state)
{
    (void)state;
    hprt_conv2d_geom g = hprt_conv2d_geom_make(2, 2, 2, 3, 5, 1, 1, 1);
    assert_true(g.Ho <= 0);
    assert_int_equal(hprt_conv2d_scratch(&g), 0);
    float X[8], Wt[3 * 2 * 25], dX[8], dW[3 * 2 * 25], db[3], y = 7.0f;
    for (int i = 0; i < 8; i++)
        X[i] = (float)i;
    for (int i = 0; i < 150; i++)
        Wt[i] = 1.0f;
    tu_poison(dX, 8), tu_poison(dW, 150), tu_poison(db, 3);
    hprt_conv2d_forward_fast(&g, X, Wt, NULL, &y, 1, NULL);
    assert_true(y == 7.0f);
    hprt_conv2d_backward_fast(&g, X, Wt, &y, dX, dW, db, 1, NULL);
    for (int i = 0; i < 8; i++)
        assert_true(dX[i] == 0.0f);
    for (int i = 0; i < 150; i++)
        assert_true(dW[i] == 0.0f);
    for (int i = 0; i < 3; i++)
        assert_true(db[i] == 0.0f);

    /* B = 0: the sums over the batch are empty */
    g = hprt_conv2d_geom_make(2, 4, 4, 3, 3, 1, 1, 1);
    float *S = scratch_new(&g);
    float dW2[3 * 2 * 9];
    tu_poison(dW2, 54), tu_poison(db, 3);
    hprt_conv2d_backward_fast(&g, X, Wt, X, NULL, dW2, db, 0, S);
    for (int i = 0; i < 54; i++)
        assert_true(dW2[i] == 0.0f);
    for (int i = 0; i < 3; i++)
        assert_true(db[i] == 0.0f);
    free(S);
}

/* ---- pooling ------------------------------------------------------------------------------ */

typedef struct {
    hprt_pool2d_geom g;
    int B;
    bool max;
    double *X, *R, *Y;
} pool_ctx;

static void pool_d(pool_ctx *c)
{
    const hprt_pool2d_geom *g = &c->g;
    for (int p = 0; p < c->B * g->C; p++)
        for (int oy = 0; oy < g->Ho; oy++)
            for (int ox = 0; ox < g->Wo; ox++) {
                double m = -INFINITY, s = 0.0;
                for (int ky = 0; ky < g->size; ky++)
                    for (int kx = 0; kx < g->size; kx++) {
                        double v = c->X[((size_t)p * g->H + oy * g->stride + ky) * g->W +
                                        ox * g->stride + kx];
                        m = fmax(m, v);
                        s += v;
                    }
                c->Y[((size_t)p * g->Ho + oy) * g->Wo + ox] = c->max ? m : s / (g->size * g->size);
            }
}

static double pool_obj(void *v)
{
    pool_ctx *c = v;
    pool_d(c);
    return tu_dot(c->R, c->Y, (size_t)c->B * c->g.C * c->g.Ho * c->g.Wo);
}

static void pool_case(bool max, int B, int C, int H, int W, int size, int stride)
{
    hprt_pool2d_geom g = hprt_pool2d_geom_make(C, H, W, size, stride);
    assert_true(g.Ho > 0 && g.Wo > 0);
    assert_int_equal(g.Ho, (H - size) / stride + 1);
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(H * 10 + size));
    size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * g.Ho * g.Wo;
    float *X = tu_fnew(nx), *Y = tu_fnew(ny), *dY = tu_fnew(ny), *dX = tu_fnew(nx);
    /* distinct values 0.01 apart in random order: no window has a near-tie
     * within the finite-difference step */
    uint32_t *perm = malloc(nx * sizeof *perm);
    assert_non_null(perm);
    for (uint32_t i = 0; i < nx; i++)
        perm[i] = i;
    hprt_rng_shuffle(&r, perm, (uint32_t)nx);
    for (size_t i = 0; i < nx; i++)
        X[i] = 0.01f * ((float)perm[i] - (float)nx / 2);
    rand_fill(&r, dY, ny, -1, 1, 0);
    tu_poison(Y, ny), tu_poison(dX, nx);

    if (max) {
        hprt_maxpool2d_forward(&g, X, Y, B);
        hprt_maxpool2d_backward(&g, X, dY, dX, B);
    } else {
        hprt_avgpool2d_forward(&g, X, Y, B);
        hprt_avgpool2d_backward(&g, dY, dX, B);
    }
    pool_ctx c = {g, B, max, tu_to_double(X, nx), tu_to_double(dY, ny), tu_to_double(Y, ny)};
    pool_d(&c);
    check_forward(Y, c.Y, ny);
    tu_check_grad(pool_obj, &c, c.X, nx, dX);

    free(X), free(Y), free(dY), free(dX), free(perm), free(c.X), free(c.R), free(c.Y);
}

static void test_pool(void **state)
{
    (void)state;
    for (int max = 0; max < 2; max++) {
        pool_case(max, 2, 3, 7, 5, 2, 2);  /* floor: the last row/column unused */
        pool_case(max, 1, 2, 7, 7, 3, 2);  /* overlapping windows */
        pool_case(max, 3, 1, 9, 6, 3, 3);
        pool_case(max, 1, 1, 5, 5, 2, 1);
    }
}

/* Max pooling ties: the first maximum (row-major) takes the whole gradient. */
static void test_maxpool_tie(void **state)
{
    (void)state;
    hprt_pool2d_geom g = hprt_pool2d_geom_make(1, 2, 2, 2, 2);
    const float x[4] = {1.0f, 3.0f, 3.0f, 2.0f}, dy[1] = {5.0f};
    float y[1], dx[4];
    hprt_maxpool2d_forward(&g, x, y, 1);
    hprt_maxpool2d_backward(&g, x, dy, dx, 1);
    assert_true(y[0] == 3.0f);
    assert_true(dx[0] == 0.0f && dx[1] == 5.0f && dx[2] == 0.0f && dx[3] == 0.0f);
}

/* ---- initialisation ----------------------------------------------------------------------- */

static void stats(const float *w, size_t n, double *mean, double *var, double *maxabs)
{
    double s = 0.0, s2 = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += w[i];
        s2 += (double)w[i] * w[i];
        m = fmax(m, fabs(w[i]));
    }
    *mean = s / n;
    *var = s2 / n - *mean * *mean;
    *maxabs = m;
}

static void test_init_bounds(void **state)
{
    (void)state;
    assert_true(hprt_init_default_weight_bound(1) == 0.9999999999999999);
    assert_close(hprt_init_default_weight_bound(784), 1.0 / 28.0, 1e-15);
    assert_true(hprt_init_inv_sqrt(128) == 0.08838834764831843);
    assert_true(hprt_init_inv_sqrt(1) == 1.0);
}

static void test_init_dense(void **state)
{
    (void)state;
    enum { IN = 300, OUT = 101 };
    static float W[OUT * IN], W2[OUT * IN], b[OUT];
    double mean, var, maxabs, a;
    hprt_rng r, r2;

    /* default: W and b ~ U(±1/√in), deterministic from the seed */
    hprt_rng_seed(&r, 9);
    hprt_init_dense(&r, HPRT_INIT_DEFAULT, W, b, IN, OUT);
    hprt_rng_seed(&r2, 9);
    hprt_init_dense(&r2, HPRT_INIT_DEFAULT, W2, NULL, IN, OUT);
    assert_memory_equal(W, W2, sizeof W);
    a = hprt_init_default_weight_bound(IN);
    stats(W, OUT * IN, &mean, &var, &maxabs);
    assert_true(maxabs <= a);
    assert_close_abs(mean, 0.0, 0, 0.05 * a);
    assert_close(var, a * a / 3, 0.03);
    stats(b, OUT, &mean, &var, &maxabs);
    assert_true(maxabs <= 1.0 / sqrt(IN) && maxabs > 0.5 / sqrt(IN));

    /* xavier: U(±√(6/(in+out))), bias zero */
    hprt_init_dense(&r, HPRT_INIT_XAVIER_UNIFORM, W, b, IN, OUT);
    a = sqrt(6.0 / (IN + OUT));
    stats(W, OUT * IN, &mean, &var, &maxabs);
    assert_true(maxabs <= a && maxabs > 0.99 * a);
    assert_close(var, a * a / 3, 0.03);
    stats(b, OUT, &mean, &var, &maxabs);
    assert_true(maxabs == 0.0);

    /* kaiming (He, relu): U(±√(6/in)) */
    hprt_init_dense(&r, HPRT_INIT_KAIMING_UNIFORM, W, b, IN, OUT);
    a = sqrt(6.0 / IN);
    stats(W, OUT * IN, &mean, &var, &maxabs);
    assert_true(maxabs <= a && maxabs > 0.99 * a);
    assert_close(var, a * a / 3, 0.03);

    hprt_init_dense(&r, HPRT_INIT_ZEROS, W, b, IN, OUT);
    stats(W, OUT * IN, &mean, &var, &maxabs);
    assert_true(maxabs == 0.0);
}

static void test_init_conv_embed_rnn(void **state)
{
    (void)state;
    enum { C = 3, F = 17, K = 5, V = 201, D = 50, H = 128, NR = 4 * H * 33 };
    static float W[F * C * K * K], b[F], E[V * D], P[NR];
    double mean, var, maxabs;
    hprt_rng r;
    hprt_rng_seed(&r, 1);

    /* conv: fan_in = C·k·k */
    hprt_init_conv(&r, HPRT_INIT_DEFAULT, W, b, C, F, K);
    double a = hprt_init_default_weight_bound(C * K * K);
    stats(W, F * C * K * K, &mean, &var, &maxabs);
    assert_true(maxabs <= a && maxabs > 0.98 * a);
    stats(b, F, &mean, &var, &maxabs);
    assert_true(maxabs <= 1.0 / sqrt(C * K * K));
    hprt_init_conv(&r, HPRT_INIT_XAVIER_UNIFORM, W, b, C, F, K);
    a = sqrt(6.0 / ((C + F) * K * K)); /* fan_out = F·k·k */
    stats(W, F * C * K * K, &mean, &var, &maxabs);
    assert_true(maxabs <= a && maxabs > 0.98 * a);

    /* embedding: N(0,1), padding row zero */
    hprt_init_embedding(&r, E, V, D, 4);
    stats(E, V * D, &mean, &var, &maxabs);
    assert_close_abs(mean, 0.0, 0, 0.05);
    assert_close(var, 1.0, 0.05);
    for (int j = 0; j < D; j++)
        assert_true(E[4 * D + j] == 0.0f);
    hprt_init_embedding(&r, E, V, D, -1);
    assert_true(E[4 * D] != 0.0f);

    /* recurrent: U(±1/√hidden) regardless of the input size */
    hprt_init_recurrent(&r, P, NR, H);
    stats(P, NR, &mean, &var, &maxabs);
    assert_true(maxabs <= 0.08838834764831843 && maxabs > 0.088);
    assert_close(var, 1.0 / (3.0 * H), 0.05);
}

/* Max pooling and NaN: a NaN in the window wins over any number (so it
 * propagates); among several NaNs the last one in row-major order takes the
 * gradient, and a NaN first in the window keeps it against larger numbers. */
static void test_maxpool_nan(void **state)
{
    (void)state;
    hprt_pool2d_geom g = hprt_pool2d_geom_make(1, 2, 4, 2, 2);
    const float x[8] = {1.0f, NAN, NAN, 7.0f, 5.0f, NAN, 2.0f, 1.0f}, dy[2] = {5.0f, 3.0f};
    float y[2], dx[8];
    hprt_maxpool2d_forward(&g, x, y, 1);
    hprt_maxpool2d_backward(&g, x, dy, dx, 1);
    assert_true(isnan(y[0]) && isnan(y[1]));
    const float want[8] = {0, 0, 3.0f, 0, 0, 5.0f, 0, 0};
    for (int i = 0; i < 8; i++)
        assert_true(dx[i] == want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_activation_values),
        cmocka_unit_test(test_dropout_threshold),
        cmocka_unit_test(test_dropout_mask),
        cmocka_unit_test(test_dropout_grad),
        cmocka_unit_test(test_softmax_xent_known),
        cmocka_unit_test(test_softmax_xent_grad),
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_known),
        cmocka_unit_test(test_conv_fast_vs_reference),
        cmocka_unit_test(test_conv_fast_grad),
        cmocka_unit_test(test_conv_fast_empty),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_maxpool_tie),
        cmocka_unit_test(test_maxpool_nan),
        cmocka_unit_test(test_init_bounds),
        cmocka_unit_test(test_init_dense),
        cmocka_unit_test(test_init_conv_embed_rnn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
