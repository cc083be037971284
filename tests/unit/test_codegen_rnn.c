/* test_codegen_rnn.c - the JIT-compiled step of recurrent text models against
 * the reference kernels.
 *
 * A character-level model (input tokens -> embed -> rnn/gru/lstm stack ->
 * dense vocab at every step, or `last` -> dense vocab) is planned from a .hp
 * text over a small text file, compiled, and run for training steps on 1 and
 * 2 threads with a batch of 3 streams.  The reference computes the same step
 * with the plain-C kernels (hprt_embed_*, hprt_rnn_*, hprt_dense_*,
 * hprt_dropout_*, hprt_softmax_xent, hprt_clip_grad_norm, hprt_optim_step)
 * over the whole batch at once: row r is the window tokens[r*stream + start ..
 * + T), the targets the next tokens, the loss the mean over all B*T tokens;
 * the initial state is zero on io->reset and the previous step's final state
 * otherwise, with no gradient into it (truncated BPTT).  The loss and the
 * gradients must agree within 1e-4 relative, the parameters after the update
 * within 1e-5. */
#include <math.h>
#include <pthread.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_train.h"

#define SEQ 7
#define MAX_STACK 4

/* 600 bytes of English text: the token stream. */
static const char TEXT[] =
    "It was the best of times, it was the worst of times; it was the age of wisdom, it was the age of "
    "foolishness. Quick brown foxes jump over lazy dogs, and five boxing wizards jump quickly! Pack my box "
    "with five dozen liquor jugs? The sphinx of black quartz judged my vow. Call me Ishmael: some years "
    "ago (never mind how long precisely) having little or no money in my purse, I thought I would sail "
    "about a little and see the watery part of the world. In a hole in the ground there lived a hobbit; "
    "not a nasty, dirty, wet hole, filled with the ends of worms and an oozy smell, nor yet a dry, bare, "
    "sandy hole with nothing in it to sit down on or to eat. Zebras vex 42 jugglers.";

typedef struct {
    char *dir;
    char path[512];
} fixture;

static void write_text(fixture *f)
{
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/t.txt", f->dir);
    assert_true(strlen(TEXT) >= 600);
    tu_write_file(f->path, TEXT, 600);
}

static void fixture_free(fixture *f)
{
    tu_rmrf(f->dir);
    free(f->dir);
}

/* Everything one run of the compiled code needs. */
typedef struct {
    plan *pl;
    plan_layer *own_layers; /* the layers with `last` spliced in (to_last), else NULL */
    plan_layer *orig_layers;
    int orig_n;
    cg_test_prog t; /* layout, memory, optimizer state, program */
    hprt_dataset ds;
} compiled;

/* The checker rejects `last` before the output of a text model (a language
 * model predicts at every step), but the code generator supports it: plan the
 * per-step model and splice a `last` layer in before the final dense layer. */
static void to_last(compiled *c)
{
    plan_experiment *e = c->pl->experiment;
    int n = e->n_layers;
    assert_true(n >= 4);
    assert_int_equal(e->layers[n - 1].kind, PLAN_DENSE);
    assert_int_equal(e->layers[n - 1].in.kind, PLAN_SEQ);
    plan_layer *L = calloc((size_t)n + 1, sizeof *L);
    assert_non_null(L);
    memcpy(L, e->layers, sizeof *L * (size_t)(n - 1));
    plan_shape seq = e->layers[n - 1].in;
    plan_shape vec = {PLAN_VEC, {seq.d[1], 0, 0}};
    L[n - 1] = (plan_layer){.kind = PLAN_LAST, .line = e->layers[n - 1].line, .in = seq, .out = vec};
    L[n] = e->layers[n - 1];
    L[n].in = vec;
    L[n].out = (plan_shape){PLAN_VEC, {e->layers[n - 1].out.d[1], 0, 0}};
    c->orig_layers = e->layers;
    c->orig_n = n;
    c->own_layers = L;
    e->layers = L;
    e->n_layers = n + 1;
}

