/* test_codegen_catembed.c - embedded categorical CSV columns (the layer
 * `embed_columns` the checker puts after `input`) in the JIT-compiled step
 * against the reference kernels (hprt_catembed_*, runtime/layers_catembed.c).
 *
 * A CSV with two embedded columns around a one-hot one; one training step on
 * 1 and 2 threads (rows split in the forward pass, each column's table rows in
 * the weight phase), with ids the loader never writes put into some rows (0,
 * out of range, a fraction, NaN: the rule of hprt_catembed_id).  The loss,
 * every gradient and every parameter after the update must equal the
 * reference within 1e-5 relative; the evaluation step's loss too. */
#include <math.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_train.h"

#define ROWS 23
#define CLASSES 3
#define IN_W 7   /* stored: f0, city id, f1, blue green red, shop id */
#define OUT_W 10 /* the model: f0, city x3, f1, blue green red, shop x2 */

typedef struct {
    char *dir;
    char path[512];
} fixture;

static void write_csv(fixture *f)
{
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/d.csv", f->dir);
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    static const char *const colours[] = {"red", "green", "blue"};
    fprintf(out, "f0,city,f1,colour,shop,label\n");
    hprt_rng r;
    hprt_rng_seed(&r, 5);
    for (int i = 0; i < ROWS; i++)
        fprintf(out, "%.4f,c%d,%.4f,%s,s%d,%d\n", hprt_rng_uniform(&r) * 2 - 1, (i * 7) % 5, hprt_rng_uniform(&r) - 0.5,
                colours[i % 3], (i * 3) % 7, i % CLASSES);
    assert_int_equal(fclose(out), 0);
}

typedef struct {
    plan *pl;
    checked *ck; /* the program: the plan's data (its categories) lives in its arena */
    cg_test_prog t;
    hprt_dataset ds;
} compiled;

static void release(compiled *c)
{
    cg_test_release(&c->t);
    hprt_dataset_free(&c->ds);
    plan_free(c->pl);
    checked_free(c->ck);
}

static void compile(compiled *c, fixture *f, int threads, int B)
{
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\", categories = [embed(\"shop\", 2), \"colour\", embed(1, 3)]) }\n"
             "model m { input features\n dense 5, tanh\n dense classes }\n"
             "experiment e { data = d; model = m; optimizer = adam(lr = 0.01) }\n",
             f->path);
    c->pl = plan_src(&c->ck, src, "e", NULL, 0);
    if (!c->pl)
        print_error("%s\n", c->ck->text);
    assert_non_null(c->pl);
    cg_test_build(&c->t, c->pl->experiment, threads, B);
    hprt_csv_opts o = hprt_csv_defaults();
    o.encoding = &c->pl->experiment->data.csv;
    hprt_error herr = {0};
    hprt_status st = hprt_csv_load(f->path, &o, &c->ds, &herr);
    if (st != HPRT_OK)
        print_error("%s\n", herr.msg);
    assert_int_equal(st, HPRT_OK);
    assert_int_equal(c->ds.features, IN_W);
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

