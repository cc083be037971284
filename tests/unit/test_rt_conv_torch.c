/* test_rt_conv_torch.c - the conv and max pooling kernels against PyTorch.
 *
 * tests/fixtures/conv_torch.txt (bench/conv_fixture.py) holds torch's
 * conv2d and max_pool2d outputs and gradients of L = Σ Y·R, computed in
 * float64 from float32 inputs: strides 1 and 2, pad same and valid, odd
 * sizes, channel counts that are not multiples of 16, kernels 1, 3 and 5.
 * Every kernel the generated code may call is held to them within 1e-5
 * (absolute plus relative): the reference conv (double sums), the training
 * conv (im2col + GEMM, float sums), the reference max pool and the
 * specialised one (pool_fast.c).
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hprt_kernels.h"

#define FIXTURE HPC_SOURCE_DIR "/tests/fixtures/conv_torch.txt"

static void compare(const char *name, const char *what, const float *got, const double *want, int n)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-5 + 1e-5 * fabs(want[i])))
            fail_msg("%s %s[%d]: %.9g, PyTorch %.9g", name, what, i, got[i], want[i]);
}

static float *floats(const double *v, int n)
{
    float *f = tu_fnew((size_t)n);
    for (int i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

#define GET(field, count) (snprintf(key, sizeof key, "%s." field, name), tu_fixture_get(fx, key, (count)))

static void conv_case(const tu_fixture *fx, const char *name)
{
    char key[64];
    const double *d = GET("dims", 8);
    int B = (int)d[0], C = (int)d[1], H = (int)d[2], W = (int)d[3], F = (int)d[4], k = (int)d[5];
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, k, (int)d[6], (int)d[7], (int)d[7]);
    int nx = B * C * H * W, nw = F * C * k * k, ny = B * F * g.Ho * g.Wo;
    float *X = floats(GET("X", nx), nx), *Wt = floats(GET("W", nw), nw), *b = floats(GET("b", F), F);
    float *R = floats(GET("R", ny), ny);
    float *Y = tu_fnew((size_t)ny), *dX = tu_fnew((size_t)nx), *dW = tu_fnew((size_t)nw), *db = tu_fnew((size_t)F);
    size_t ns = hprt_conv2d_scratch(&g);
    float *S = tu_fnew(ns ? ns : 1);
    print_message("%s: B %d, %d -> %d channels, %dx%d, k %d, stride %d, pad %d\n", name, B, C, F, H, W, k,
                  (int)d[6], (int)d[7]);
    for (int fast = 0; fast < 2; fast++) {
        const char *how = fast ? "fast" : "reference";
        tu_poison(Y, (size_t)ny), tu_poison(dX, (size_t)nx), tu_poison(dW, (size_t)nw), tu_poison(db, (size_t)F);
        if (fast) {
            hprt_conv2d_forward_fast(&g, X, Wt, b, Y, B, S);
            hprt_conv2d_backward_fast(&g, X, Wt, R, dX, dW, db, B, S);
        } else {
            hprt_conv2d_forward(&g, X, Wt, b, Y, B);
            hprt_conv2d_backward(&g, X, Wt, R, dX, dW, db, B);
        }
        char what[32];
        snprintf(what, sizeof what, "%s Y", how);
        compare(name, what, Y, GET("Y", ny), ny);
        snprintf(what, sizeof what, "%s dX", how);
        compare(name, what, dX, GET("dX", nx), nx);
        snprintf(what, sizeof what, "%s dW", how);
        compare(name, what, dW, GET("dW", nw), nw);
        snprintf(what, sizeof what, "%s db", how);
        compare(name, what, db, GET("db", F), F);
    }
    free(X), free(Wt), free(b), free(R), free(Y), free(dX), free(dW), free(db), free(S);
}

static void pool_case(const tu_fixture *fx, const char *name)
{
    char key[64];
    const double *d = GET("dims", 6);
    int B = (int)d[0], C = (int)d[1], H = (int)d[2], W = (int)d[3];
    hprt_pool2d_geom g = hprt_pool2d_geom_make(C, H, W, (int)d[4], (int)d[5]);
    int nx = B * C * H * W, ny = B * C * g.Ho * g.Wo;
    float *X = floats(GET("X", nx), nx), *R = floats(GET("R", ny), ny);
    float *Y = tu_fnew((size_t)ny), *dX = tu_fnew((size_t)nx);
    for (int fast = 0; fast < 2; fast++) {
        tu_poison(Y, (size_t)ny), tu_poison(dX, (size_t)nx);
        if (fast) {
            hprt_maxpool2d_forward_fast(&g, X, Y, B);
            hprt_maxpool2d_backward_fast(&g, X, R, dX, B);
        } else {
            hprt_maxpool2d_forward(&g, X, Y, B);
            hprt_maxpool2d_backward(&g, X, R, dX, B);
        }
        compare(name, fast ? "fast Y" : "reference Y", Y, GET("Y", ny), ny);
        compare(name, fast ? "fast dX" : "reference dX", dX, GET("dX", nx), nx);
    }
    free(X), free(R), free(Y), free(dX);
}
#undef GET

static void test_conv_matches_pytorch(void **state)
{
    (void)state;
    tu_fixture fx = tu_fixture_load(FIXTURE);
    static const char *const cases[] = {"c1same", "c3s2", "c17k1", "c5k5", "c2valid", "c3k5s2", "wide1", "wide2"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        conv_case(&fx, cases[i]);
    tu_fixture_free(&fx);
}

static void test_maxpool_matches_pytorch(void **state)
{
    (void)state;
    tu_fixture fx = tu_fixture_load(FIXTURE);
    pool_case(&fx, "p22");
    pool_case(&fx, "p22odd");
    pool_case(&fx, "p33s2");
    tu_fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_matches_pytorch),
        cmocka_unit_test(test_maxpool_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