static void compile(compiled *c, fixture *f, const char *model, const char *settings, int threads, int B, bool last)
{
    memset(c, 0, sizeof *c);
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = text(\"%s\", seq = %d) }\n"
             "model m { %s }\n"
             "experiment e { data = d; model = m; loss = cross_entropy; batch = %d; %s }\n",
             f->path, SEQ, model, B, settings);
    checked *ck;
    c->pl = plan_src(&ck, src, "e", NULL, 0);
    if (!c->pl)
        print_error("%s\n", ck->text);
    assert_non_null(c->pl);
    checked_free(ck);
    if (last)
        to_last(c);
    plan_experiment *e = c->pl->experiment;
    cg_test_build(&c->t, e, threads, B);
    assert_true(c->t.l->text);
    assert_int_equal(c->t.l->seq, SEQ);
    const char *paths[1] = {f->path};
    hprt_error herr;
    assert_int_equal(hprt_text_load(paths, 1, SEQ, NULL, &c->ds, &herr), HPRT_OK);
    assert_int_equal(c->ds.n, 600);
    assert_int_equal(c->ds.vocab.size, e->layers[1].vocab);
}

static void release(compiled *c)
{
    cg_test_release(&c->t);
    hprt_dataset_free(&c->ds);
    if (c->own_layers) {
        c->pl->experiment->layers = c->orig_layers;
        c->pl->experiment->n_layers = c->orig_n;
        free(c->own_layers);
    }
    plan_free(c->pl);
}

/* Step `window` of the B streams: rows tokens[r * stream + window * seq ..]. */
static void fill_io(hprt_step_io *io, const compiled *c, int B, long window, bool reset, double lr, long t)
{
    memset(io, 0, sizeof *io);
    hprt_step_set_batch(io, &c->ds, NULL, window * SEQ, B);
    io->stream = c->ds.n / B;
    io->reset = reset;
    assert_true(io->x8 == c->ds.tokens);
    float p[HPRT_MAX_DROPOUT];
    for (int s = 0; s < HPRT_MAX_DROPOUT; s++)
        p[s] = 0.3f;
    hprt_step_set_numbers(io, &c->pl->experiment->optimizer, lr, NAN, t, 1, t, p, c->t.l->n_dropout);
}

/* ---- the reference ---- */

/* Buffers freed together. */
typedef struct {
    void *p[256];
    int n;
} pool;

static float *fa(pool *m, size_t n)
{
    assert_true(m->n < 256);
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
    long n;                 /* parameters */
    int B;
    float *params, *grads;
    hprt_optim_state *opt;  /* persists across steps, like the compiled code's */
    float *h[MAX_STACK], *c[MAX_STACK]; /* the carried state, B x H */
    double loss;            /* mean over the rows of the loss */
    int correct;
    double norm;            /* the gradient norm before clipping */
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
    int H = c->pl->experiment->layers[2].units;
    for (int s = 0; s < MAX_STACK; s++) {
        ref->h[s] = calloc((size_t)B * H, sizeof(float));
        ref->c[s] = calloc((size_t)B * H, sizeof(float));
    }
}

static void ref_free(reference *ref)
{
    free(ref->params);
    free(ref->grads);
    hprt_optim_state_free(ref->opt);
    for (int s = 0; s < MAX_STACK; s++) {
        free(ref->h[s]);
        free(ref->c[s]);
    }
}

/* One step of the model input tokens -> embed -> stack -> [last] -> dense vocab:
 * the forward pass, loss and correct count; when training, the gradients (in
 * ref->grads, unclipped as the compiled code keeps them) and the update of
 * ref->params.  The final state becomes the carried state either way. */
