/* test_rt_train.c - the epoch driver (hprt_train.h) with stand-in steps:
 * the epoch's figures with mid-epoch checkpoints (issue 16, problem 7), and a
 * run driven epoch by epoch through hprt_trainer_*, stopped and continued
 * from its checkpoint, against the same run in one hprt_train call. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hprt_ckpt.h"
#include "hprt_kernels.h"
#include "hprt_train.h"

/* A stand-in for a compiled step: the loss is lr x the sum of the batch's
 * first features, so it depends on the order, the batch and the schedule. */
static void fake_step(hprt_step_io *io, int32_t tid)
{
    double sum = 0;
    for (int64_t r = 0; r < io->rows; r++)
        sum += io->x[io->order[io->start + r]];
    io->loss[tid] = sum * io->lr;
    io->correct[tid] = 0;
}

/* The same, taking at least 2 ms. */
enum { SLOW_NS = 2000000 };
static void slow_step(hprt_step_io *io, int32_t tid)
{
    struct timespec ts = {0, SLOW_NS};
    while (nanosleep(&ts, &ts) != 0)
        ;
    fake_step(io, tid);
}

static hprt_step_fn pick_fast(void *ctx, int batch) { return fake_step; }
static hprt_step_fn pick_slow(void *ctx, int batch) { return slow_step; }

typedef struct {
    hprt_dataset train;
    float params[4], grads[4];
    hprt_optim_state *opt;
    hprt_barrier *barrier;
    hprt_train_config cfg;
    hprt_ckpt_id id;
    hprt_epoch_report reports[8];
    int n_reports;
} fixture;

static void on_epoch(void *ctx, const hprt_epoch_report *r)
{
    fixture *f = ctx;
    if (f->n_reports < 8)
        f->reports[f->n_reports++] = *r;
}

enum { N = 40, BATCH = 4 };

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->train.kind = HPRT_DATA_CSV;
    f->train.n = N;
    f->train.features = 1;
    f->train.rank = 1;
    f->train.dims[0] = 1;
    f->train.classes = 2;
    f->train.x = hprt_alloc(sizeof(float) * N);
    f->train.y = hprt_alloc(sizeof(int32_t) * N);
    assert_non_null(f->train.x);
    assert_non_null(f->train.y);
    for (int i = 0; i < N; i++) {
        f->train.x[i] = (float)(i + 1);
        f->train.y[i] = i % 2;
    }
    hprt_train_config *c = &f->cfg;
    c->optimizer = (hprt_optimizer){.kind = HPRT_OPT_SGD, .lr = 0.1};
    f->opt = hprt_optim_state_new(&c->optimizer, 4);
    assert_non_null(f->opt);
    f->barrier = hprt_barrier_new(1);
    assert_non_null(f->barrier);
    c->train = &f->train;
    c->shuffle = true;
    c->params = f->params;
    c->grads = f->grads;
    c->n_params = 4;
    c->opt = f->opt;
    c->train_fn = pick_fast;
    c->eval_fn = pick_fast;
    c->threads = 1;
    c->barrier = f->barrier;
    c->schedule = (hprt_schedule){.kind = HPRT_SCHED_COSINE};
    c->batch = (hprt_batch){.size = BATCH};
    c->epochs = 3;
    c->seed = 42;
    c->cb.ctx = f;
    c->cb.epoch = on_epoch;
    f->id = (hprt_ckpt_id){0x5eed, "a stand-in model"};
}

static void fixture_free(fixture *f)
{
    hprt_dataset_free(&f->train);
    hprt_optim_state_free(f->opt);
    hprt_barrier_free(f->barrier);
}

static void assert_ok(hprt_status st, const hprt_error *err)
{
    if (st != HPRT_OK)
        print_error("%s\n", err->msg);
    assert_int_equal(st, HPRT_OK);
}

/* With `checkpoint = 3 steps`, an epoch's seconds and samples/s count from
 * its start: the old driver counted them from the last mid-epoch checkpoint
 * (step 9 of 10), reporting one step's time and ten times the rate. */
