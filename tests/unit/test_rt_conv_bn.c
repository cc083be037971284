/* test_rt_conv_bn.c - a conv doing its batchnorm's per-value work
 * (hprt_conv2d_forward_bn / _backward_bn, runtime/conv_bn.c, layers_conv.c,
 * conv_wino.c; the generated step's use in compiler/layer_batchnorm.c).
 *
 * For both lowerings (im2col + GEMM, and Winograd where it pays), odd sizes,
 * stride 2, a 1×1 kernel, channel counts that are not multiples of 16, and
 * the batch split in two calls as two threads split it:
 *  - Y bit for bit hprt_conv2d_forward_fast's (the sums only read it);
 *  - the per-channel mean and variance from the one-pass sums, combined over
 *    the calls as layer_batchnorm.c combines the threads' (Chan et al.),
 *    against a two-pass float64 computation over the same Y within 1e-6
 *    relative; and with the channels' means 1e3–1e4 times their standard
 *    deviation within 1e-9 (a shift K = 0 would lose about (mean/std)²·2^-53
 *    ≈ 1e-8 of the variance: the shift is what this checks);
 *  - back, the conv's dY formed from the batchnorm's dy equals the
 *    reference's (hprt_batchnorm_backward) and dX, dW, db the reference
 *    chain's (hprt_batchnorm_backward, then hprt_conv2d_backward_fast) within
 *    1e-5 of the tensor's largest magnitude (db, 0 up to rounding: of its
 *    terms' Σ|dY|), also with the data and weight
 *    gradients apart (the profiled step);
 *  - dX and dW against finite differences of the float64 objective
 *    Σ R ⊙ batchnorm(conv(X)).
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"
#include "hprt_rng.h"

#define EPS 1e-5

static void fill(hprt_rng *r, float *x, size_t n, double scale, double shift)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(shift + scale * (2.0 * hprt_rng_uniform(r) - 1.0));
}

/* Within rtol of the tensor's largest magnitude, or of `scale` when larger. */
static void close_tensor(const char *what, const float *got, const float *want, size_t n, double rtol, double scale)
{
    double m = scale;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(want[i]));
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= rtol * fmax(m, 1e-30)))
            fail_msg("%s[%zu]: %.9g, expected %.9g (largest %.3g)", what, i, (double)got[i], (double)want[i], m);
}

/* Two-pass float64 mean and variance of channel f over B samples of Y. */
static void two_pass(const float *Y, int B, int F, size_t howo, int f, double *mean, double *var)
{
    double s = 0, q = 0, n = (double)B * howo;
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < howo; i++)
            s += Y[((size_t)b * F + f) * howo + i];
    *mean = s / n;
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < howo; i++) {
            double d = Y[((size_t)b * F + f) * howo + i] - *mean;
            q += d * d;
        }
    *var = q / n;
}

/* The parts' sums (parts × [K, S1, S2][F]) combined as layer_batchnorm.c does. */
static void combine(const double *st, const double *cnt, int parts, int F, int f, double *mean, double *var)
{
    double n = 0, ms = 0, m2 = 0;
    for (int t = 0; t < parts; t++)
        n += cnt[t];
    for (int t = 0; t < parts; t++) {
        const double *s = st + (size_t)t * 3 * F;
        double d = s[F + f] / (cnt[t] > 0 ? cnt[t] : 1);
        ms += cnt[t] * (s[f] + d);
    }
    *mean = ms / n;
    for (int t = 0; t < parts; t++) {
        const double *s = st + (size_t)t * 3 * F;
        double d = s[F + f] / (cnt[t] > 0 ? cnt[t] : 1), dm = s[f] + d - *mean;
        m2 += s[2 * F + f] - s[F + f] * d + cnt[t] * dm * dm;
    }
    *var = fmax(0.0, m2 / n);
}

/* ---- the float64 objective for finite differences ------------------------------- */

typedef struct {
    hprt_conv2d_geom g;
    int B;
    double *X, *W, *b, *R, *gam, *bet, *Y;
} ctx;

