/* test_codegen_loss.c - the compiled losses (codegen.c, loss_rows) against the
 * reference (runtime/loss.c), one row of compiler/losses.def at a time.
 *
 * A one-layer model (input -> dense) over a CSV file is compiled with each
 * loss and its options and run for one training step (sgd, so that the
 * gradients are read back) on 1 and 2 threads, and for one evaluation step:
 * the loss, the correct count and the weight and bias gradients must equal
 * the reference's (hprt_softmax_xent_opts, hprt_*_onehot, then
 * hprt_dense_backward) within 1e-5 relative. */
#include <math.h>
#include <pthread.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_train.h"

#define ROWS 37
#define FEAT 13

typedef struct {
    plan *pl;
    cg_test_prog t;
    hprt_dataset ds;
    cg_test_csv f;
} compiled;

/* labels > 0: a multi-label CSV instead, FEAT features then `labels` 0/1 columns */
static void write_multi(cg_test_csv *f, int labels)
{
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/m.csv", f->dir);
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    hprt_rng r;
    hprt_rng_seed(&r, 17);
    for (int c = 0; c < FEAT + labels; c++)
        fprintf(out, c < FEAT ? "f%d," : c + 1 < FEAT + labels ? "l%d," : "l%d\n", c);
    for (int i = 0; i < ROWS; i++)
        for (int c = 0; c < FEAT + labels; c++)
            if (c < FEAT)
                fprintf(out, "%.6f,", hprt_rng_uniform(&r) * 4 - 2);
            else
                fprintf(out, "%d%c", hprt_rng_uniform(&r) < 0.4, c + 1 < FEAT + labels ? ',' : '\n');
    assert_int_equal(fclose(out), 0);
}

static void compile(compiled *c, int classes, const char *out, const char *settings, int threads, int B, int labels)
{
    char lab[256] = "";
    if (labels > 0) {
        write_multi(&c->f, labels);
        int n = snprintf(lab, sizeof lab, ", label = [");
        for (int i = 0; i < labels; i++)
            n += snprintf(lab + n, sizeof lab - (size_t)n, "%s%d", i ? ", " : "", FEAT + i);
        snprintf(lab + n, sizeof lab - (size_t)n, "]");
    } else {
        cg_test_csv_write(&c->f, ROWS, FEAT, classes, 11, false);
    }
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\"%s) }\n"
             "model m { input %d\n dense %s }\n"
             "experiment e { data = d; model = m; %s }\n",
             c->f.path, lab, FEAT, out, settings);
    checked *ck;
    c->pl = plan_src(&ck, src, "e", NULL, 0);
    if (!c->pl)
        print_error("%s\n", ck->text);
    assert_non_null(c->pl);
    checked_free(ck);
    cg_test_build(&c->t, c->pl->experiment, threads, B);
    hprt_csv_opts o = hprt_csv_defaults();
    hprt_csv_colref refs[8];
    for (int i = 0; i < labels && i < 8; i++)
        refs[i] = (hprt_csv_colref){.name = NULL, .index = FEAT + i};
    o.labels = refs;
    o.n_labels = labels;
    hprt_error herr;
    assert_int_equal(hprt_csv_load(c->f.path, &o, &c->ds, &herr), HPRT_OK);
}

