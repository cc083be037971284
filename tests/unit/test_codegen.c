/* test_codegen.c - the JIT-compiled step against the reference kernels.
 *
 * A small network (shapes that are not multiples of the vector width) is
 * planned from a .hp text over a CSV file, compiled, and run for one training
 * step on 1 and 2 threads; the parameters after the update, the loss and the
 * gradients must equal the plain-C reference (hprt_dense_*, activations,
 * dropout, softmax_xent / mse, hprt_optim_step) within 1e-5 relative. */
#include <math.h>
#include <pthread.h>

#include "codegen.h"
#include "cg_test.h"
#include "hpc_test.h"
#include "hprt.h"
#include "hprt_train.h"

#define ROWS 37
#define FEAT 13
#define CLASSES 5

typedef cg_test_csv fixture;

static void write_csv(fixture *f) { cg_test_csv_write(f, ROWS, FEAT, CLASSES, 7, false); }

/* Everything one run of the compiled code needs. */
typedef struct {
    plan *pl;
    cg_test_prog t; /* layout, memory, optimizer state, program */
    hprt_dataset ds;
} compiled;

static void compile_ranks(compiled *c, fixture *f, const char *model, const char *settings, int threads, int B, int ranks)
{
    char src[4096];
    snprintf(src, sizeof src,
             "data d { train = csv(\"%s\") }\n"
             "model m { %s }\n"
             "experiment e { data = d; model = m; %s }\n",
             f->path, model, settings);
    checked *ck;
    c->pl = plan_src(&ck, src, "e", NULL, 0);
    if (!c->pl)
        print_error("%s\n", ck->text);
    assert_non_null(c->pl);
    checked_free(ck);
    plan_experiment *e = c->pl->experiment;
    cg_test_build_ranks(&c->t, e, threads, B, ranks);
    hprt_csv_opts o = hprt_csv_defaults();
    hprt_error herr;
    assert_int_equal(hprt_csv_load(f->path, &o, &c->ds, &herr), HPRT_OK);
}

static void compile(compiled *c, fixture *f, const char *model, const char *settings, int threads, int B)
{
    compile_ranks(c, f, model, settings, threads, B, 1);
}

static void release(compiled *c)
{
    cg_test_release(&c->t);
    hprt_dataset_free(&c->ds);
    plan_free(c->pl);
}

static void fill_io(hprt_step_io *io, const compiled *c, const hprt_optimizer *opt, const uint32_t *order, double lr,
                    long t)
{
    memset(io, 0, sizeof *io);
    hprt_step_set_batch(io, &c->ds, order, 3, 0);
    float p[HPRT_MAX_DROPOUT];
    for (int s = 0; s < HPRT_MAX_DROPOUT; s++)
        p[s] = 0.3f;
    hprt_step_set_numbers(io, opt, lr, NAN, t, 1, t, p, c->t.l->n_dropout);
}

/* ---- the reference for input -> dense(relu) -> dropout -> dense(tanh) -> dense (-> softmax+CE or mse) ---- */

typedef struct {
    float *params, *grads;
    hprt_optim_state *st; /* kept across steps */
    double loss;
} reference;