static double objective(void *v)
{
    ctx *c = v;
    const hprt_conv2d_geom *g = &c->g;
    const size_t howo = (size_t)g->Ho * g->Wo;
    tu_conv2d_f64(c->B, g->C, g->H, g->W, g->F, g->k, g->stride, g->pad, g->Ho, g->Wo, c->X, c->W, c->b, c->Y);
    double L = 0, cnt = (double)c->B * howo;
    for (int f = 0; f < g->F; f++) {
        double s = 0, q = 0;
        for (int n = 0; n < c->B; n++)
            for (size_t i = 0; i < howo; i++)
                s += c->Y[((size_t)n * g->F + f) * howo + i];
        double mean = s / cnt;
        for (int n = 0; n < c->B; n++)
            for (size_t i = 0; i < howo; i++) {
                double d = c->Y[((size_t)n * g->F + f) * howo + i] - mean;
                q += d * d;
            }
        double rstd = 1.0 / sqrt(q / cnt + EPS);
        for (int n = 0; n < c->B; n++)
            for (size_t i = 0; i < howo; i++) {
                size_t j = ((size_t)n * g->F + f) * howo + i;
                L += c->R[j] * ((c->Y[j] - mean) * rstd * c->gam[f] + c->bet[f]);
            }
    }
    return L;
}

/* ---- one geometry ------------------------------------------------------------------- */