static void release(compiled *c)
{
    cg_test_release(&c->t);
    hprt_dataset_free(&c->ds);
    plan_free(c->pl);
    tu_rmrf(c->f.dir);
    free(c->f.dir);
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

/* The reference loss of the experiment's row, with dZ. */
static double ref_loss(const plan_experiment *e, const float *Z, const int32_t *lab, int B, int K, float *dZ)
{
    const plan_loss_opts *o = &e->loss_opts;
    switch (e->loss) {
    case PLAN_LOSS_CROSS_ENTROPY: return hprt_softmax_xent_opts(Z, lab, B, K, o->smoothing, o->weights, dZ);
    case PLAN_LOSS_MSE: return hprt_mse_onehot(Z, lab, B, K, dZ);
    case PLAN_LOSS_MAE: return hprt_mae_onehot(Z, lab, B, K, dZ);
    case PLAN_LOSS_HUBER: return hprt_huber_onehot(Z, lab, B, K, o->delta, dZ);
    case PLAN_LOSS_BCE: return e->data.labels ? hprt_bce_multi(Z, lab, B, K, dZ) : hprt_bce_onehot(Z, lab, B, K, dZ);
    case PLAN_LOSS__COUNT: break;
    }
    fail();
    return NAN;
}

static void check_labels(int labels, int classes, const char *out, const char *setting, int threads, int B)
{
    compiled c;
    char settings[256];
    snprintf(settings, sizeof settings, "loss = %s; optimizer = sgd(lr = 0.01)", setting);
    compile(&c, classes, out, settings, threads, B, labels);
    const plan_experiment *e = c.pl->experiment;
    const cg_layer_layout *L = &c.t.l->layers[1];
    int K = L->out_size;
    print_message("loss = %s, dense %d, %d threads, batch %d\n", setting, K, threads, B);
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 7) % ROWS;
    static hprt_step_io io;
    memset(&io, 0, sizeof io);
    hprt_step_set_batch(&io, &c.ds, order, 3, 0);
    hprt_step_set_numbers(&io, &e->optimizer, 0.01, NAN, 1, 1, 1, NULL, 0);
    /* the reference: Z = X Wᵀ + b, the loss, then the dense layer's gradients */
    float X[64 * FEAT], Z[64 * 8], dZ[64 * 8];
    int32_t lab[64];
    for (int r = 0; r < B; r++) {
        uint32_t s = order[3 + r];
        memcpy(X + r * FEAT, c.ds.x + (size_t)s * FEAT, sizeof(float) * FEAT);
        lab[r] = c.ds.y[s];
    }
    const float *P = c.t.mem.params;
    hprt_dense_forward(X, P + L->w, P + L->b, Z, B, FEAT, K);
    double want = ref_loss(e, Z, lab, B, K, dZ);
    long correct = labels ? hprt_multi_correct(Z, lab, B, K)
                   : K == 1 ? hprt_binary_correct(Z, lab, B)
                            : hprt_accuracy_count(Z, lab, B, K);
    long np = c.t.l->n_params;
    float *G = calloc((size_t)np, sizeof *G);
    assert_non_null(G);
    hprt_dense_backward(X, P + L->w, dZ, NULL, G + L->w, G + L->b, B, FEAT, K);
    /* the evaluation step first (it does not touch the parameters) */
    io.rows = B;
    run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
    double loss = 0;
    long hits = 0;
    for (int k = 0; k < threads; k++) {
        loss += io.loss[k];
        hits += io.correct[k];
    }
    assert_close(loss / B, want, 1e-5);
    assert_int_equal(hits, correct);
    /* then the training step */
    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    loss = 0;
    hits = 0;
    for (int k = 0; k < threads; k++) {
        loss += io.loss[k];
        hits += io.correct[k];
    }
    assert_close(loss / B, want, 1e-5);
    assert_int_equal(hits, correct);
    compare(c.t.mem.grads, G, np, 1e-5, "gradient");
    free(G);
    release(&c);
}

static void check(int classes, const char *out, const char *setting, int threads, int B)
{
    check_labels(0, classes, out, setting, threads, B);
}

static void test_cross_entropy_options(void **state)
{
    (void)state;
    check(5, "classes", "cross_entropy", 2, 9);
    check(5, "classes", "cross_entropy(smoothing = 0.1)", 1, 9);
    check(5, "classes", "cross_entropy(smoothing = 0.1)", 2, 9);
    check(5, "classes", "cross_entropy(weights = [0.5, 2, 1, 3, 0.25])", 2, 9);
    check(5, "classes", "cross_entropy(smoothing = 0.3, weights = [0.5, 2, 1, 3, 0.25])", 1, 16);
    check(5, "classes", "cross_entropy(smoothing = 0.3, weights = [0.5, 2, 1, 3, 0.25])", 2, 16);
    check(5, "classes", "cross_entropy(smoothing = 1)", 2, 7);
}

static void test_elementwise_losses(void **state)
{
    (void)state;
    check(5, "classes", "mse", 2, 9);
    check(5, "classes", "mae", 2, 9);
    check(5, "classes", "l1", 1, 9);
    check(5, "classes", "huber", 2, 9);
    check(5, "classes", "huber(delta = 0.25)", 2, 16);
    check(5, "classes", "bce", 2, 9);
    check(2, "1", "bce", 1, 9); /* one output: the 0/1 label */
    check(2, "1", "bce", 2, 16);
}