static void reference_step(reference *ref, const compiled *c, const hprt_optimizer *opt, const hprt_step_io *io, int B,
                           bool mse, double clip, long t, double lr)
{
    const cg_layout *l = c->t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L3 = &l->layers[3], *L4 = &l->layers[4];
    int H1 = L1->out_size, H2 = L3->out_size, K = L4->out_size;
    float *P = ref->params, *G = ref->grads;
    float X[64 * FEAT], A1[64 * 32], D1[64 * 32], A2[64 * 32], Z[64 * 8], dZ[64 * 8], dA2[64 * 32], dD1[64 * 32], dA1[64 * 32];
    int32_t lab[64];
    for (int r = 0; r < B; r++) {
        uint32_t s = io->order[io->start + r];
        memcpy(X + r * FEAT, c->ds.x + (size_t)s * FEAT, sizeof(float) * FEAT);
        lab[r] = c->ds.y[s];
    }
    hprt_dense_forward(X, P + L1->w, P + L1->b, A1, B, FEAT, H1);
    hprt_relu_forward(A1, A1, (size_t)B * H1);
    hprt_dropout_forward(A1, D1, (size_t)B * H1, 0.3f, io->dropout_key[0], 0);
    hprt_dense_forward(D1, P + L3->w, P + L3->b, A2, B, H1, H2);
    hprt_tanh_forward(A2, A2, (size_t)B * H2);
    hprt_dense_forward(A2, P + L4->w, P + L4->b, Z, B, H2, K);
    if (mse)
        ref->loss = hprt_mse_onehot(Z, lab, B, K, dZ);
    else
        ref->loss = hprt_softmax_xent(Z, lab, B, K, dZ);
    memset(G, 0, sizeof(float) * (size_t)l->n_params);
    hprt_dense_backward(A2, P + L4->w, dZ, dA2, G + L4->w, G + L4->b, B, H2, K);
    hprt_tanh_backward(A2, dA2, dA2, (size_t)B * H2);
    hprt_dense_backward(D1, P + L3->w, dA2, dD1, G + L3->w, G + L3->b, B, H1, H2);
    hprt_dropout_backward(dD1, dA1, (size_t)B * H1, 0.3f, io->dropout_key[0], 0);
    hprt_relu_backward(A1, dA1, dA1, (size_t)B * H1);
    hprt_dense_backward(X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B, FEAT, H1);
    /* the compiled code keeps the unclipped gradients and scales them in the update */
    float *upd = malloc(sizeof(float) * (size_t)l->n_params);
    assert_non_null(upd);
    memcpy(upd, G, sizeof(float) * (size_t)l->n_params);
    if (clip > 0) {
        float *gs[1] = {upd};
        size_t n[1] = {(size_t)l->n_params};
        hprt_clip_grad_norm(gs, n, 1, clip);
    }
    assert_int_equal(hprt_optim_step(opt, ref->st, P, upd, (size_t)l->n_params, lr, NAN, t), HPRT_OK);
    free(upd);
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

/* `steps` training steps of the code compiled for `settings`, against the
 * reference.  run_opt: NULL, or the settings of another experiment whose
 * optimizer fills the step's numbers (and the reference's): the compiled code
 * must follow the hyperparameters it is given at run time. */
static void check_steps(const char *settings, const char *run_opt, bool mse, double clip, int threads, int B, int steps)
{
    fixture f;
    write_csv(&f);
    compiled c;
    const char *model = "input 13\n dense 11, relu\n dropout 0.3\n dense 9, tanh\n dense classes";
    compile(&c, &f, model, settings, threads, B);
    compiled other = {0};
    if (run_opt) {
        compile(&other, &f, model, run_opt, threads, B);
        assert_int_equal(other.pl->experiment->optimizer.kind, c.pl->experiment->optimizer.kind);
    }
    const hprt_optimizer *opt = &(run_opt ? other.pl : c.pl)->experiment->optimizer;
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 7) % ROWS; /* a permutation */
    double lr = 0.01;
    static hprt_step_io io;
    reference ref;
    ref.params = malloc(sizeof(float) * (size_t)c.t.l->n_params);
    ref.grads = malloc(sizeof(float) * (size_t)c.t.l->n_params);
    ref.st = hprt_optim_state_new(opt, (size_t)c.t.l->n_params);
    assert_non_null(ref.params);
    assert_non_null(ref.grads);
    assert_non_null(ref.st);
    memcpy(ref.params, c.t.mem.params, sizeof(float) * (size_t)c.t.l->n_params);
    print_message("%s%s%s, %d threads, batch %d, %d steps\n", settings, run_opt ? " run as " : "", run_opt ? run_opt : "",
                  threads, B, steps);
    for (long t = 1; t <= steps; t++) {
        fill_io(&io, &c, opt, order, lr, t);
        reference_step(&ref, &c, opt, &io, B, mse, clip, t, lr);
        run_threads(cg_train_fn(c.t.prog, B), &io, threads);
        double loss = 0;
        for (int k = 0; k < threads; k++)
            loss += io.loss[k];
        assert_close(loss / B, ref.loss, 1e-5);
        compare(c.t.mem.grads, ref.grads, c.t.l->n_params, 1e-5, "gradient");
        compare(c.t.mem.params, ref.params, c.t.l->n_params, 1e-5, "parameter");
        /* the next step starts from the same parameters */
        memcpy(ref.params, c.t.mem.params, sizeof(float) * (size_t)c.t.l->n_params);
    }
    hprt_optim_state_free(ref.st);
    free(ref.params);
    free(ref.grads);
    if (run_opt)
        release(&other);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void check_one_step(const char *settings, bool mse, double clip, int threads, int B)
{
    check_steps(settings, NULL, mse, clip, threads, B, 1);
}

static void test_adam_ce_one_thread(void **state)
{
    (void)state;
    check_one_step("optimizer = adam(lr = 0.01)", false, 0, 1, 9);
}

static void test_adam_ce_two_threads(void **state)
{
    (void)state;
    check_one_step("optimizer = adam(lr = 0.01)", false, 0, 2, 9);
    check_one_step("optimizer = adam(lr = 0.01)", false, 0, 2, 16);
}

static void test_every_optimizer(void **state)
{
    (void)state;
    check_one_step("optimizer = sgd(lr = 0.01)", false, 0, 2, 7);
    check_one_step("optimizer = sgd(lr = 0.01, momentum = 0.9, nesterov = true, weight_decay = 0.01)", false, 0, 2, 7);
    check_one_step("optimizer = adamw(lr = 0.01)", false, 0, 2, 7);
    check_one_step("optimizer = adam(lr = 0.01, amsgrad = true, weight_decay = 0.1)", false, 0, 2, 7);
    check_one_step("optimizer = adagrad(lr = 0.01, initial = 0.1, lr_decay = 0.01)", false, 0, 2, 7);
    check_one_step("optimizer = rmsprop(lr = 0.01)", false, 0, 2, 7);
    check_one_step("optimizer = rmsprop(lr = 0.01, momentum = 0.9, centered = true)", false, 0, 2, 7);
    check_one_step("optimizer = adamax(lr = 0.01)", false, 0, 2, 7);
    /* several steps: the state arrays carry over (sgd's first step, adam's bias corrections, adamax's max) */
    check_steps("optimizer = adamax(lr = 0.01, weight_decay = 0.1, beta1 = 0.8)", NULL, false, 0, 2, 7, 4);
    check_steps("optimizer = adamax(lr = 0.01)", NULL, false, 0, 1, 9, 3);
    check_steps("optimizer = sgd(lr = 0.01, momentum = 0.9, dampening = 0.5)", NULL, false, 0, 2, 7, 3);
    check_steps("optimizer = adam(lr = 0.01, amsgrad = true)", NULL, false, 0, 2, 7, 3);
    check_steps("optimizer = rmsprop(lr = 0.01, momentum = 0.5, centered = true, weight_decay = 0.01)", NULL, false, 0,
                2, 7, 3);
    check_steps("optimizer = adagrad(lr = 0.01, weight_decay = 0.01)", NULL, false, 0, 2, 7, 3);
}

/* The hyperparameters are run-time inputs: code compiled for one setting
 * follows another one given in the step's numbers (a trial of a search that
 * changes only them reuses the compiled step). */
static void test_runtime_hyperparameters(void **state)
{
    (void)state;
    check_steps("optimizer = sgd(lr = 0.01)", "optimizer = sgd(lr = 0.01, momentum = 0.9, nesterov = true, weight_decay = 0.01)",
                false, 0, 2, 7, 3);
    check_steps("optimizer = sgd(lr = 0.01, momentum = 0.9, dampening = 0.2, weight_decay = 0.1)",
                "optimizer = sgd(lr = 0.01)", false, 0, 2, 7, 3);
    check_steps("optimizer = adam(lr = 0.01)", "optimizer = adam(lr = 0.01, beta1 = 0.5, beta2 = 0.9, eps = 1e-3, weight_decay = 0.1)",
                false, 0, 2, 7, 3);
    check_steps("optimizer = adamw(lr = 0.01)", "optimizer = adamw(lr = 0.01, beta2 = 0.99, weight_decay = 0.5)", false, 0,
                1, 9, 3);
    check_steps("optimizer = adamax(lr = 0.01)", "optimizer = adamax(lr = 0.01, beta1 = 0.7, beta2 = 0.9, eps = 1e-2, weight_decay = 0.05)",
                false, 0, 2, 7, 3);
    check_steps("optimizer = rmsprop(lr = 0.01)", "optimizer = rmsprop(lr = 0.01, alpha = 0.9, eps = 1e-4, momentum = 0.8, weight_decay = 0.01)",
                false, 0, 2, 7, 3);
    check_steps("optimizer = adagrad(lr = 0.01)", "optimizer = adagrad(lr = 0.01, eps = 1e-3, lr_decay = 0.1, weight_decay = 0.01)",
                false, 0, 2, 7, 3);
}

static void test_mse_and_clip(void **state)
{
    (void)state;
    check_one_step("optimizer = sgd(lr = 0.01); loss = mse", true, 0, 2, 9);
    check_one_step("optimizer = adam(lr = 0.01); clip = 0.05", false, 0.05, 2, 9);
    check_one_step("optimizer = adam(lr = 0.01); clip = 0.05", false, 0.05, 1, 9);
}

/* ---- the data-parallel step's sharded update (docs/distributed.md) ---- */

/* A stand-in for the driver's dp_* functions, one rank: the "sum over the
 * ranks" of the slice is twice the rank's gradient, and dp_gscale 0.5 makes
 * it the rank's again (exactly), so the update must be the reference's. */
typedef struct {
    const compiled *c;
    float slice[4096];
    int threads, reduces, norms, gathers;
} dp_stub;

static void stub_reduce(void *p)
{
    hprt_step_io *io = p;
    dp_stub *s = io->dp_ctx;
    io->dp_loss = 0;
    for (int t = 0; t < s->threads; t++)
        io->dp_loss += io->loss[t];
    assert_true(io->shard_hi - io->shard_lo <= 4096);
    for (int64_t i = io->shard_lo; i < io->shard_hi; i++)
        s->slice[i - io->shard_lo] = 2 * s->c->t.mem.grads[i];
    io->dp_grads = s->slice;
    io->dp_gscale = 0.5f;
    s->reduces++;
}

static void stub_norm(void *p)
{
    hprt_step_io *io = p;
    dp_stub *s = io->dp_ctx;
    double sq = 0;
    for (int t = 0; t < s->threads; t++)
        sq += io->sqnorm[t];
    io->grad_norm = sqrt(sq * 0.25);
    s->norms++;
}

static void stub_gather(void *p)
{
    dp_stub *s = ((hprt_step_io *)p)->dp_ctx;
    s->gathers++;
}

/* `steps` data-parallel steps (rank 0's share of 2B rows: B) updating only
 * the parameters [lo, hi) of the arena (hi <= 0: to its end, minus -hi):
 * inside, the reference's update; outside, unchanged. */
static void check_dp_steps(const char *settings, double clip, int threads, int B, long lo, long hi, int steps)
{
    fixture f;
    write_csv(&f);
    compiled c;
    compile_ranks(&c, &f, "input 13\n dense 11, relu\n dropout 0.3\n dense 9, tanh\n dense classes", settings, threads,
                  2 * B, 2);
    assert_true(c.t.l->dp);
    long n = c.t.l->n_params;
    if (hi <= 0)
        hi += n;
    const hprt_optimizer *opt = &c.pl->experiment->optimizer;
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 7) % ROWS;
    static hprt_step_io io;
    static dp_stub stub;
    stub = (dp_stub){.c = &c, .threads = threads};
    reference ref;
    ref.params = malloc(sizeof(float) * (size_t)n);
    ref.grads = malloc(sizeof(float) * (size_t)n);
    float *before = malloc(sizeof(float) * (size_t)n);
    ref.st = hprt_optim_state_new(opt, (size_t)n);
    assert_non_null(ref.params);
    assert_non_null(ref.grads);
    assert_non_null(before);
    assert_non_null(ref.st);
    print_message("data-parallel %s, %d threads, batch %d, slice [%ld, %ld) of %ld, %d steps\n", settings, threads, B, lo, hi,
                  n, steps);
    for (long t = 1; t <= steps; t++) {
        memcpy(ref.params, c.t.mem.params, sizeof(float) * (size_t)n);
        memcpy(before, c.t.mem.params, sizeof(float) * (size_t)n);
        fill_io(&io, &c, opt, order, 0.01, t);
        io.dp_reduce = stub_reduce;
        io.dp_norm = stub_norm;
        io.dp_gather = stub_gather;
        io.dp_ctx = &stub;
        io.shard_lo = lo;
        io.shard_hi = hi;
        reference_step(&ref, &c, opt, &io, B, false, clip, t, 0.01);
        run_threads(cg_train_fn(c.t.prog, B), &io, threads);
        assert_close(io.dp_loss / B, ref.loss, 1e-5);
        compare(c.t.mem.grads, ref.grads, n, 1e-5, "gradient");
        compare(c.t.mem.params + lo, ref.params + lo, hi - lo, 1e-5, "parameter in the slice");
        assert_memory_equal(c.t.mem.params, before, sizeof(float) * (size_t)lo);
        assert_memory_equal(c.t.mem.params + hi, before + hi, sizeof(float) * (size_t)(n - hi));
        /* the reference updated every parameter: only the slice's state is the compiled step's */
        for (long i = 0; i < n; i++)
            if (i < lo || i >= hi)
                ref.params[i] = before[i];
    }
    assert_int_equal(stub.reduces, steps);
    assert_int_equal(stub.gathers, steps);
    assert_int_equal(stub.norms, clip > 0 ? steps : 0);
    hprt_optim_state_free(ref.st);
    free(ref.params);
    free(ref.grads);
    free(before);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void test_dp_sharded_update(void **state)
{
    (void)state;
    /* a slice that starts and ends inside tensors, split over 1 and 2 threads */
    check_dp_steps("optimizer = adam(lr = 0.01)", 0, 1, 9, 32, -48, 3);
    check_dp_steps("optimizer = adam(lr = 0.01, weight_decay = 0.1)", 0, 2, 9, 48, -16, 1);
    check_dp_steps("optimizer = sgd(lr = 0.01, momentum = 0.9)", 0, 2, 8, 16, -64, 1);
    check_dp_steps("optimizer = rmsprop(lr = 0.01, centered = true)", 0, 2, 8, 0, -32, 1);
    /* an empty slice: nothing changes */
    check_dp_steps("optimizer = adamw(lr = 0.01)", 0, 2, 8, 64, 64, 1);
    /* clipping: the norm over the whole arena (one rank's slice is all of it) */
    check_dp_steps("optimizer = adam(lr = 0.01); clip = 0.05", 0.05, 2, 9, 0, 0, 1);
    check_dp_steps("optimizer = adam(lr = 0.01); clip = 0.05", 0.05, 1, 9, 0, 0, 2);
}

/* ---- gelu, sigmoid, a softmax under mse ---- */

static void test_gelu_sigmoid_softmax_mse(void **state)
{
    (void)state;
    fixture f;
    write_csv(&f);
    compiled c;
    const int B = 10, threads = 2;
    compile(&c, &f, "input 13\n dense 11, gelu\n dense 9\n sigmoid\n dense classes, softmax",
            "optimizer = sgd(lr = 0.05, momentum = 0.5); loss = mse", threads, B);
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 11) % ROWS;
    static hprt_step_io io;
    fill_io(&io, &c, &c.pl->experiment->optimizer, order, 0.05, 1);
    const cg_layout *l = c.t.l;
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L4 = &l->layers[4];
    long n = l->n_params;
    float *P = malloc(sizeof(float) * (size_t)n), *G = calloc((size_t)n, sizeof(float));
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)n);
    float X[16 * FEAT], A1[16 * 11], H1[16 * 11], A2[16 * 9], S2[16 * 9], Z[16 * 8], Pr[16 * 8], dPr[16 * 8], dZ[16 * 8],
        dS2[16 * 9], dA2[16 * 9], dH1[16 * 11], dA1[16 * 11];
    int32_t lab[16];
    for (int r = 0; r < B; r++) {
        uint32_t src = order[io.start + r];
        memcpy(X + r * FEAT, c.ds.x + (size_t)src * FEAT, sizeof(float) * FEAT);
        lab[r] = c.ds.y[src];
    }
    hprt_dense_forward(X, P + L1->w, P + L1->b, A1, B, FEAT, 11);
    hprt_gelu_forward(A1, H1, (size_t)B * 11);
    hprt_dense_forward(H1, P + L2->w, P + L2->b, A2, B, 11, 9);
    hprt_sigmoid_forward(A2, S2, (size_t)B * 9);
    hprt_dense_forward(S2, P + L4->w, P + L4->b, Z, B, 9, CLASSES);
    hprt_softmax_forward(Z, Pr, B, CLASSES);
    double loss = hprt_mse_onehot(Pr, lab, B, CLASSES, dPr);
    hprt_softmax_backward(Pr, dPr, dZ, B, CLASSES);
    hprt_dense_backward(S2, P + L4->w, dZ, dS2, G + L4->w, G + L4->b, B, 9, CLASSES);
    hprt_sigmoid_backward(S2, dS2, dA2, (size_t)B * 9);
    hprt_dense_backward(H1, P + L2->w, dA2, dH1, G + L2->w, G + L2->b, B, 11, 9);
    hprt_gelu_backward(A1, dH1, dA1, (size_t)B * 11);
    hprt_dense_backward(X, P + L1->w, dA1, NULL, G + L1->w, G + L1->b, B, FEAT, 11);
    const plan_experiment *e = c.pl->experiment;
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)n);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)n, 0.05, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);

    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    assert_close(io.loss[0] / B + io.loss[1] / B, loss, 1e-5);
    compare(c.t.mem.grads, G, n, 2e-5, "gradient");
    compare(c.t.mem.params, P, n, 1e-5, "parameter");
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* ---- conv, pools: the per-thread weight gradients summed ---- */

