/* test_rt_conv_wino.c - Winograd F(2×2, 3×3) convolution (runtime/conv_wino.c).
 *
 * Every pass (forward, data gradient, weight and bias gradients) is checked
 *  - against finite differences of a float64 convolution (the analytic
 *    gradients are the adjoint of the forward, so they must be the true
 *    gradients of the same function), over odd sizes (7×7, 5×9, 13×13),
 *    padding 0, 1, 2 and asymmetric, channel counts that are not multiples
 *    of 16, batches that span several chunks of tiles with a partial last;
 *  - against the float64 reference kernel within the Winograd bound
 *    (wino_close below);
 *  - against PyTorch (tests/fixtures/conv_torch.txt) for every 3×3,
 *    stride-1 case there, within the same bound;
 *  - and the fast entries take exactly this path where it pays (bitwise).
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"
#include "hprt_rng.h"

#define FIXTURE HPC_SOURCE_DIR "/tests/fixtures/conv_torch.txt"

/* The Winograd bound.  The direct sum of n = C·9 products p_i rounds to
 * within about n·u·Σ|p_i| (u = 2^-24); F(2×2, 3×3) first forms sums of up to
 * 4 inputs and 4 filter taps (the transforms) and sums 16 products of those
 * through a 4-term output transform, so its terms are up to 4·4·4 = 64 times
 * larger than the p_i before they cancel (Lavin & Gray 2016, section 5:
 * error about 4× the direct method's in practice).  We allow
 *   |got − want| <= 1e-4 · (scale + |want|),
 * scale = the tensor's mean |value|: 1e-4 is ~1700 u, above the worst
 * observed error (~2e-6 relative on these sizes) by a factor of 50 and still
 * far below any error that matters for training or that a wrong index would
 * produce (those are O(scale)). */
static void wino_close(const char *what, const float *got, const double *want, size_t n)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale += fabs(want[i]);
    scale /= (double)(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 2e-5 * (scale + fabs(want[i]))))
            fail_msg("%s[%zu]: %.9g, want %.9g (scale %.3g)", what, i, got[i], want[i], scale);
}

static void fill(hprt_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * hprt_rng_uniform(r) - 1.0);
}

/* ---- a float64 convolution: the objective of the finite differences -------- */

typedef struct {
    hprt_conv2d_geom g;
    int B;
    double *X, *W, *b, *R, *Y;
} ctx;

static void conv_d(ctx *c)
{
    const hprt_conv2d_geom *g = &c->g;
    for (int n = 0; n < c->B; n++)
        for (int f = 0; f < g->F; f++)
            for (int oy = 0; oy < g->Ho; oy++)
                for (int ox = 0; ox < g->Wo; ox++) {
                    double s = c->b[f];
                    for (int ch = 0; ch < g->C; ch++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = oy + ky - g->pad, ix = ox + kx - g->pad;
                                if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W)
                                    continue;
                                s += c->W[((f * g->C + ch) * 3 + ky) * 3 + kx] *
                                     c->X[(((size_t)n * g->C + ch) * g->H + iy) * g->W + ix];
                            }
                    c->Y[(((size_t)n * g->F + f) * g->Ho + oy) * g->Wo + ox] = s;
                }
}

static double objective(void *v)
{
    ctx *c = v;
    conv_d(c);
    return tu_dot(c->R, c->Y, (size_t)c->B * c->g.F * c->g.Ho * c->g.Wo);
}

/* One geometry: the Winograd passes against the float64 reference kernels
 * (always) and against finite differences (fd). */
