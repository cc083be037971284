/* test_codegen_seq.c - the JIT-compiled step of sequence classifiers over
 * numeric data (`input [T, F]` -> rnn/gru/lstm stack -> last -> dense) against
 * the reference kernels and against finite differences.
 *
 * The data is a CSV of T x F features per row (step-major: step 0's F
 * features, then step 1's, ...) and a label.  Each sample is one whole
 * sequence: the recurrent state starts at zero in every sample (no carried
 * state), the gradient flows back through all T steps, and the loss is the
 * mean cross-entropy over the batch's samples of the final step's scores.
 *
 * 1. Training steps on 1 and 2 threads against the plain-C reference
 *    (hprt_rnn_*, hprt_dense_*, hprt_dropout_*, hprt_softmax_xent,
 *    hprt_optim_step over the whole batch): loss, correct count, every
 *    gradient within 1e-4 relative, parameters after the update within 1e-5.
 * 2. Finite differences: with a rate of 0 the compiled training step leaves
 *    its gradients; central differences of the compiled evaluation step's
 *    loss over parameters of every tensor must match them.
 * 3. The evaluation step against the reference, twice over the same rows
 *    (nothing is carried from one call to the next). */
#include <math.h>
#include <pthread.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_train.h"

#define ROWS 29
#define ST 5
#define SF 3
#define CLASSES 4
#define MAX_STACK 3

typedef cg_test_csv fixture;

typedef struct {
    plan *pl;
    cg_test_prog t;
    hprt_dataset ds;
    uint32_t order[ROWS];
} compiled;

static void compile(compiled *c, fixture *f, const char *model, const char *settings, int threads, int B)
{
    memset(c, 0, sizeof *c);
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\") }\n"
             "model m { %s }\n"
             "experiment e { data = d; model = m; loss = cross_entropy; batch = %d; %s }\n",
             f->path, model, B, settings);
    checked *ck;
    c->pl = plan_src(&ck, src, "e", NULL, 0);
    if (!c->pl)
        print_error("%s\n", ck->text);
    assert_non_null(c->pl);
    checked_free(ck);
    plan_experiment *e = c->pl->experiment;
    assert_int_equal(e->layers[0].out.kind, PLAN_SEQ);
    assert_int_equal(e->layers[0].out.d[0], ST);
    assert_int_equal(e->layers[0].out.d[1], SF);
    cg_test_build(&c->t, e, threads, B);
    assert_false(c->t.l->text);
    hprt_csv_opts o = hprt_csv_defaults();
    hprt_error herr;
    assert_int_equal(hprt_csv_load(f->path, &o, &c->ds, &herr), HPRT_OK);
    assert_int_equal(c->ds.features, ST * SF);
    for (int i = 0; i < ROWS; i++)
        c->order[i] = (uint32_t)((i * 7 + 3) % ROWS); /* a permutation: 7 and 29 are coprime */
}

static void release(compiled *c)
{
    cg_test_release(&c->t);
    hprt_dataset_free(&c->ds);
    plan_free(c->pl);
}

static void fill_io(hprt_step_io *io, const compiled *c, long start, double lr, long t)
{
    memset(io, 0, sizeof *io);
    hprt_step_set_batch(io, &c->ds, c->order, start, 0);
    float p[HPRT_MAX_DROPOUT];
    for (int s = 0; s < HPRT_MAX_DROPOUT; s++)
        p[s] = 0.3f;
    hprt_step_set_numbers(io, &c->pl->experiment->optimizer, lr, NAN, t, 1, t, p, c->t.l->n_dropout);
}

/* ---- the reference ---- */

typedef struct {
    void *p[128];
    int n;
} pool;

static float *fa(pool *m, size_t n)
{
    assert_true(m->n < 128);
    float *x = calloc(n ? n : 1, sizeof(float));
    assert_non_null(x);
    m->p[m->n++] = x;
    return x;
}

static void pool_free(pool *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->p[i]);
    m->n = 0;
}

typedef struct {
    long n;
    int B;
    float *params, *grads;
    hprt_optim_state *opt;
    double loss; /* mean over the batch */
    int correct;
} reference;

static void ref_init(reference *ref, const compiled *c, int B)
{
    memset(ref, 0, sizeof *ref);
    ref->n = c->t.l->n_params;
    ref->B = B;
    ref->params = malloc(sizeof(float) * (size_t)ref->n);
    ref->grads = calloc((size_t)ref->n, sizeof(float));
    assert_non_null(ref->params);
    assert_non_null(ref->grads);
    memcpy(ref->params, c->t.mem.params, sizeof(float) * (size_t)ref->n);
    ref->opt = hprt_optim_state_new(&c->pl->experiment->optimizer, (size_t)ref->n);
    assert_non_null(ref->opt);
}

