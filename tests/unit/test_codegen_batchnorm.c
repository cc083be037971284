/* test_codegen_batchnorm.c - `batchnorm` in the JIT-compiled steps against
 * the reference kernels (hprt_batchnorm_*, runtime/layers_norm.c).
 *
 * Two small networks over CSV data, one training step on 1 and 2 threads
 * (rows split between the threads, the statistics summed over all of them at
 * the barrier; channels split in the weight phase): dense -> batchnorm ->
 * relu on vectors (BatchNorm1d), and on an image [1, 6, 7] a batchnorm
 * straight after the input (no input gradient) and one after a conv
 * (BatchNorm2d over batch x H x W).  The loss, every gradient, every
 * parameter after the update and the running statistics must equal the
 * reference within 1e-5 relative; the threads' results must agree with one
 * thread's to float rounding; the evaluation step's loss must be the
 * reference's with the running statistics; and weight decay must leave the
 * running statistics alone.  The optimizer is SGD: the bias of a layer right
 * before a batchnorm has a gradient of zero up to rounding, which Adam's
 * g/√v would turn into steps of ±lr that differ between two exact
 * computations. */
#include <math.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_train.h"

#define ROWS 23
#define FEAT 42
#define CLASSES 3
#define MAXB 32

typedef cg_test_csv fixture;

typedef struct {
    plan *pl;
    cg_test_prog t;
    hprt_dataset ds;
} compiled;

static void compile(compiled *c, fixture *f, const char *model, const char *opt, int threads, int B)
{
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\") }\n"
             "model m { %s }\n"
             "experiment e { data = d; model = m; optimizer = %s }\n",
             f->path, model, opt);
    checked *ck;
    c->pl = plan_src(&ck, src, "e", NULL, 0);
    if (!c->pl)
        print_error("%s\n", ck->text);
    assert_non_null(c->pl);
    checked_free(ck);
    cg_test_build(&c->t, c->pl->experiment, threads, B);
    hprt_csv_opts o = hprt_csv_defaults();
    hprt_error herr;
    assert_int_equal(hprt_csv_load(f->path, &o, &c->ds, &herr), HPRT_OK);
}

static void release(compiled *c)
{
    cg_test_release(&c->t);
    hprt_dataset_free(&c->ds);
    plan_free(c->pl);
}

static void compare(const float *got, const float *want, long n, double rtol, const char *what)
{
    for (long i = 0; i < n; i++) {
        double tol = rtol * fmax(1.0, fabs(want[i]));
        if (!(fabs(got[i] - want[i]) <= tol)) {
            print_error("%s[%ld]: %.9g, expected %.9g\n", what, i, got[i], want[i]);
            fail();
        }
    }
}

/* The reference's forward (train: the batch's statistics, moving the
 * running ones in P; else the running ones) and, with G, backward; returns
 * the mean loss. */
typedef double (*reference_fn)(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G,
                               bool train);

/* Running statistics that are not the initial ones (so that eval reads them). */
static void set_running(compiled *c)
{
    for (int i = 0; i < c->t.l->n_layers; i++) {
        const cg_layer_layout *L = &c->t.l->layers[i];
        for (long k = 0; L->running >= 0 && k < L->width; k++) {
            c->t.mem.params[L->running + k] = 0.1f * (float)k - 0.2f;
            c->t.mem.params[L->running + L->width + k] = 0.5f + 0.25f * (float)k;
        }
    }
}