static void wino_case(int B, int C, int H, int W, int F, int lo, int hi, bool fd)
{
    hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, 3, 1, lo, hi);
    assert_true(hprt_conv2d_wino_fits(&g));
    print_message("B %d, %d -> %d channels, %dx%d, pad %d/%d -> %dx%d\n", B, C, F, H, W, lo, hi, g.Ho, g.Wo);
    hprt_rng r;
    hprt_rng_seed(&r, (uint64_t)(B * 1000 + C * 100 + H * 10 + W));
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * 9, ny = (size_t)B * F * g.Ho * g.Wo;
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew((size_t)F), *R = tu_fnew(ny);
    float *Y = tu_fnew(ny), *dX = tu_fnew(nx), *dW = tu_fnew(nw), *db = tu_fnew((size_t)F);
    float *rY = tu_fnew(ny), *rdX = tu_fnew(nx), *rdW = tu_fnew(nw), *rdb = tu_fnew((size_t)F);
    float *S = tu_fnew(hprt_conv2d_wino_scratch(&g));
    fill(&r, X, nx), fill(&r, Wt, nw), fill(&r, b, (size_t)F), fill(&r, R, ny);
    tu_poison(Y, ny), tu_poison(dX, nx), tu_poison(dW, nw), tu_poison(db, (size_t)F);

    hprt_conv2d_forward_wino(&g, X, Wt, b, Y, B, S);
    hprt_conv2d_backward_wino(&g, X, Wt, R, dX, dW, db, B, S);
    hprt_conv2d_forward(&g, X, Wt, b, rY, B);
    hprt_conv2d_backward(&g, X, Wt, R, rdX, rdW, rdb, B);
    double *w;
    wino_close("Y", Y, w = tu_to_double(rY, ny), ny), free(w);
    wino_close("dX", dX, w = tu_to_double(rdX, nx), nx), free(w);
    wino_close("dW", dW, w = tu_to_double(rdW, nw), nw), free(w);
    wino_close("db", db, w = tu_to_double(rdb, (size_t)F), (size_t)F), free(w);

    /* each gradient alone (the profiled step calls them apart): the same numbers */
    float *dX2 = tu_fnew(nx), *dW2 = tu_fnew(nw);
    tu_poison(dX2, nx), tu_poison(dW2, nw);
    hprt_conv2d_backward_wino(&g, X, Wt, R, dX2, NULL, NULL, B, S);
    hprt_conv2d_backward_wino(&g, X, Wt, R, NULL, dW2, NULL, B, S);
    assert_memory_equal(dX2, dX, nx * sizeof *dX);
    assert_memory_equal(dW2, dW, nw * sizeof *dW);
    free(dX2), free(dW2);

    if (fd) {
        ctx c = {g, B, tu_to_double(X, nx), tu_to_double(Wt, nw), tu_to_double(b, (size_t)F), tu_to_double(R, ny),
                 tu_to_double(Y, ny)};
        tu_check_grad(objective, &c, c.X, nx, dX);
        tu_check_grad(objective, &c, c.W, nw, dW);
        tu_check_grad(objective, &c, c.b, (size_t)F, db);
        free(c.X), free(c.W), free(c.b), free(c.R), free(c.Y);
    }
    free(X), free(Wt), free(b), free(R), free(Y), free(dX), free(dW), free(db);
    free(rY), free(rdX), free(rdW), free(rdb), free(S);
}

static void test_wino_gradients(void **state)
{
    (void)state;
    wino_case(2, 3, 7, 7, 5, 1, 1, true);   /* same, odd size: the last tile half outside */
    wino_case(3, 5, 5, 9, 4, 0, 0, true);   /* valid, 3×7 output */
    wino_case(2, 2, 6, 8, 3, 2, 2, true);   /* pad 2: the output larger than the input */
    wino_case(2, 4, 7, 6, 3, 1, 0, true);   /* asymmetric pad */
    wino_case(6, 2, 13, 13, 3, 1, 1, true); /* 49 tiles: 4 samples a chunk, two chunks, the last partial */
    wino_case(1, 1, 3, 3, 1, 0, 0, true);   /* one output */
    wino_case(9, 17, 14, 14, 18, 1, 1, false); /* channels past 16, several chunks */
    wino_case(3, 20, 28, 28, 33, 1, 1, false); /* 196 tiles: one sample a chunk */
    wino_case(4, 32, 14, 14, 64, 1, 1, false); /* the second conv of examples/fashion_cnn.hp */
}

/* Where Winograd pays, the fast entries are exactly the Winograd passes;
 * elsewhere they are not taken. */
