/* test_rt_loss.c - the reference losses (runtime/loss.c) of compiler/losses.def:
 * their values and gradients against PyTorch, and their gradients against
 * finite differences of independent double-precision formulas.
 *
 * tests/fixtures/loss_torch.txt (bench/loss_fixture.py) holds one batch of
 * scores with CrossEntropyLoss (plain, label_smoothing, weight, both),
 * MSELoss, L1Loss, HuberLoss (delta 1 and 0.5), BCEWithLogitsLoss against
 * one-hot labels and with one output, in float64, and sklearn's balanced
 * class weights; every loss and gradient must agree within 1e-5
 * (|got − ref| ≤ 1e-5 + 1e-5·|ref|). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"

#define FIXTURE HPC_SOURCE_DIR "/tests/fixtures/loss_torch.txt"

static void compare(const char *what, const float *got, const double *want, int n)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-5 + 1e-5 * fabs(want[i])))
            fail_msg("%s[%d]: %.9g, PyTorch %.9g", what, i, got[i], want[i]);
}

static void compare1(const char *what, double got, double want)
{
    if (!(fabs(got - want) <= 1e-5 + 1e-5 * fabs(want)))
        fail_msg("%s: %.9g, PyTorch %.9g", what, got, want);
}

static float *floats(const double *v, int n)
{
    float *f = tu_fnew((size_t)n);
    for (int i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

static int32_t *ints(const double *v, int n)
{
    int32_t *y = malloc(sizeof *y * (size_t)(n > 0 ? n : 1));
    assert_non_null(y);
    for (int i = 0; i < n; i++)
        y[i] = (int32_t)v[i];
    return y;
}

enum { B = 6, K = 4 };

typedef enum { L_CE, L_MSE, L_MAE, L_HUBER, L_BCE, L_BCEM } which;

/* One case of the fixture through the reference. */
static double run(which k, const float *z, const int32_t *y, int rows, int cols, double eps, const float *w,
                  double delta, float *d)
{
    switch (k) {
    case L_CE: return hprt_softmax_xent_opts(z, y, rows, cols, eps, w, d);
    case L_MSE: return hprt_mse_onehot(z, y, rows, cols, d);
    case L_MAE: return hprt_mae_onehot(z, y, rows, cols, d);
    case L_HUBER: return hprt_huber_onehot(z, y, rows, cols, delta, d);
    case L_BCE: return hprt_bce_onehot(z, y, rows, cols, d);
    case L_BCEM: return hprt_bce_multi(z, y, rows, cols, d);
    }
    return NAN;
}

static void torch_case(const tu_fixture *fx, const char *name, which k, double eps, bool weighted, double delta)
{
    char key[64];
    bool one = strcmp(name, "bce1") == 0;
    int cols = one ? 1 : K, n = B * cols;
    float *z = floats(tu_fixture_get(fx, one ? "z1" : "z", n), n);
    int32_t *y = ints(tu_fixture_get(fx, one ? "y1" : k == L_BCEM ? "ym" : "y", B), B);
    float *w = floats(tu_fixture_get(fx, "w", K), K);
    float *d = tu_fnew((size_t)n);
    tu_poison(d, (size_t)n);
    double loss = run(k, z, y, B, cols, eps, weighted ? w : NULL, delta, d);
    print_message("%s: %.9g\n", name, loss);
    snprintf(key, sizeof key, "%s.loss", name);
    compare1(key, loss, tu_fixture_get(fx, key, 1)[0]);
    snprintf(key, sizeof key, "%s.grad", name);
    compare(key, d, tu_fixture_get(fx, key, n), n);
    /* without the gradient: the same loss */
    assert_true(run(k, z, y, B, cols, eps, weighted ? w : NULL, delta, NULL) == loss);
    free(z), free(y), free(w), free(d);
}

