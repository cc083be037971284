/* test_rt_layernorm.c - the reference `layernorm` (runtime/layers_norm.c):
 * its gradients against finite differences, and everything against PyTorch.
 *
 * tests/fixtures/layernorm_torch.txt (bench/layernorm_fixture.py) holds
 * torch.nn.LayerNorm on a batch of vectors, of sequences (per step) and of
 * images (over C·H·W), in float64, with the gradients of L = Σ Y·R; the
 * outputs and every gradient must agree within 1e-5 (|got − ref| ≤ 1e-5 +
 * 1e-5·|ref|). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"

#define FIXTURE HPC_SOURCE_DIR "/tests/fixtures/layernorm_torch.txt"

/* ---- finite differences: L = Σ R·layernorm(X; w, b), in double ---- */

typedef struct {
    int rows, D;
    double eps;
    double *X, *w, *b, *R;
} ln_ctx;

static double ln_obj(void *v)
{
    ln_ctx *c = v;
    double L = 0;
    for (int r = 0; r < c->rows; r++) {
        const double *x = c->X + (size_t)r * c->D;
        double m = 0, q = 0;
        for (int j = 0; j < c->D; j++)
            m += x[j];
        m /= c->D;
        for (int j = 0; j < c->D; j++)
            q += (x[j] - m) * (x[j] - m);
        double rstd = 1 / sqrt(q / c->D + c->eps);
        for (int j = 0; j < c->D; j++)
            L += c->R[(size_t)r * c->D + j] * ((x[j] - m) * rstd * c->w[j] + c->b[j]);
    }
    return L;
}

static void fill(hprt_rng *r, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * hprt_rng_uniform(r));
}

static void grad_case(int rows, int D, double eps, uint64_t seed)
{
    hprt_rng r;
    hprt_rng_seed(&r, seed);
    size_t n = (size_t)rows * D;
    float *X = tu_fnew(n), *w = tu_fnew(D), *b = tu_fnew(D), *R = tu_fnew(n), *Y = tu_fnew(n), *dX = tu_fnew(n);
    float *dw = tu_fnew(D), *db = tu_fnew(D);
    fill(&r, X, n, -2, 2);
    fill(&r, w, D, 0.5, 1.5);
    fill(&r, b, D, -0.5, 0.5);
    fill(&r, R, n, -1, 1);
    tu_poison(Y, n), tu_poison(dX, n), tu_poison(dw, D), tu_poison(db, D);
    hprt_layernorm_forward(X, w, b, Y, rows, D, eps);
    hprt_layernorm_backward(X, w, R, dX, dw, db, rows, D, eps);
    ln_ctx c = {rows, D, eps, tu_to_double(X, n), tu_to_double(w, D), tu_to_double(b, D), tu_to_double(R, n)};
    /* the forward pass: each output is the objective's term */
    double L = 0;
    for (size_t i = 0; i < n; i++)
        L += (double)R[i] * Y[i];
    assert_close_abs(L, ln_obj(&c), 1e-5, 1e-5);
    tu_check_grad(ln_obj, &c, c.X, n, dX);
    tu_check_grad(ln_obj, &c, c.w, D, dw);
    tu_check_grad(ln_obj, &c, c.b, D, db);
    /* in place, and the gradients one by one (NULL skips) */
    float *Z = tu_fnew(n), *dX2 = tu_fnew(n), *dw2 = tu_fnew(D);
    memcpy(Z, X, n * sizeof *Z);
    hprt_layernorm_forward(Z, w, b, Z, rows, D, eps);
    assert_memory_equal(Z, Y, n * sizeof *Z);
    hprt_layernorm_backward(X, w, R, dX2, NULL, NULL, rows, D, eps);
    assert_memory_equal(dX2, dX, n * sizeof *dX);
    hprt_layernorm_backward(X, w, R, NULL, dw2, NULL, rows, D, eps);
    assert_memory_equal(dw2, dw, D * sizeof *dw);
    free(Z), free(dX2), free(dw2);
    free(c.X), free(c.w), free(c.b), free(c.R);
    free(X), free(w), free(b), free(R), free(Y), free(dX), free(dw), free(db);
}

static void test_layernorm_gradients(void **state)
{
    (void)state;
    grad_case(1, 1, 1e-5, 1);   /* one value: y = b, every dx = 0 */
    grad_case(3, 7, 1e-5, 2);
    grad_case(5, 16, 1e-3, 3);
    grad_case(2, 33, 0.5, 4);
}

/* A constant row: var = 0, so y = b and the gradients stay finite. */
static void test_layernorm_constant_row(void **state)
{
    (void)state;
    float X[4] = {3, 3, 3, 3}, w[4] = {1, 2, 3, 4}, b[4] = {0.5f, -1, 0, 2}, Y[4], dY[4] = {1, -1, 2, 0.5f}, dX[4], dw[4],
          db[4];
    hprt_layernorm_forward(X, w, b, Y, 1, 4, 1e-5);
    hprt_layernorm_backward(X, w, dY, dX, dw, db, 1, 4, 1e-5);
    for (int j = 0; j < 4; j++) {
        assert_close(Y[j], b[j], 1e-6);
        assert_true(isfinite(dX[j]));
        assert_close_abs(dw[j], 0, 0, 1e-6);
        assert_close(db[j], dY[j], 1e-6);
    }
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
    const double *dims = tu_fixture_get(fx, key, 3);
    int rows = (int)dims[0], D = (int)dims[1], n = rows * D;
    double eps = dims[2];
#define GET(field, count) (snprintf(key, sizeof key, "%s." field, name), tu_fixture_get(fx, key, (count)))
    float *X = floats(GET("X", n), n), *w = floats(GET("w", D), D), *b = floats(GET("b", D), D);
    float *R = floats(GET("R", n), n);
    float *Y = tu_fnew((size_t)n), *dX = tu_fnew((size_t)n), *dw = tu_fnew((size_t)D), *db = tu_fnew((size_t)D);
    hprt_layernorm_forward(X, w, b, Y, rows, D, eps);
    hprt_layernorm_backward(X, w, R, dX, dw, db, rows, D, eps);
    print_message("%s: %d rows of %d, eps %g\n", name, rows, D, eps);
    compare("Y", Y, GET("Y", n), n);
    compare("dX", dX, GET("dX", n), n);
    compare("dw", dw, GET("dw", D), D);
    compare("db", db, GET("db", D), D);
#undef GET
    free(X), free(w), free(b), free(R), free(Y), free(dX), free(dw), free(db);
}

static void test_layernorm_matches_pytorch(void **state)
{
    (void)state;
    tu_fixture fx = tu_fixture_load(FIXTURE);
    torch_case(&fx, "vec");
    torch_case(&fx, "seq");
    torch_case(&fx, "img");
    tu_fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_gradients),
        cmocka_unit_test(test_layernorm_constant_row),
        cmocka_unit_test(test_layernorm_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
