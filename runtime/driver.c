/* driver.c - the epoch driver (hprt_train.h).
 *
 * Threads.  One worker per core: the caller's thread is worker 0 and
 * threads-1 others wait at the barrier the generated steps use.  Each step is
 * posted in one of two slots (fn, io) and released by a barrier; the step
 * itself ends without one, so the next release barrier also separates steps.
 * Two slots and two io blocks mean the driver can fill step k+1 while other
 * workers finish step k, and read step k's per-thread results once step k+1
 * has been released.
 */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hprt_ckpt.h"
#include "hprt_kernels.h"
#include "hprt_sched.h"
#include "hprt_train.h"

/* ---- the worker pool ---- */

typedef struct {
    hprt_step_fn fn;  /* NULL: only synchronise */
    hprt_step_io *io;
    int quit;
} slot;

typedef struct {
    int threads;
    hprt_barrier *barrier;
    pthread_t th[HPRT_MAX_THREADS];
    int started;
    slot slots[2];
    long posted;      /* slots posted by worker 0 */
} pool;

typedef struct {
    pool *p;
    int tid;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *w = arg;
    pool *p = w->p;
    int tid = w->tid;
    free(w);
    for (long k = 0;; k++) {
        hprt_barrier_wait(p->barrier);
        slot *s = &p->slots[k & 1];
        if (s->quit)
            break;
        if (s->fn)
            s->fn(s->io, tid);
    }
    return NULL;
}

static void pool_post(pool *p, hprt_step_fn fn, hprt_step_io *io)
{
    slot *s = &p->slots[p->posted & 1];
    s->fn = fn;
    s->io = io;
    s->quit = 0;
    p->posted++;
    hprt_barrier_wait(p->barrier);
    if (fn)
        fn(io, 0);
}

/* After this, every step posted before has finished on every worker. */
static void pool_sync(pool *p) { pool_post(p, NULL, NULL); }

static hprt_status pool_start(pool *p, int threads, hprt_barrier *b, hprt_error *err)
{
    memset(p, 0, sizeof *p);
    p->threads = threads;
    p->barrier = b;
    for (int t = 1; t < threads; t++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w)
            return hprt_fail(err, HPRT_E_RUN, "out of memory starting worker threads");
        w->p = p;
        w->tid = t;
        int rc = pthread_create(&p->th[t], NULL, worker, w);
        if (rc != 0) {
            free(w);
            return hprt_fail(err, HPRT_E_RUN, "cannot start worker thread %d: %s", t, strerror(rc));
        }
        p->started = t;
    }
    return HPRT_OK;
}

static void pool_stop(pool *p)
{
    if (p->started == 0)
        return;
    if (p->started != p->threads - 1) {
        /* a partial start cannot meet at the barrier: nothing to do but let them wait */
        return;
    }
    slot *s = &p->slots[p->posted & 1];
    s->quit = 1;
    p->posted++;
    hprt_barrier_wait(p->barrier);
    for (int t = 1; t < p->threads; t++)
        pthread_join(p->th[t], NULL);
    p->started = 0;
}

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long steps_for(long n, int batch) { return batch > 0 ? (n + batch - 1) / batch : 0; }

/* The batches of one pass over a data set.  Samples: ceil(n / batch) steps of
 * consecutive rows of the order.  Text: `batch` contiguous streams, step k the
 * k-th full window of seq tokens of every stream (the compiled step has T =
 * seq; a partial last window is left out); the recurrent state starts from
 * zero at the first step and is carried between steps. */
typedef struct {
    bool text;
    int batch, seq;
    long steps, stream, n;
    int rank, ranks;  /* data-parallel: this rank's share of every batch (1 rank: all of it) */
} pass_plan;

int hprt_dp_share(int rows, int rank, int ranks, int *first)
{
    if (ranks <= 1) {
        *first = 0;
        return rows;
    }
    int base = rows / ranks, extra = rows % ranks;
    *first = rank * base + (rank < extra ? rank : extra);
    return base + (rank < extra ? 1 : 0);
}

/* The comm of a data-parallel run (NULL for a single process). */
static hprt_comm *dp_comm(const hprt_train_config *c) { return c->comm && c->comm->size > 1 ? c->comm : NULL; }

static hprt_status pass_plan_make(const hprt_dataset *ds, int batch, pass_plan *p, hprt_error *err)
{
    memset(p, 0, sizeof *p);
    p->batch = batch;
    p->n = ds->n;
    p->ranks = 1;
    if (!ds->tokens) {
        p->steps = steps_for(ds->n, batch);
        return HPRT_OK;
    }
    hprt_text_layout tl;
    hprt_status st = hprt_text_layout_init(&tl, ds, batch, ds->seq, err);
    if (st != HPRT_OK)
        return st;
    p->text = true;
    p->seq = ds->seq;
    p->stream = tl.stream_len;
    p->steps = tl.full_windows;
    return HPRT_OK;
}

/* Step k of a pass: fills io's batch (data-parallel: this rank's share of
 * it, io->row0 its first row's index in the batch); returns its rows, *units
 * the rows of loss it reports (text: tokens) and *all_units those of the
 * whole batch over every rank. */
static int pass_step(const pass_plan *p, hprt_step_io *io, const hprt_dataset *ds, const uint32_t *order, long k,
                     bool reset, long *units, long *all_units)
{
    int first;
    if (p->text) {
        int share = hprt_dp_share(p->batch, p->rank, p->ranks, &first);
        hprt_step_set_batch(io, ds, order, k * p->seq + (long)first * p->stream, share);
        io->stream = p->stream;
        io->reset = reset || k == 0;
        io->row0 = first;
        *units = (long)share * p->seq;
        *all_units = (long)p->batch * p->seq;
        return share;
    }
    long start = k * p->batch;
    int rows = (int)(p->n - start < p->batch ? p->n - start : p->batch);
    int share = hprt_dp_share(rows, p->rank, p->ranks, &first);
    hprt_step_set_batch(io, ds, order, start + first, share);
    io->row0 = first;
    *units = share;
    *all_units = rows;
    return share;
}

static void add_size(int *list, int *n, int max, long v)
{
    if (v <= 0)
        return;
    for (int i = 0; i < *n; i++)
        if (list[i] == v)
            return;
    if (*n < max)
        list[(*n)++] = (int)v;
}

int hprt_train_batch_sizes(const hprt_batch *b, int epochs, long n_train, long n_valid, long n_test, int *train,
                           int *eval, int *n_eval, int max)
{
    int n = 0;
    long step = 0;
    for (int e = 0; e < epochs && e < 100000; e++) {
        hprt_batch_stage st = hprt_adabatch_at(b, e, step);
        add_size(train, &n, max, st.batch);
        add_size(train, &n, max, n_train % st.batch);
        step += steps_for(n_train, st.batch);
        if (!b->adaptive)
            break;
    }
    int eb = b->adaptive ? b->start : b->size;
    *n_eval = 0;
    add_size(eval, n_eval, max, eb);
    add_size(eval, n_eval, max, n_valid % eb);
    add_size(eval, n_eval, max, n_test % eb);
    return n;
}

long hprt_train_steps_per_epoch(long n, int batch, int seq)
{
    if (seq <= 0)
        return steps_for(n, batch);
    long stream = batch > 0 ? n / batch : 0;
    return stream > 1 ? (stream - 1) / seq : 0;
}

hprt_status hprt_train_resolve_schedule(const hprt_schedule *s, const hprt_batch *b, int epochs, long n_train, int seq,
                                        hprt_sched_resolved *out, hprt_error *err)
{
    int batch0 = b->adaptive ? b->start : b->size;
    long spe0 = hprt_train_steps_per_epoch(n_train, batch0, seq), total = 0;
    for (int e = 0; e < epochs; e++)
        total += hprt_train_steps_per_epoch(n_train, hprt_adabatch_at(b, e, total).batch, seq);
    return hprt_sched_resolve(s, spe0, total, out, err);
}

