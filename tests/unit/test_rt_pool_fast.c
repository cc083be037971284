/* test_rt_pool_fast.c - the training max pool (pool_fast.c) against the
 * reference (layers_conv.c), bit for bit.
 *
 * The fast forward and backward must give exactly the reference's outputs
 * and gradients: the same winner per window (first maximum in row-major
 * order, a NaN taking the lead), so ties, NaNs, signed zeros and the
 * floor-mode leftovers (odd H, W) are in the inputs, and rows wider than one
 * vector (Wo = 17, 40) next to narrow ones.  Geometries other than 2×2 with
 * stride 2 go to the reference and are checked too.  The gradient input dX
 * is poisoned first: every element must be written.  The reference itself
 * is held to finite differences in test_rt_layers.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"

/* Values from a small set, so windows tie often; some NaN and −0. */
static void fill(hprt_rng *r, float *x, size_t n, bool nans)
{
    static const float pick[8] = {-1.5f, 0.0f, -0.0f, 0.25f, 2.0f, 2.0f, -3.0f, 7.0f};
    for (size_t i = 0; i < n; i++) {
        double u = hprt_rng_uniform(r);
        x[i] = pick[(int)(u * 8) & 7];
        if (nans && u > 0.97)
            x[i] = NAN;
        else if (hprt_rng_uniform(r) < 0.3)
            x[i] = (float)(hprt_rng_uniform(r) * 4 - 2);
    }
}

static void same_bits(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a) != 0)
            fail_msg("element %zu: %a (reference) vs %a (fast)", i, (double)a[i], (double)b[i]);
}

static void pool_case(int B, int C, int H, int W, int size, int stride, bool nans)
{
    hprt_pool2d_geom g = hprt_pool2d_geom_make(C, H, W, size, stride);
    assert_true(g.Ho > 0 && g.Wo > 0);
    size_t nx = (size_t)B * C * H * W, ny = (size_t)B * C * g.Ho * g.Wo;
    float *X = tu_fnew(nx), *dY = tu_fnew(ny), *Y0 = tu_fnew(ny), *Y1 = tu_fnew(ny);
    float *dX0 = tu_fnew(nx), *dX1 = tu_fnew(nx);
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(H * 131 + W * 7 + C + size));
    fill(&r, X, nx, nans);
    for (size_t i = 0; i < ny; i++)
        dY[i] = (float)(hprt_rng_uniform(&r) * 2 - 1);
    hprt_maxpool2d_forward(&g, X, Y0, B);
    tu_poison(Y1, ny);
    hprt_maxpool2d_forward_fast(&g, X, Y1, B);
    same_bits(Y0, Y1, ny);
    hprt_maxpool2d_backward(&g, X, dY, dX0, B);
    tu_poison(dX1, nx);
    hprt_maxpool2d_backward_fast(&g, X, dY, dX1, B);
    same_bits(dX0, dX1, nx);
    free(X), free(dY), free(Y0), free(Y1), free(dX0), free(dX1);
}

static void test_pool22(void **state)
{
    (void)state;
    pool_case(2, 3, 28, 28, 2, 2, false); /* the first pool of examples/fashion_cnn.hp */
    pool_case(2, 5, 14, 14, 2, 2, false); /* ... and the second (Wo = 7) */
    pool_case(3, 2, 7, 9, 2, 2, false);   /* odd: a row and a column no window covers */
    pool_case(1, 2, 34, 35, 2, 2, false); /* Wo = 17: one full vector and one lane */
    pool_case(1, 1, 5, 81, 2, 2, false);  /* Wo = 40 */
    pool_case(1, 1, 2, 2, 2, 2, false);   /* a single window */
}

static void test_pool22_nan_ties(void **state)
{
    (void)state;
    pool_case(2, 3, 28, 28, 2, 2, true);
    pool_case(3, 2, 9, 35, 2, 2, true);
}

static void test_pool_other_geometries(void **state)
{
    (void)state;
    pool_case(2, 2, 9, 9, 3, 3, true);  /* 3×3 windows: the reference */
    pool_case(2, 2, 8, 7, 2, 1, true);  /* overlapping */
    pool_case(1, 3, 10, 11, 3, 2, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool22),
        cmocka_unit_test(test_pool22_nan_ties),
        cmocka_unit_test(test_pool_other_geometries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
