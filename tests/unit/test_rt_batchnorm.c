/* test_rt_batchnorm.c - the reference `batchnorm` (runtime/layers_norm.c):
 * its gradients against finite differences (input, weight, bias; after a
 * vector, S = 1, and after an image, S = H·W), the running statistics and
 * evaluation by their formulas, and everything against PyTorch.
 *
 * tests/fixtures/batchnorm_torch.txt (bench/batchnorm_fixture.py) holds
 * torch.nn.BatchNorm1d and BatchNorm2d over two training steps (outputs,
 * every gradient of L = Σ Yk·Rk, the running statistics after each step) and
 * the evaluation output, in float64; all must agree within 1e-5
 * (|got − ref| ≤ 1e-5 + 1e-5·|ref|). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"

#define FIXTURE HPC_SOURCE_DIR "/tests/fixtures/batchnorm_torch.txt"

/* ---- finite differences: L = Σ R·batchnorm(X; w, b), batch statistics, in double ---- */

typedef struct {
    int N, C, S;
    double eps;
    double *X, *w, *b, *R;
} bn_ctx;

static double bn_obj(void *v)
{
    bn_ctx *c = v;
    double L = 0, n = (double)c->N * c->S;
    for (int ch = 0; ch < c->C; ch++) {
        double m = 0, q = 0;
        for (int r = 0; r < c->N; r++)
            for (int k = 0; k < c->S; k++)
                m += c->X[((size_t)r * c->C + ch) * c->S + k];
        m /= n;
        for (int r = 0; r < c->N; r++)
            for (int k = 0; k < c->S; k++) {
                double d = c->X[((size_t)r * c->C + ch) * c->S + k] - m;
                q += d * d;
            }
        double rstd = 1 / sqrt(q / n + c->eps);
        for (int r = 0; r < c->N; r++)
            for (int k = 0; k < c->S; k++) {
                size_t i = ((size_t)r * c->C + ch) * c->S + k;
                L += c->R[i] * ((c->X[i] - m) * rstd * c->w[ch] + c->b[ch]);
            }
    }
    return L;
}

static void fill(hprt_rng *r, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * hprt_rng_uniform(r));
}

static void grad_case(int N, int C, int S, double eps, uint64_t seed)
{
    hprt_rng r;
    hprt_rng_seed(&r, seed);
    size_t n = (size_t)N * C * S;
    float *X = tu_fnew(n), *w = tu_fnew(C), *b = tu_fnew(C), *R = tu_fnew(n), *Y = tu_fnew(n), *dX = tu_fnew(n);
    float *dw = tu_fnew(C), *db = tu_fnew(C);
    fill(&r, X, n, -2, 2);
    fill(&r, w, C, 0.5, 1.5);
    fill(&r, b, C, -0.5, 0.5);
    fill(&r, R, n, -1, 1);
    tu_poison(Y, n), tu_poison(dX, n), tu_poison(dw, C), tu_poison(db, C);
    hprt_batchnorm_forward(X, w, b, Y, N, C, S, eps, NULL, 0.1);
    hprt_batchnorm_backward(X, w, R, dX, dw, db, N, C, S, eps);
    bn_ctx c = {N, C, S, eps, tu_to_double(X, n), tu_to_double(w, C), tu_to_double(b, C), tu_to_double(R, n)};
    double L = 0;
    for (size_t i = 0; i < n; i++)
        L += (double)R[i] * Y[i];
    assert_close_abs(L, bn_obj(&c), 1e-5, 1e-5);
    tu_check_grad(bn_obj, &c, c.X, n, dX);
    tu_check_grad(bn_obj, &c, c.w, C, dw);
    tu_check_grad(bn_obj, &c, c.b, C, db);
    /* the gradients one by one (NULL skips) */
    float *dX2 = tu_fnew(n), *dw2 = tu_fnew(C);
    hprt_batchnorm_backward(X, w, R, dX2, NULL, NULL, N, C, S, eps);
    assert_memory_equal(dX2, dX, n * sizeof *dX);
    hprt_batchnorm_backward(X, w, R, NULL, dw2, NULL, N, C, S, eps);
    assert_memory_equal(dw2, dw, C * sizeof *dw);
    free(dX2), free(dw2);
    free(c.X), free(c.w), free(c.b), free(c.R);
    free(X), free(w), free(b), free(R), free(Y), free(dX), free(dw), free(db);
}

static void test_batchnorm_gradients(void **state)
{
    (void)state;
    grad_case(5, 3, 1, 1e-5, 1);  /* BatchNorm1d */
    grad_case(2, 7, 1, 1e-3, 2);  /* two samples: the smallest batch after a vector */
    grad_case(2, 3, 6, 1e-5, 3);  /* BatchNorm2d */
    grad_case(1, 2, 9, 0.5, 4);   /* one image: its H·W values */
}

/* The running statistics move by momentum (the variance unbiased); the
 * evaluation output uses them. */