/* ---- files ---- */

typedef struct {
    FILE *metrics, *steps, *events;
    const char *dir;
} run_files;

static FILE *open_in(const char *dir, const char *name, const char *mode, hprt_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (!f)
        hprt_fail(err, HPRT_E_RUN, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

static hprt_status files_open(run_files *f, const char *dir, bool momentum, bool append_events, bool resume,
                              hprt_error *err)
{
    memset(f, 0, sizeof *f);
    f->dir = dir;
    if (!dir)
        return HPRT_OK;
    const char *m = resume ? "a" : "w";
    if (!(f->metrics = open_in(dir, "metrics.csv", m, err)) || !(f->steps = open_in(dir, "steps.csv", m, err)) ||
        !(f->events = open_in(dir, "events.log", append_events ? "a" : "w", err)))
        return HPRT_E_RUN;
    if (!resume) {
        fprintf(f->metrics, "epoch,step,lr,batch,train_loss,val_loss,val_accuracy,seconds\n");
        fprintf(f->steps, "step,epoch,lr,batch,loss%s\n", momentum ? ",momentum" : "");
    }
    return HPRT_OK;
}

static hprt_status files_close(run_files *f, hprt_error *err)
{
    hprt_status st = HPRT_OK;
    FILE *all[3] = {f->metrics, f->steps, f->events};
    for (int i = 0; i < 3; i++)
        if (all[i] && fclose(all[i]) != 0 && st == HPRT_OK)
            st = hprt_fail(err, HPRT_E_RUN, "%s: cannot write the run's files: %s", f->dir, strerror(errno));
    memset(f, 0, sizeof *f);
    return st;
}

static void event(const hprt_train_config *c, run_files *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void event(const hprt_train_config *c, run_files *f, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (f->events) {
        fputs(text, f->events);
        fputc('\n', f->events);
        fflush(f->events);
    }
    if (c->cb.event)
        c->cb.event(c->cb.ctx, text);
}

/* ---- evaluation ---- */

typedef struct {
    pool pool;
    hprt_step_io *io; /* two */
    uint32_t *identity;
    long identity_n;
} runner;

static hprt_status evaluate(const hprt_train_config *c, runner *R, const hprt_dataset *ds, int batch, double *loss,
                            double *accuracy, hprt_error *err)
{
    double total = 0;
    long correct = 0, n = 0;
    hprt_step_io *prev = NULL;
    int prev_rows = 0;
    pass_plan pp;
    if (ds->tokens) /* as many streams as the text allows, up to the batch */
        batch = (int)(ds->n / (ds->seq + 1) < batch ? ds->n / (ds->seq + 1) : batch);
    hprt_comm *comm = dp_comm(c);
    hprt_status st = pass_plan_make(ds, batch > 0 ? batch : 1, &pp, err);
    if (st != HPRT_OK)
        return st;
    if (comm) { /* data-parallel: each rank its share of every batch (the sizes its steps were compiled for) */
        pp.rank = comm->rank;
        pp.ranks = comm->size;
    }
    for (long k = 0; k < pp.steps; k++) {
        hprt_step_io *io = &R->io[k & 1];
        long units, all_units;
        int rows = pass_step(&pp, io, ds, R->identity, k, false, &units, &all_units);
        if (rows == 0) /* fewer rows than ranks in a last batch */
            continue;
        n += units;
        hprt_step_fn fn = c->eval_fn(c->fn_ctx, rows);
        if (!fn)
            return hprt_fail(err, HPRT_E_RUN, "no compiled evaluation step for a batch of %d (a bug in hpc)", rows);
        pool_post(&R->pool, fn, io);
        if (prev) /* the previous batch is complete now */
            for (int t = 0; t < c->threads; t++) {
                total += prev->loss[t];
                correct += prev->correct[t];
            }
        prev = io;
        prev_rows = rows;
    }
    pool_sync(&R->pool);
    if (prev)
        for (int t = 0; t < c->threads; t++) {
            total += prev->loss[t];
            correct += prev->correct[t];
        }
    (void)prev_rows;
    if (comm) { /* every rank the same sums */
        double sums[3] = {total, (double)correct, (double)n};
        if (comm->allreduce_f64(comm, sums, 3) != 0)
            return hprt_fail(err, HPRT_E_RUN, "evaluation over the ranks: %s", comm->error);
        total = sums[0];
        correct = (long)sums[1];
        n = (long)sums[2];
    }
    *loss = n ? total / (double)n : NAN;
    /* multi-label: correct counts (row, label) pairs */
    double units = (double)n * (c->multi_labels > 0 ? (double)c->multi_labels : 1.0);
    *accuracy = n ? (double)correct / units : NAN;
    return HPRT_OK;
}

/* ---- per-step numbers ---- */

void hprt_step_set_numbers(hprt_step_io *io, const hprt_optimizer *o, double lr, double mom, long t, uint64_t seed,
                           long step, const float *dropout_p, int n_dropout)
{
    hprt_optim_coef k = hprt_optim_coefs(o, lr, mom, t);
    io->lr = (float)k.lr;
    io->mu = (float)k.mu;
    io->damp_keep = (float)k.damp_keep;
    io->first = k.first;
    io->b1_weight = (float)k.b1_weight;
    io->step_size = (float)k.step_size;
    io->bc2_sqrt = (float)k.bc2_sqrt;
    io->decay_keep = (float)k.decay_keep;
    io->clr = (float)k.clr;
    io->wd = (float)k.wd;
    io->b2 = (float)k.b2;
    io->one_minus_b2 = (float)k.one_minus_b2;
    io->eps = (float)k.eps;
    io->alpha = (float)k.alpha;
    io->one_minus_alpha = (float)k.one_minus_alpha;
    io->use_wd = k.wd != 0;
    io->use_momentum = k.has_momentum;
    io->nesterov = k.nesterov;
    for (int s = 0; s < n_dropout; s++) {
        io->dropout_key[s] = hprt_dropout_key(seed, (uint64_t)step, (uint32_t)s);
        io->dropout_threshold[s] = hprt_dropout_threshold(dropout_p[s]);
        io->dropout_scale[s] = 1.0f / (1.0f - dropout_p[s]);
    }
}

void hprt_step_set_batch(hprt_step_io *io, const hprt_dataset *ds, const uint32_t *order, long start, long rows)
{
    io->x = ds->x;
    io->x8 = ds->x8;
    io->mean = ds->mean;
    io->std = ds->std;
    io->y = ds->y;
    io->order = order;
    io->start = start;
    io->rows = rows;
    if (ds->tokens)
        io->x8 = ds->tokens;
    io->stream = 0;
    io->reset = 0;
}

static void fill_step(const hprt_train_config *c, hprt_step_io *io, double lr, double mom, long t, long step,
                      const float *dropout_p)
{
    hprt_step_set_numbers(io, &c->optimizer, lr, mom, t, c->seed, step, dropout_p, c->n_dropout);
    io->l1 = (float)c->regularize.l1;
}

static bool plateau_schedule(const hprt_schedule *s)
{
    return s->kind == HPRT_SCHED_PLATEAU || (s->kind == HPRT_SCHED_WARMUP && s->then && s->then->kind == HPRT_SCHED_PLATEAU);
}

static double metric_value(hprt_metric m, double train_loss, double val_loss, double val_acc)
{
    switch (m) {
    case HPRT_METRIC_VAL_LOSS: return val_loss;
    case HPRT_METRIC_VAL_ACCURACY: return val_acc;
    case HPRT_METRIC_VAL_BPC: return val_loss / log(2.0);
    default: return train_loss;
    }
}

static void write_csv_number(FILE *f, bool present, double v)
{
    if (present)
        fprintf(f, "%.9g", v);
}

/* The generator the run's epoch order starts from (the LR range test takes a copy). */
static void order_rng(const hprt_train_config *c, hprt_rng *rng) { hprt_rng_seed(rng, c->seed ^ 0x5DEECE66DULL); }

/* ---- the run ---- */

struct hprt_trainer {
    const hprt_train_config *c;
    runner R;
    hprt_order order;
    run_files files;
    hprt_sched_resolved sched;
    bool has_plateau, cycles;
    int batch0;              /* the starting batch (evaluation uses it) */
    float *best;             /* the best epoch's weights (restore_best) */
    hprt_train_state S;
    hprt_train_result result;
    hprt_train_result *res;  /* &result */
    /* the step posted last, whose results are read once the next is posted */
    hprt_step_io *pending;
    int pending_rows;
    long pending_step;
    double pending_lr, pending_mom;
    int threads;
    float *carry;            /* room to pack the carried state for a checkpoint */
    bool resumed;            /* restored from a checkpoint's state */
    bool carried;            /* ... with its carried state, for the first epoch run */
    bool started;            /* files open, workers running */
    bool interrupted, finished, failed;
    double t_run;            /* when the first epoch started */
    /* data-parallel (dp_comm): the gradient scale of each io block's step
     * (its rows over the batch's), the stop flag the last reduction agreed
     * on, and a reduction's failure (reported after the step) */
    hprt_comm *comm;
    float dp_scale[2];
    bool dp_even[2];         /* ... every rank has the same share: the scale is applied after the sum */
    bool dp_stop;
    char dp_error[300];
    /* the sharded update (ZeRO stage 1): rank k owns the parameters
     * [dp_at[k], dp_at[k+1]) (16-float aligned); dp_slice receives the sum
     * of this rank's gradients */
    size_t *dp_at;
    float *dp_slice;
};
typedef hprt_trainer trainer;

/* Floats of state the run carries from step to step. */
static size_t carry_floats(const hprt_train_config *c)
{
    size_t n = 0;
    for (int i = 0; i < c->n_carry; i++)
        n += c->carry[i].n;
    return n;
}

/* Data-parallel with carried state: the checkpoint's form (one process's
 * arrays, carry_rows_all rows each); 0 when the run is not such a run. */
static size_t carry_floats_all(const hprt_train_config *c)
{
    if (!dp_comm(c) || c->carry_rows <= 0 || c->carry_rows_all <= 0)
        return 0;
    size_t n = 0;
    for (int i = 0; i < c->n_carry; i++)
        n += c->carry[i].n / (size_t)c->carry_rows * (size_t)c->carry_rows_all;
    return n;
}

/* Copies this rank's streams (its share of `batch`) between its carry arrays
 * and the one-process form in all (gather: to all, else from it). */
static void carry_place(const hprt_train_config *c, float *all, int batch, bool gather)
{
    int first, share = hprt_dp_share(batch, c->comm->rank, c->comm->size, &first);
    size_t k = 0;
    for (int i = 0; i < c->n_carry; i++) {
        size_t H = c->carry[i].n / (size_t)c->carry_rows;
        float *mine = c->carry[i].p, *there = all + k + (size_t)first * H;
        if (gather)
            memcpy(there, mine, sizeof(float) * (size_t)share * H);
        else
            memcpy(mine, there, sizeof(float) * (size_t)share * H);
        k += H * (size_t)c->carry_rows_all;
    }
}

static long file_size(FILE *f)
{
    if (!f)
        return 0;
    fflush(f);
    return ftell(f);
}

/* Reads the per-thread results of the pending step into the epoch's sums and steps.csv. */
static void account(trainer *T)
{
    hprt_step_io *io = T->pending;
    if (!io)
        return;
    double l = 0;
    for (int t = 0; t < T->threads; t++)
        l += io->loss[t];
    if (T->comm) /* the sum over every rank's rows */
        l = io->dp_loss;
    if (T->files.steps) {
        fprintf(T->files.steps, "%ld,%d,%.9g,%d,%.9g", T->pending_step, T->S.epoch + 1, T->pending_lr, T->pending_rows,
                l / T->pending_rows);
        if (T->cycles)
            fprintf(T->files.steps, ",%.9g", T->pending_mom);
        fputc('\n', T->files.steps);
    }
    if (T->c->cb.step) {
        hprt_step_report r = {T->pending_step, T->S.epoch + 1, T->pending_lr, T->pending_rows,
                              l / T->pending_rows, T->cycles ? T->pending_mom : NAN};
        T->c->cb.step(T->c->cb.ctx, &r);
    }
    if (!isfinite(l) && T->res->nan_step < 0)
        T->res->nan_step = T->pending_step;
    T->S.loss_sum += l;
    T->S.loss_rows += T->pending_rows;
    T->pending = NULL;
}

/* Data-parallel: rank k's slice of the parameter arena, [at[k], at[k+1]) of
 * n floats: n / ranks each, 16-float aligned (the last slices may be shorter,
 * or empty when n is small). */
void hprt_dp_slices(size_t n, int ranks, size_t *at)
{
    at[0] = 0;
    for (int k = 1; k <= ranks; k++) {
        size_t b = (n * (size_t)k / (size_t)ranks + 15) & ~(size_t)15;
        at[k] = k == ranks || b > n ? n : b;
        if (at[k] < at[k - 1])
            at[k] = at[k - 1];
    }
}

/* Data-parallel: called by the step's thread 0 once every thread's weight
 * gradients are written (io->dp_reduce).  The loss sums and the stop flags
 * (an interrupt on any rank stops every rank after this step) are summed
 * first: a non-finite loss ends the step on every rank alike before any
 * update.  Each rank's gradients are the mean over its own rows; scaled by
 * its rows over the batch's, their sum over the ranks is the gradient of the
 * whole batch.  Only this rank's slice of that sum is made
 * (reduce-scatter), into T->dp_slice (io->dp_grads): the step updates only
 * that slice and dp_gather shares it.  When every rank has the same share,
 * the scale (the same on every rank) is applied by the step as it reads the
 * sums (io->dp_gscale), else to each rank's whole gradient before the sum.  A failure gives a NaN loss
 * (no rank updates; each sees its own failure or the NaN) and is reported
 * after the step. */
static void dp_reduce(void *p)
{
    hprt_step_io *io = p;
    trainer *T = io->dp_ctx;
    const hprt_train_config *c = T->c;
    hprt_comm *comm = T->comm;
    int which = io == &T->R.io[1];
    float scale = T->dp_scale[which];
    double sums[2] = {0, c->interrupt && *c->interrupt ? 1.0 : 0.0};
    for (int t = 0; t < T->threads; t++)
        sums[0] += io->loss[t];
    if (comm->allreduce_f64(comm, sums, 2) != 0)
        goto fail;
    io->dp_loss = sums[0];
    T->dp_stop = sums[1] > 0;
    if (!isfinite(sums[0])) /* the step stops at its NaN guard on every rank */
        return;
    bool even = T->dp_even[which];
    if (!even && scale != 1.0f)
        for (size_t i = 0; i < c->n_params; i++)
            c->grads[i] *= scale;
    if (comm->reduce_scatter_f32(comm, c->grads, T->dp_slice, T->dp_at) != 0)
        goto fail;
    io->dp_grads = T->dp_slice;
    io->dp_gscale = even ? scale : 1.0f;
    return;
fail:
    snprintf(T->dp_error, sizeof T->dp_error, "summing the gradients over the ranks: %s", comm->error);
    io->dp_loss = NAN;
    T->dp_stop = true;
}

/* Data-parallel with clipping (io->dp_norm): the global gradient norm from
 * every thread's sum of squares of its part of the rank's slice. */
static void dp_norm(void *p)
{
    hprt_step_io *io = p;
    trainer *T = io->dp_ctx;
    double sq = 0;
    for (int t = 0; t < T->threads; t++)
        sq += io->sqnorm[t];
    sq *= (double)io->dp_gscale * (double)io->dp_gscale; /* the norm of the scaled sums */
    if (T->comm->allreduce_f64(T->comm, &sq, 1) != 0) {
        snprintf(T->dp_error, sizeof T->dp_error, "summing the gradient norm over the ranks: %s", T->comm->error);
        sq = NAN;
    }
    io->grad_norm = sqrt(sq);
}

/* Data-parallel (io->dp_gather): every rank's updated slice of the
 * parameters to every rank, so the weights are whole and the same again. */
static void dp_gather(void *p)
{
    hprt_step_io *io = p;
    trainer *T = io->dp_ctx;
    if (T->comm->allgather_f32(T->comm, T->c->params, T->dp_at) != 0)
        snprintf(T->dp_error, sizeof T->dp_error, "gathering the updated weights from the ranks: %.200s", T->comm->error);
}

/* Data-parallel: each rank's optimizer state is current only in its slice;
 * before a checkpoint every rank gathers the others' (the checkpoint holds
 * the whole state, which any number of ranks, or one process, resumes). */
static hprt_status dp_gather_state(trainer *T, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    if (!c->opt)
        return HPRT_OK;
    if (c->opt->n != c->n_params)
        return hprt_fail(err, HPRT_E_RUN, "the optimizer state has %zu entries for %zu parameters (a bug in hpc)",
                         c->opt->n, c->n_params);
    for (int k = 0; k < HPRT_STATE__COUNT; k++)
        if (c->opt->arrays[k] && T->comm->allgather_f32(T->comm, c->opt->arrays[k], T->dp_at) != 0)
            return hprt_fail(err, HPRT_E_RUN, "gathering the optimizer state from the ranks: %s", T->comm->error);
    return HPRT_OK;
}

/* A 64-bit hash of the weights (FNV-1a over their 32-bit words). */
static uint64_t params_hash(const float *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &p[i], sizeof w);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}

/* Data-parallel: the weights must be the same on every rank.  Every rank
 * puts its hash (two exact 32-bit halves) in its slots, a sum gathers them,
 * and every rank compares them with rank 0's: the same verdict everywhere. */
static hprt_status dp_check_weights(trainer *T, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_comm *comm = T->comm;
    int n = comm->size;
    if (c->dp_perturb == comm->rank + 1 && T->S.epoch == 0 && c->n_params > 0) /* tests: a rank that went astray */
        c->params[0] = nextafterf(c->params[0], INFINITY);
    double *h = calloc(2 * (size_t)n, sizeof *h);
    if (!h)
        return hprt_fail(err, HPRT_E_RUN, "out of memory");
    uint64_t mine = params_hash(c->params, c->n_params);
    h[2 * comm->rank] = (double)(mine >> 32);
    h[2 * comm->rank + 1] = (double)(mine & 0xffffffffu);
    if (comm->allreduce_f64(comm, h, 2 * (size_t)n) != 0) {
        free(h);
        return hprt_fail(err, HPRT_E_RUN, "comparing the weights over the ranks: %s", comm->error);
    }
    char list[200] = "";
    size_t at = 0;
    int bad = 0;
    for (int r = 1; r < n; r++)
        if (h[2 * r] != h[0] || h[2 * r + 1] != h[1]) {
            if (at < sizeof list - 12)
                at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", bad ? ", " : "", r);
            bad++;
        }
    free(h);
    if (!bad)
        return HPRT_OK;
    T->res->stopped = "diverged";
    event(c, &T->files, "after epoch %d: the weights of rank%s %s differ from rank 0's; stopped", T->S.epoch + 1,
          bad == 1 ? "" : "s", list);
    return hprt_fail(err, HPRT_E_RUN,
                     "after epoch %d the weights of rank%s %s differ from rank 0's (a rank computed another update: "
                     "a bug in hpc or a faulty node)",
                     T->S.epoch + 1, bad == 1 ? "" : "s", list);
}

/* Writes path (last.hpw, best.hpw) from the state as it is now (no step pending). */
static hprt_status checkpoint(trainer *T, const char *name, const float *params, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    if (T->comm && c->ckpt_id) {
        hprt_status gs = dp_gather_state(T, err);
        if (gs != HPRT_OK)
            return gs;
    }
    size_t all = c->ckpt_id ? carry_floats_all(c) : 0;
    if (all > 0) { /* every rank: its streams into their place, zeros elsewhere, summed */
        memset(T->carry, 0, sizeof(float) * all);
        carry_place(c, T->carry, T->S.batch, true);
        if (T->comm->allreduce_f32(T->comm, T->carry, all) != 0)
            return hprt_fail(err, HPRT_E_RUN, "gathering the carried state: %s", T->comm->error);
    }
    if (!c->run_dir || !c->ckpt_id)
        return HPRT_OK;
    T->S.metrics_bytes = file_size(T->files.metrics);
    T->S.steps_bytes = file_size(T->files.steps);
    T->S.events_bytes = file_size(T->files.events);
    T->S.order = T->order.idx;
    T->S.n_order = T->order.n;
    /* the carried state, packed (T->carry has room for all of it) */
    size_t k = all;
    for (int i = 0; i < c->n_carry && all == 0; i++) {
        memcpy(T->carry + k, c->carry[i].p, sizeof(float) * c->carry[i].n);
        k += c->carry[i].n;
    }
    T->S.carry = T->carry;
    T->S.n_carry = (int64_t)k;
    T->S.norm = (float *)c->norm; /* borrowed, like order and carry */
    T->S.n_norm = c->norm ? (int64_t)c->n_norm : 0;
    T->S.encoding = (char *)c->encoding; /* borrowed too */
    T->S.n_encoding = c->encoding ? (int64_t)c->n_encoding : 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", c->run_dir, name);
    hprt_status st = hprt_ckpt_write(path, c->ckpt_id, params, c->n_params, c->opt, &T->S, err);
    T->S.order = NULL; /* borrowed */
    T->S.n_order = 0;
    T->S.carry = NULL;
    T->S.n_carry = 0;
    T->S.norm = NULL;
    T->S.n_norm = 0;
    T->S.encoding = NULL;
    T->S.n_encoding = 0;
    return st;
}

/* Truncates the run's files to where the checkpoint left them. */
static hprt_status truncate_files(const hprt_train_config *c, const hprt_train_state *S, hprt_error *err)
{
    const char *names[3] = {"metrics.csv", "steps.csv", "events.log"};
    long sizes[3] = {(long)S->metrics_bytes, (long)S->steps_bytes, (long)S->events_bytes};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", c->run_dir, names[i]);
        if (truncate(path, sizes[i]) != 0)
            return hprt_fail(err, HPRT_E_RUN, "%s: cannot rewind it to the checkpoint: %s", path, strerror(errno));
    }
    return HPRT_OK;
}

/* ---- a run, epoch by epoch ----
 *
 * hprt_trainer_new sets up the run and the policies' fresh state;
 * hprt_trainer_restore replaces that state with a checkpoint's; the first
 * hprt_trainer_epoch opens the run's files, starts the workers and (for a
 * fresh run) writes the initial checkpoint; each call then runs the rest of
 * one epoch (epoch_steps) and its end (epoch_end: validation, metrics,
 * policies, checkpoints); hprt_trainer_finish restores the best weights,
 * evaluates the test set and closes the files. */

/* The state of a fresh run: the generator, the batch, the policies'. */
static hprt_status fresh_state(trainer *T, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    order_rng(c, &S->rng);
    S->batch = T->batch0;
    S->last_lr = c->optimizer.lr;
    S->n_dropout = c->n_dropout;
    memcpy(S->dropout_p, c->dropout_p, sizeof S->dropout_p);
    S->threads = T->threads;
    if (T->has_plateau)
        hprt_plateau_init(&S->plateau, &c->schedule, c->optimizer.lr);
    hprt_status st = hprt_stop_init(&S->stopper, &c->stop, err);
    hprt_dropout_init(&S->dropout, &c->regularize);
    return st;
}

hprt_status hprt_trainer_new(const hprt_train_config *c, hprt_trainer **out, hprt_error *err)
{
    *out = NULL;
    const hprt_dataset *train = c->train;
    if (train->n <= 0)
        return hprt_fail(err, HPRT_E_DATA, "the training set is empty");
    trainer *T = calloc(1, sizeof *T);
    if (!T)
        return hprt_fail(err, HPRT_E_RUN, "out of memory");
    T->c = c;
    T->res = &T->result;
    T->res->stopped = "completed";
    T->res->nan_step = -1;
    T->threads = c->threads < 1 ? 1 : c->threads > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : c->threads;
    hprt_status st = HPRT_OK;
    size_t carry_room = carry_floats(c) > carry_floats_all(c) ? carry_floats(c) : carry_floats_all(c);
    T->carry = malloc(sizeof(float) * (carry_room + 1));
    T->R.io = hprt_alloc(2 * sizeof *T->R.io);
    long eval_n = c->valid ? c->valid->n : 0;
    if (c->test && c->test->n > eval_n)
        eval_n = c->test->n;
    T->R.identity_n = eval_n > 0 ? eval_n : 1;
    T->R.identity = hprt_alloc(sizeof(uint32_t) * (size_t)T->R.identity_n);
    if (!T->R.io || !T->R.identity || !T->carry) {
        st = hprt_fail(err, HPRT_E_RUN, "out of memory");
        goto fail;
    }
    for (long i = 0; i < T->R.identity_n; i++)
        T->R.identity[i] = (uint32_t)i;
    if ((st = hprt_order_init(&T->order, train->n, c->shuffle, err)) != HPRT_OK)
        goto fail;

    /* the policies */
    T->batch0 = c->batch.adaptive ? c->batch.start : c->batch.size;
    if ((st = hprt_train_resolve_schedule(&c->schedule, &c->batch, c->epochs, train->n, train->tokens ? train->seq : 0,
                                          &T->sched, err)) != HPRT_OK)
        goto fail;
    T->has_plateau = plateau_schedule(&c->schedule);
    T->cycles = T->sched.cycle_momentum;
    bool restore = c->stop.kind == HPRT_STOP_EARLY && c->stop.restore_best && c->valid;
    if (restore && !(T->best = malloc(sizeof(float) * c->n_params))) {
        st = hprt_fail(err, HPRT_E_RUN, "out of memory");
        goto fail;
    }
    if ((T->comm = dp_comm(c))) { /* every rank needs a row of every batch */
        int tsz[32], esz[32], n_eval;
        int n_tr = hprt_train_batch_sizes(&c->batch, c->epochs, train->tokens ? 0 : train->n, 0, 0, tsz, esz, &n_eval, 32);
        for (int i = 0; i < n_tr && st == HPRT_OK; i++)
            if (tsz[i] < T->comm->size)
                st = hprt_fail(err, HPRT_E_RUN,
                               "a batch of %d %s is less than one for each of the %d ranks; use fewer ranks or a "
                               "larger batch%s",
                               tsz[i], train->tokens ? "streams" : "rows", T->comm->size,
                               train->tokens ? "" : " (the last batch of an epoch has the rows left over)");
        if (st != HPRT_OK)
            goto fail;
        T->dp_at = malloc(sizeof(size_t) * ((size_t)T->comm->size + 1));
        if (!T->dp_at) {
            st = hprt_fail(err, HPRT_E_RUN, "out of memory");
            goto fail;
        }
        hprt_dp_slices(c->n_params, T->comm->size, T->dp_at);
        size_t most = 1;
        for (int k = 0; k < T->comm->size; k++)
            if (T->dp_at[k + 1] - T->dp_at[k] > most)
                most = T->dp_at[k + 1] - T->dp_at[k];
        if (!(T->dp_slice = malloc(sizeof(float) * most))) {
            st = hprt_fail(err, HPRT_E_RUN, "out of memory");
            goto fail;
        }
    }
    if ((st = fresh_state(T, err)) != HPRT_OK)
        goto fail;
    *out = T;
    return HPRT_OK;
fail:
    hprt_trainer_free(T);
    return st;
}

hprt_status hprt_trainer_restore(hprt_trainer *T, const hprt_train_state *resume, const float *best_params,
                                 hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    if (T->started)
        return hprt_fail(err, HPRT_E_RUN, "a run's state can be restored only before its first epoch (a bug in hpc)");
    hprt_stopper fresh_stop = S->stopper;
    hprt_plateau fresh_plateau = S->plateau;
    hprt_dropout_policy fresh_dropout = S->dropout;
    *S = *resume;
    S->order = NULL;
    S->n_order = 0;
    S->carry = NULL;
    S->n_carry = 0;
    S->norm = NULL;
    S->n_norm = 0;
    S->encoding = NULL;
    S->n_encoding = 0;
    /* the rules come from the experiment; the counters from the checkpoint */
    S->stopper.rule = fresh_stop.rule;
    hprt_plateau saved = S->plateau;
    S->plateau = fresh_plateau;
    S->plateau.lr = saved.lr;
    S->plateau.best = saved.best;
    S->plateau.num_bad_epochs = saved.num_bad_epochs;
    S->plateau.cooldown_counter = saved.cooldown_counter;
    S->plateau.epochs = saved.epochs;
    S->dropout.cfg = fresh_dropout.cfg;
    if (resume->n_order != T->order.n)
        return hprt_fail(err, HPRT_E_RUN, "the checkpoint's sample order has %lld entries; the training set has %u",
                         (long long)resume->n_order, T->order.n);
    for (uint32_t i = 0; i < T->order.n; i++)
        if (resume->order[i] >= T->order.n)
            return hprt_fail(err, HPRT_E_RUN, "the checkpoint's sample order names sample %u of %u", resume->order[i],
                             T->order.n);
    memcpy(T->order.idx, resume->order, sizeof(uint32_t) * T->order.n);
    /* the carried recurrent state (absent from version 1 checkpoints: the
     * epoch's streams then restart from zero) */
    if (resume->n_carry > 0 && carry_floats_all(c) > 0) { /* data-parallel: this rank's streams */
        if ((size_t)resume->n_carry == carry_floats_all(c)) {
            carry_place(c, resume->carry, S->batch, false);
            T->carried = true;
        }
    } else if (resume->n_carry > 0 && (size_t)resume->n_carry == carry_floats(c)) {
        size_t k = 0;
        for (int i = 0; i < c->n_carry; i++) {
            memcpy(c->carry[i].p, resume->carry + k, sizeof(float) * c->carry[i].n);
            k += c->carry[i].n;
        }
        T->carried = true;
    }
    if (T->best && S->has_best && best_params)
        memcpy(T->best, best_params, sizeof(float) * c->n_params);
    hprt_status st;
    if (c->run_dir && (st = truncate_files(c, S, err)) != HPRT_OK)
        return st;
    hprt_train_result *res = T->res;
    res->epochs = S->epochs_done;
    res->steps = S->step;
    res->train_loss = S->train_loss;
    res->has_valid = S->has_valid;
    res->val_loss = S->val_loss;
    res->val_accuracy = S->val_accuracy;
    T->resumed = true;
    return HPRT_OK;
}

/* Before the first epoch: the run's files, the workers, and a fresh run's
 * first checkpoint (the initial state, so that a run that fails in its first
 * epoch still leaves a good last.hpw). */
static hprt_status trainer_start(trainer *T, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    T->started = true;
    hprt_blas_set_threads(1); /* our workers each call single-threaded OpenBLAS */
    hprt_status st;
    if ((st = files_open(&T->files, c->run_dir, T->cycles, c->events_append || T->resumed, T->resumed, err)) != HPRT_OK)
        return st;
    if ((st = pool_start(&T->R.pool, T->threads, c->barrier, err)) != HPRT_OK)
        return st;
    for (int i = 0; i < 2; i++) {
        T->R.io[i].dp_reduce = T->comm ? dp_reduce : NULL;
        T->R.io[i].dp_norm = T->comm ? dp_norm : NULL;
        T->R.io[i].dp_gather = T->comm ? dp_gather : NULL;
        T->R.io[i].dp_ctx = T;
        if (T->comm) {
            T->R.io[i].shard_lo = (int64_t)T->dp_at[T->comm->rank];
            T->R.io[i].shard_hi = (int64_t)T->dp_at[T->comm->rank + 1];
        }
    }
    if (T->comm) /* a data-parallel run's sums are in another order whatever the threads: 0, any may resume it */
        T->S.threads = 0;
    if (!T->resumed && (st = checkpoint(T, "last.hpw", c->params, err)) != HPRT_OK)
        return st;
    T->t_run = now_s();
    return HPRT_OK;
}

/* The start of an epoch (not of a resumed one): its batch size, order and sums. */
static void epoch_begin(trainer *T, hprt_batch_stage bs)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    if (S->epoch > 0 && bs.batch != S->batch)
        event(c, &T->files, "epoch %d: batch size %d -> %d, learning rate x%g", S->epoch + 1, S->batch, bs.batch,
              bs.lr_scale);
    S->batch = bs.batch;
    hprt_order_next_epoch(&T->order, &S->rng);
    S->loss_sum = 0;
    S->loss_rows = 0;
}

