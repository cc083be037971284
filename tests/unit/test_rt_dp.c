/* test_rt_dp.c - the driver's data-parallel path (docs/distributed.md)
 * without MPI: two "ranks" are two threads of this process, each with its own
 * trainer, joined by a stand-in communicator (sums through shared memory and
 * a barrier).  A stand-in step takes the rank's share of each batch, writes a
 * mean gradient over its rows, calls io->dp_reduce, updates the rank's slice
 * of the parameters and calls io->dp_gather, as the compiled step does.
 * Checked: the shares (hprt_dp_share) and slices (hprt_dp_slices); every
 * step's loss and the final weights against the same run in one process;
 * the checkpoint's optimizer state against one process's; the validation metrics
 * equal on both ranks and to one process's; an interrupt on one rank stops
 * both after the same step; a rank whose weights differ stops both with the
 * error naming it. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hprt_ckpt.h"
#include "hprt_comm.h"
#include "hprt_kernels.h"
#include "hprt_train.h"

/* ---- the stand-in communicator: size 2, sums through shared pointers ---- */

typedef struct {
    pthread_barrier_t b;
    void *buf[2];
} shared_sum;

static int sum_f32(hprt_comm *c, float *buf, size_t n)
{
    shared_sum *s = c->ctx;
    s->buf[c->rank] = buf;
    pthread_barrier_wait(&s->b);
    if (c->rank == 0)
        for (size_t i = 0; i < n; i++) {
            float v = ((float *)s->buf[0])[i] + ((float *)s->buf[1])[i];
            ((float *)s->buf[0])[i] = ((float *)s->buf[1])[i] = v;
        }
    pthread_barrier_wait(&s->b);
    return 0;
}

static int sum_f64(hprt_comm *c, double *buf, size_t n)
{
    shared_sum *s = c->ctx;
    s->buf[c->rank] = buf;
    pthread_barrier_wait(&s->b);
    if (c->rank == 0)
        for (size_t i = 0; i < n; i++) {
            double v = ((double *)s->buf[0])[i] + ((double *)s->buf[1])[i];
            ((double *)s->buf[0])[i] = ((double *)s->buf[1])[i] = v;
        }
    pthread_barrier_wait(&s->b);
    return 0;
}

/* the sum of both ranks' buf, this rank's slice of it into mine */
static int scatter_f32(hprt_comm *c, const float *buf, float *mine, const size_t *at)
{
    shared_sum *s = c->ctx;
    s->buf[c->rank] = (void *)buf;
    pthread_barrier_wait(&s->b);
    for (size_t i = at[c->rank]; i < at[c->rank + 1]; i++)
        mine[i - at[c->rank]] = ((float *)s->buf[0])[i] + ((float *)s->buf[1])[i];
    pthread_barrier_wait(&s->b);
    return 0;
}

/* the other rank's slice of its buf into this rank's */
static int gather_f32(hprt_comm *c, float *buf, const size_t *at)
{
    shared_sum *s = c->ctx;
    s->buf[c->rank] = buf;
    pthread_barrier_wait(&s->b);
    int o = 1 - c->rank;
    for (size_t i = at[o]; i < at[o + 1]; i++)
        buf[i] = ((float *)s->buf[o])[i];
    pthread_barrier_wait(&s->b);
    return 0;
}

/* ---- a run: a stand-in model with NP weights, over both ranks' slices ---- */

enum { N = 42, BATCH = 5, EPOCHS = 3, MAX_STEPS = 64, NP = 40 };

typedef struct {
    hprt_dataset train, valid;
    float params[NP], grads[NP];
    hprt_optim_state *opt;
    hprt_barrier *barrier;
    hprt_train_config cfg;
    hprt_comm comm;
    volatile sig_atomic_t stop;
    long stop_after;            /* sets `stop` after this step (-1: never) */
    double loss[MAX_STEPS];     /* every step's mean loss (the step callback) */
    int n_loss;
    double val_loss[EPOCHS];
    int n_val;
    hprt_train_result res;
    hprt_error err;
    hprt_status st;
} run;

/* The thread's run, for the stand-in step (it gets only io and tid). */
static _Thread_local run *cur;

/* A stand-in for a compiled step: loss = the sum of the rows' features x
 * weight 0; the gradient of weight i is the mean of the features over the
 * step's rows (its share of the batch, like a compiled step's mean over its
 * rows) times 1 + i mod 3 (the other weights only train); a data-parallel
 * step hands them to dp_reduce, updates its slice [shard_lo, shard_hi) with
 * SGD with momentum and gathers the slices (dp_gather), as codegen.c's
 * dp_update does. */
