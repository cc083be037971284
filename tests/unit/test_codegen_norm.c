/* test_codegen_norm.c - `layernorm` in the JIT-compiled step against the
 * reference kernels (hprt_layernorm_*, runtime/layers_norm.c).
 *
 * Two small networks over CSV data, one training step on 1 and 2 threads
 * (rows split between the threads in the forward and backward passes,
 * features in the weight gradients): a layernorm on vectors between dense
 * layers, and one on an image [1, 6, 7] straight after the input (over all
 * C·H·W values, no input gradient) followed by another; and one at every
 * step of a sequence (text: embed -> layernorm -> dense).  The loss, every
 * gradient and every parameter after the update must equal the reference
 * within 1e-5 relative. */
#include <math.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_rnn.h"
#include "hprt_train.h"

#define ROWS 23
#define FEAT 42
#define CLASSES 3

typedef cg_test_csv fixture;

static void write_csv(fixture *f) { cg_test_csv_write(f, ROWS, FEAT, CLASSES, 11, true); }

typedef struct {
    plan *pl;
    cg_test_prog t;
    hprt_dataset ds;
} compiled;

static void compile(compiled *c, fixture *f, const char *model, int threads, int B)
{
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\") }\n"
             "model m { %s }\n"
             "experiment e { data = d; model = m; optimizer = adam(lr = 0.01) }\n",
             f->path, model);
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

/* The reference's update of P by G (at lr, step 1), then the compiled step:
 * its mean loss over `rows` scored rows, gradients and parameters must match. */
static void run_and_compare(const compiled *c, hprt_step_io *io, int threads, int B, long rows, double lr, float *P,
                            const float *G, double loss)
{
    const plan_experiment *e = c->pl->experiment;
    long n = c->t.l->n_params;
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)n);
    assert_non_null(st);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)n, lr, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);
    run_threads(cg_train_fn(c->t.prog, B), io, threads);
    double got = 0;
    for (int k = 0; k < threads; k++)
        got += io->loss[k];
    assert_close(got / (double)rows, loss, 1e-5);
    compare(c->t.mem.grads, G, n, 1e-5, "gradient");
    compare(c->t.mem.params, P, n, 1e-5, "parameter");
}

/* The step of the compiled code against the reference's: ref fills P, G and returns the mean loss. */
typedef double (*reference_fn)(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G);