/* Where an epoch's time went.  t_span starts the stretch of training not yet
 * added to S->train_seconds (a mid-epoch checkpoint closes one); the epoch's
 * own figures always count from t_epoch, its start. */
typedef struct {
    double t_epoch, t_span, t_trained;
    double train_seconds0; /* S->train_seconds at the epoch's start */
    long samples0;         /* S->samples at the epoch's start */
} epoch_clock;

/* Runs the epoch's steps from S->pos on; stops early after a step whose loss
 * is not finite (res->nan_step) or on an interrupt (T->interrupted, with a
 * checkpoint written). */
static hprt_status epoch_steps(trainer *T, hprt_batch_stage bs, epoch_clock *k, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    hprt_train_result *res = T->res;
    pass_plan pp;
    hprt_status st = pass_plan_make(c->train, bs.batch, &pp, err);
    if (st != HPRT_OK)
        return st;
    if (T->comm) {
        pp.rank = T->comm->rank;
        pp.ranks = T->comm->size;
    }
    long spe = pp.steps;
    double t_progress = now_s();
    long done_before = S->pos;
    bool first = !T->carried; /* without its carried state, a resumed epoch's streams restart from zero */
    T->carried = false;
    while (S->pos < spe) {
        hprt_step_io *io = &T->R.io[S->step & 1];
        long units, all_units;
        int rows = pass_step(&pp, io, c->train, T->order.idx, S->pos, first, &units, &all_units);
        first = false;
        T->dp_scale[S->step & 1] = (float)units / (float)all_units;
        T->dp_even[S->step & 1] = T->comm && units * T->comm->size == all_units;
        hprt_step_fn fn = c->train_fn(c->fn_ctx, rows);
        if (!fn)
            return hprt_fail(err, HPRT_E_RUN, "no compiled training step for a batch of %d (a bug in hpc)", rows);
        double base = T->has_plateau ? S->plateau.lr : c->optimizer.lr;
        double lr = (c->lr_fn ? c->lr_fn(S->step, base) : hprt_sched_lr(&T->sched, base, S->step)) * bs.lr_scale;
        double mom = !T->cycles ? NAN : c->momentum_fn ? c->momentum_fn(S->step) : hprt_sched_momentum(&T->sched, S->step);
        fill_step(c, io, lr, mom, S->step + 1, S->step, S->dropout_p);
        pool_post(&T->R.pool, fn, io);
        account(T); /* the step before this one has finished on every worker */
        if (T->dp_error[0]) /* the reduction of this step failed (thread 0 ran it) */
            return hprt_fail(err, HPRT_E_RUN, "%s", T->dp_error);
        T->pending = io;
        T->pending_rows = (int)all_units;
        T->pending_step = S->step;
        T->pending_lr = lr;
        T->pending_mom = mom;
        S->last_lr = lr;
        S->step++;
        S->pos++;
        S->samples += all_units;
        if (res->nan_step >= 0)
            break;
        bool ckpt_now = c->checkpoint_every > 0 && S->step % c->checkpoint_every == 0 && S->pos < spe;
        /* data-parallel: the flag every rank agreed on in this step's reduction */
        T->interrupted = T->comm ? T->dp_stop : c->interrupt && *c->interrupt;
        if (ckpt_now || T->interrupted) {
            /* a checkpoint between two steps of the epoch */
            pool_sync(&T->R.pool);
            account(T);
            if (res->nan_step >= 0)
                break;
            S->train_seconds += now_s() - k->t_span;
            k->t_span = now_s();
            if ((st = checkpoint(T, "last.hpw", c->params, err)) != HPRT_OK)
                return st;
            if (T->interrupted)
                break;
        }
        double now = now_s();
        if (c->cb.progress && now - t_progress > 0.2) {
            t_progress = now;
            long did = S->pos - done_before;
            hprt_progress p = {S->epoch + 1, c->epochs, S->pos, spe, S->step,
                               S->loss_rows ? S->loss_sum / (double)S->loss_rows : NAN,
                               (double)did * bs.batch * (pp.text ? pp.seq : 1) / (now - k->t_epoch), 0, bs.batch, lr};
            p.eta_seconds = (double)(spe - S->pos) * (now - k->t_epoch) / (double)(did > 0 ? did : 1);
            c->cb.progress(c->cb.ctx, &p);
        }
    }
    pool_sync(&T->R.pool);
    account(T);
    k->t_trained = now_s();
    S->train_seconds += k->t_trained - k->t_span;
    res->steps = S->step;
    return HPRT_OK;
}