static void ref_step(reference *ref, const compiled *c, const hprt_step_io *io, bool train, double clip, long t,
                     double lr)
{
    const plan_experiment *e = c->pl->experiment;
    const cg_layout *l = c->t.l;
    const cg_layer_layout *LE = &l->layers[1], *LR = &l->layers[2], *LD = &l->layers[e->n_layers - 1];
    bool last = e->layers[3].kind == PLAN_LAST;
    int B = ref->B, T = l->seq, Dm = e->layers[1].units, V = e->layers[1].vocab, H = e->layers[2].units;
    int S = LR->n_rnn, n = B * T, nz = last ? B : n;
    assert_true(S <= MAX_STACK);
    assert_int_equal(LD->b_size, V);
    const float *P = ref->params;
    float *G = ref->grads;
    pool m = {0};

    /* the windows and their next-token targets */
    unsigned char *ids = malloc((size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n), *labz = malloc(sizeof(int32_t) * (size_t)nz);
    assert_non_null(ids);
    assert_non_null(lab);
    assert_non_null(labz);
    for (int r = 0; r < B; r++)
        for (int k = 0; k < T; k++) {
            long at = r * io->stream + io->start + k;
            assert_true(at + 1 < c->ds.n);
            ids[r * T + k] = io->x8[at];
            lab[r * T + k] = io->x8[at + 1];
        }
    for (int r = 0; r < nz; r++)
        labz[r] = last ? lab[r * T + T - 1] : lab[r];

    /* forward */
    float *X0 = fa(&m, (size_t)n * Dm);
    hprt_embed_forward(P + LE->w, ids, n, Dm, X0);
    const float *in[MAX_STACK], *h0[MAX_STACK], *c0[MAX_STACK];
    float *Y[MAX_STACK], *A[MAX_STACK], *C[MAX_STACK], *Hp[MAX_STACK], *hT[MAX_STACK], *cT[MAX_STACK];
    bool dropped[MAX_STACK];
    const float *x = X0;
    for (int s = 0; s < S; s++) {
        const cg_rnn_layer *R = &LR->rnn[s];
        hprt_rnn_geom g = R->geom;
        int GH = hprt_rnn_gates(g.cell) * H;
        assert_int_equal(g.hidden, H);
        assert_int_equal(g.T, T);
        assert_int_equal(g.in, s == 0 ? Dm : H);
        dropped[s] = train && s > 0 && R->site >= 0;
        if (dropped[s]) {
            float *Dx = fa(&m, (size_t)n * H);
            hprt_dropout_forward(Y[s - 1], Dx, (size_t)n * H, l->site_p[R->site], io->dropout_key[R->site], 0);
            x = Dx;
        }
        in[s] = x;
        const float *Wih = P + LR->w + R->w, *Whh = Wih + (long)GH * g.in, *bih = Whh + (long)GH * H, *bhh = bih + GH;
        h0[s] = io->reset ? NULL : ref->h[s];
        c0[s] = io->reset || g.cell != HPRT_CELL_LSTM ? NULL : ref->c[s];
        Y[s] = fa(&m, (size_t)n * H);
        A[s] = fa(&m, (size_t)n * GH);
        C[s] = fa(&m, (size_t)n * H);
        Hp[s] = fa(&m, (size_t)n * H);
        hT[s] = fa(&m, (size_t)B * H);
        cT[s] = fa(&m, (size_t)B * H);
        hprt_rnn_forward(&g, B, x, Wih, Whh, bih, bhh, h0[s], c0[s], Y[s], hT[s],
                         g.cell == HPRT_CELL_LSTM ? cT[s] : NULL, A[s], C[s], Hp[s], fa(&m, (size_t)B * GH), NULL);
        x = Y[s];
    }
    /* the output: every step, or the last one of each window */
    float *Xd = Y[S - 1];
    if (last) {
        Xd = fa(&m, (size_t)B * H);
        for (int r = 0; r < B; r++)
            memcpy(Xd + (size_t)r * H, Y[S - 1] + ((size_t)r * T + T - 1) * H, sizeof(float) * (size_t)H);
    }
    float *Z = fa(&m, (size_t)nz * V), *dZ = fa(&m, (size_t)nz * V);
    hprt_dense_forward(Xd, P + LD->w, P + LD->b, Z, nz, H, V);
    ref->loss = hprt_softmax_xent(Z, labz, nz, V, train ? dZ : NULL);
    ref->correct = hprt_accuracy_count(Z, labz, nz, V);

    if (train) {
        /* backward */
        memset(G, 0, sizeof(float) * (size_t)ref->n);
        float *dXd = fa(&m, (size_t)nz * H);
        hprt_dense_backward(Xd, P + LD->w, dZ, dXd, G + LD->w, G + LD->b, nz, H, V);
        float *dY = fa(&m, (size_t)n * H);
        if (last) {
            for (int r = 0; r < B; r++)
                memcpy(dY + ((size_t)r * T + T - 1) * H, dXd + (size_t)r * H, sizeof(float) * (size_t)H);
        } else {
            memcpy(dY, dXd, sizeof(float) * (size_t)n * H);
        }
        float *dX0 = fa(&m, (size_t)n * Dm);
        for (int s = S - 1; s >= 0; s--) {
            const cg_rnn_layer *R = &LR->rnn[s];
            hprt_rnn_geom g = R->geom;
            int GH = hprt_rnn_gates(g.cell) * H;
            const float *Wih = P + LR->w + R->w, *Whh = Wih + (long)GH * g.in;
            float *dGi = fa(&m, (size_t)n * GH), *dGh = fa(&m, (size_t)n * GH);
            float *dX = s > 0 ? fa(&m, (size_t)n * H) : dX0;
            hprt_rnn_backward_data(&g, B, Wih, Whh, A[s], C[s], Hp[s], c0[s], dY, dGi, dGh, dX,
                                   fa(&m, (size_t)2 * B * H), NULL);
            float *dWih = G + LR->w + R->w, *dWhh = dWih + (long)GH * g.in, *dbih = dWhh + (long)GH * H,
                  *dbhh = dbih + GH;
            hprt_rnn_weight_grads(&g, B, in[s], Hp[s], dGi, dGh, 0, GH, dWih, dWhh, dbih, dbhh, NULL);
            if (dropped[s])
                hprt_dropout_backward(dX, dX, (size_t)n * H, l->site_p[R->site], io->dropout_key[R->site], 0);
            dY = dX;
        }
        hprt_embed_backward(ids, n, Dm, dX0, 0, V, G + LE->w);

        /* clip (on a copy: the compiled code keeps the unclipped gradients) and update */
        float *upd = malloc(sizeof(float) * (size_t)ref->n);
        assert_non_null(upd);
        memcpy(upd, G, sizeof(float) * (size_t)ref->n);
        ref->norm = NAN;
        if (clip > 0) {
            float *gs[1] = {upd};
            size_t sz[1] = {(size_t)ref->n};
            ref->norm = hprt_clip_grad_norm(gs, sz, 1, clip);
        }
        assert_int_equal(hprt_optim_step(&e->optimizer, ref->opt, ref->params, upd, (size_t)ref->n, lr, NAN, t),
                         HPRT_OK);
        free(upd);
    }
    /* the final state is carried to the next step */
    for (int s = 0; s < S; s++) {
        memcpy(ref->h[s], hT[s], sizeof(float) * (size_t)B * H);
        memcpy(ref->c[s], cT[s], sizeof(float) * (size_t)B * H);
    }
    free(ids);
    free(lab);
    free(labz);
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

/* Gradients are relative to their own scale: most are small sums. */
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

/* The carried state the compiled code keeps, against the reference's. */
static void compare_state(const compiled *c, const reference *ref)
{
    const cg_layer_layout *LR = &c->t.l->layers[2];
    int H = c->pl->experiment->layers[2].units;
    for (int s = 0; s < LR->n_rnn; s++) {
        const cg_rnn_layer *R = &LR->rnn[s];
        compare(c->t.mem.acts + R->h, ref->h[s], (long)ref->B * H, 1e-5, "carried h");
        if (R->c >= 0)
            compare(c->t.mem.acts + R->c, ref->c[s], (long)ref->B * H, 1e-5, "carried c");
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

/* `steps` consecutive training steps (window k, reset on the first) against
 * the reference: loss, gradients, carried state and parameters after each. */
static void check_steps(const char *model, const char *settings, double clip, int threads, int B, bool last,
                        int steps)
{
    fixture f;
    write_text(&f);
    compiled c;
    compile(&c, &f, model, settings, threads, B, last);
    print_message("%s%s | %s, %d threads, batch %d, %d steps\n", model, last ? " + last" : "", settings, threads, B,
                  steps);
    reference ref;
    ref_init(&ref, &c, B);
    double lr = 0.01;
    long rows = last ? B : (long)B * SEQ;
    for (int k = 0; k < steps; k++) {
        long t = k + 1;
        static hprt_step_io io;
        fill_io(&io, &c, B, k, k == 0, lr, t);
        ref_step(&ref, &c, &io, true, clip, t, lr);
        run_threads(cg_train_fn(c.t.prog, B), &io, threads);
        assert_close(step_loss(&io, threads, rows), ref.loss, 1e-5);
        assert_int_equal(step_correct(&io, threads), ref.correct);
        compare_grads(c.t.mem.grads, ref.grads, c.t.l->n_params, 1e-4);
        if (clip > 0) {
            assert_close(io.grad_norm, ref.norm, 1e-5);
            assert_true(ref.norm > clip); /* the clipping is exercised */
        }
        compare(c.t.mem.params, ref.params, c.t.l->n_params, 1e-5, "parameter");
        compare_state(&c, &ref);
        /* the next step starts from the same parameters on both sides */
        memcpy(ref.params, c.t.mem.params, sizeof(float) * (size_t)c.t.l->n_params);
    }
    ref_free(&ref);
    release(&c);
    fixture_free(&f);
}

#define CLIP 0.2
#define ADAM_CLIP "optimizer = adam(lr = 0.01); clip = 0.2"

/* 1. lstm, 2 stacked layers, an output at every step, adam, clipping */
static void test_lstm_stack2(void **state)
{
    (void)state;
    const char *model = "input tokens\n embed 5\n lstm 6, stack = 2\n dense vocab";
    check_steps(model, ADAM_CLIP, CLIP, 2, 3, false, 1);
    check_steps(model, ADAM_CLIP, CLIP, 1, 3, false, 1);
}

/* 2. gru stack 2 and rnn stack 1; without clipping each thread updates its
 * part right after its gradients */
static void test_gru_stack2_rnn(void **state)
{
    (void)state;
    const char *gru = "input tokens\n embed 5\n gru 6, stack = 2\n dense vocab";
    const char *rnn = "input tokens\n embed 5\n rnn 6\n dense vocab";
    check_steps(gru, ADAM_CLIP, CLIP, 2, 3, false, 1);
    check_steps(gru, "optimizer = sgd(lr = 0.01, momentum = 0.9)", 0, 1, 3, false, 1);
    check_steps(rnn, ADAM_CLIP, CLIP, 1, 3, false, 1);
    check_steps(rnn, "optimizer = sgd(lr = 0.01, momentum = 0.9)", 0, 3, 5, false, 1);
}

/* 3. the state carried from one step to the next (truncated BPTT) */
static void test_state_carry(void **state)
{
    (void)state;
    check_steps("input tokens\n embed 5\n lstm 6, stack = 2\n dense vocab", ADAM_CLIP, CLIP, 2, 3, false, 3);
    check_steps("input tokens\n embed 5\n rnn 6, stack = 3\n dense vocab", ADAM_CLIP, CLIP, 1, 3, false, 2);
}

/* 4. `last`: one output per window, the target the token after it */
static void test_last(void **state)
{
    (void)state;
    check_steps("input tokens\n embed 5\n lstm 6, stack = 2\n dense vocab", ADAM_CLIP, CLIP, 2, 3, true, 2);
}

/* dropout between stacked layers: the mask of its site, forward and backward;
 * two steps, so also the gru's carried state */
static void test_stack_dropout(void **state)
{
    (void)state;
    check_steps("input tokens\n embed 5\n gru 6, stack = 2, dropout = 0.3\n dense vocab", ADAM_CLIP, CLIP, 2, 3,
                false, 2);
}

/* 5. evaluation: the forward pass (no dropout), loss and correct count over
 * every token, the state carried between evaluation steps */
static void check_eval(const char *model, int threads, int B, bool last)
{
    fixture f;
    write_text(&f);
    compiled c;
    compile(&c, &f, model, "optimizer = adam(lr = 0.01)", threads, B, last);
    print_message("eval: %s%s, %d threads, batch %d\n", model, last ? " + last" : "", threads, B);
    reference ref;
    ref_init(&ref, &c, B);
    long rows = last ? B : (long)B * SEQ;
    for (int k = 0; k < 3; k++) {
        static hprt_step_io io;
        fill_io(&io, &c, B, k, k == 0, 0.01, 1);
        io.rows = B;
        ref_step(&ref, &c, &io, false, 0, 1, 0.01);
        run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
        assert_close(step_loss(&io, threads, rows), ref.loss, 1e-5);
        assert_int_equal(step_correct(&io, threads), ref.correct);
        compare_state(&c, &ref);
    }
    ref_free(&ref);
    release(&c);
    fixture_free(&f);
}

static void test_eval_step(void **state)
{
    (void)state;
    check_eval("input tokens\n embed 5\n lstm 6, stack = 2, dropout = 0.3\n dense vocab", 2, 3, false);
    check_eval("input tokens\n embed 5\n gru 6, stack = 2\n dense vocab", 1, 3, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_stack2),
        cmocka_unit_test(test_gru_stack2_rnn),
        cmocka_unit_test(test_state_carry),
        cmocka_unit_test(test_last),
        cmocka_unit_test(test_stack_dropout),
        cmocka_unit_test(test_eval_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