static void write_image_csv(fixture *f)
{
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/img.csv", f->dir);
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    hprt_rng r;
    hprt_rng_seed(&r, 3);
    for (int c = 0; c < 42; c++)
        fprintf(out, "p%d,", c);
    fprintf(out, "label\n");
    for (int i = 0; i < ROWS; i++) {
        for (int c = 0; c < 42; c++)
            fprintf(out, "%.4f,", hprt_rng_uniform(&r));
        fprintf(out, "%d\n", i % 3);
    }
    assert_int_equal(fclose(out), 0);
}

static void test_conv_pool(void **state)
{
    (void)state;
    fixture f;
    write_image_csv(&f);
    const int B = 9, threads = 2;
    compiled c;
    compile(&c, &f, "input [1, 6, 7]\n conv 3, relu, kernel = 3\n maxpool\n conv 2, kernel = 3, pad = valid\n avgpool size = 1\n flatten\n dense classes",
            "optimizer = adam(lr = 0.01)", threads, B);
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 5) % ROWS;
    static hprt_step_io io;
    fill_io(&io, &c, &c.pl->experiment->optimizer, order, 0.01, 1);
    const plan_experiment *e = c.pl->experiment;
    const cg_layout *l = c.t.l;
    long n = l->n_params;
    float *P = malloc(sizeof(float) * (size_t)n), *G = calloc((size_t)n, sizeof(float));
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)n);
    /* shapes: [1,6,7] -conv3 same-> [3,6,7] -maxpool2-> [3,3,3] -conv3 valid-> [2,1,1] -avgpool1-> [2,1,1] -> dense 3 */
    const plan_layer *c1 = &e->layers[1], *mp = &e->layers[2], *c2 = &e->layers[3], *ap = &e->layers[4];
    hprt_conv2d_geom g1 = hprt_conv2d_geom_make(1, 6, 7, 3, 3, 1, 1, 1);
    hprt_pool2d_geom g2 = hprt_pool2d_geom_make(3, 6, 7, mp->kernel, mp->stride);
    hprt_conv2d_geom g3 = hprt_conv2d_geom_make(3, 3, 3, 2, 3, 1, 0, 0);
    hprt_pool2d_geom g4 = hprt_pool2d_geom_make(2, 1, 1, ap->kernel, ap->stride);
    (void)c1;
    (void)c2;
    float X[16 * 42], Y1[16 * 126], P1[16 * 27], Y2[16 * 2], P2[16 * 2], Z[16 * 3], dZ[16 * 3], dP2[16 * 2], dY2[16 * 2],
        dP1[16 * 27], dY1[16 * 126];
    int32_t lab[16];
    for (int r = 0; r < B; r++) {
        uint32_t src = order[io.start + r];
        memcpy(X + r * 42, c.ds.x + (size_t)src * 42, sizeof(float) * 42);
        lab[r] = c.ds.y[src];
    }
    const cg_layer_layout *L1 = &l->layers[1], *L3 = &l->layers[3], *L6 = &l->layers[6];
    hprt_conv2d_forward(&g1, X, P + L1->w, P + L1->b, Y1, B);
    hprt_relu_forward(Y1, Y1, (size_t)B * 126);
    hprt_maxpool2d_forward(&g2, Y1, P1, B);
    hprt_conv2d_forward(&g3, P1, P + L3->w, P + L3->b, Y2, B);
    hprt_avgpool2d_forward(&g4, Y2, P2, B);
    hprt_dense_forward(P2, P + L6->w, P + L6->b, Z, B, 2, 3);
    double loss = hprt_softmax_xent(Z, lab, B, 3, dZ);
    hprt_dense_backward(P2, P + L6->w, dZ, dP2, G + L6->w, G + L6->b, B, 2, 3);
    hprt_avgpool2d_backward(&g4, dP2, dY2, B);
    hprt_conv2d_backward(&g3, P1, P + L3->w, dY2, dP1, G + L3->w, G + L3->b, B);
    hprt_maxpool2d_backward(&g2, Y1, dP1, dY1, B);
    hprt_relu_backward(Y1, dY1, dY1, (size_t)B * 126);
    hprt_conv2d_backward(&g1, X, P + L1->w, dY1, NULL, G + L1->w, G + L1->b, B);
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)n);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)n, 0.01, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);

    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    assert_close(io.loss[0] / B + io.loss[1] / B, loss, 1e-5);
    compare(c.t.mem.grads, G, n, 1e-4, "gradient");
    compare(c.t.mem.params, P, n, 1e-5, "parameter");
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* Two convs with 16 channels in and out take the Winograd lowering
 * (conv_wino.c) inside the compiled step; the step against the reference
 * kernels (float64 sums), loss, gradients and the updated parameters. */