/* The policies fed once per epoch, with the epoch's figures: the plateau
 * schedule, adaptive dropout, the stop rule and the best weights.  *stop:
 * the stop rule ended the run; *improved: this epoch is the best so far. */
static void epoch_policies(trainer *T, const hprt_epoch_report *rep, bool *stop, bool *improved)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    hprt_train_result *res = T->res;
    *stop = false;
    *improved = false;
    if (T->has_plateau) {
        double before = S->plateau.lr;
        double m = metric_value(c->schedule.kind == HPRT_SCHED_PLATEAU ? c->schedule.monitor : c->schedule.then->monitor,
                                res->train_loss, rep->val_loss, rep->val_accuracy);
        hprt_plateau_step(&S->plateau, m);
        if (S->plateau.lr != before)
            event(c, &T->files, "after epoch %d: plateau: learning rate %g -> %g", S->epoch + 1, before, S->plateau.lr);
    }
    if (c->regularize.adaptive_dropout && rep->has_valid) {
        double inc = hprt_dropout_update(&S->dropout, res->train_loss, rep->val_loss);
        if (inc != S->dropout_inc) {
            for (int k = 0; k < c->n_dropout; k++)
                S->dropout_p[k] = (float)hprt_dropout_rate(&S->dropout, c->dropout_p[k]);
            event(c, &T->files, "after epoch %d: adaptive dropout: rates raised by %g (first layer now %g)", S->epoch + 1,
                  inc, c->n_dropout ? S->dropout_p[0] : 0.0);
            S->dropout_inc = inc;
        }
    }
    /* without a stop rule the stopper still tracks the lowest validation loss, for best.hpw */
    if (c->stop.kind != HPRT_STOP_NONE || rep->has_valid) {
        double v = metric_value(hprt_stop_monitor(&c->stop), res->train_loss, rep->val_loss, rep->val_accuracy);
        long best_before = S->stopper.best_epoch;
        hprt_verdict verdict = hprt_stop_update(&S->stopper, res->train_loss, v);
        *improved = S->stopper.best_epoch != best_before && S->stopper.best_epoch == S->epoch;
        if (T->best && *improved) {
            memcpy(T->best, c->params, sizeof(float) * c->n_params);
            S->has_best = 1;
        }
        if (verdict == HPRT_STOP && c->stop.kind != HPRT_STOP_NONE) {
            res->stopped = "early_stop";
            event(c, &T->files, "after epoch %d: early stop (%s); best epoch %ld", S->epoch + 1,
                  c->stop.kind == HPRT_STOP_EARLY ? "no improvement" : "Prechelt's criterion", S->stopper.best_epoch + 1);
            *stop = true;
        }
    }
}