static void test_epoch_figures_with_checkpoints(void **state)
{
    fixture f;
    fixture_init(&f);
    f.cfg.train_fn = pick_slow;
    f.cfg.epochs = 2;
    f.cfg.checkpoint_every = 3;
    hprt_train_result res;
    hprt_error err = {0};
    assert_ok(hprt_train(&f.cfg, NULL, NULL, &res, &err), &err);
    assert_int_equal(f.n_reports, 2);
    double least = (double)(N / BATCH) * SLOW_NS * 1e-9; /* ten steps of at least 2 ms */
    for (int e = 0; e < 2; e++) {
        assert_true(f.reports[e].seconds >= least);
        assert_true(f.reports[e].samples_per_second > 0);
        assert_true(f.reports[e].samples_per_second <= N / least);
    }
    assert_true(res.samples_per_second <= N / least);
    fixture_free(&f);
}

static char *read_run_file(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *s = tu_read_file(path, &len);
    assert_non_null(s);
    return s;
}

/* Drops metrics.csv's last column (seconds). */
static void drop_seconds(char *s)
{
    char *o = s;
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
        char *comma = end;
        while (comma > line && *comma != ',')
            comma--;
        size_t keep = (size_t)((comma > line ? comma : end) - line);
        memmove(o, line, keep);
        o += keep;
        *o++ = '\n';
        line = nl ? nl + 1 : end;
    }
    *o = 0;
}

/* A run stopped after its first epoch and continued by a new trainer from
 * last.hpw writes the same steps.csv and metrics.csv as the run in one go. */
static void test_trainer_stop_and_continue(void **state)
{
    char *one = tu_tmpdir(), *two = tu_tmpdir();
    hprt_error err = {0};
    /* in one go */
    fixture f;
    fixture_init(&f);
    f.cfg.run_dir = one;
    f.cfg.ckpt_id = &f.id;
    f.cfg.checkpoint_every = 7; /* mid-epoch checkpoints too */
    hprt_train_result whole;
    assert_ok(hprt_train(&f.cfg, NULL, NULL, &whole, &err), &err);
    assert_int_equal(whole.epochs, 3);
    fixture_free(&f);

    /* one epoch, stop */
    fixture_init(&f);
    f.cfg.run_dir = two;
    f.cfg.ckpt_id = &f.id;
    f.cfg.checkpoint_every = 7;
    hprt_trainer *t;
    assert_ok(hprt_trainer_new(&f.cfg, &t, &err), &err);
    assert_false(hprt_trainer_done(t));
    assert_ok(hprt_trainer_epoch(t, &err), &err);
    assert_int_equal(hprt_trainer_result(t)->epochs, 1);
    assert_false(hprt_trainer_done(t));
    hprt_train_state zero;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(hprt_trainer_restore(t, &zero, NULL, &err), HPRT_E_RUN); /* only before the first epoch */
    hprt_trainer_free(t);
    /* later: from the checkpoint, the rest */
    char path[4200];
    snprintf(path, sizeof path, "%s/last.hpw", two);
    hprt_train_state st;
    assert_ok(hprt_ckpt_read(path, &f.id, f.params, 4, f.opt, &st, &err), &err);
    assert_int_equal(st.epoch, 1);
    assert_int_equal(st.pos, 0);
    assert_ok(hprt_trainer_new(&f.cfg, &t, &err), &err);
    st.order[3] += N; /* a sample the training set does not have: refused */
    assert_int_equal(hprt_trainer_restore(t, &st, NULL, &err), HPRT_E_RUN);
    assert_non_null(strstr(err.msg, "sample order names sample"));
    st.order[3] -= N;
    hprt_trainer_free(t);
    assert_ok(hprt_trainer_new(&f.cfg, &t, &err), &err);
    assert_ok(hprt_trainer_restore(t, &st, NULL, &err), &err);
    hprt_train_state_free(&st);
    while (!hprt_trainer_done(t))
        assert_ok(hprt_trainer_epoch(t, &err), &err);
    assert_ok(hprt_trainer_finish(t, &err), &err);
    const hprt_train_result *r = hprt_trainer_result(t);
    assert_int_equal(r->epochs, 3);
    assert_int_equal(r->steps, whole.steps);
    assert_true(r->train_loss == whole.train_loss);
    assert_string_equal(r->stopped, "completed");
    hprt_trainer_free(t);
    fixture_free(&f);

    const char *names[2] = {"steps.csv", "metrics.csv"};
    for (int i = 0; i < 2; i++) {
        char *a = read_run_file(one, names[i]), *b = read_run_file(two, names[i]);
        if (i == 1) {
            drop_seconds(a);
            drop_seconds(b);
        }
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    tu_rmrf(one);
    tu_rmrf(two);
    free(one);
    free(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_figures_with_checkpoints),
        cmocka_unit_test(test_trainer_stop_and_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