static void check_step(const char *model, reference_fn ref, int threads, int B)
{
    fixture f;
    write_csv(&f);
    compiled c;
    compile(&c, &f, model, threads, B);
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
    float X[32 * FEAT];
    int32_t lab[32];
    assert_true(B <= 32);
    for (int r = 0; r < B; r++) {
        uint32_t s = order[io.start + r];
        memcpy(X + r * FEAT, c.ds.x + (size_t)s * FEAT, sizeof(float) * FEAT);
        lab[r] = c.ds.y[s];
    }
    double loss = ref(&c, X, lab, B, P, G);
    print_message("%s: %d threads, batch %d\n", model, threads, B);
    run_and_compare(&c, &io, threads, B, B, 0.01, P, G, loss);

    /* evaluation runs the same forward pass */
    io.rows = B;
    run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
    double got = 0;
    for (int k = 0; k < threads; k++)
        got += io.loss[k];
    assert_true(isfinite(got));
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* input 42 -> dense 11, relu -> layernorm -> dense classes */
#define MODEL_VEC "input 42\n dense 11, relu\n layernorm\n dense classes"
static double ref_vec(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L3 = &l->layers[3];
    assert_int_equal(L2->w_size, 11);
    double eps = c->pl->experiment->layers[2].eps;
    float A1[32 * 11], N1[32 * 11], Z[32 * CLASSES], dZ[32 * CLASSES], dN1[32 * 11], dA1[32 * 11];
    hprt_dense_forward(X, P + L1->w, P + L1->b, A1, B, FEAT, 11);
    hprt_relu_forward(A1, A1, (size_t)B * 11);
    hprt_layernorm_forward(A1, P + L2->w, P + L2->b, N1, B, 11, eps);
    hprt_dense_forward(N1, P + L3->w, P + L3->b, Z, B, 11, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, dZ);
    hprt_dense_backward(N1, P + L3->w, dZ, dN1, G + L3->w, G + L3->b, B, 11, CLASSES);
    hprt_layernorm_backward(A1, P + L2->w, dN1, dA1, G + L2->w, G + L2->b, B, 11, eps);
    hprt_relu_backward(A1, dA1, dA1, (size_t)B * 11);
    hprt_dense_backward(X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B, FEAT, 11);
    return loss;
}

/* input [1, 6, 7] -> layernorm (over 42) -> dense 5, tanh -> layernorm eps = 0.01 -> dense classes */
#define MODEL_IMG "input [1, 6, 7]\n layernorm\n dense 5, tanh\n layernorm eps = 0.01\n dense classes"
static double ref_img(const compiled *c, const float *X, const int32_t *lab, int B, float *P, float *G)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L3 = &l->layers[3], *L4 = &l->layers[4];
    assert_int_equal(L1->w_size, FEAT);
    assert_true(c->pl->experiment->layers[3].eps == 0.01);
    float N0[32 * FEAT], A2[32 * 5], N2[32 * 5], Z[32 * CLASSES], dZ[32 * CLASSES], dN2[32 * 5], dA2[32 * 5],
        dN0[32 * FEAT];
    hprt_layernorm_forward(X, P + L1->w, P + L1->b, N0, B, FEAT, 1e-5);
    hprt_dense_forward(N0, P + L2->w, P + L2->b, A2, B, FEAT, 5);
    hprt_tanh_forward(A2, A2, (size_t)B * 5);
    hprt_layernorm_forward(A2, P + L3->w, P + L3->b, N2, B, 5, 0.01);
    hprt_dense_forward(N2, P + L4->w, P + L4->b, Z, B, 5, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, dZ);
    hprt_dense_backward(N2, P + L4->w, dZ, dN2, G + L4->w, G + L4->b, B, 5, CLASSES);
    hprt_layernorm_backward(A2, P + L3->w, dN2, dA2, G + L3->w, G + L3->b, B, 5, 0.01);
    hprt_tanh_backward(A2, dA2, dA2, (size_t)B * 5);
    hprt_dense_backward(N0, P + L2->w, dA2, dN0, G + L2->w, G + L2->b, B, FEAT, 5);
    hprt_layernorm_backward(X, P + L1->w, dN0, NULL, G + L1->w, G + L1->b, B, FEAT, 1e-5);
    return loss;
}

static void test_layernorm_vectors(void **state)
{
    (void)state;
    check_step(MODEL_VEC, ref_vec, 1, 9);
    check_step(MODEL_VEC, ref_vec, 2, 9);
    check_step(MODEL_VEC, ref_vec, 2, 16);
}

static void test_layernorm_images(void **state)
{
    (void)state;
    check_step(MODEL_IMG, ref_img, 1, 7);
    check_step(MODEL_IMG, ref_img, 2, 7);
}

/* The initial parameters: weight 1, bias 0, with no draw from the generator
 * (the dense layers around it get the values they would get without it). */