/* After the epoch's last step: validation, the row of metrics.csv and the
 * epoch callback, the policies, then the state at the start of the next
 * epoch and its checkpoints (best.hpw when the epoch improved, last.hpw). */
static hprt_status epoch_end(trainer *T, hprt_batch_stage bs, const epoch_clock *k, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    hprt_train_result *res = T->res;
    hprt_status st;
    if (T->comm && (st = dp_check_weights(T, err)) != HPRT_OK)
        return st;
    res->train_loss = S->loss_rows ? S->loss_sum / (double)S->loss_rows : NAN;
    hprt_epoch_report rep = {S->epoch + 1, c->epochs, S->step, S->last_lr, bs.batch, res->train_loss, false, NAN, NAN,
                             0, 0};
    if (c->valid) {
        if ((st = evaluate(c, &T->R, c->valid, T->batch0, &rep.val_loss, &rep.val_accuracy, err)) != HPRT_OK)
            return st;
        rep.has_valid = true;
        res->has_valid = true;
        res->val_loss = rep.val_loss;
        res->val_accuracy = rep.val_accuracy;
    }
    /* from the epoch's start (or its resumption), not from a mid-epoch checkpoint */
    rep.seconds = now_s() - k->t_epoch;
    double trained = S->train_seconds - k->train_seconds0;
    rep.samples_per_second = trained > 0 ? (double)(S->samples - k->samples0) / trained : 0;
    res->epochs = S->epoch + 1;
    if (T->files.metrics) {
        fprintf(T->files.metrics, "%d,%ld,%.9g,%d,%.9g,", S->epoch + 1, (long)S->step, S->last_lr, bs.batch,
                res->train_loss);
        write_csv_number(T->files.metrics, rep.has_valid, rep.val_loss);
        fputc(',', T->files.metrics);
        write_csv_number(T->files.metrics, rep.has_valid, rep.val_accuracy);
        fprintf(T->files.metrics, ",%.3f\n", rep.seconds);
    }
    if (c->cb.epoch)
        c->cb.epoch(c->cb.ctx, &rep);
    bool stop, improved;
    epoch_policies(T, &rep, &stop, &improved);
    /* the state at the start of the next epoch, then the checkpoints */
    S->epochs_done = S->epoch + 1;
    S->train_loss = res->train_loss;
    S->has_valid = rep.has_valid;
    S->val_loss = rep.val_loss;
    S->val_accuracy = rep.val_accuracy;
    S->pos = 0;
    S->epoch++;
    if (improved && (st = checkpoint(T, "best.hpw", c->params, err)) != HPRT_OK)
        return st;
    if ((st = checkpoint(T, "last.hpw", c->params, err)) != HPRT_OK)
        return st;
    if (stop)
        T->finished = true;
    return HPRT_OK;
}