static void test_conv_wino_step(void **state)
{
    (void)state;
    enum { C = 16, H = 4, W = 5, NF = C * H * W, B = 9, threads = 2 };
    fixture f;
    cg_test_csv_write(&f, ROWS, NF, 3, 11, false);
    compiled c;
    compile(&c, &f, "input [16, 4, 5]\n conv 16, relu\n conv 17, pad = valid\n flatten\n dense classes",
            "optimizer = sgd(lr = 0.02, momentum = 0.9)", threads, B);
    const plan_experiment *e = c.pl->experiment;
    hprt_conv2d_geom g1 = hprt_conv2d_geom_make(C, H, W, 16, 3, 1, 1, 1);
    hprt_conv2d_geom g2 = hprt_conv2d_geom_make(16, H, W, 17, 3, 1, 0, 0); /* [17, 2, 3] */
    assert_true(hprt_conv2d_wino_pays(&g1) && hprt_conv2d_wino_pays(&g2));
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 7) % ROWS;
    static hprt_step_io io;
    fill_io(&io, &c, &e->optimizer, order, 0.02, 1);
    const cg_layout *l = c.t.l;
    long n = l->n_params;
    float *P = malloc(sizeof(float) * (size_t)n), *G = calloc((size_t)n, sizeof(float));
    assert_true(P && G);
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)n);
    enum { N1 = 16 * H * W, N2 = 17 * 2 * 3 };
    static float X[B * NF], Y1[B * N1], Y2[B * N2], Z[B * 3], dZ[B * 3], dY2[B * N2], dY1[B * N1];
    int32_t lab[B];
    for (int r = 0; r < B; r++) {
        uint32_t src = order[io.start + r];
        memcpy(X + r * NF, c.ds.x + (size_t)src * NF, sizeof(float) * NF);
        lab[r] = c.ds.y[src];
    }
    const cg_layer_layout *L1 = &l->layers[1], *L2 = &l->layers[2], *L4 = &l->layers[4];
    hprt_conv2d_forward(&g1, X, P + L1->w, P + L1->b, Y1, B);
    hprt_relu_forward(Y1, Y1, (size_t)B * N1);
    hprt_conv2d_forward(&g2, Y1, P + L2->w, P + L2->b, Y2, B);
    hprt_dense_forward(Y2, P + L4->w, P + L4->b, Z, B, N2, 3);
    double loss = hprt_softmax_xent(Z, lab, B, 3, dZ);
    hprt_dense_backward(Y2, P + L4->w, dZ, dY2, G + L4->w, G + L4->b, B, N2, 3);
    hprt_conv2d_backward(&g2, Y1, P + L2->w, dY2, dY1, G + L2->w, G + L2->b, B);
    hprt_relu_backward(Y1, dY1, dY1, (size_t)B * N1);
    hprt_conv2d_backward(&g1, X, P + L1->w, dY1, NULL, G + L1->w, G + L1->b, B);
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)n);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)n, 0.02, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);

    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    assert_close(io.loss[0] / B + io.loss[1] / B, loss, 1e-5);
    compare(c.t.mem.grads, G, n, 1e-4, "gradient");
    compare(c.t.mem.params, P, n, 1e-5, "parameter");
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* ---- a conv's fused epilogue: relu and the max pool after it in its kernel ---- */