static void bn_case(int B, int C, int H, int W, int F, int k, int stride, int pad, double shift, bool fd)
{
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, k, stride, pad, pad);
    assert_true(g.Ho > 0 && g.Wo > 0 && B >= 2);
    print_message("B %d, %d -> %d channels, %dx%d, k %d s %d pad %d -> %dx%d, mean %g%s\n", B, C, F, H, W, k, stride,
                  pad, g.Ho, g.Wo, shift, hprt_conv2d_wino_pays(&g) ? " (Winograd)" : "");
    const size_t howo = (size_t)g.Ho * g.Wo;
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)B * F * howo;
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(B * 7919 + C * 1009 + H * 101 + W * 11 + F + stride));
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew((size_t)F), *gam = tu_fnew((size_t)F),
          *bet = tu_fnew((size_t)F), *R = tu_fnew(ny), *S = tu_fnew(hprt_conv2d_scratch(&g));
    /* a large mean: small weights (std about 0.01–0.1) and a bias of `shift` */
    fill(&r, X, nx, 1, 0), fill(&r, Wt, nw, shift > 0 ? 0.02 : 1, 0), fill(&r, b, (size_t)F, 1, shift);
    fill(&r, gam, (size_t)F, 0.5, 1), fill(&r, bet, (size_t)F, 1, 0), fill(&r, R, ny, 1, 0);

    /* forward: Y untouched by the sums; the sums of two "threads" */
    float *Y0 = tu_fnew(ny), *Y1 = tu_fnew(ny);
    hprt_conv2d_forward_fast(&g, X, Wt, b, Y0, B, S);
    tu_poison(Y1, ny);
    int B0 = B / 2;
    double st[2 * 3 * 64], cnt[2] = {(double)B0 * howo, (double)(B - B0) * howo}, one[3 * 64];
    assert_true(F <= 64);
    for (size_t i = 0; i < sizeof st / sizeof *st; i++)
        st[i] = NAN;
    hprt_conv2d_forward_bn(&g, X, Wt, b, Y1, B0, S, st);
    hprt_conv2d_forward_bn(&g, X + (size_t)B0 * C * H * W, Wt, b, Y1 + (size_t)B0 * F * howo, B - B0, S, st + 3 * F);
    hprt_conv2d_forward_bn(&g, X, Wt, b, Y1, B, S, one);
    assert_memory_equal(Y0, Y1, ny * sizeof *Y0);
    double *bn = malloc(5 * (size_t)F * sizeof *bn), rtol = shift > 0 ? 1e-9 : 1e-6;
    assert_non_null(bn);
    for (int f = 0; f < F; f++) {
        double m0, v0, m1, v1, m2, v2, n1 = (double)B * howo;
        two_pass(Y0, B, F, howo, f, &m0, &v0);
        combine(st, cnt, 2, F, f, &m1, &v1);
        combine(one, &n1, 1, F, f, &m2, &v2);
        if (shift > 0 && f == 0)
            print_message("channel 0: mean %.6g, std %.3g (mean/std %.3g)\n", m0, sqrt(v0), m0 / sqrt(v0));
        double sd = sqrt(v0);
        if (!(fabs(m1 - m0) <= rtol * sd && fabs(m2 - m0) <= rtol * sd))
            fail_msg("mean[%d]: %.17g / %.17g, two-pass %.17g", f, m1, m2, m0);
        if (!(fabs(v1 - v0) <= rtol * v0 && fabs(v2 - v0) <= rtol * v0))
            fail_msg("var[%d]: %.17g / %.17g, two-pass %.17g", f, v1, v2, v0);
        bn[f] = m1;
        bn[F + f] = 1.0 / sqrt(v1 + EPS);
        bn[2 * F + f] = gam[f] * bn[F + f];
    }
    /* B = 0: the sums are zero */
    hprt_conv2d_forward_bn(&g, X, Wt, b, Y1, 0, S, one);
    for (int i = 0; i < 3 * F; i++)
        assert_true(one[i] == 0.0);

    /* backward: the reference chain */
    float *N = tu_fnew(ny), *dA0 = tu_fnew(ny), *dX0 = tu_fnew(nx), *dW0 = tu_fnew(nw), *db0 = tu_fnew((size_t)F),
          *dg = tu_fnew((size_t)F), *dbt = tu_fnew((size_t)F);
    hprt_batchnorm_forward(Y0, gam, bet, N, B, F, (int)howo, EPS, NULL, 0.1);
    hprt_batchnorm_backward(Y0, gam, R, dA0, dg, dbt, B, F, (int)howo, EPS);
    hprt_conv2d_backward_fast(&g, X, Wt, dA0, dX0, dW0, db0, B, S);
    /* the coefficients as layer_batchnorm.c forms them: Σdy/n, Σdy·x̂/n */
    for (int f = 0; f < F; f++) {
        double g1 = 0, g2 = 0, n = (double)B * howo;
        for (int s = 0; s < B; s++)
            for (size_t i = 0; i < howo; i++) {
                size_t j = ((size_t)s * F + f) * howo + i;
                g1 += R[j];
                g2 += (double)R[j] * (((double)Y0[j] - bn[f]) * bn[F + f]);
            }
        bn[3 * F + f] = g1 / n;
        bn[4 * F + f] = g2 / n;
    }
    float *dA1 = tu_fnew(ny), *dX1 = tu_fnew(nx), *dW1 = tu_fnew(nw), *db1 = tu_fnew((size_t)F);
    tu_poison(dA1, ny), tu_poison(dX1, nx), tu_poison(dW1, nw), tu_poison(db1, (size_t)F);
    hprt_conv2d_backward_bn(&g, X, Wt, Y1, R, dA1, dX1, dW1, db1, B, S, HPRT_CONV_BN, bn);
    /* db = Σ dY of a batchnorm's input is 0 up to rounding: held to the
     * size of its terms, the largest channel's Σ|dY| */
    double dbs = 0;
    for (int f = 0; f < F; f++) {
        double a = 0;
        for (int s = 0; s < B; s++)
            for (size_t i = 0; i < howo; i++)
                a += fabs(dA0[((size_t)s * F + f) * howo + i]);
        dbs = fmax(dbs, a);
    }
    close_tensor("dY", dA1, dA0, ny, 1e-5, 0);
    close_tensor("dX", dX1, dX0, nx, 1e-5, 0);
    close_tensor("dW", dW1, dW0, nw, 1e-5, 0);
    close_tensor("db", db1, db0, (size_t)F, 1e-5, dbs);
    /* apart, as the profiled step calls it: the same bits as at once */
    float *dA2 = tu_fnew(ny), *dX2 = tu_fnew(nx), *dW2 = tu_fnew(nw), *db2 = tu_fnew((size_t)F);
    tu_poison(dA2, ny);
    hprt_conv2d_backward_bn(&g, X, Wt, Y1, R, dA2, dX2, NULL, NULL, B, S, HPRT_CONV_BN, bn);
    hprt_conv2d_backward_bn(&g, X, Wt, Y1, NULL, dA2, NULL, dW2, db2, B, S, 0, NULL);
    assert_memory_equal(dA1, dA2, ny * sizeof *dA1);
    assert_memory_equal(dX1, dX2, nx * sizeof *dX1);
    assert_memory_equal(dW1, dW2, nw * sizeof *dW1);
    assert_memory_equal(db1, db2, (size_t)F * sizeof *db1);

    if (fd) {
        ctx c = {g, B, tu_to_double(X, nx), tu_to_double(Wt, nw), tu_to_double(b, (size_t)F), tu_to_double(R, ny),
                 tu_to_double(gam, (size_t)F), tu_to_double(bet, (size_t)F), NULL};
        c.Y = malloc(ny * sizeof *c.Y);
        assert_non_null(c.Y);
        size_t sx = (size_t)2 * H * W, sw = (size_t)2 * C * k * k;
        sx = sx < nx ? sx : nx, sw = sw < nw ? sw : nw;
        tu_check_grad(objective, &c, c.X, sx, dX1);
        tu_check_grad(objective, &c, c.W, sw, dW1);
        free(c.X), free(c.W), free(c.b), free(c.R), free(c.gam), free(c.bet), free(c.Y);
    }
    free(X), free(Wt), free(b), free(gam), free(bet), free(R), free(S), free(Y0), free(Y1), free(bn);
    free(N), free(dA0), free(dX0), free(dW0), free(db0), free(dg), free(dbt);
    free(dA1), free(dX1), free(dW1), free(db1), free(dA2), free(dX2), free(dW2), free(db2);
}