static void test_plan_and_geometry(void **state)
{
    (void)state;
    fixture f;
    write_csv(&f);
    compiled c;
    compile(&c, &f, 1, 4);
    const plan_experiment *e = c.pl->experiment;
    assert_int_equal(e->data.features, OUT_W);
    assert_int_equal(e->data.row_features, IN_W);
    assert_int_equal(e->layers[0].kind, PLAN_INPUT);
    assert_int_equal(e->layers[1].kind, PLAN_EMBED_COLUMNS);
    assert_int_equal(e->layers[1].in.d[0], IN_W);
    assert_int_equal(e->layers[1].out.d[0], OUT_W);
    assert_int_equal(e->layers[1].params, 6 * 3 + 8 * 2); /* (5 cities + 1) x 3, (7 shops + 1) x 2 */
    hprt_catembed_col cols[4];
    assert_int_equal(cg_embed_columns(e, cols, 4), 2);
    assert_int_equal(cols[0].in_pos, 1);
    assert_int_equal(cols[0].out_pos, 1);
    assert_int_equal(cols[0].dim, 3);
    assert_int_equal(cols[0].w, 0);
    assert_int_equal(cols[1].in_pos, 6);
    assert_int_equal(cols[1].out_pos, 8);
    assert_int_equal(cols[1].dim, 2);
    assert_int_equal(cols[1].w, 18);
    assert_int_equal(c.t.l->features, IN_W);
    assert_int_equal(c.t.l->layers[1].w_size, 34);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void check_step(int threads, int B)
{
    fixture f;
    write_csv(&f);
    compiled c;
    compile(&c, &f, threads, B);
    const plan_experiment *e = c.pl->experiment;
    /* ids the loader never writes: the unknown bucket, out of range, a fraction, NaN */
    c.ds.x[2 * IN_W + 1] = 0;
    c.ds.x[3 * IN_W + 6] = 99;
    c.ds.x[5 * IN_W + 1] = 2.5f;
    c.ds.x[7 * IN_W + 6] = NAN;
    c.ds.x[8 * IN_W + 1] = -1;
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 5) % ROWS;
    static hprt_step_io io;
    memset(&io, 0, sizeof io);
    hprt_step_set_batch(&io, &c.ds, order, 0, 0);
    float p[HPRT_MAX_DROPOUT] = {0};
    hprt_step_set_numbers(&io, &e->optimizer, 0.01, NAN, 1, 1, 1, p, c.t.l->n_dropout);

    const cg_layout *l = c.t.l;
    long n = l->n_params;
    float *P = malloc(sizeof(float) * (size_t)n), *G = calloc((size_t)n, sizeof(float));
    assert_true(P && G);
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)n);
    float X[32 * IN_W], E[32 * OUT_W], dE[32 * OUT_W], A[32 * 5], dA[32 * 5], Z[32 * CLASSES], dZ[32 * CLASSES];
    int32_t lab[32];
    assert_true(B <= 32);
    for (int r = 0; r < B; r++) {
        uint32_t s = order[r];
        memcpy(X + r * IN_W, c.ds.x + (size_t)s * IN_W, sizeof(float) * IN_W);
        lab[r] = c.ds.y[s];
    }
    hprt_catembed_col cols[4];
    int nc = cg_embed_columns(e, cols, 4);
    hprt_catembed_geom geom = {IN_W, OUT_W, nc, cols};
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L3 = &l->layers[3];
    hprt_catembed_forward(&geom, P + L1->w, X, B, E);
    hprt_dense_forward(E, P + L2->w, P + L2->b, A, B, OUT_W, 5);
    hprt_tanh_forward(A, A, (size_t)B * 5);
    hprt_dense_forward(A, P + L3->w, P + L3->b, Z, B, 5, CLASSES);
    double loss = hprt_softmax_xent(Z, lab, B, CLASSES, dZ);
    hprt_dense_backward(A, P + L3->w, dZ, dA, G + L3->w, G + L3->b, B, 5, CLASSES);
    hprt_tanh_backward(A, dA, dA, (size_t)B * 5);
    hprt_dense_backward(E, P + L2->w, dA, dE, G + L2->w, G + L2->b, B, OUT_W, 5);
    hprt_catembed_backward(&geom, X, dE, B, G + L1->w);

    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)n);
    assert_non_null(st);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)n, 0.01, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);
    print_message("embedded columns: %d threads, batch %d\n", threads, B);
    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    double got = 0;
    for (int k = 0; k < threads; k++)
        got += io.loss[k];
    assert_close(got / (double)B, loss, 1e-5);
    compare(c.t.mem.grads, G, n, 1e-5, "gradient");
    compare(c.t.mem.params, P, n, 1e-5, "parameter");
    /* the unknown bucket's row got the gradients of the rows with id 0 */
    bool some = false;
    for (int j = 0; j < cols[0].dim; j++)
        some |= G[L1->w + j] != 0;
    assert_true(some);

    /* evaluation runs the same forward pass, with the updated tables */
    io.rows = B;
    run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
    hprt_catembed_forward(&geom, P + L1->w, X, B, E);
    hprt_dense_forward(E, P + L2->w, P + L2->b, A, B, OUT_W, 5);
    hprt_tanh_forward(A, A, (size_t)B * 5);
    hprt_dense_forward(A, P + L3->w, P + L3->b, Z, B, 5, CLASSES);
    double eval = hprt_softmax_xent(Z, lab, B, CLASSES, dZ);
    got = 0;
    for (int k = 0; k < threads; k++)
        got += io.loss[k];
    assert_close(got / (double)B, eval, 1e-5);
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void test_step_one_thread(void **state)
{
    (void)state;
    check_step(1, 9);
    check_step(1, 16);
}

static void test_step_two_threads(void **state)
{
    (void)state;
    check_step(2, 9);
    check_step(2, 16);
}

/* The initial tables: per column torch.nn.Embedding(n + 1, dim, padding_idx = 0). */
static void test_init(void **state)
{
    (void)state;
    fixture f;
    write_csv(&f);
    compiled c;
    compile(&c, &f, 1, 4);
    const plan_experiment *e = c.pl->experiment;
    const cg_layout *l = c.t.l;
    float *P = calloc((size_t)l->n_params, sizeof(float));
    assert_non_null(P);
    assert_int_equal(cg_init_params(e, l, P), 0);
    hprt_catembed_col cols[4];
    int nc = cg_embed_columns(e, cols, 4);
    hprt_rng r;
    hprt_rng_seed(&r, e->seed);
    for (int k = 0; k < nc; k++) {
        float want[64];
        hprt_init_embedding(&r, want, cols[k].n + 1, cols[k].dim, 0);
        for (int j = 0; j < cols[k].dim; j++)
            assert_true(P[l->layers[1].w + cols[k].w + j] == 0.0f); /* the unknown bucket starts at zero */
        assert_memory_equal(P + l->layers[1].w + cols[k].w, want, sizeof(float) * (size_t)(cols[k].n + 1) * cols[k].dim);
    }
    free(P);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_and_geometry),
        cmocka_unit_test(test_step_one_thread),
        cmocka_unit_test(test_step_two_threads),
        cmocka_unit_test(test_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