/* One training step, then an evaluation; returns the parameters after the step (malloc). */
static float *check_step(const char *model, const char *opt, reference_fn ref, int threads, int B)
{
    fixture f;
    cg_test_csv_write(&f, ROWS, FEAT, CLASSES, 11, true);
    compiled c;
    compile(&c, &f, model, opt, threads, B);
    set_running(&c);
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 5) % ROWS;
    static hprt_step_io io;
    memset(&io, 0, sizeof io);
    hprt_step_set_batch(&io, &c.ds, order, 2, 0);
    float p[HPRT_MAX_DROPOUT] = {0};
    const plan_experiment *e = c.pl->experiment;
    hprt_step_set_numbers(&io, &e->optimizer, 0.01, NAN, 1, 1, 1, p, c.t.l->n_dropout);

    long n = c.t.l->n_params;
    float *P = malloc(sizeof(float) * (size_t)n), *G = calloc((size_t)n, sizeof(float));
    assert_true(P && G);
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)n);
    float X[MAXB * FEAT];
    int32_t lab[MAXB];
    assert_true(B <= MAXB);
    for (int r = 0; r < B; r++) {
        uint32_t s = order[io.start + r];
        memcpy(X + r * FEAT, c.ds.x + (size_t)s * FEAT, sizeof(float) * FEAT);
        lab[r] = c.ds.y[s];
    }
    double loss = ref(&c, X, lab, B, P, G, true);
    print_message("%s: %d threads, batch %d, %s\n", model, threads, B, opt);
    /* the reference's update (the running statistics have no gradient: the
     * optimizer would leave them, but weight decay would not, so they are
     * set after it, as the compiled step must leave them) */
    float *run = malloc(sizeof(float) * (size_t)n);
    assert_non_null(run);
    memcpy(run, P, sizeof(float) * (size_t)n);
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)n);
    assert_non_null(st);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)n, 0.01, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);
    for (int i = 0; i < c.t.l->n_layers; i++) {
        const cg_layer_layout *L = &c.t.l->layers[i];
        if (L->running >= 0)
            memcpy(P + L->running, run + L->running, sizeof(float) * 2 * (size_t)L->width);
    }
    free(run);

    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    double got = 0;
    for (int k = 0; k < threads; k++)
        got += io.loss[k];
    assert_close(got / B, loss, 1e-5);
    compare(c.t.mem.grads, G, n, 1e-5, "gradient");
    compare(c.t.mem.params, P, n, 1e-5, "parameter");

    /* evaluation: the running statistics after the step */
    double want = ref(&c, X, lab, B, P, NULL, false);
    io.rows = B;
    run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
    got = 0;
    for (int k = 0; k < threads; k++)
        got += io.loss[k];
    assert_close(got / B, want, 1e-5);
    float *after = malloc(sizeof(float) * (size_t)n);
    assert_non_null(after);
    memcpy(after, c.t.mem.params, sizeof(float) * (size_t)n);
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
    return after;
}

/* The same step on 1 and 2 threads: the same parameters, to float rounding. */
static void threads_agree(const char *model, const char *opt, reference_fn ref, int B, long n)
{
    float *one = check_step(model, opt, ref, 1, B), *two = check_step(model, opt, ref, 2, B);
    compare(two, one, n, 1e-6, "2 threads vs 1");
    free(one);
    free(two);
}

/* input 42 -> dense 11 -> batchnorm momentum = 0.3 -> relu -> dense classes */
#define MODEL_VEC "input 42\n dense 11\n batchnorm momentum = 0.3\n relu\n dense classes"
static double ref_vec(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G, bool train)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L4 = &l->layers[4];
    assert_int_equal(L2->w_size, 11);
    assert_int_equal(L2->width, 11);
    float A1[MAXB * 11], N1[MAXB * 11], Z[MAXB * CLASSES], dZ[MAXB * CLASSES], dN1[MAXB * 11], dA1[MAXB * 11];
    hprt_dense_forward(X, P + L1->w, P + L1->b, A1, B, FEAT, 11);
    if (train)
        hprt_batchnorm_forward(A1, P + L2->w, P + L2->b, N1, B, 11, 1, 1e-5, P + L2->running, 0.3);
    else
        hprt_batchnorm_forward_eval(A1, P + L2->w, P + L2->b, P + L2->running, N1, B, 11, 1, 1e-5);
    hprt_relu_forward(N1, N1, (size_t)B * 11);
    hprt_dense_forward(N1, P + L4->w, P + L4->b, Z, B, 11, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, G ? dZ : NULL);
    if (!G)
        return loss;
    hprt_dense_backward(N1, P + L4->w, dZ, dN1, G + L4->w, G + L4->b, B, 11, CLASSES);
    hprt_relu_backward(N1, dN1, dN1, (size_t)B * 11);
    hprt_batchnorm_backward(A1, P + L2->w, dN1, dA1, G + L2->w, G + L2->b, B, 11, 1, 1e-5);
    hprt_dense_backward(X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B, FEAT, 11);
    return loss;
}

