/* test_init.c - the `init =` of embed and the recurrent layers (docs/language.md
 * §8): torch.nn.init.orthogonal_ (QᵀQ = I, per gate block of W_hh), the
 * moments and bounds of every embedding and recurrent initialiser as the
 * session's init pass draws them, and the defaults unchanged. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "hprt.h"
#include "session.h"

/* max |(MᵀM − I)| over the columns of the rows x cols matrix W (or |(MMᵀ − I)| over its rows when wide) */
static double orthogonality_error(const float *W, int rows, int cols)
{
    bool wide = rows < cols;
    int n = wide ? rows : cols, m = wide ? cols : rows;
    double worst = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            double d = 0;
            for (int i = 0; i < m; i++)
                d += wide ? (double)W[(size_t)a * cols + i] * W[(size_t)b * cols + i]
                          : (double)W[(size_t)i * cols + a] * W[(size_t)i * cols + b];
            worst = fmax(worst, fabs(d - (a == b)));
        }
    return worst;
}

static void test_orthogonal(void **state)
{
    (void)state;
    static const int shapes[][2] = {{64, 64}, {1, 1}, {3, 7}, {7, 3}, {256, 256}, {40, 100}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        float *W = malloc(sizeof(float) * (size_t)rows * cols);
        assert_non_null(W);
        hprt_rng r;
        hprt_rng_seed(&r, 7 + s);
        assert_int_equal(hprt_init_orthogonal(&r, W, rows, cols, 1.0), HPRT_OK);
        double e = orthogonality_error(W, rows, cols);
        if (e > 1e-5)
            print_error("%dx%d: |QᵀQ − I| = %g\n", rows, cols, e);
        assert_true(e <= 1e-5);
        /* R's diagonal positive: column 0 of Q points as column 0 of the Gaussian draw */
        hprt_rng_seed(&r, 7 + s);
        double g0 = hprt_rng_normal(&r);
        assert_true((W[0] > 0) == (g0 > 0));
        free(W);
    }
    /* a 1x1 matrix is sign(g) · gain */
    float w;
    hprt_rng r;
    hprt_rng_seed(&r, 3);
    assert_int_equal(hprt_init_orthogonal(&r, &w, 1, 1, 2.0), HPRT_OK);
    assert_true(w == 2.0f || w == -2.0f);
}

/* ---- through the session's init pass ---- */

typedef struct {
    char *dir;
    hp_session hs;
} model;

static void model_open(model *m, const char *embed_init, const char *cell, const char *rnn_init)
{
    memset(m, 0, sizeof *m);
    m->dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/m.hp", m->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "data d {\n    train = text(\"/usr/share/games/fortunes/computers\", seq = 16)\n}\n"
            "model m {\n    input tokens\n    embed 64, init = %s\n    %s 48, stack = 2, init = %s\n"
            "    dense vocab, softmax\n}\n"
            "experiment e {\n    data = d\n    model = m\n    loss = cross_entropy\n    optimizer = sgd(lr = 0.1)\n"
            "    epochs = 1\n    seed = 5\n    threads = 1\n}\n",
            embed_init, cell, rnn_init);
    assert_int_equal(fclose(f), 0);
    hp_session_opts o = {.file = path, .use = HP_USE_TRAIN, .threads = 1};
    hp_session_init(&m->hs, &o);
    hp_error err;
    hp_err_class c = hp_session_run(&m->hs, HP_PASS_INIT, &err);
    if (c != HP_ERR_NONE)
        print_error("%s: %s (%d diagnostics)\n", hp_pass_name(err.pass), err.msg, m->hs.diags.n_errors);
    assert_int_equal(c, HP_ERR_NONE);
}

static void model_close(model *m)
{
    hp_session_free(&m->hs);
    tu_rmrf(m->dir);
    free(m->dir);
}

static void moments(const float *x, size_t n, double *mean, double *var, double *lo, double *hi)
{
    double s = 0, ss = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        *lo = fmin(*lo, x[i]);
        *hi = fmax(*hi, x[i]);
    }
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *var = ss / (double)n;
}

/* The embedding's weights: [vocab x 64] at layer 1. */
static const float *embedding(const model *m, size_t *n)
{
    const cg_layer_layout *L = &m->hs.layout->layers[1];
    *n = (size_t)L->w_size;
    assert_int_equal(*n, (size_t)m->hs.e->layers[1].vocab * 64);
    return m->hs.mem.params + L->w;
}