/* One conv of a stack: F filters, relu or none, 3×3 `same` or `valid`, and
 * whether a 2×2 max pool follows (fused into the conv's kernel). */
typedef struct {
    int F;
    bool relu, valid, pool;
} conv_stage;

enum { STAGES = 4 };

/* input [C, H, W] -> the stages -> flatten -> dense 3: one training step on
 * `threads` threads against the reference kernels (conv in float64, relu,
 * max pool, each its own pass), then the evaluation step's loss. */
static void conv_stack_step(int C, int H, int W, const conv_stage *st, int n, int threads, uint64_t seed)
{
    enum { B = 9 };
    char model[512];
    int len = snprintf(model, sizeof model, "input [%d, %d, %d]\n", C, H, W);
    for (int s = 0; s < n; s++)
        len += snprintf(model + len, sizeof model - (size_t)len, " conv %d%s%s\n%s", st[s].F, st[s].relu ? ", relu" : "",
                        st[s].valid ? ", pad = valid" : "", st[s].pool ? " maxpool\n" : "");
    snprintf(model + len, sizeof model - (size_t)len, " flatten\n dense classes");
    fixture f;
    cg_test_csv_write(&f, ROWS, C * H * W, 3, seed, false);
    compiled c;
    compile(&c, &f, model, "optimizer = sgd(lr = 0.02, momentum = 0.9)", threads, B);
    const plan_experiment *e = c.pl->experiment;
    const cg_layout *l = c.t.l;
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 7) % ROWS;
    static hprt_step_io io;
    fill_io(&io, &c, &e->optimizer, order, 0.02, 1);
    long np = l->n_params;
    float *P = malloc(sizeof(float) * (size_t)np), *G = calloc((size_t)np, sizeof(float));
    assert_true(P && G);
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)np);

    /* the reference, stage by stage: in[s] -conv-> Y[s] (-relu) (-pool-> out[s]) */
    hprt_conv2d_geom geo[STAGES];
    hprt_pool2d_geom pg[STAGES];
    int layer[STAGES], shape[3] = {C, H, W};
    float *in[STAGES + 1], *Y[STAGES], *dY[STAGES], *din[STAGES + 1];
    size_t nin[STAGES + 1], ny[STAGES];
    in[0] = tu_fnew((size_t)B * C * H * W);
    nin[0] = (size_t)C * H * W;
    for (int r = 0; r < B; r++)
        memcpy(in[0] + r * nin[0], c.ds.x + (size_t)order[io.start + r] * nin[0], sizeof(float) * nin[0]);
    din[0] = NULL;
    for (int s = 0, li = 1; s < n; s++) {
        int pad = st[s].valid ? 0 : 1;
        layer[s] = li;
        li += st[s].pool ? 2 : 1;
        geo[s] = hprt_conv2d_geom_make(shape[0], shape[1], shape[2], st[s].F, 3, 1, pad, pad);
        ny[s] = (size_t)st[s].F * geo[s].Ho * geo[s].Wo;
        Y[s] = tu_fnew(B * ny[s]);
        dY[s] = tu_fnew(B * ny[s]);
        const cg_layer_layout *L = &l->layers[layer[s]];
        hprt_conv2d_forward(&geo[s], in[s], P + L->w, P + L->b, Y[s], B);
        if (st[s].relu)
            hprt_relu_forward(Y[s], Y[s], B * ny[s]);
        shape[0] = st[s].F, shape[1] = geo[s].Ho, shape[2] = geo[s].Wo;
        if (st[s].pool) {
            pg[s] = hprt_pool2d_geom_make(shape[0], shape[1], shape[2], 2, 2);
            shape[1] = pg[s].Ho, shape[2] = pg[s].Wo;
        }
        nin[s + 1] = (size_t)shape[0] * shape[1] * shape[2];
        in[s + 1] = tu_fnew(B * nin[s + 1]);
        din[s + 1] = tu_fnew(B * nin[s + 1]);
        if (st[s].pool)
            hprt_maxpool2d_forward(&pg[s], Y[s], in[s + 1], B);
        else
            memcpy(in[s + 1], Y[s], sizeof(float) * B * nin[s + 1]);
    }
    const cg_layer_layout *D = &l->layers[e->n_layers - 1];
    int nf = (int)nin[n];
    float *Z = tu_fnew(B * 3), *dZ = tu_fnew(B * 3);
    int32_t lab[B];
    for (int r = 0; r < B; r++)
        lab[r] = c.ds.y[order[io.start + r]];
    hprt_dense_forward(in[n], P + D->w, P + D->b, Z, B, nf, 3);
    double loss = hprt_softmax_xent(Z, lab, B, 3, dZ);
    hprt_dense_backward(in[n], P + D->w, dZ, din[n], G + D->w, G + D->b, B, nf, 3);
    for (int s = n - 1; s >= 0; s--) {
        if (st[s].pool)
            hprt_maxpool2d_backward(&pg[s], Y[s], din[s + 1], dY[s], B);
        else
            memcpy(dY[s], din[s + 1], sizeof(float) * B * ny[s]);
        if (st[s].relu)
            hprt_relu_backward(Y[s], dY[s], dY[s], B * ny[s]);
        const cg_layer_layout *L = &l->layers[layer[s]];
        hprt_conv2d_backward(&geo[s], in[s], P + L->w, dY[s], din[s], G + L->w, G + L->b, B);
    }
    hprt_optim_state *ost = hprt_optim_state_new(&e->optimizer, (size_t)np);
    assert_int_equal(hprt_optim_step(&e->optimizer, ost, P, G, (size_t)np, 0.02, NAN, 1), HPRT_OK);
    hprt_optim_state_free(ost);

    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    assert_close(io.loss[0] / B + io.loss[1] / B, loss, 1e-5);
    compare(c.t.mem.grads, G, np, 1e-4, "gradient");
    compare(c.t.mem.params, P, np, 1e-5, "parameter");

    /* the evaluation step (the same fused forward) with the updated parameters */
    for (int s = 0; s < n; s++) {
        const cg_layer_layout *L = &l->layers[layer[s]];
        hprt_conv2d_forward(&geo[s], in[s], P + L->w, P + L->b, Y[s], B);
        if (st[s].relu)
            hprt_relu_forward(Y[s], Y[s], B * ny[s]);
        if (st[s].pool)
            hprt_maxpool2d_forward(&pg[s], Y[s], in[s + 1], B);
        else
            memcpy(in[s + 1], Y[s], sizeof(float) * B * nin[s + 1]);
    }
    hprt_dense_forward(in[n], P + D->w, P + D->b, Z, B, nf, 3);
    double eval_loss = hprt_softmax_xent(Z, lab, B, 3, NULL);
    memset(io.loss, 0, sizeof io.loss);
    io.rows = B;
    run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
    assert_close(io.loss[0] / B + io.loss[1] / B, eval_loss, 1e-5);

    for (int s = 0; s <= n; s++) {
        free(in[s]);
        free(din[s]);
        if (s < n)
            free(Y[s]), free(dY[s]);
    }
    free(Z), free(dZ), free(P), free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