bool hprt_trainer_done(const hprt_trainer *T) { return T->finished || T->S.epoch >= T->c->epochs; }

hprt_status hprt_trainer_epoch(hprt_trainer *T, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    hprt_train_result *res = T->res;
    hprt_status st;
    if (!T->started && (st = trainer_start(T, err)) != HPRT_OK)
        goto fail;
    if (hprt_trainer_done(T))
        return HPRT_OK;
    epoch_clock k = {now_s(), 0, 0, S->train_seconds, (long)S->samples};
    k.t_span = k.t_epoch;
    hprt_batch_stage bs = hprt_adabatch_at(&c->batch, S->epoch, S->step);
    if (S->pos == 0)
        epoch_begin(T, bs);
    if ((st = epoch_steps(T, bs, &k, err)) != HPRT_OK)
        goto fail;
    if (res->nan_step >= 0) {
        res->stopped = "nan";
        event(c, &T->files, "step %ld (epoch %d): the training loss is not finite; stopped", res->nan_step, S->epoch + 1);
        st = hprt_fail(err, HPRT_E_RUN,
                       "the training loss became NaN or infinite at step %ld (epoch %d); try a lower learning rate, "
                       "`clip = 1`, or a warm-up",
                       res->nan_step, S->epoch + 1);
        goto fail;
    }
    if (T->interrupted) {
        res->stopped = "interrupted";
        event(c, &T->files, "step %ld (epoch %d): interrupted; a checkpoint was written", (long)S->step, S->epoch + 1);
        /* the event is after the checkpoint's file lengths: a resume drops it */
        T->finished = true;
        return HPRT_OK;
    }
    if ((st = epoch_end(T, bs, &k, err)) != HPRT_OK)
        goto fail;
    return HPRT_OK;
fail:
    T->finished = true;
    T->failed = true;
    return st;
}