static void step(hprt_step_io *io, int32_t tid)
{
    run *r = cur;
    double sum = 0;
    for (int64_t k = 0; k < io->rows; k++)
        sum += io->x[io->order[io->start + k]];
    io->loss[tid] = sum * (double)r->params[0];
    for (int i = 0; i < NP; i++)
        r->grads[i] = (float)(sum / (double)io->rows * (1 + i % 3));
    double total = io->loss[tid];
    int64_t lo = 0, hi = NP, at = 0; /* g[i - at]: weight i's gradient */
    const float *g = r->grads;
    float scale = 1;
    if (io->dp_reduce) { /* the slice's sums, element 0 the arena's shard_lo, times dp_gscale */
        io->dp_reduce(io);
        total = io->dp_loss;
        lo = io->shard_lo;
        hi = io->shard_hi;
        g = io->dp_grads;
        at = lo;
        scale = io->dp_gscale;
    }
    if (!isfinite(total))
        return;
    for (int64_t i = lo; i < hi; i++) {
        r->opt->buf[i] = 0.9f * r->opt->buf[i] + g[i - at] * scale;
        r->params[i] -= 0.01f * r->opt->buf[i];
    }
    if (io->dp_gather)
        io->dp_gather(io);
}

/* Evaluation: the loss of each row, x * weight; "correct" when x is even. */
static void eval_step(hprt_step_io *io, int32_t tid)
{
    run *r = cur;
    double sum = 0;
    long even = 0;
    for (int64_t k = 0; k < io->rows; k++) {
        float x = io->x[io->order[io->start + k]];
        sum += x * (double)r->params[0];
        even += (long)x % 2 == 0;
    }
    io->loss[tid] = sum;
    io->correct[tid] = even;
}

static hprt_step_fn pick_train(void *ctx, int batch) { return step; }
static hprt_step_fn pick_eval(void *ctx, int batch) { return eval_step; }

static void on_step(void *ctx, const hprt_step_report *s)
{
    run *r = ctx;
    if (r->n_loss < MAX_STEPS)
        r->loss[r->n_loss++] = s->loss;
    if (r->stop_after >= 0 && s->step >= r->stop_after)
        r->stop = 1;
}

static void on_epoch(void *ctx, const hprt_epoch_report *e)
{
    run *r = ctx;
    if (r->n_val < EPOCHS)
        r->val_loss[r->n_val++] = e->val_loss;
}

static void dataset(hprt_dataset *d, int n, float first)
{
    d->kind = HPRT_DATA_CSV;
    d->n = n;
    d->features = 1;
    d->rank = 1;
    d->dims[0] = 1;
    d->classes = 2;
    d->x = hprt_alloc(sizeof(float) * (size_t)n);
    d->y = hprt_alloc(sizeof(int32_t) * (size_t)n);
    assert_non_null(d->x);
    assert_non_null(d->y);
    for (int i = 0; i < n; i++) {
        d->x[i] = first + (float)i;
        d->y[i] = i % 2;
    }
}

static void run_init(run *r, shared_sum *s, int rank)
{
    memset(r, 0, sizeof *r);
    dataset(&r->train, N, 1);
    dataset(&r->valid, 13, 100);
    for (int i = 0; i < NP; i++)
        r->params[i] = 1 + 0.5f * (float)i;
    hprt_train_config *c = &r->cfg;
    c->optimizer = (hprt_optimizer){.kind = HPRT_OPT_SGD, .lr = 0.01, .momentum = 0.9};
    r->opt = hprt_optim_state_new(&c->optimizer, NP);
    r->barrier = hprt_barrier_new(1);
    assert_non_null(r->opt);
    assert_non_null(r->barrier);
    c->train = &r->train;
    c->valid = &r->valid;
    c->shuffle = true;
    c->params = r->params;
    c->grads = r->grads;
    c->n_params = NP;
    c->opt = r->opt;
    c->train_fn = pick_train;
    c->eval_fn = pick_eval;
    c->threads = 1;
    c->barrier = r->barrier;
    c->schedule = (hprt_schedule){.kind = HPRT_SCHED_CONSTANT};
    c->batch = (hprt_batch){.size = BATCH};
    c->epochs = EPOCHS;
    c->seed = 7;
    c->cb = (hprt_callbacks){.ctx = r, .epoch = on_epoch, .step = on_step};
    c->interrupt = &r->stop;
    r->stop_after = -1;
    if (s) {
        r->comm = (hprt_comm){.rank = rank, .size = 2, .ctx = s, .allreduce_f32 = sum_f32, .allreduce_f64 = sum_f64,
                              .reduce_scatter_f32 = scatter_f32, .allgather_f32 = gather_f32};
        c->comm = &r->comm;
    }
}

static void run_free(run *r)
{
    hprt_dataset_free(&r->train);
    hprt_dataset_free(&r->valid);
    hprt_optim_state_free(r->opt);
    hprt_barrier_free(r->barrier);
}