static void test_embed_inits(void **state)
{
    (void)state;
    double mean, var, lo, hi;
    size_t n;
    /* default and normal: N(0, 1), the same draws */
    model d, nm;
    model_open(&d, "default", "lstm", "default");
    model_open(&nm, "normal", "lstm", "default");
    size_t n2;
    const float *E = embedding(&d, &n), *En = embedding(&nm, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(E, En, n * sizeof(float));
    assert_memory_equal(d.hs.mem.params, nm.hs.mem.params, (size_t)d.hs.layout->n_params * sizeof(float));
    moments(E, n, &mean, &var, &lo, &hi);
    double se = 1 / sqrt((double)n); /* the standard error of the mean */
    assert_true(fabs(mean) < 4 * se);
    assert_true(fabs(var - 1) < 4 * sqrt(2.0 / (double)n)); /* the variance's standard error is √(2/n)·σ² */
    model_close(&nm);
    /* uniform: Keras's U(-0.05, 0.05), variance 0.1²/12 */
    model u;
    model_open(&u, "uniform", "lstm", "default");
    E = embedding(&u, &n);
    moments(E, n, &mean, &var, &lo, &hi);
    assert_true(lo >= -0.05 && hi < 0.05 && lo < -0.049 && hi > 0.049);
    assert_true(fabs(mean) < 4 * 0.05 / sqrt(3.0 * (double)n));
    assert_close(var, 0.01 / 12, 0.05);
    /* the other layers' draws come after, from the same generator: only the
     * embedding differs from the default's (the rest is not compared) */
    model_close(&u);
    /* xavier: U(±√(6/(vocab + dim))) */
    model x;
    model_open(&x, "xavier", "lstm", "default");
    E = embedding(&x, &n);
    double bound = sqrt(6.0 / (double)(x.hs.e->layers[1].vocab + 64));
    moments(E, n, &mean, &var, &lo, &hi);
    assert_true(lo >= -bound && hi < bound && lo < -0.98 * bound && hi > 0.98 * bound);
    assert_close(var, bound * bound / 3, 0.05);
    model_close(&x);
    model_close(&d);
}

static void check_recurrent(const model *m, bool orthogonal)
{
    const cg_layer_layout *L = &m->hs.layout->layers[2];
    assert_int_equal(L->n_rnn, 2);
    for (int s = 0; s < L->n_rnn; s++) {
        const hprt_rnn_geom *g = &L->rnn[s].geom;
        int G = hprt_rnn_gates(g->cell), H = g->hidden;
        size_t GH = (size_t)G * H;
        const float *w = m->hs.mem.params + L->w + L->rnn[s].w;
        size_t sizes[4] = {GH * (size_t)g->in, GH * (size_t)H, GH, GH};
        double bound = 1 / sqrt((double)H), mean, var, lo, hi;
        for (int t = 0; t < 4; t++) {
            if (t == 1 && orthogonal) {
                /* each gate's H x H block is orthogonal */
                for (int k = 0; k < G; k++)
                    assert_true(orthogonality_error(w + (size_t)k * H * H, H, H) <= 1e-5);
            } else {
                /* U(±1/√H), variance 1/(3H) */
                moments(w, sizes[t], &mean, &var, &lo, &hi);
                assert_true(lo >= -bound && hi < bound);
                if (sizes[t] >= 1000)
                    assert_close(var, bound * bound / 3, 0.08);
                assert_true(fabs(mean) < 5 * bound / sqrt(3.0 * (double)sizes[t]));
            }
            w += sizes[t];
        }
    }
}

static void test_recurrent_inits(void **state)
{
    (void)state;
    static const char *cells[] = {"rnn", "gru", "lstm"};
    for (int c = 0; c < 3; c++) {
        model d, o;
        model_open(&d, "default", cells[c], "default");
        model_open(&o, "default", cells[c], "orthogonal");
        check_recurrent(&d, false);
        check_recurrent(&o, true);
        /* the embedding, drawn first, is the same */
        size_t n, n2;
        const float *Ed = embedding(&d, &n), *Eo = embedding(&o, &n2);
        assert_int_equal(n, n2);
        assert_memory_equal(Ed, Eo, n * sizeof(float));
        model_close(&o);
        model_close(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orthogonal),
        cmocka_unit_test(test_embed_inits),
        cmocka_unit_test(test_recurrent_inits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