/* bce over several 0/1 label columns: each output against its bit of the label,
 * the correct count over (row, label) pairs */
static void test_multi_label_bce(void **state)
{
    (void)state;
    check_labels(3, 0, "3", "bce", 1, 9);
    check_labels(3, 0, "3", "bce", 2, 9);
    check_labels(5, 0, "5", "bce", 2, 16);
}

/* regularize = l1(lambda): g + lambda·sign(θ) on every parameter before the
 * optimizer (and its weight decay), lambda read at run time: code compiled
 * for one lambda follows the one the step is given. */
static void check_l1(const char *optimizer, double run_lambda, int threads)
{
    char setting[256];
    snprintf(setting, sizeof setting, "regularize = l1(1e-3); optimizer = %s", optimizer);
    compiled c;
    compile(&c, 5, "classes", setting, threads, 9, 0);
    const plan_experiment *e = c.pl->experiment;
    assert_true(e->regularize.l1 == 1e-3);
    print_message("l1: %s, run with lambda %g, %d threads\n", optimizer, run_lambda, threads);
    const cg_layer_layout *L = &c.t.l->layers[1];
    int K = L->out_size, B = 9;
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 7) % ROWS;
    static hprt_step_io io;
    memset(&io, 0, sizeof io);
    hprt_step_set_batch(&io, &c.ds, order, 3, 0);
    hprt_step_set_numbers(&io, &e->optimizer, 0.01, NAN, 1, 1, 1, NULL, 0);
    io.l1 = (float)run_lambda;
    float X[64 * FEAT], Z[64 * 8], dZ[64 * 8];
    int32_t lab[64];
    for (int r = 0; r < B; r++) {
        uint32_t s = order[3 + r];
        memcpy(X + r * FEAT, c.ds.x + (size_t)s * FEAT, sizeof(float) * FEAT);
        lab[r] = c.ds.y[s];
    }
    long np = c.t.l->n_params;
    float *P = malloc(sizeof *P * (size_t)np), *G = calloc((size_t)np, sizeof *G);
    assert_non_null(P);
    assert_non_null(G);
    memcpy(P, c.t.mem.params, sizeof *P * (size_t)np);
    P[L->w] = 0; /* sign(0) = 0: this weight moves by its gradient alone */
    c.t.mem.params[L->w] = 0;
    hprt_dense_forward(X, P + L->w, P + L->b, Z, B, FEAT, K);
    hprt_softmax_xent(Z, lab, B, K, dZ);
    hprt_dense_backward(X, P + L->w, dZ, NULL, G + L->w, G + L->b, B, FEAT, K);
    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    compare(c.t.mem.grads, G, np, 1e-5, "gradient"); /* the stored gradient is the loss's */
    float *upd = malloc(sizeof *upd * (size_t)np);
    assert_non_null(upd);
    for (long i = 0; i < np; i++)
        upd[i] = G[i] + (float)run_lambda * (P[i] > 0 ? 1.0f : P[i] < 0 ? -1.0f : 0.0f);
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)np);
    assert_non_null(st);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, upd, (size_t)np, 0.01, NAN, 1), HPRT_OK);
    compare(c.t.mem.params, P, np, 1e-5, "parameter");
    hprt_optim_state_free(st);
    free(P), free(G), free(upd);
    release(&c);
}

static void test_l1_regularization(void **state)
{
    (void)state;
    /* lambdas large enough that a missing term shows beyond the 1e-5 tolerance */
    check_l1("sgd(lr = 0.01)", 0.5, 1);
    check_l1("sgd(lr = 0.01, weight_decay = 0.1)", 0.05, 2); /* alongside weight decay, another lambda at run time */
    check_l1("adamw(lr = 0.01)", 0.3, 2);                   /* decoupled decay: the l1 term is in the gradient */
    check_l1("adam(lr = 0.01, weight_decay = 0.01)", 0, 2);  /* lambda 0 at run time: no term */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_options),
        cmocka_unit_test(test_elementwise_losses),
        cmocka_unit_test(test_multi_label_bce),
        cmocka_unit_test(test_l1_regularization),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