/* input [1, 6, 7] -> batchnorm -> conv 3 -> batchnorm eps = 0.001 -> relu -> dense classes */
#define MODEL_IMG "input [1, 6, 7]\n batchnorm\n conv 3\n batchnorm eps = 0.001\n relu\n dense classes"
static double ref_img(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G, bool train)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L3 = &l->layers[3], *L5 = &l->layers[5];
    assert_int_equal(L1->width, 1);
    assert_int_equal(L3->width, 3);
    enum { O = 3 * FEAT };
    float N0[MAXB * FEAT], A2[MAXB * O], N2[MAXB * O], Z[MAXB * CLASSES], dZ[MAXB * CLASSES], dN2[MAXB * O],
        dA2[MAXB * O], dN0[MAXB * FEAT];
    hprt_conv2d_geom geo = hprt_conv2d_geom_make(1, 6, 7, 3, 3, 1, 1, 1);
    if (train)
        hprt_batchnorm_forward(X, P + L1->w, P + L1->b, N0, B, 1, FEAT, 1e-5, P + L1->running, 0.1);
    else
        hprt_batchnorm_forward_eval(X, P + L1->w, P + L1->b, P + L1->running, N0, B, 1, FEAT, 1e-5);
    hprt_conv2d_forward(&geo, N0, P + L2->w, P + L2->b, A2, B);
    if (train)
        hprt_batchnorm_forward(A2, P + L3->w, P + L3->b, N2, B, 3, FEAT, 1e-3, P + L3->running, 0.1);
    else
        hprt_batchnorm_forward_eval(A2, P + L3->w, P + L3->b, P + L3->running, N2, B, 3, FEAT, 1e-3);
    hprt_relu_forward(N2, N2, (size_t)B * O);
    hprt_dense_forward(N2, P + L5->w, P + L5->b, Z, B, O, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, G ? dZ : NULL);
    if (!G)
        return loss;
    hprt_dense_backward(N2, P + L5->w, dZ, dN2, G + L5->w, G + L5->b, B, O, CLASSES);
    hprt_relu_backward(N2, dN2, dN2, (size_t)B * O);
    hprt_batchnorm_backward(A2, P + L3->w, dN2, dA2, G + L3->w, G + L3->b, B, 3, FEAT, 1e-3);
    hprt_conv2d_backward(&geo, N0, P + L2->w, dA2, dN0, G + L2->w, G + L2->b, B);
    hprt_batchnorm_backward(X, P + L1->w, dN0, NULL, G + L1->w, G + L1->b, B, 1, FEAT, 1e-5);
    return loss;
}

/* input [1, 6, 7] -> conv 4 -> batchnorm -> relu -> maxpool -> dense classes:
 * the relu and the 2×2 max pool (floor: 6×7 -> 3×3) computed in the
 * batchnorm's passes (codegen.c's bn_epi); the reference runs each alone. */