/* Every epilogue on both lowerings, odd sizes (the pool's floor mode),
 * channels that are not multiples of 16, a fused conv that needs its input
 * gradient and one that does not, on 1 and 2 threads. */
static void test_conv_fused_step(void **state)
{
    (void)state;
    /* im2col: relu + pool (first layer, no dX), pool alone (with dX), relu alone */
    const conv_stage a[] = {{5, true, false, true}, {3, false, false, true}, {4, true, false, false}};
    /* Winograd: relu alone, relu + pool with dX (odd: 7×9 -> 3×4), then an
     * im2col conv (too few filters for Winograd) with relu + pool, 3×4 -> 1×2 */
    const conv_stage b[] = {{16, true, false, false}, {17, true, false, true}, {6, true, false, true}};
    /* Winograd with pool alone, valid (7×9 -> 5×7 -> 2×3) */
    const conv_stage d[] = {{19, false, true, true}};
    for (int threads = 1; threads <= 2; threads++) {
        conv_stack_step(2, 9, 11, a, 3, threads, 21);
        conv_stack_step(16, 7, 9, b, 3, threads, 22);
        conv_stack_step(17, 7, 9, d, 1, threads, 23);
    }
}

/* ---- a stack of dense and dropout layers: a dense layer and the dropout
 * after it fused into one pass each way, and a small layer's (at most 16
 * outputs) data gradient computed in the backward loop of the layer before it ---- */