static void test_losses_match_pytorch(void **state)
{
    (void)state;
    tu_fixture fx = tu_fixture_load(FIXTURE);
    torch_case(&fx, "ce", L_CE, 0, false, 0);
    torch_case(&fx, "ce_s", L_CE, 0.1, false, 0);
    torch_case(&fx, "ce_w", L_CE, 0, true, 0);
    torch_case(&fx, "ce_sw", L_CE, 0.25, true, 0);
    torch_case(&fx, "mse", L_MSE, 0, false, 0);
    torch_case(&fx, "mae", L_MAE, 0, false, 0);
    torch_case(&fx, "huber", L_HUBER, 0, false, 1);
    torch_case(&fx, "huber05", L_HUBER, 0, false, 0.5);
    torch_case(&fx, "bce", L_BCE, 0, false, 0);
    torch_case(&fx, "bce1", L_BCE, 0, false, 0);
    torch_case(&fx, "bcem", L_BCEM, 0, false, 0); /* multi-label: the labels are bit sets */
    /* the plain cross-entropy is also the old entry point's */
    float *z = floats(tu_fixture_get(&fx, "z", B * K), B * K);
    int32_t *y = ints(tu_fixture_get(&fx, "y", B), B);
    compare1("hprt_softmax_xent", hprt_softmax_xent(z, y, B, K, NULL), tu_fixture_get(&fx, "ce.loss", 1)[0]);
    /* sklearn's balanced weights */
    const double *yb = tu_fixture_get(&fx, "yb", 20);
    int32_t *lb = ints(yb, 20);
    float wb[K];
    assert_int_equal(hprt_class_weights_balanced(lb, 20, K, wb), -1);
    compare("balanced", wb, tu_fixture_get(&fx, "balanced", K), K);
    free(z), free(y), free(lb);
    tu_fixture_free(&fx);
}

/* ---- finite differences of double formulas written apart from loss.c ---- */

typedef struct {
    which k;
    int rows, cols;
    double *z;
    const int32_t *y;
    double eps, delta;
    const double *w;
} fd_ctx;

static double fd_obj(void *v)
{
    fd_ctx *c = v;
    double total = 0, denom = 0;
    for (int b = 0; b < c->rows; b++) {
        const double *z = c->z + (size_t)b * c->cols;
        int y = c->y[b];
        if (c->k == L_CE) {
            double s = 0;
            for (int j = 0; j < c->cols; j++)
                s += exp(z[j]);
            double wy = c->w ? c->w[y] : 1;
            total += (1 - c->eps) * wy * (log(s) - z[y]);
            for (int j = 0; j < c->cols; j++)
                total += c->eps / c->cols * (c->w ? c->w[j] : 1) * (log(s) - z[j]);
            denom += wy;
            continue;
        }
        for (int j = 0; j < c->cols; j++) {
            double t = c->k == L_BCEM ? (y >> j) & 1 : c->cols == 1 ? y : j == y, d = z[j] - t;
            switch (c->k) {
            case L_MSE: total += d * d; break;
            case L_MAE: total += fabs(d); break;
            case L_HUBER: total += fabs(d) < c->delta ? d * d / 2 : c->delta * (fabs(d) - c->delta / 2); break;
            case L_BCE: case L_BCEM: total += -(t * log(1 / (1 + exp(-z[j]))) + (1 - t) * log(1 - 1 / (1 + exp(-z[j])))); break;
            case L_CE: break;
            }
        }
        denom += c->cols;
    }
    return total / denom;
}

static void fd_case(which k, int rows, int cols, double eps, bool weighted, double delta, uint64_t seed)
{
    hprt_rng r;
    hprt_rng_seed(&r, seed);
    int n = rows * cols;
    float *z = tu_fnew((size_t)n), *d = tu_fnew((size_t)n);
    double *zd = malloc(sizeof *zd * (size_t)n), w[8];
    float wf[8];
    int32_t y[16];
    assert_non_null(zd);
    for (int i = 0; i < n; i++) {
        z[i] = (float)(hprt_rng_uniform(&r) * 6 - 3);
        zd[i] = z[i];
    }
    for (int b = 0; b < rows; b++)
        y[b] = k == L_BCEM ? (int32_t)((b * 5 + 3) % (1 << cols)) /* bit sets */
               : cols == 1 ? (int32_t)(b % 2)
                           : (int32_t)((b * 3 + 1) % cols);
    /* away from mae's and huber's kinks, where the difference quotient straddles them */
    for (int b = 0; b < rows; b++)
        for (int j = 0; j < cols; j++) {
            double t = k == L_BCEM ? (y[b] >> j) & 1 : cols == 1 ? y[b] : j == y[b];
            size_t i = (size_t)b * cols + j;
            if (fabs(zd[i] - t) < 0.01 || fabs(fabs(zd[i] - t) - delta) < 0.01) {
                z[i] = (float)(zd[i] + 0.05);
                zd[i] = z[i];
            }
        }
    for (int j = 0; j < cols && j < 8; j++)
        wf[j] = (float)(w[j] = 0.25 + j * 0.5);
    tu_poison(d, (size_t)n);
    double loss = run(k, z, y, rows, cols, eps, weighted ? wf : NULL, delta, d);
    fd_ctx c = {k, rows, cols, zd, y, eps, delta, weighted ? w : NULL};
    assert_close(loss, fd_obj(&c), 1e-6);
    tu_check_grad(fd_obj, &c, zd, (size_t)n, d);
    free(z), free(d), free(zd);
}

