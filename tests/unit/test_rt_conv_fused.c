/* test_rt_conv_fused.c - a conv with its epilogue fused: bias, relu and a 2×2,
 * stride-2 max pool in the conv's output loop, and their backward in the
 * forming of the conv's dY (hprt_conv2d_forward_epi / _backward_epi,
 * runtime/layers_conv.c, conv_wino.c, pool_fast.c).
 *
 * For every epilogue (relu, pool, relu + pool) on both lowerings (im2col +
 * GEMM, and Winograd where it pays), odd sizes (the pool's floor mode drops a
 * row and a column), channel counts that are not multiples of 16, strides,
 * a 1×1 kernel and batches spanning several Winograd chunks:
 *  - bit for bit against the unfused chain the training step ran before
 *    (hprt_conv2d_forward_fast, relu as the generated code computes it,
 *    hprt_maxpool2d_forward_fast; back hprt_maxpool2d_backward_fast, relu's
 *    backward, hprt_conv2d_backward_fast): Y, the pooled output, the formed
 *    dY and dX, dW, db, with outputs poisoned first (every element written);
 *  - the analytic gradients against finite differences of a float64
 *    objective Σ R ⊙ pool(relu(conv(X))).
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"
#include "hprt_rng.h"

static void fill(hprt_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * hprt_rng_uniform(r) - 1.0);
}

static void same_bits(const char *what, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a) != 0)
            fail_msg("%s[%zu]: %a (unfused) vs %a (fused)", what, i, (double)a[i], (double)b[i]);
}

/* ---- the float64 objective ------------------------------------------------------- */

typedef struct {
    hprt_conv2d_geom g;
    int B, epi;
    double *X, *W, *b, *R, *Y;
} ctx;

static double objective(void *v)
{
    ctx *c = v;
    const hprt_conv2d_geom *g = &c->g;
    tu_conv2d_f64(c->B, g->C, g->H, g->W, g->F, g->k, g->stride, g->pad, g->Ho, g->Wo, c->X, c->W, c->b, c->Y);
    size_t planes = (size_t)c->B * g->F;
    if (c->epi & HPRT_CONV_RELU)
        for (size_t i = 0; i < planes * g->Ho * g->Wo; i++)
            if (c->Y[i] < 0)
                c->Y[i] = 0;
    if (!(c->epi & HPRT_CONV_POOL2))
        return tu_dot(c->R, c->Y, planes * g->Ho * g->Wo);
    const int Hp = g->Ho / 2, Wp = g->Wo / 2;
    double L = 0;
    for (size_t p = 0; p < planes; p++) {
        const double *y = c->Y + p * g->Ho * g->Wo;
        for (int oy = 0; oy < Hp; oy++)
            for (int ox = 0; ox < Wp; ox++) {
                const double *r0 = y + (size_t)(2 * oy) * g->Wo + 2 * ox, *r1 = r0 + g->Wo;
                double m = r0[0];
                m = r0[1] > m ? r0[1] : m;
                m = r1[0] > m ? r1[0] : m;
                m = r1[1] > m ? r1[1] : m;
                L += c->R[(p * Hp + oy) * Wp + ox] * m;
            }
    }
    return L;
}

/* ---- one geometry and epilogue ---------------------------------------------------- */