static void test_batchnorm_running_and_eval(void **state)
{
    (void)state;
    /* channel 0: 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3); channel 1: all 2 */
    float X[8] = {1, 2, 3, 2, 5, 2, 7, 2}, w[2] = {2, 1}, b[2] = {0.5f, -1}, Y[8];
    float run[4] = {0, 0, 1, 1};
    hprt_batchnorm_forward(X, w, b, Y, 4, 2, 1, 1e-5, run, 0.25);
    assert_close(run[0], 0.25 * 4, 1e-6);
    assert_close(run[1], 0.25 * 2, 1e-6);
    assert_close(run[2], 0.75 + 0.25 * 20.0 / 3, 1e-6);
    assert_close(run[3], 0.75, 1e-6);
    assert_close(Y[0], (1 - 4) / sqrt(5 + 1e-5) * 2 + 0.5, 1e-6);
    assert_close(Y[1], -1, 1e-6); /* a constant channel: y = b */
    float E[8];
    hprt_batchnorm_forward_eval(X, w, b, run, E, 4, 2, 1, 1e-5);
    for (int r = 0; r < 4; r++) {
        assert_close(E[2 * r], (X[2 * r] - run[0]) / sqrt(run[2] + 1e-5) * 2 + 0.5, 1e-6);
        assert_close(E[2 * r + 1], (X[2 * r + 1] - run[1]) / sqrt(run[3] + 1e-5) - 1, 1e-6);
    }
    /* momentum 0: the running statistics stay */
    float keep[4] = {0.5f, -1, 2, 3};
    hprt_batchnorm_forward(X, w, b, Y, 4, 2, 1, 1e-5, keep, 0);
    assert_true(keep[0] == 0.5f && keep[1] == -1 && keep[2] == 2 && keep[3] == 3);
}

/* ---- PyTorch ---- */

static void compare(const char *what, const float *got, const double *want, int n)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-5 + 1e-5 * fabs(want[i])))
            fail_msg("%s[%d]: %.9g, PyTorch %.9g", what, i, got[i], want[i]);
}

static float *floats(const double *v, int n)
{
    float *f = tu_fnew((size_t)n);
    for (int i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

static void torch_case(const tu_fixture *fx, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s.dims", name);
    const double *dims = tu_fixture_get(fx, key, 5);
    int N = (int)dims[0], C = (int)dims[1], S = (int)dims[2], n = N * C * S;
    double momentum = dims[3], eps = dims[4];
#define GET(field, count) (snprintf(key, sizeof key, "%s.%s", name, field), tu_fixture_get(fx, key, (count)))
    float *w = floats(GET("w", C), C), *b = floats(GET("b", C), C);
    float *Y = tu_fnew((size_t)n), *dX = tu_fnew((size_t)n), *dw = tu_fnew((size_t)C), *db = tu_fnew((size_t)C);
    float run[2 * 64];
    assert_true(C <= 64);
    for (int c = 0; c < C; c++)
        run[c] = 0, run[C + c] = 1;
    print_message("%s: %d x %d x %d, momentum %g, eps %g\n", name, N, C, S, momentum, eps);
    float *X2 = NULL;
    for (int k = 1; k <= 2; k++) {
        char f[16];
        snprintf(f, sizeof f, "X%d", k);
        float *X = floats(GET(f, n), n);
        snprintf(f, sizeof f, "R%d", k);
        float *R = floats(GET(f, n), n);
        hprt_batchnorm_forward(X, w, b, Y, N, C, S, eps, run, momentum);
        hprt_batchnorm_backward(X, w, R, dX, dw, db, N, C, S, eps);
        snprintf(f, sizeof f, "Y%d", k);
        compare(f, Y, GET(f, n), n);
        snprintf(f, sizeof f, "dX%d", k);
        compare(f, dX, GET(f, n), n);
        snprintf(f, sizeof f, "dw%d", k);
        compare(f, dw, GET(f, C), C);
        snprintf(f, sizeof f, "db%d", k);
        compare(f, db, GET(f, C), C);
        snprintf(f, sizeof f, "run%d", k);
        compare(f, run, GET(f, 2 * C), 2 * C);
        free(R);
        if (k == 2)
            X2 = X;
        else
            free(X);
    }
    hprt_batchnorm_forward_eval(X2, w, b, run, Y, N, C, S, eps);
    compare("Yeval", Y, GET("Yeval", n), n);
#undef GET
    free(X2), free(w), free(b), free(Y), free(dX), free(dw), free(db);
}

static void test_batchnorm_matches_pytorch(void **state)
{
    (void)state;
    tu_fixture fx = tu_fixture_load(FIXTURE);
    torch_case(&fx, "vec");
    torch_case(&fx, "img");
    tu_fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_gradients),
        cmocka_unit_test(test_batchnorm_running_and_eval),
        cmocka_unit_test(test_batchnorm_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