static hprt_act ref_act(plan_act a)
{
    switch (a) {
    case PLAN_ACT_RELU: return HPRT_ACT_RELU;
    case PLAN_ACT_TANH: return HPRT_ACT_TANH;
    case PLAN_ACT_SIGMOID: return HPRT_ACT_SIGMOID;
    case PLAN_ACT_GELU: return HPRT_ACT_GELU;
    case PLAN_ACT_SOFTMAX: return HPRT_ACT_SOFTMAX;
    case PLAN_ACT_NONE: default: return HPRT_ACT_NONE;
    }
}

/* One training step of a dense/dropout stack under cross-entropy by the
 * reference kernels, layer by layer (nothing fused); updates P, fills G. */
static double stack_reference(const compiled *c, const hprt_step_io *io, int B, float *P, float *G, double lr)
{
    const plan_experiment *e = c->pl->experiment;
    const cg_layout *l = c->t.l;
    int n = e->n_layers;
    assert_true(n <= 16);
    float *y[16] = {0}, *x[16] = {0}, *dy[16] = {0}; /* output, pre-activation, gradient of the output */
    int32_t lab[64];
    assert_true(B <= 64);
    for (int i = 0; i < n; i++) {
        size_t sz = sizeof(float) * (size_t)B * (size_t)l->layers[i].out_size;
        y[i] = malloc(sz);
        x[i] = malloc(sz);
        dy[i] = malloc(sz);
        assert_true(y[i] && x[i] && dy[i]);
    }
    for (int r = 0; r < B; r++) {
        uint32_t s = io->order[io->start + r];
        memcpy(y[0] + r * FEAT, c->ds.x + (size_t)s * FEAT, sizeof(float) * FEAT);
        lab[r] = c->ds.y[s];
    }
    for (int i = 1; i < n; i++) {
        const plan_layer *pl = &e->layers[i];
        const cg_layer_layout *L = &l->layers[i];
        int in = l->layers[i - 1].out_size, w = L->out_size;
        if (pl->kind == PLAN_DENSE) {
            hprt_dense_forward(y[i - 1], P + L->w, P + L->b, x[i], B, in, w);
            hprt_act_forward(ref_act(pl->act), x[i], y[i], B, w);
        } else {
            assert_int_equal(pl->kind, PLAN_DROPOUT);
            hprt_dropout_forward(y[i - 1], y[i], (size_t)B * w, 0.3f, io->dropout_key[L->dropout_site], 0);
        }
    }
    double loss = hprt_softmax_xent(y[n - 1], lab, B, l->layers[n - 1].out_size, dy[n - 1]);
    memset(G, 0, sizeof(float) * (size_t)l->n_params);
    for (int i = n - 1; i >= 1; i--) {
        const plan_layer *pl = &e->layers[i];
        const cg_layer_layout *L = &l->layers[i];
        int in = l->layers[i - 1].out_size, w = L->out_size;
        if (pl->kind == PLAN_DENSE) {
            hprt_act_backward(ref_act(pl->act), x[i], y[i], dy[i], dy[i], B, w);
            hprt_dense_backward(y[i - 1], P + L->w, dy[i], i > 1 ? dy[i - 1] : NULL, G + L->w, G + L->b, B, in, w);
        } else {
            hprt_dropout_backward(dy[i], dy[i - 1], (size_t)B * w, 0.3f, io->dropout_key[L->dropout_site], 0);
        }
    }
    for (int i = 0; i < n; i++) {
        free(y[i]);
        free(x[i]);
        free(dy[i]);
    }
    hprt_optim_state *st = hprt_optim_state_new(&e->optimizer, (size_t)l->n_params);
    assert_non_null(st);
    assert_int_equal(hprt_optim_step(&e->optimizer, st, P, G, (size_t)l->n_params, lr, NAN, 1), HPRT_OK);
    hprt_optim_state_free(st);
    return loss;
}