static void fused_case(int B, int C, int H, int W, int F, int k, int stride, int pad, int epi, bool fd)
{
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, k, stride, pad, pad);
    assert_true(g.Ho > 0 && g.Wo > 0);
    print_message("B %d, %d -> %d channels, %dx%d, k %d s %d pad %d -> %dx%d, %s%s%s%s\n", B, C, F, H, W, k, stride, pad,
                  g.Ho, g.Wo, epi & HPRT_CONV_RELU ? "relu" : "", epi == 3 ? " + " : "",
                  epi & HPRT_CONV_POOL2 ? "pool" : "", hprt_conv2d_wino_pays(&g) ? " (Winograd)" : "");
    const bool pool = epi & HPRT_CONV_POOL2;
    hprt_pool2d_geom pg = hprt_pool2d_geom_make(F, g.Ho, g.Wo, 2, 2);
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * k * k, ny = (size_t)B * F * g.Ho * g.Wo;
    size_t np = pool ? (size_t)B * F * pg.Ho * pg.Wo : 0, nr = pool ? np : ny;
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(B * 7919 + C * 1009 + H * 101 + W * 11 + F + epi));
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew((size_t)F), *R = tu_fnew(nr);
    float *S = tu_fnew(hprt_conv2d_scratch(&g));
    fill(&r, X, nx), fill(&r, Wt, nw), fill(&r, b, (size_t)F), fill(&r, R, nr);
    float *Y0 = tu_fnew(ny), *P0 = tu_fnew(np), *dY0 = tu_fnew(ny), *dX0 = tu_fnew(nx), *dW0 = tu_fnew(nw),
          *db0 = tu_fnew((size_t)F);
    float *Y1 = tu_fnew(ny), *P1 = tu_fnew(np), *dY1 = tu_fnew(ny), *dX1 = tu_fnew(nx), *dW1 = tu_fnew(nw),
          *db1 = tu_fnew((size_t)F);

    /* the unfused chain */
    hprt_conv2d_forward_fast(&g, X, Wt, b, Y0, B, S);
    if (epi & HPRT_CONV_RELU) /* as the generated bias_act: x < 0 ? 0 : x */
        for (size_t i = 0; i < ny; i++)
            Y0[i] = Y0[i] < 0.0f ? 0.0f : Y0[i];
    if (pool) {
        hprt_maxpool2d_forward_fast(&pg, Y0, P0, B);
        hprt_maxpool2d_backward_fast(&pg, Y0, R, dY0, B);
    } else
        memcpy(dY0, R, ny * sizeof *dY0);
    if (epi & HPRT_CONV_RELU) /* relu's backward: y > 0 ? dy : 0 */
        for (size_t i = 0; i < ny; i++)
            dY0[i] = Y0[i] > 0.0f ? dY0[i] : 0.0f;
    hprt_conv2d_backward_fast(&g, X, Wt, dY0, dX0, dW0, db0, B, S);

    /* fused */
    tu_poison(Y1, ny), tu_poison(P1, np), tu_poison(dX1, nx), tu_poison(dW1, nw), tu_poison(db1, (size_t)F);
    hprt_conv2d_forward_epi(&g, X, Wt, b, Y1, pool ? P1 : NULL, B, S, epi);
    if (pool)
        tu_poison(dY1, ny);
    else
        memcpy(dY1, R, ny * sizeof *dY1);
    hprt_conv2d_backward_epi(&g, X, Wt, Y1, pool ? R : NULL, dY1, dX1, dW1, db1, B, S, epi);
    same_bits("Y", Y0, Y1, ny);
    if (pool)
        same_bits("P", P0, P1, np);
    same_bits("dY", dY0, dY1, ny);
    same_bits("dX", dX0, dX1, nx);
    same_bits("dW", dW0, dW1, nw);
    same_bits("db", db0, db1, (size_t)F);

    /* the data and weight gradients apart (the profiled step): the first call
     * forms dY, the second reads it; the same bits */
    float *dY2 = tu_fnew(ny), *dX2 = tu_fnew(nx), *dW2 = tu_fnew(nw), *db2 = tu_fnew((size_t)F);
    if (pool)
        tu_poison(dY2, ny);
    else
        memcpy(dY2, R, ny * sizeof *dY2);
    tu_poison(dX2, nx), tu_poison(dW2, nw), tu_poison(db2, (size_t)F);
    hprt_conv2d_backward_epi(&g, X, Wt, Y1, pool ? R : NULL, dY2, dX2, NULL, NULL, B, S, epi);
    hprt_conv2d_backward_epi(&g, X, Wt, Y1, NULL, dY2, NULL, dW2, db2, B, S, 0);
    same_bits("dY (apart)", dY0, dY2, ny);
    same_bits("dX (apart)", dX0, dX2, nx);
    same_bits("dW (apart)", dW0, dW2, nw);
    same_bits("db (apart)", db0, db2, (size_t)F);
    free(dY2), free(dX2), free(dW2), free(db2);

    if (fd) {
        ctx c = {g, B, epi, tu_to_double(X, nx), tu_to_double(Wt, nw), tu_to_double(b, (size_t)F), tu_to_double(R, nr), NULL};
        c.Y = malloc(ny * sizeof *c.Y);
        assert_non_null(c.Y);
        /* the first two input planes and filters, and every bias (the
         * other elements take the same code) */
        size_t sx = (size_t)2 * H * W, sw = (size_t)2 * C * k * k;
        sx = sx < nx ? sx : nx, sw = sw < nw ? sw : nw;
        tu_check_grad(objective, &c, c.X, sx, dX1);
        tu_check_grad(objective, &c, c.W, sw, dW1);
        tu_check_grad(objective, &c, c.b, (size_t)F, db1);
        free(c.X), free(c.W), free(c.b), free(c.R), free(c.Y);
    }
    free(X), free(Wt), free(b), free(R), free(S);
    free(Y0), free(P0), free(dY0), free(dX0), free(dW0), free(db0);
    free(Y1), free(P1), free(dY1), free(dX1), free(dW1), free(db1);
}

static const int EPIS[3] = {HPRT_CONV_RELU, HPRT_CONV_POOL2, HPRT_CONV_RELU | HPRT_CONV_POOL2};