static void *rank_main(void *arg)
{
    run *r = arg;
    cur = r;
    r->st = hprt_train(&r->cfg, NULL, NULL, &r->res, &r->err);
    return NULL;
}

/* Runs one process (ranks = NULL) or the two ranks, each on its own thread. */
static void train_all(run *one, run *ranks)
{
    if (one) {
        cur = one;
        one->st = hprt_train(&one->cfg, NULL, NULL, &one->res, &one->err);
        if (one->st != HPRT_OK)
            print_error("%s\n", one->err.msg);
        assert_int_equal(one->st, HPRT_OK);
    }
    if (ranks) {
        pthread_t th[2];
        for (int k = 0; k < 2; k++)
            assert_int_equal(pthread_create(&th[k], NULL, rank_main, &ranks[k]), 0);
        for (int k = 0; k < 2; k++)
            pthread_join(th[k], NULL);
    }
}

static void test_shares(void **state)
{
    int first, total;
    /* 5 rows on 2 ranks: 3 + 2; on 3: 2 + 2 + 1; each contiguous */
    static const int want[3][3] = {{5, 0, 0}, {3, 2, 0}, {2, 2, 1}};
    for (int n = 1; n <= 3; n++) {
        total = 0;
        for (int k = 0; k < n; k++) {
            int share = hprt_dp_share(5, k, n, &first);
            assert_int_equal(share, want[n - 1][k]);
            assert_int_equal(first, total);
            total += share;
        }
        assert_int_equal(total, 5);
    }
    /* every split of 1..40 rows over 1..7 ranks covers the rows once, the larger shares first */
    for (int rows = 1; rows <= 40; rows++)
        for (int n = 1; n <= 7; n++) {
            total = 0;
            int prev = rows + 1;
            for (int k = 0; k < n; k++) {
                int share = hprt_dp_share(rows, k, n, &first);
                assert_int_equal(first, total);
                assert_true(share <= prev && share >= rows / n && share <= rows / n + 1);
                prev = share;
                total += share;
            }
            assert_int_equal(total, rows);
        }
}

/* Two ranks train what one process trains: the same loss at every step, the
 * same validation metrics on both ranks, the same weights. */
static void test_two_ranks_equal_one(void **state)
{
    shared_sum s;
    assert_int_equal(pthread_barrier_init(&s.b, NULL, 2), 0);
    run one, r[2];
    run_init(&one, NULL, 0);
    run_init(&r[0], &s, 0);
    run_init(&r[1], &s, 1);
    train_all(&one, r);
    for (int k = 0; k < 2; k++) {
        if (r[k].st != HPRT_OK)
            print_error("rank %d: %s\n", k, r[k].err.msg);
        assert_int_equal(r[k].st, HPRT_OK);
        assert_int_equal(r[k].res.steps, one.res.steps);
        assert_int_equal(r[k].n_loss, one.n_loss);
        for (int i = 0; i < one.n_loss; i++) /* the steps.csv loss: the whole batch's, on every rank */
            assert_float_equal(r[k].loss[i], one.loss[i], 1e-5 * fabs(one.loss[i]));
        assert_int_equal(r[k].n_val, EPOCHS);
        for (int e = 0; e < EPOCHS; e++)
            assert_float_equal(r[k].val_loss[e], one.val_loss[e], 1e-5 * fabs(one.val_loss[e]));
        assert_float_equal(r[k].res.val_accuracy, one.res.val_accuracy, 0);
        for (int i = 0; i < NP; i++)
            assert_float_equal(r[k].params[i], one.params[i], 1e-5 * fabs(one.params[i]));
        assert_string_equal(r[k].res.stopped, "completed");
    }
    /* the ranks agree bit for bit (the same sums in the same order) */
    assert_memory_equal(r[0].params, r[1].params, sizeof r[0].params);
    assert_memory_equal(r[0].val_loss, r[1].val_loss, sizeof r[0].val_loss);
    for (int k = 0; k < 2; k++)
        run_free(&r[k]);
    run_free(&one);
    pthread_barrier_destroy(&s.b);
}

/* The slices of the sharded update: every parameter once, in rank order,
 * the boundaries 16-float aligned, none much larger than n / ranks. */
static void test_slices(void **state)
{
    size_t at[8];
    for (size_t n = 0; n <= 300; n++)
        for (int ranks = 1; ranks <= 7; ranks++) {
            hprt_dp_slices(n, ranks, at);
            assert_int_equal(at[0], 0);
            assert_int_equal(at[ranks], n);
            for (int k = 1; k <= ranks; k++) {
                assert_true(at[k] >= at[k - 1]);
                assert_true(at[k] - at[k - 1] <= n / (size_t)ranks + 16);
                if (k < ranks)
                    assert_true(at[k] % 16 == 0 || at[k] == n);
            }
        }
    hprt_dp_slices(40, 2, at); /* the runs below: 32 + 8 */
    assert_int_equal(at[1], 32);
}