static void check_stack(const char *model, int threads, int B)
{
    fixture f;
    write_csv(&f);
    compiled c;
    compile(&c, &f, model, "optimizer = adam(lr = 0.01)", threads, B);
    print_message("%s, %d threads, batch %d\n", model, threads, B);
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = (i * 5) % ROWS;
    static hprt_step_io io;
    fill_io(&io, &c, &c.pl->experiment->optimizer, order, 0.01, 1);
    long n = c.t.l->n_params;
    float *P = malloc(sizeof(float) * (size_t)n), *G = malloc(sizeof(float) * (size_t)n);
    assert_true(P && G);
    memcpy(P, c.t.mem.params, sizeof(float) * (size_t)n);
    double loss = stack_reference(&c, &io, B, P, G, 0.01);
    run_threads(cg_train_fn(c.t.prog, B), &io, threads);
    double got = 0;
    for (int t = 0; t < threads; t++)
        got += io.loss[t];
    assert_close(got / B, loss, 1e-5);
    compare(c.t.mem.grads, G, n, 2e-5, "gradient");
    compare(c.t.mem.params, P, n, 1e-5, "parameter");
    free(P);
    free(G);
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

static void test_fused_dense_dropout(void **state)
{
    (void)state;
    /* every activation before a fused dropout (relu reads the mask from the
     * dropout's output, the others recompute it), with a large (GEMM) and a
     * small (fused product) layer after it, and a small layer after a dense
     * layer without activation or dropout */
    const char *models[] = {
        "input 13\n dense 11, relu\n dropout 0.3\n dense 20, relu\n dropout 0.3\n dense classes",
        "input 13\n dense 11, tanh\n dropout 0.3\n dense 20\n dense classes",
        "input 13\n dense 17, gelu\n dropout 0.3\n dense 16, sigmoid\n dense classes",
        "input 13\n dense 19, sigmoid\n dropout 0.3\n dense 9, relu\n dropout 0.3\n dense 17\n dense classes",
        "input 13\n dense 6, relu\n dense 7, tanh\n dropout 0.3\n dropout 0.3\n dense classes",
    };
    for (size_t m = 0; m < sizeof models / sizeof *models; m++)
        for (int threads = 1; threads <= 2; threads++)
            check_stack(models[m], threads, threads == 1 ? 9 : 31);
}

/* ---- evaluation: loss and accuracy of the forward pass ---- */

static void test_eval_step(void **state)
{
    (void)state;
    fixture f;
    write_csv(&f);
    compiled c;
    const int B = 37, threads = 2;
    compile(&c, &f, "input 13\n dense 11, relu\n dropout 0.3\n dense 9, tanh\n dense classes", "", threads, B);
    uint32_t order[ROWS];
    for (uint32_t i = 0; i < ROWS; i++)
        order[i] = i;
    static hprt_step_io io;
    fill_io(&io, &c, &c.pl->experiment->optimizer, order, 0.01, 1);
    io.start = 0;
    io.rows = B;
    run_threads(cg_eval_fn(c.t.prog, B), &io, threads);
    const cg_layout *l = c.t.l;
    const float *P = c.t.mem.params;
    float A1[ROWS * 11], A2[ROWS * 9], Z[ROWS * CLASSES];
    hprt_dense_forward(c.ds.x, P + l->layers[1].w, P + l->layers[1].b, A1, B, FEAT, 11);
    hprt_relu_forward(A1, A1, (size_t)B * 11); /* dropout is off */
    hprt_dense_forward(A1, P + l->layers[3].w, P + l->layers[3].b, A2, B, 11, 9);
    hprt_tanh_forward(A2, A2, (size_t)B * 9);
    hprt_dense_forward(A2, P + l->layers[4].w, P + l->layers[4].b, Z, B, 9, CLASSES);
    double loss = hprt_softmax_xent(Z, c.ds.y, B, CLASSES, NULL);
    assert_close((io.loss[0] + io.loss[1]) / B, loss, 1e-5);
    assert_int_equal(io.correct[0] + io.correct[1], hprt_accuracy_count(Z, c.ds.y, B, CLASSES));
    release(&c);
    tu_rmrf(f.dir);
    free(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_ce_one_thread),
        cmocka_unit_test(test_adam_ce_two_threads),
        cmocka_unit_test(test_every_optimizer),
        cmocka_unit_test(test_dp_sharded_update),
        cmocka_unit_test(test_runtime_hyperparameters),
        cmocka_unit_test(test_mse_and_clip),
        cmocka_unit_test(test_gelu_sigmoid_softmax_mse),
        cmocka_unit_test(test_conv_pool),
        cmocka_unit_test(test_conv_wino_step),
        cmocka_unit_test(test_conv_fused_step),
        cmocka_unit_test(test_fused_dense_dropout),
        cmocka_unit_test(test_eval_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