static void test_bn_im2col(void **state)
{
    (void)state;
    bn_case(3, 1, 9, 11, 5, 3, 1, 1, 0, true);     /* one input channel, odd sizes */
    bn_case(2, 2, 11, 10, 3, 5, 2, 2, 0, true);    /* 5×5 kernel, stride 2 */
    bn_case(4, 3, 9, 8, 7, 3, 2, 1, 0, true);      /* 3×3, stride 2 */
    bn_case(2, 5, 6, 7, 19, 1, 1, 0, 0, false);    /* 1×1: no im2col; 19 channels */
    bn_case(3, 17, 9, 9, 7, 3, 1, 1, 0, false);    /* 17 channels in, too few out for Winograd */
    bn_case(4, 1, 28, 28, 32, 3, 1, 1, 0, false);  /* the first conv of bench/fmnist_cnn_bn.hp */
}

static void test_bn_winograd(void **state)
{
    (void)state;
    hprt_conv2d_geom g = hprt_conv2d_geom_make(16, 9, 7, 17, 3, 1, 1, 1);
    assert_true(hprt_conv2d_wino_pays(&g));
    bn_case(3, 16, 9, 7, 17, 3, 1, 1, 0, false);   /* odd Ho, Wo; 17 filters */
    bn_case(5, 19, 6, 6, 16, 3, 1, 0, 0, false);   /* valid: 4×4; 19 channels in */
    bn_case(5, 32, 14, 14, 33, 3, 1, 1, 0, false); /* several chunks of samples */
    bn_case(2, 16, 5, 5, 16, 3, 1, 1, 0, true);    /* finite differences */
}

/* Channels whose mean is 1e3–1e4 times their standard deviation. */
static void test_bn_large_mean(void **state)
{
    (void)state;
    bn_case(4, 3, 9, 8, 7, 3, 2, 1, 300, false);
    bn_case(3, 1, 9, 11, 5, 3, 1, 1, 200, false);
    bn_case(3, 16, 9, 7, 17, 3, 1, 1, 500, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_im2col),
        cmocka_unit_test(test_bn_winograd),
        cmocka_unit_test(test_bn_large_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