hprt_status hprt_trainer_finish(hprt_trainer *T, hprt_error *err)
{
    const hprt_train_config *c = T->c;
    hprt_train_state *S = &T->S;
    hprt_train_result *res = T->res;
    hprt_status st = HPRT_OK;
    if (T->failed)
        return hprt_fail(err, HPRT_E_RUN, "a failed run cannot be finished (a bug in hpc)");
    if (!T->started && (st = trainer_start(T, err)) != HPRT_OK)
        goto fail;
    T->finished = true;
    res->seconds = now_s() - T->t_run;
    res->samples_per_second = S->train_seconds > 0 ? (double)S->samples / S->train_seconds : 0;
    if (S->stopper.best_epoch >= 0 && res->has_valid)
        res->best_epoch = (int)S->stopper.best_epoch + 1;
    if (!T->interrupted) {
        if (T->best && S->has_best && S->stopper.best_epoch >= 0 && S->stopper.best_epoch != res->epochs - 1) {
            memcpy(c->params, T->best, sizeof(float) * c->n_params);
            event(c, &T->files, "restored the weights of the best epoch, %ld", S->stopper.best_epoch + 1);
            res->restored_best = true;
            if (c->valid &&
                (st = evaluate(c, &T->R, c->valid, T->batch0, &res->val_loss, &res->val_accuracy, err)) != HPRT_OK)
                goto fail;
        }
        if (c->test) {
            if ((st = evaluate(c, &T->R, c->test, T->batch0, &res->test_loss, &res->test_accuracy, err)) != HPRT_OK)
                goto fail;
            res->has_test = true;
        }
    }
    pool_stop(&T->R.pool);
    return files_close(&T->files, err);
fail:
    T->failed = true;
    return st;
}

const hprt_train_result *hprt_trainer_result(const hprt_trainer *T) { return T->res; }