static void test_loss_gradients(void **state)
{
    (void)state;
    fd_case(L_CE, 5, 3, 0, false, 0, 1);
    fd_case(L_CE, 5, 3, 0.2, false, 0, 2);
    fd_case(L_CE, 7, 4, 0, true, 0, 3);
    fd_case(L_CE, 7, 4, 0.3, true, 0, 4);
    fd_case(L_CE, 3, 2, 1, true, 0, 5); /* smoothing 1: the label no longer matters */
    fd_case(L_MSE, 4, 3, 0, false, 0, 6);
    fd_case(L_MAE, 4, 3, 0, false, 0, 7);
    fd_case(L_HUBER, 6, 3, 0, false, 1, 8);
    fd_case(L_HUBER, 6, 3, 0, false, 0.3, 9);
    fd_case(L_BCE, 6, 3, 0, false, 0, 10);
    fd_case(L_BCE, 8, 1, 0, false, 0, 11);
    fd_case(L_BCEM, 8, 3, 0, false, 0, 12);
    fd_case(L_BCEM, 5, 5, 0, false, 0, 13);
}

/* Bad labels give NAN, never a read out of bounds; bce's 0/1 accuracy; a class with no sample. */
static void test_loss_edges(void **state)
{
    (void)state;
    float z[6] = {1, -2, 0.5f, 3, 0, -1}, d[6];
    int32_t bad[2] = {0, 3}, bad1[6] = {0, 1, 2, 0, 1, 0}, ok1[6] = {1, 0, 1, 1, 0, 0};
    assert_true(isnan(hprt_softmax_xent_opts(z, bad, 2, 3, 0.1, NULL, d)));
    assert_true(isnan(d[0]));
    assert_true(isnan(hprt_mae_onehot(z, bad, 2, 3, d)));
    assert_true(isnan(hprt_huber_onehot(z, bad, 2, 3, 1, d)));
    assert_true(isnan(hprt_bce_onehot(z, bad1, 6, 1, d))); /* one output: labels 0 and 1 only */
    /* weights that give the batch's labels no weight: no mean to take */
    float w0[3] = {0, 1, 1};
    int32_t zeros[2] = {0, 0};
    assert_true(isnan(hprt_softmax_xent_opts(z, zeros, 2, 3, 0, w0, d)));
    /* z > 0 predicts 1: rows 0, 2, 3 (1 1 1: hits), 4 (z = 0 predicts 0: hit), 1 and 5 (0 0: hits) */
    assert_int_equal(hprt_binary_correct(z, ok1, 6), 6);
    ok1[0] = 0;
    assert_int_equal(hprt_binary_correct(z, ok1, 6), 5);
    /* a far wrong confident bce stays finite */
    float big[1] = {80};
    int32_t zero[1] = {0};
    assert_close(hprt_bce_onehot(big, zero, 1, 1, d), 80, 1e-12);
    assert_close(d[0], 1, 1e-7);
    /* multi-label: a bit at K or above, or a negative label, is no target set */
    int32_t over[2] = {1, 8}, neg[2] = {-1, 0}, sets[2] = {5, 2};
    assert_true(isnan(hprt_bce_multi(z, over, 2, 3, d)));
    assert_true(isnan(hprt_bce_multi(z, neg, 2, 3, d)));
    assert_false(isnan(hprt_bce_multi(z, sets, 2, 3, d)));
    /* Keras' binary_accuracy: z = {1, -2, 0.5 | 3, 0, -1} predicts {1, 0, 1 | 1, 0, 0}; 5 = {1, 0, 1} (3 hits),
     * 2 = {0, 1, 0} (row 2 predicts {1, 0, 0}: 1 hit) */
    assert_int_equal(hprt_multi_correct(z, sets, 2, 3), 4);
    int32_t lab[4] = {0, 0, 2, 2};
    float w[3];
    assert_int_equal(hprt_class_weights_balanced(lab, 4, 3, w), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_losses_match_pytorch),
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_loss_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