static void test_wino_dispatch(void **state)
{
    (void)state;
    hprt_conv2d_geom g = hprt_conv2d_geom_make(16, 9, 9, 16, 3, 1, 1, 1);
    assert_true(hprt_conv2d_wino_pays(&g));
    assert_true(hprt_conv2d_scratch(&g) == hprt_conv2d_wino_scratch(&g));
    hprt_conv2d_geom small = hprt_conv2d_geom_make(1, 9, 9, 16, 3, 1, 1, 1);
    assert_false(hprt_conv2d_wino_pays(&small));
    hprt_conv2d_geom s2 = hprt_conv2d_geom_make(16, 9, 9, 16, 3, 2, 1, 1);
    assert_false(hprt_conv2d_wino_fits(&s2));
    hprt_conv2d_geom k5 = hprt_conv2d_geom_make(16, 9, 9, 16, 5, 1, 2, 2);
    assert_false(hprt_conv2d_wino_fits(&k5));

    const int B = 5;
    size_t nx = (size_t)B * 16 * 81, nw = 16 * 16 * 9, ny = (size_t)B * 16 * 81;
    hprt_rng r;
    hprt_rng_seed(&r, 99);
    float *X = tu_fnew(nx), *Wt = tu_fnew(nw), *b = tu_fnew(16), *R = tu_fnew(ny);
    float *Y[2] = {tu_fnew(ny), tu_fnew(ny)}, *dX[2] = {tu_fnew(nx), tu_fnew(nx)};
    float *dW[2] = {tu_fnew(nw), tu_fnew(nw)}, *db[2] = {tu_fnew(16), tu_fnew(16)};
    float *S = tu_fnew(hprt_conv2d_scratch(&g));
    fill(&r, X, nx), fill(&r, Wt, nw), fill(&r, b, 16), fill(&r, R, ny);
    hprt_conv2d_forward_fast(&g, X, Wt, b, Y[0], B, S);
    hprt_conv2d_backward_fast(&g, X, Wt, R, dX[0], dW[0], db[0], B, S);
    hprt_conv2d_forward_wino(&g, X, Wt, b, Y[1], B, S);
    hprt_conv2d_backward_wino(&g, X, Wt, R, dX[1], dW[1], db[1], B, S);
    assert_memory_equal(Y[0], Y[1], ny * sizeof(float));
    assert_memory_equal(dX[0], dX[1], nx * sizeof(float));
    assert_memory_equal(dW[0], dW[1], nw * sizeof(float));
    assert_memory_equal(db[0], db[1], 16 * sizeof(float));
    /* an empty batch: zero gradients, nothing written to Y */
    hprt_conv2d_backward_fast(&g, X, Wt, R, dX[0], dW[0], db[0], 0, S);
    for (size_t i = 0; i < nw; i++)
        assert_true(dW[0][i] == 0.0f);
    for (int i = 0; i < 16; i++)
        assert_true(db[0][i] == 0.0f);
    for (int k = 0; k < 2; k++)
        free(Y[k]), free(dX[k]), free(dW[k]), free(db[k]);
    free(X), free(Wt), free(b), free(R), free(S);
}

/* ---- against PyTorch ---------------------------------------------------------------- */

static float *floats(const double *v, size_t n)
{
    float *f = tu_fnew(n);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)v[i];
    return f;
}

static void test_wino_torch(void **state)
{
    (void)state;
    tu_fixture fx = tu_fixture_load(FIXTURE);
    int cases = 0;
    for (int i = 0; i < fx.n; i++) {
        const char *dot = strstr(fx.r[i].name, ".dims");
        if (!dot || dot[5] || fx.r[i].n != 8)
            continue;
        char name[48], key[64];
        snprintf(name, sizeof name, "%.*s", (int)(dot - fx.r[i].name), fx.r[i].name);
        const double *d = fx.r[i].v;
        int B = (int)d[0], C = (int)d[1], H = (int)d[2], W = (int)d[3], F = (int)d[4];
        hprt_conv2d_geom g = hprt_conv2d_geom_make(C, H, W, F, (int)d[5], (int)d[6], (int)d[7], (int)d[7]);
        if (!hprt_conv2d_wino_fits(&g))
            continue;
        cases++;
        size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * 9, ny = (size_t)B * F * g.Ho * g.Wo;
#define GET(field, count) (snprintf(key, sizeof key, "%s." field, name), tu_fixture_get(&fx, key, (int)(count)))
        float *X = floats(GET("X", nx), nx), *Wt = floats(GET("W", nw), nw), *b = floats(GET("b", F), (size_t)F);
        float *R = floats(GET("R", ny), ny);
        float *Y = tu_fnew(ny), *dX = tu_fnew(nx), *dW = tu_fnew(nw), *db = tu_fnew((size_t)F);
        float *S = tu_fnew(hprt_conv2d_wino_scratch(&g));
        print_message("%s: B %d, %d -> %d channels, %dx%d, pad %d\n", name, B, C, F, H, W, (int)d[7]);
        hprt_conv2d_forward_wino(&g, X, Wt, b, Y, B, S);
        hprt_conv2d_backward_wino(&g, X, Wt, R, dX, dW, db, B, S);
        wino_close("Y", Y, GET("Y", ny), ny);
        wino_close("dX", dX, GET("dX", nx), nx);
        wino_close("dW", dW, GET("dW", nw), nw);
        wino_close("db", db, GET("db", F), (size_t)F);
#undef GET
        free(X), free(Wt), free(b), free(R), free(Y), free(dX), free(dW), free(db), free(S);
    }
    assert_true(cases >= 2);
    tu_fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wino_gradients),
        cmocka_unit_test(test_wino_dispatch),
        cmocka_unit_test(test_wino_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