void hprt_trainer_free(hprt_trainer *T)
{
    if (!T)
        return;
    pool_stop(&T->R.pool);
    files_close(&T->files, NULL);
    free(T->best);
    hprt_order_free(&T->order);
    free(T->carry);
    free(T->dp_at);
    free(T->dp_slice);
    hprt_free(T->R.io);
    hprt_free(T->R.identity);
    free(T);
}

hprt_status hprt_train(const hprt_train_config *c, const hprt_train_state *resume, const float *best_params,
                       hprt_train_result *res, hprt_error *err)
{
    memset(res, 0, sizeof *res);
    res->stopped = "completed";
    res->nan_step = -1;
    hprt_trainer *T;
    hprt_status st = hprt_trainer_new(c, &T, err);
    if (st == HPRT_OK && resume)
        st = hprt_trainer_restore(T, resume, best_params, err);
    while (st == HPRT_OK && !hprt_trainer_done(T))
        st = hprt_trainer_epoch(T, err);
    if (st == HPRT_OK)
        st = hprt_trainer_finish(T, err);
    if (T)
        *res = *hprt_trainer_result(T);
    hprt_trainer_free(T);
    return st;
}

void hprt_lrfind_result_free(hprt_lrfind_result *r)
{
    free(r->lr);
    free(r->loss);
    free(r->smooth);
    memset(r, 0, sizeof *r);
}

/* Copies of everything a step changes: parameters and optimizer state. */
typedef struct {
    float *params;
    float *state[6];
} snapshot;

static float **state_arrays(hprt_optim_state *o, float **out)
{
    out[0] = o->buf;
    out[1] = o->m;
    out[2] = o->v;
    out[3] = o->vmax;
    out[4] = o->sum;
    out[5] = o->ga;
    return out;
}

static bool snapshot_take(const hprt_train_config *c, snapshot *s)
{
    memset(s, 0, sizeof *s);
    size_t bytes = sizeof(float) * c->n_params;
    if (!(s->params = malloc(bytes)))
        return false;
    memcpy(s->params, c->params, bytes);
    float *arr[6];
    state_arrays(c->opt, arr);
    for (int i = 0; i < 6; i++) {
        if (!arr[i])
            continue;
        if (!(s->state[i] = malloc(bytes)))
            return false;
        memcpy(s->state[i], arr[i], bytes);
    }
    return true;
}

static void snapshot_restore_free(const hprt_train_config *c, snapshot *s, bool restore)
{
    size_t bytes = sizeof(float) * c->n_params;
    float *arr[6];
    state_arrays(c->opt, arr);
    if (restore && s->params) {
        memcpy(c->params, s->params, bytes);
        for (int i = 0; i < 6; i++)
            if (arr[i] && s->state[i])
                memcpy(arr[i], s->state[i], bytes);
        memset(c->grads, 0, bytes);
    }
    free(s->params);
    for (int i = 0; i < 6; i++)
        free(s->state[i]);
    memset(s, 0, sizeof *s);
}

hprt_status hprt_lr_find(const hprt_train_config *c, const hprt_lrfind *cfg, hprt_lrfind_result *res, hprt_error *err)
{
    memset(res, 0, sizeof *res);
    res->suggestion = NAN;
    if (dp_comm(c))
        return hprt_fail(err, HPRT_E_RUN, "the LR range test runs in one process, not over ranks");
    const hprt_dataset *train = c->train;
    int threads = c->threads < 1 ? 1 : c->threads > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : c->threads;
    int batch = c->batch.adaptive ? c->batch.start : c->batch.size;
    int steps = hprt_lrfind_steps(cfg);
    hprt_status st = HPRT_OK;
    runner R;
    memset(&R, 0, sizeof R);
    hprt_order order = {0};
    snapshot snap;
    bool have_snap = snapshot_take(c, &snap);
    res->lr = malloc(sizeof(double) * (size_t)steps);
    res->loss = malloc(sizeof(double) * (size_t)steps);
    res->smooth = malloc(sizeof(double) * (size_t)steps);
    R.io = hprt_alloc(2 * sizeof *R.io);
    if (!have_snap || !res->lr || !res->loss || !res->smooth || !R.io) {
        st = hprt_fail(err, HPRT_E_RUN, "out of memory for the LR range test");
        goto done;
    }
    hprt_blas_set_threads(1);
    if ((st = hprt_order_init(&order, train->n, c->shuffle, err)) != HPRT_OK)
        goto done;
    hprt_rng rng;
    order_rng(c, &rng); /* a copy: the run's own generator is untouched */
    hprt_order_next_epoch(&order, &rng);
    if ((st = pool_start(&R.pool, threads, c->barrier, err)) != HPRT_OK)
        goto done;
    hprt_lrfind_state ls;
    hprt_lrfind_init(&ls, cfg);
    pass_plan pp;
    if ((st = pass_plan_make(train, batch, &pp, err)) != HPRT_OK) {
        pool_stop(&R.pool);
        goto done;
    }
    bool go = true;
    for (int i = 0; i < steps && go; i++) {
        long s = i % pp.steps;
        if (s == 0 && i > 0)
            hprt_order_next_epoch(&order, &rng);
        hprt_step_io *io = &R.io[i & 1];
        long units, all_units;
        int rows = pass_step(&pp, io, train, order.idx, s, false, &units, &all_units);
        hprt_step_fn fn = c->train_fn(c->fn_ctx, rows);
        if (!fn) {
            st = hprt_fail(err, HPRT_E_RUN, "no compiled training step for a batch of %d (a bug in hpc)", rows);
            break;
        }
        double lr = hprt_lrfind_lr(cfg, i);
        fill_step(c, io, lr, NAN, i + 1, i, c->dropout_p);
        pool_post(&R.pool, fn, io);
        pool_sync(&R.pool); /* each loss decides whether to go on */
        double l = 0;
        for (int t = 0; t < threads; t++)
            l += io->loss[t];
        l /= (double)units;
        res->lr[res->n] = lr;
        res->loss[res->n] = l;
        go = hprt_lrfind_record(&ls, l);
        res->smooth[res->n] = ls.smooth;
        res->n++;
    }
    pool_stop(&R.pool);
    if (st == HPRT_OK) {
        res->suggestion = hprt_lrfind_suggest(cfg, res->lr, res->smooth, res->n);
        if (!isfinite(res->suggestion))
            st = hprt_fail(err, HPRT_E_RUN,
                           "the LR range test recorded %d points, too few for a suggestion; raise find_lr's `steps` or its "
                           "`end`, or give the rate by hand",
                           res->n);
    }
done:
    snapshot_restore_free(c, &snap, have_snap);
    hprt_order_free(&order);
    hprt_free(R.io);
    return st;
}

hprt_status hprt_evaluate(const hprt_train_config *c, const hprt_dataset *ds, int batch, double *loss, double *accuracy,
                          hprt_error *err)
{
    runner R;
    memset(&R, 0, sizeof R);
    int threads = c->threads < 1 ? 1 : c->threads > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : c->threads;
    R.io = hprt_alloc(2 * sizeof *R.io);
    R.identity_n = ds->n > 0 ? ds->n : 1;
    R.identity = hprt_alloc(sizeof(uint32_t) * (size_t)R.identity_n);
    hprt_status st = HPRT_OK;
    if (!R.io || !R.identity) {
        st = hprt_fail(err, HPRT_E_RUN, "out of memory");
        goto done;
    }
    for (long i = 0; i < R.identity_n; i++)
        R.identity[i] = (uint32_t)i;
    hprt_blas_set_threads(1);
    if ((st = pool_start(&R.pool, threads, c->barrier, err)) != HPRT_OK)
        goto done;
    st = evaluate(c, &R, ds, batch, loss, accuracy, err);
    pool_stop(&R.pool);
done:
    hprt_free(R.io);
    hprt_free(R.identity);
    return st;
}