static void ref_free(reference *ref)
{
    free(ref->params);
    free(ref->grads);
    hprt_optim_state_free(ref->opt);
}

/* One step of input [T, F] -> stack (layer 1) -> last (2) -> dense classes (3)
 * on rows order[start .. start + B): zero initial state, every step's output,
 * the last one scored; when training, the gradients and the update. */
static void ref_step(reference *ref, const compiled *c, const hprt_step_io *io, bool train, long t, double lr)
{
    const plan_experiment *e = c->pl->experiment;
    const cg_layout *l = c->t.l;
    assert_int_equal(e->n_layers, 4);
    assert_int_equal(e->layers[2].kind, PLAN_LAST);
    const cg_layer_layout *LR = &l->layers[1], *LD = &l->layers[3];
    int B = ref->B, H = e->layers[1].units, S = LR->n_rnn, n = B * ST, K = CLASSES;
    assert_true(S <= MAX_STACK);
    const float *P = ref->params;
    float *G = ref->grads;
    pool m = {0};

    float *X = fa(&m, (size_t)n * SF);
    int32_t lab[ROWS];
    for (int r = 0; r < B; r++) {
        uint32_t s = io->order[io->start + r];
        memcpy(X + (size_t)r * ST * SF, c->ds.x + (size_t)s * ST * SF, sizeof(float) * ST * SF);
        lab[r] = c->ds.y[s];
    }
    const float *in[MAX_STACK];
    float *Y[MAX_STACK], *A[MAX_STACK], *C[MAX_STACK], *Hp[MAX_STACK];
    bool dropped[MAX_STACK];
    const float *x = X;
    for (int s = 0; s < S; s++) {
        const cg_rnn_layer *R = &LR->rnn[s];
        hprt_rnn_geom g = R->geom;
        int GH = hprt_rnn_gates(g.cell) * H;
        assert_int_equal(g.T, ST);
        assert_int_equal(g.in, s == 0 ? SF : H);
        dropped[s] = train && s > 0 && R->site >= 0;
        if (dropped[s]) {
            float *D = fa(&m, (size_t)n * H);
            hprt_dropout_forward(Y[s - 1], D, (size_t)n * H, l->site_p[R->site], io->dropout_key[R->site], 0);
            x = D;
        }
        in[s] = x;
        const float *Wih = P + LR->w + R->w, *Whh = Wih + (long)GH * g.in, *bih = Whh + (long)GH * H, *bhh = bih + GH;
        Y[s] = fa(&m, (size_t)n * H);
        A[s] = fa(&m, (size_t)n * GH);
        C[s] = fa(&m, (size_t)n * H);
        Hp[s] = fa(&m, (size_t)n * H);
        hprt_rnn_forward(&g, B, x, Wih, Whh, bih, bhh, NULL, NULL, Y[s], fa(&m, (size_t)B * H),
                         g.cell == HPRT_CELL_LSTM ? fa(&m, (size_t)B * H) : NULL, A[s], C[s], Hp[s],
                         fa(&m, (size_t)B * GH), NULL);
        x = Y[s];
    }
    float *Xd = fa(&m, (size_t)B * H);
    for (int r = 0; r < B; r++)
        memcpy(Xd + (size_t)r * H, Y[S - 1] + ((size_t)r * ST + ST - 1) * H, sizeof(float) * (size_t)H);
    float *Z = fa(&m, (size_t)B * K), *dZ = fa(&m, (size_t)B * K);
    hprt_dense_forward(Xd, P + LD->w, P + LD->b, Z, B, H, K);
    ref->loss = hprt_softmax_xent(Z, lab, B, K, train ? dZ : NULL);
    ref->correct = hprt_accuracy_count(Z, lab, B, K);
    if (train) {
        memset(G, 0, sizeof(float) * (size_t)ref->n);
        float *dXd = fa(&m, (size_t)B * H);
        hprt_dense_backward(Xd, P + LD->w, dZ, dXd, G + LD->w, G + LD->b, B, H, K);
        float *dY = fa(&m, (size_t)n * H); /* only the final step's output is scored */
        for (int r = 0; r < B; r++)
            memcpy(dY + ((size_t)r * ST + ST - 1) * H, dXd + (size_t)r * H, sizeof(float) * (size_t)H);
        for (int s = S - 1; s >= 0; s--) {
            const cg_rnn_layer *R = &LR->rnn[s];
            hprt_rnn_geom g = R->geom;
            int GH = hprt_rnn_gates(g.cell) * H;
            const float *Wih = P + LR->w + R->w, *Whh = Wih + (long)GH * g.in;
            float *dGi = fa(&m, (size_t)n * GH), *dGh = fa(&m, (size_t)n * GH);
            float *dX = fa(&m, (size_t)n * g.in);
            hprt_rnn_backward_data(&g, B, Wih, Whh, A[s], C[s], Hp[s], NULL, dY, dGi, dGh, dX,
                                   fa(&m, (size_t)2 * B * H), NULL);
            float *dWih = G + LR->w + R->w, *dWhh = dWih + (long)GH * g.in, *dbih = dWhh + (long)GH * H,
                  *dbhh = dbih + GH;
            hprt_rnn_weight_grads(&g, B, in[s], Hp[s], dGi, dGh, 0, GH, dWih, dWhh, dbih, dbhh, NULL);
            if (dropped[s])
                hprt_dropout_backward(dX, dX, (size_t)n * H, l->site_p[R->site], io->dropout_key[R->site], 0);
            dY = dX;
        }
        float *upd = malloc(sizeof(float) * (size_t)ref->n);
        assert_non_null(upd);
        memcpy(upd, G, sizeof(float) * (size_t)ref->n);
        assert_int_equal(hprt_optim_step(&e->optimizer, ref->opt, ref->params, upd, (size_t)ref->n, lr, NAN, t),
                         HPRT_OK);
        free(upd);
    }
    pool_free(&m);
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

static void compare_grads(const float *got, const float *want, long n, double rtol)
{
    double scale = 0;
    for (long i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    assert_true(scale > 0);
    for (long i = 0; i < n; i++) {
        double tol = rtol * fmax(fabs(want[i]), 1e-2 * scale);
        if (!(fabs(got[i] - want[i]) <= tol)) {
            print_error("gradient[%ld]: %.9g, expected %.9g (largest %.3g)\n", i, got[i], want[i], scale);
            fail();
        }
    }
}

static double step_loss(const hprt_step_io *io, int threads, long rows)
{
    double loss = 0;
    for (int k = 0; k < threads; k++)
        loss += io->loss[k];
    return loss / (double)rows;
}

static long step_correct(const hprt_step_io *io, int threads)
{
    long n = 0;
    for (int k = 0; k < threads; k++)
        n += io->correct[k];
    return n;
}

static void write_data(fixture *f) { cg_test_csv_write(f, ROWS, ST * SF, CLASSES, 11, false); }

/* 1. training steps (batches at rows 0, B, 2B of the order) against the reference */
static void check_train(const char *model, const char *settings, int threads, int B, int steps)
{
    fixture f;
    write_data(&f);
    compiled c;
    compile(&c, &f, model, settings, threads, B);
    print_message("%s | %s, %d threads, batch %d\n", model, settings, threads, B);
    reference ref;
    ref_init(&ref, &c, B);
    double lr = 0.01;
    for (int k = 0; k < steps; k++) {
        long t = k + 1;
        static hprt_step_io io;
        fill_io(&io, &c, (long)k * B, lr, t);
        ref_step(&ref, &c, &io, true, t, lr);
        run_threads(cg_train_fn(c.t.prog, B), &io, threads);
        assert_close(step_loss(&io, threads, B), ref.loss, 1e-5);
        assert_int_equal(step_correct(&io, threads), ref.correct);
        compare_grads(c.t.mem.grads, ref.grads, c.t.l->n_params, 1e-4);
        compare(c.t.mem.params, ref.params, c.t.l->n_params, 1e-5, "parameter");
        memcpy(ref.params, c.t.mem.params, sizeof(float) * (size_t)c.t.l->n_params);
    }
    ref_free(&ref);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void test_lstm_stack_dropout(void **state)
{
    (void)state;
    const char *m = "input [5, 3]\n lstm 6, stack = 2, dropout = 0.3\n last\n dense classes";
    check_train(m, "optimizer = adam(lr = 0.01)", 1, 7, 3);
    check_train(m, "optimizer = adam(lr = 0.01)", 2, 7, 3);
}

static void test_gru_rnn(void **state)
{
    (void)state;
    check_train("input [5, 3]\n gru 5, stack = 2\n last\n dense classes", "optimizer = sgd(lr = 0.05)", 2, 6, 2);
    check_train("input [5, 3]\n rnn 7\n last\n dense classes, softmax", "optimizer = adam(lr = 0.01)", 1, 9, 2);
    check_train("input [5, 3]\n lstm 4, stack = 3\n last\n dense classes", "optimizer = rmsprop(lr = 0.01)", 2, 5, 2);
}

/* 2. the compiled gradients against central differences of the compiled evaluation loss */
static double eval_loss(compiled *c, int threads, int B)
{
    static hprt_step_io io;
    fill_io(&io, c, 0, 0, 1);
    io.rows = B;
    run_threads(cg_eval_fn(c->t.prog, B), &io, threads);
    return step_loss(&io, threads, B);
}

static void check_fd(const char *model, int threads, int B)
{
    fixture f;
    write_data(&f);
    compiled c;
    compile(&c, &f, model, "optimizer = sgd(lr = 0.1)", threads, B);
    print_message("finite differences: %s, %d threads, batch %d\n", model, threads, B);
    long n = c.t.l->n_params;
    float *p = c.t.mem.params;
    for (long k = 0; k < n; k++) /* smaller weights: the cells far from saturation */
        p[k] *= 0.5f;
    float *saved = malloc(sizeof(float) * (size_t)n), *grad = malloc(sizeof(float) * (size_t)n);
    assert_non_null(saved);
    assert_non_null(grad);
    memcpy(saved, p, sizeof(float) * (size_t)n);
    static hprt_step_io io;
    fill_io(&io, &c, 0, 0.0, 1); /* a rate of 0: the parameters stay */
    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    memcpy(grad, c.t.mem.grads, sizeof(float) * (size_t)n);
    compare(p, saved, n, 0, "parameter after a step at rate 0");
    double base = eval_loss(&c, threads, B);
    assert_close(step_loss(&io, threads, B), base, 1e-6);
    /* every parameter tensor: the stack's blocks, the dense weights and bias */
    const cg_layer_layout *LR = &c.t.l->layers[1], *LD = &c.t.l->layers[3];
    long ranges[3][2] = {{LR->w, LR->w + LR->w_size}, {LD->w, LD->w + LD->w_size}, {LD->b, LD->b + LD->b_size}};
    int checked = 0;
    for (int r = 0; r < 3; r++)
        for (long at = ranges[r][0]; at < ranges[r][1]; at += 1 + (ranges[r][1] - ranges[r][0]) / 40) {
            double h = 1e-2;
            p[at] = saved[at] + (float)h;
            double up = eval_loss(&c, threads, B);
            p[at] = saved[at] - (float)h;
            double down = eval_loss(&c, threads, B);
            p[at] = saved[at];
            double fd = (up - down) / (((double)(saved[at] + (float)h)) - ((double)(saved[at] - (float)h)));
            if (!(fabs(fd - grad[at]) <= 2e-3 + 2e-2 * fabs(fd))) {
                print_error("parameter %ld: compiled gradient %.6g, finite difference %.6g\n", at, grad[at], fd);
                fail();
            }
            checked++;
        }
    assert_true(checked > 40);
    free(saved);
    free(grad);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void test_finite_differences(void **state)
{
    (void)state;
    check_fd("input [5, 3]\n lstm 6, stack = 2\n last\n dense classes", 2, 8);
    check_fd("input [5, 3]\n gru 5\n last\n dense classes", 1, 8);
    check_fd("input [5, 3]\n rnn 6, stack = 2\n last\n dense classes", 2, 7);
}

/* 3. evaluation: the reference's loss and correct count, the same on a second call over the same rows */
static void test_eval_no_carry(void **state)
{
    (void)state;
    fixture f;
    write_data(&f);
    compiled c;
    int B = 9, threads = 2;
    compile(&c, &f, "input [5, 3]\n lstm 6, stack = 2, dropout = 0.3\n last\n dense classes",
            "optimizer = adam(lr = 0.01)", threads, B);
    reference ref;
    ref_init(&ref, &c, B);
    for (int k = 0; k < 3; k++) {
        static hprt_step_io io;
        fill_io(&io, &c, k == 2 ? 0 : (long)k * B, 0.01, 1); /* rows 0.., B.., then 0.. again */
        io.rows = B;
        ref_step(&ref, &c, &io, false, 1, 0.01);
        run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
        assert_close(step_loss(&io, threads, B), ref.loss, 1e-5);
        assert_int_equal(step_correct(&io, threads), ref.correct);
    }
    ref_free(&ref);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_stack_dropout),
        cmocka_unit_test(test_gru_rnn),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_eval_no_carry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