#define MODEL_POOL "input [1, 6, 7]\n conv 4\n batchnorm\n relu\n maxpool\n dense classes"
static double ref_pool(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G, bool train)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L5 = &l->layers[5];
    assert_int_equal(L2->width, 4);
    enum { O = 4 * FEAT, Q = 4 * 3 * 3 };
    float A1[MAXB * O], N1[MAXB * O], M1[MAXB * Q], Z[MAXB * CLASSES], dZ[MAXB * CLASSES], dM1[MAXB * Q],
        dN1[MAXB * O], dA1[MAXB * O];
    hprt_conv2d_geom geo = hprt_conv2d_geom_make(1, 6, 7, 4, 3, 1, 1, 1);
    hprt_pool2d_geom pg = hprt_pool2d_geom_make(4, 6, 7, 2, 2);
    hprt_conv2d_forward(&geo, X, P + L1->w, P + L1->b, A1, B);
    if (train)
        hprt_batchnorm_forward(A1, P + L2->w, P + L2->b, N1, B, 4, FEAT, 1e-5, P + L2->running, 0.1);
    else
        hprt_batchnorm_forward_eval(A1, P + L2->w, P + L2->b, P + L2->running, N1, B, 4, FEAT, 1e-5);
    hprt_relu_forward(N1, N1, (size_t)B * O);
    hprt_maxpool2d_forward(&pg, N1, M1, B);
    hprt_dense_forward(M1, P + L5->w, P + L5->b, Z, B, Q, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, G ? dZ : NULL);
    if (!G)
        return loss;
    hprt_dense_backward(M1, P + L5->w, dZ, dM1, G + L5->w, G + L5->b, B, Q, CLASSES);
    hprt_maxpool2d_backward(&pg, N1, dM1, dN1, B);
    hprt_relu_backward(N1, dN1, dN1, (size_t)B * O);
    hprt_batchnorm_backward(A1, P + L2->w, dN1, dA1, G + L2->w, G + L2->b, B, 4, FEAT, 1e-5);
    hprt_conv2d_backward(&geo, X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B);
    return loss;
}

/* input [1, 6, 7] -> conv 16, relu -> conv 17 -> batchnorm -> relu -> maxpool
 * -> dense classes: the second conv runs Winograd (16 channels in, 17 out)
 * and does the batchnorm's sums and dx (codegen.c's conv_bn); the reference
 * runs each layer alone. */
#define MODEL_WINO "input [1, 6, 7]\n conv 16, relu\n conv 17\n batchnorm\n relu\n maxpool\n dense classes"
static double ref_wino(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G, bool train)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L3 = &l->layers[3], *L6 = &l->layers[6];
    assert_int_equal(L3->width, 17);
    enum { O1 = 16 * FEAT, O = 17 * FEAT, Q = 17 * 3 * 3 };
    static float A1[MAXB * O1], A2[MAXB * O], N2[MAXB * O], M2[MAXB * Q], dM2[MAXB * Q], dN2[MAXB * O],
        dA2[MAXB * O], dA1[MAXB * O1];
    float Z[MAXB * CLASSES], dZ[MAXB * CLASSES];
    hprt_conv2d_geom g1 = hprt_conv2d_geom_make(1, 6, 7, 16, 3, 1, 1, 1);
    hprt_conv2d_geom g2 = hprt_conv2d_geom_make(16, 6, 7, 17, 3, 1, 1, 1);
    assert_true(hprt_conv2d_wino_pays(&g2));
    hprt_pool2d_geom pg = hprt_pool2d_geom_make(17, 6, 7, 2, 2);
    hprt_conv2d_forward(&g1, X, P + L1->w, P + L1->b, A1, B);
    hprt_relu_forward(A1, A1, (size_t)B * O1);
    hprt_conv2d_forward(&g2, A1, P + L2->w, P + L2->b, A2, B);
    if (train)
        hprt_batchnorm_forward(A2, P + L3->w, P + L3->b, N2, B, 17, FEAT, 1e-5, P + L3->running, 0.1);
    else
        hprt_batchnorm_forward_eval(A2, P + L3->w, P + L3->b, P + L3->running, N2, B, 17, FEAT, 1e-5);
    hprt_relu_forward(N2, N2, (size_t)B * O);
    hprt_maxpool2d_forward(&pg, N2, M2, B);
    hprt_dense_forward(M2, P + L6->w, P + L6->b, Z, B, Q, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, G ? dZ : NULL);
    if (!G)
        return loss;
    hprt_dense_backward(M2, P + L6->w, dZ, dM2, G + L6->w, G + L6->b, B, Q, CLASSES);
    hprt_maxpool2d_backward(&pg, N2, dM2, dN2, B);
    hprt_relu_backward(N2, dN2, dN2, (size_t)B * O);
    hprt_batchnorm_backward(A2, P + L3->w, dN2, dA2, G + L3->w, G + L3->b, B, 17, FEAT, 1e-5);
    hprt_conv2d_backward(&g2, A1, P + L2->w, dA2, dA1, G + L2->w, G + L2->b, B);
    hprt_relu_backward(A1, dA1, dA1, (size_t)B * O1);
    hprt_conv2d_backward(&g1, X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B);
    return loss;
}