static void test_fused_im2col(void **state)
{
    (void)state;
    for (int e = 0; e < 3; e++) {
        fused_case(2, 1, 9, 11, 5, 3, 1, 1, EPIS[e], true);  /* one input channel, odd: floor drops a row, a column */
        fused_case(3, 3, 8, 7, 4, 3, 1, 0, EPIS[e], true);   /* valid: 6×5 */
        fused_case(2, 2, 11, 10, 3, 5, 2, 2, EPIS[e], true); /* 5×5 kernel, stride 2 */
        fused_case(2, 5, 6, 7, 3, 1, 1, 0, EPIS[e], true);   /* 1×1: no im2col */
        fused_case(2, 17, 9, 9, 7, 3, 1, 1, EPIS[e], false); /* 17 channels in, too few out for Winograd */
        fused_case(2, 1, 28, 28, 32, 3, 1, 1, EPIS[e], false); /* the first conv of examples/fashion_cnn.hp */
    }
}

static void test_fused_wino(void **state)
{
    (void)state;
    for (int e = 0; e < 3; e++) {
        fused_case(2, 16, 7, 7, 16, 3, 1, 1, EPIS[e], true);   /* odd: the last tile half outside, floor */
        fused_case(5, 17, 5, 9, 19, 3, 1, 0, EPIS[e], true);   /* valid 3×7, 15 tiles: two chunks */
        fused_case(3, 16, 6, 8, 16, 3, 1, 1, EPIS[e], false);  /* even */
        fused_case(3, 20, 13, 13, 33, 3, 1, 1, EPIS[e], false); /* two chunks, the last partial */
        fused_case(4, 32, 14, 14, 64, 3, 1, 1, EPIS[e], false); /* the second conv of examples/fashion_cnn.hp */
    }
}

/* NaN and ties: relu's zeros tie in the pool's windows everywhere above; a
 * NaN input must come out where the unfused chain puts it. */
static void test_fused_nan(void **state)
{
    (void)state;
    for (int wino = 0; wino < 2; wino++) {
        int C = wino ? 16 : 2, F = wino ? 16 : 3, B = 2, H = 7, W = 9;
        hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, 3, 1, 1, 1);
        hprt_pool2d_geom pg = hprt_pool2d_geom_make(F, g.Ho, g.Wo, 2, 2);
        size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * 9, ny = (size_t)B * F * H * W,
               np = (size_t)B * F * pg.Ho * pg.Wo;
        hprt_rng r;
        hprt_rng_seed(&r, 5);
        float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew((size_t)F), *dP = tu_fnew(np);
        float *S = tu_fnew(hprt_conv2d_scratch(&g));
        fill(&r, X, nx), fill(&r, Wt, nw), fill(&r, b, (size_t)F), fill(&r, dP, np);
        X[3 * W + 4] = NAN; /* sample 0, channel 0: a NaN spreads over a 3×3 patch of every filter */
        float *Y0 = tu_fnew(ny), *P0 = tu_fnew(np), *dY0 = tu_fnew(ny), *Y1 = tu_fnew(ny), *P1 = tu_fnew(np),
              *dY1 = tu_fnew(ny);
        hprt_conv2d_forward_fast(&g, X, Wt, b, Y0, B, S);
        for (size_t i = 0; i < ny; i++)
            Y0[i] = Y0[i] < 0.0f ? 0.0f : Y0[i];
        hprt_maxpool2d_forward_fast(&pg, Y0, P0, B);
        hprt_maxpool2d_backward_fast(&pg, Y0, dP, dY0, B);
        for (size_t i = 0; i < ny; i++)
            dY0[i] = Y0[i] > 0.0f ? dY0[i] : 0.0f;
        tu_poison(dY1, ny);
        hprt_conv2d_forward_epi(&g, X, Wt, b, Y1, P1, B, S, HPRT_CONV_RELU | HPRT_CONV_POOL2);
        hprt_conv2d_backward_epi(&g, X, Wt, Y1, dP, dY1, NULL, NULL, NULL, B, S, HPRT_CONV_RELU | HPRT_CONV_POOL2);
        assert_true(isnan(P1[0 * pg.Ho * pg.Wo + 1 * pg.Wo + 2]));
        same_bits("Y", Y0, Y1, ny);
        same_bits("P", P0, P1, np);
        same_bits("dY", dY0, dY1, ny);
        free(X), free(Wt), free(b), free(dP), free(S), free(Y0), free(P0), free(dY0), free(Y1), free(P1), free(dY1);
    }
}

/* The plain entries are the epilogue entries with epi = 0. */
static void test_fused_none(void **state)
{
    (void)state;
    fused_case(2, 3, 7, 6, 4, 3, 1, 1, 0, true);
    fused_case(2, 16, 7, 6, 16, 3, 1, 1, 0, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_im2col),
        cmocka_unit_test(test_fused_wino),
        cmocka_unit_test(test_fused_nan),
        cmocka_unit_test(test_fused_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