/* A sharded run's checkpoint holds the whole optimizer state: each rank's
 * momentum is current only in its slice, so rank 0 writes last.hpw after
 * gathering the others'; it equals one process's (and its weights). */
static void test_checkpoint_holds_state(void **state)
{
    shared_sum s;
    assert_int_equal(pthread_barrier_init(&s.b, NULL, 2), 0);
    char *dir = tu_tmpdir();
    char one_dir[4096], dp_dir[4096], path[4200];
    snprintf(one_dir, sizeof one_dir, "%s/one", dir);
    snprintf(dp_dir, sizeof dp_dir, "%s/dp", dir);
    assert_int_equal(mkdir(one_dir, 0755), 0);
    assert_int_equal(mkdir(dp_dir, 0755), 0);
    hprt_ckpt_id id = {0x5eed, "stand-in"};
    run one, r[2];
    run_init(&one, NULL, 0);
    run_init(&r[0], &s, 0);
    run_init(&r[1], &s, 1);
    one.cfg.ckpt_id = r[0].cfg.ckpt_id = r[1].cfg.ckpt_id = &id;
    one.cfg.run_dir = one_dir;
    r[0].cfg.run_dir = dp_dir; /* rank 0 alone writes */
    train_all(&one, r);
    for (int k = 0; k < 2; k++)
        assert_int_equal(r[k].st, HPRT_OK);
    float p1[NP], p2[NP];
    hprt_optim_state *o1 = hprt_optim_state_new(&one.cfg.optimizer, NP), *o2 = hprt_optim_state_new(&one.cfg.optimizer, NP);
    assert_non_null(o1);
    assert_non_null(o2);
    hprt_error err;
    snprintf(path, sizeof path, "%s/last.hpw", one_dir);
    assert_int_equal(hprt_ckpt_read(path, &id, p1, NP, o1, NULL, &err), HPRT_OK);
    snprintf(path, sizeof path, "%s/last.hpw", dp_dir);
    if (hprt_ckpt_read(path, &id, p2, NP, o2, NULL, &err) != HPRT_OK)
        print_error("%s\n", err.msg);
    for (int i = 0; i < NP; i++) {
        assert_true(o1->buf[i] != 0);
        assert_float_equal(o2->buf[i], o1->buf[i], 1e-5 * fabs(o1->buf[i]));
        assert_float_equal(p2[i], p1[i], 1e-5 * fabs(p1[i]));
    }
    hprt_optim_state_free(o1);
    hprt_optim_state_free(o2);
    for (int k = 0; k < 2; k++)
        run_free(&r[k]);
    run_free(&one);
    tu_rmrf(dir);
    free(dir);
    pthread_barrier_destroy(&s.b);
}

/* An interrupt seen by rank 1 alone stops both ranks after the same step. */
static void test_interrupt_one_rank(void **state)
{
    shared_sum s;
    assert_int_equal(pthread_barrier_init(&s.b, NULL, 2), 0);
    run r[2];
    run_init(&r[0], &s, 0);
    run_init(&r[1], &s, 1);
    r[1].stop_after = 11;
    train_all(NULL, r);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(r[k].st, HPRT_OK);
        assert_string_equal(r[k].res.stopped, "interrupted");
        assert_int_equal(r[k].res.steps, r[0].res.steps);
    }
    assert_true(r[0].res.steps > 11 && r[0].res.steps < 20);
    for (int k = 0; k < 2; k++)
        run_free(&r[k]);
    pthread_barrier_destroy(&s.b);
}

/* A rank whose weights differ at an epoch end: both stop, the error names it. */
static void test_weights_differ(void **state)
{
    shared_sum s;
    assert_int_equal(pthread_barrier_init(&s.b, NULL, 2), 0);
    run r[2];
    run_init(&r[0], &s, 0);
    run_init(&r[1], &s, 1);
    r[0].cfg.dp_perturb = r[1].cfg.dp_perturb = 2; /* rank 1 */
    train_all(NULL, r);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(r[k].st, HPRT_E_RUN);
        assert_string_equal(r[k].res.stopped, "diverged");
        assert_non_null(strstr(r[k].err.msg, "after epoch 1 the weights of rank 1 differ from rank 0's"));
        assert_int_equal(r[k].n_val, 0); /* before the epoch's validation and policies */
    }
    for (int k = 0; k < 2; k++)
        run_free(&r[k]);
    pthread_barrier_destroy(&s.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shares),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_two_ranks_equal_one),
        cmocka_unit_test(test_checkpoint_holds_state),
        cmocka_unit_test(test_interrupt_one_rank),
        cmocka_unit_test(test_weights_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