/* input [1, 6, 7] -> conv 5, kernel = 3, stride = 2 -> batchnorm -> dense
 * classes: a strided conv's output (5 × 3 × 4) normalised, no relu after. */
#define MODEL_S2 "input [1, 6, 7]\n conv 5, kernel = 3, stride = 2\n batchnorm momentum = 0.2\n dense classes"
static double ref_s2(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G, bool train)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L3 = &l->layers[3];
    assert_int_equal(L2->width, 5);
    enum { O = 5 * 3 * 4 };
    float A1[MAXB * O], N1[MAXB * O], Z[MAXB * CLASSES], dZ[MAXB * CLASSES], dN1[MAXB * O], dA1[MAXB * O];
    hprt_conv2d_geom geo = hprt_conv2d_geom_make(1, 6, 7, 5, 3, 2, 1, 1);
    assert_int_equal(geo.Ho * geo.Wo, 12);
    hprt_conv2d_forward(&geo, X, P + L1->w, P + L1->b, A1, B);
    if (train)
        hprt_batchnorm_forward(A1, P + L2->w, P + L2->b, N1, B, 5, 12, 1e-5, P + L2->running, 0.2);
    else
        hprt_batchnorm_forward_eval(A1, P + L2->w, P + L2->b, P + L2->running, N1, B, 5, 12, 1e-5);
    hprt_dense_forward(N1, P + L3->w, P + L3->b, Z, B, O, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, G ? dZ : NULL);
    if (!G)
        return loss;
    hprt_dense_backward(N1, P + L3->w, dZ, dN1, G + L3->w, G + L3->b, B, O, CLASSES);
    hprt_batchnorm_backward(A1, P + L2->w, dN1, dA1, G + L2->w, G + L2->b, B, 5, 12, 1e-5);
    hprt_conv2d_backward(&geo, X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B);
    return loss;
}

static long n_params(const char *model)
{
    fixture f;
    cg_test_csv_write(&f, ROWS, FEAT, CLASSES, 11, true);
    compiled c;
    compile(&c, &f, model, "adam(lr = 0.01)", 1, 4);
    long n = c.t.l->n_params;
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
    return n;
}

static void test_batchnorm_dense(void **state)
{
    (void)state;
    long n = n_params(MODEL_VEC);
    threads_agree(MODEL_VEC, "sgd(lr = 0.01)", ref_vec, 9, n);
    threads_agree(MODEL_VEC, "sgd(lr = 0.01)", ref_vec, 16, n);
    threads_agree(MODEL_VEC, "sgd(lr = 0.01)", ref_vec, 2, n); /* one row per thread */
    /* weight decay decays the weights, not the running statistics */
    threads_agree(MODEL_VEC, "sgd(lr = 0.01, momentum = 0.9, weight_decay = 0.1)", ref_vec, 9, n);
}

static void test_batchnorm_conv(void **state)
{
    (void)state;
    long n = n_params(MODEL_IMG);
    threads_agree(MODEL_IMG, "sgd(lr = 0.01)", ref_img, 7, n);
    threads_agree(MODEL_IMG, "sgd(lr = 0.01, weight_decay = 0.5)", ref_img, 12, n);
}

static void test_batchnorm_relu_pool(void **state)
{
    (void)state;
    long n = n_params(MODEL_POOL);
    threads_agree(MODEL_POOL, "sgd(lr = 0.01)", ref_pool, 7, n);
    threads_agree(MODEL_POOL, "sgd(lr = 0.01, momentum = 0.9)", ref_pool, 12, n);
}

/* The conv's kernel sums the statistics and forms dx (conv_bn): Winograd
 * with relu and pool after, and a strided im2col conv with nothing after. */