static void test_layernorm_init(void **state)
{
    (void)state;
    fixture f;
    write_csv(&f);
    compiled a, b;
    compile(&a, &f, MODEL_VEC, 1, 4);
    compile(&b, &f, "input 42\n dense 11, relu\n dense classes", 1, 4);
    float *pa = calloc((size_t)a.t.l->n_params, sizeof(float)), *pb = calloc((size_t)b.t.l->n_params, sizeof(float));
    assert_true(pa && pb);
    cg_init_params(a.pl->experiment, a.t.l, pa);
    cg_init_params(b.pl->experiment, b.t.l, pb);
    const cg_layer_layout *N = &a.t.l->layers[2];
    for (long k = 0; k < N->w_size; k++) {
        assert_true(pa[N->w + k] == 1.0f);
        assert_true(pa[N->b + k] == 0.0f);
    }
    const cg_layer_layout *A1 = &a.t.l->layers[1], *B1 = &b.t.l->layers[1];
    assert_memory_equal(pa + A1->w, pb + B1->w, sizeof(float) * (size_t)A1->w_size);
    assert_memory_equal(pa + a.t.l->layers[3].w, pb + b.t.l->layers[2].w, sizeof(float) * (size_t)b.t.l->layers[2].w_size);
    free(pa);
    free(pb);
    release(&a);
    release(&b);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* ---- per time step: input tokens -> embed 6 -> layernorm -> dense vocab ---- */

#define SEQ 5

static void test_layernorm_per_step(void **state)
{
    (void)state;
    fixture f;
    f.dir = tu_tmpdir();
    snprintf(f.path, sizeof f.path, "%s/t.txt", f.dir);
    char text[400];
    for (int i = 0; i < 400; i++)
        text[i] = "the quick brown fox jumps over a lazy dog; "[(i * 7 + i / 43) % 43];
    tu_write_file(f.path, text, sizeof text);
    for (int threads = 1; threads <= 2; threads++) {
        const int B = 4;
        char src[1024];
        snprintf(src, sizeof src,
                 "data d { train = text(\"%s\", seq = %d) }\n"
                 "model m { input tokens; embed 6; layernorm eps = 1e-4; dense vocab }\n"
                 "experiment e { data = d; model = m; optimizer = sgd(lr = 0.1); batch = %d }\n",
                 f.path, SEQ, B);
        checked *ck;
        compiled c;
        c.pl = plan_src(&ck, src, "e", NULL, 0);
        if (!c.pl)
            print_error("%s\n", ck->text);
        assert_non_null(c.pl);
        checked_free(ck);
        plan_experiment *e = c.pl->experiment;
        cg_test_build(&c.t, e, threads, B);
        const char *paths[1] = {f.path};
        hprt_error herr;
        assert_int_equal(hprt_text_load(paths, 1, SEQ, NULL, &c.ds, &herr), HPRT_OK);
        const cg_layout *l = c.t.l;
        const cg_layer_layout *LE = &l->layers[1], *LN = &l->layers[2], *LD = &l->layers[3];
        assert_int_equal(LN->steps, SEQ);
        assert_int_equal(LN->w_size, 6);
        int V = e->layers[1].vocab, n = B * SEQ;

        static hprt_step_io io;
        memset(&io, 0, sizeof io);
        hprt_step_set_batch(&io, &c.ds, NULL, 2 * SEQ, B);
        io.stream = c.ds.n / B;
        io.reset = 1;
        float p[HPRT_MAX_DROPOUT] = {0};
        hprt_step_set_numbers(&io, &e->optimizer, 0.1, NAN, 1, 1, 1, p, l->n_dropout);

        long np = l->n_params;
        float *P = malloc(sizeof(float) * (size_t)np), *G = calloc((size_t)np, sizeof(float));
        float *X0 = tu_fnew((size_t)n * 6), *N0 = tu_fnew((size_t)n * 6), *Z = tu_fnew((size_t)n * V);
        float *dZ = tu_fnew((size_t)n * V), *dN0 = tu_fnew((size_t)n * 6), *dX0 = tu_fnew((size_t)n * 6);
        unsigned char ids[B * SEQ];
        int32_t lab[B * SEQ];
        assert_true(P && G);
        memcpy(P, c.t.mem.params, sizeof(float) * (size_t)np);
        for (int r = 0; r < B; r++)
            for (int k = 0; k < SEQ; k++) {
                long at = r * io.stream + io.start + k;
                ids[r * SEQ + k] = io.x8[at];
                lab[r * SEQ + k] = io.x8[at + 1];
            }
        hprt_embed_forward(P + LE->w, ids, n, 6, X0);
        hprt_layernorm_forward(X0, P + LN->w, P + LN->b, N0, n, 6, 1e-4);
        hprt_dense_forward(N0, P + LD->w, P + LD->b, Z, n, 6, V);
        double loss = hprt_softmax_xent(Z, lab, n, V, dZ);
        hprt_dense_backward(N0, P + LD->w, dZ, dN0, G + LD->w, G + LD->b, n, 6, V);
        hprt_layernorm_backward(X0, P + LN->w, dN0, dX0, G + LN->w, G + LN->b, n, 6, 1e-4);
        hprt_embed_backward(ids, n, 6, dX0, 0, V, G + LE->w);
        print_message("per step: %d threads, batch %d x %d steps\n", threads, B, SEQ);
        run_and_compare(&c, &io, threads, B, n, 0.1, P, G, loss);
        free(P), free(G), free(X0), free(N0), free(Z), free(dZ), free(dN0), free(dX0);
        release(&c);
    }
    tu_rmrf(f.dir);
    free(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_vectors),
        cmocka_unit_test(test_layernorm_images),
        cmocka_unit_test(test_layernorm_init),
        cmocka_unit_test(test_layernorm_per_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