static void test_batchnorm_in_conv(void **state)
{
    (void)state;
    long n = n_params(MODEL_WINO);
    threads_agree(MODEL_WINO, "sgd(lr = 0.01)", ref_wino, 7, n);
    threads_agree(MODEL_WINO, "sgd(lr = 0.01, momentum = 0.9)", ref_wino, 12, n);
    n = n_params(MODEL_S2);
    threads_agree(MODEL_S2, "sgd(lr = 0.01)", ref_s2, 9, n);
    threads_agree(MODEL_S2, "sgd(lr = 0.01)", ref_s2, 2, n); /* one row per thread */
}

/* The initial values: weight 1, bias 0, running mean 0 and variance 1, with
 * no draw from the generator (the layers around get the values they would
 * get without it); the running statistics are in the parameter arena. */
static void test_batchnorm_init(void **state)
{
    (void)state;
    fixture f;
    cg_test_csv_write(&f, ROWS, FEAT, CLASSES, 11, true);
    compiled a, b;
    compile(&a, &f, MODEL_VEC, "adam(lr = 0.01)", 1, 4);
    compile(&b, &f, "input 42\n dense 11\n relu\n dense classes", "adam(lr = 0.01)", 1, 4);
    float *pa = calloc((size_t)a.t.l->n_params, sizeof(float)), *pb = calloc((size_t)b.t.l->n_params, sizeof(float));
    assert_true(pa && pb);
    cg_init_params(a.pl->experiment, a.t.l, pa);
    cg_init_params(b.pl->experiment, b.t.l, pb);
    const cg_layer_layout *N = &a.t.l->layers[2];
    assert_true(N->running >= 0 && N->running + 2 * N->width <= a.t.l->n_params);
    for (long k = 0; k < N->w_size; k++) {
        assert_true(pa[N->w + k] == 1.0f);
        assert_true(pa[N->b + k] == 0.0f);
        assert_true(pa[N->running + k] == 0.0f);
        assert_true(pa[N->running + N->width + k] == 1.0f);
    }
    assert_int_equal(a.pl->experiment->layers[2].params, 22); /* weight and bias; the running statistics are state */
    const cg_layer_layout *A1 = &a.t.l->layers[1], *B1 = &b.t.l->layers[1];
    assert_memory_equal(pa + A1->w, pb + B1->w, sizeof(float) * (size_t)A1->w_size);
    assert_memory_equal(pa + a.t.l->layers[4].w, pb + b.t.l->layers[3].w, sizeof(float) * (size_t)b.t.l->layers[3].w_size);
    free(pa);
    free(pb);
    release(&a);
    release(&b);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* A training batch of one sample after a vector is refused at the layer. */
static void test_batchnorm_batch_of_one(void **state)
{
    (void)state;
    fixture f;
    cg_test_csv_write(&f, ROWS, FEAT, CLASSES, 11, true);
    char src[1024];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\") }\n"
             "model m { input 42; dense 11\n batchnorm; dense classes }\n"
             "experiment e { data = d; model = m; batch = 11 }\n", /* 23 = 2 x 11 + 1 */
             f.path);
    checked *ck;
    plan *p = plan_src(&ck, src, "e", NULL, 0);
    assert_null(p);
    if (!strstr(ck->text, ":3:") || !strstr(ck->text, "batchnorm needs more than 1 value per feature")) {
        print_error("%s\n", ck->text);
        fail();
    }
    checked_free(ck);
    /* after an image the H·W values suffice */
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\") }\n"
             "model m { input [1, 6, 7]; conv 2\n batchnorm; dense classes }\n"
             "experiment e { data = d; model = m; batch = 11 }\n",
             f.path);
    p = plan_src(&ck, src, "e", NULL, 0);
    if (!p)
        print_error("%s\n", ck->text);
    assert_non_null(p);
    checked_free(ck);
    plan_free(p);
    tu_rmrf(f.dir);
    free(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm_dense),
        cmocka_unit_test(test_batchnorm_conv),
        cmocka_unit_test(test_batchnorm_relu_pool),
        cmocka_unit_test(test_batchnorm_in_conv),
        cmocka_unit_test(test_batchnorm_init),
        cmocka_unit_test(test_batchnorm_batch_of_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
