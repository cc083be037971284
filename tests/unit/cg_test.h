/* cg_test.h - a compiled experiment for the code generation tests (link with
 * hpcc): the layout, the memory, the optimizer state and the program, with
 * parameters the references can reproduce; and its steps run on threads. */
#ifndef HPC_CG_TEST_H
#define HPC_CG_TEST_H

#include <pthread.h>
#include <string.h>

#include "codegen.h"
#include "session.h"
#include "hprt.h"
#include "testutil.h"

typedef struct {
    hp_session hs;          /* the pipeline, from the given experiment on */
    cg_layout *l;           /* hs's layout, memory, optimizer state and program */
    cg_memory mem;
    hprt_optim_state *opt;
    cg_program *prog;
} cg_test_prog;

/* Experiment e for `threads` threads and batch B (training and evaluation),
 * through the session's layout, memory and compile passes: activations
 * zeroed, parameters uniform in ±0.5 from seed 42, layer by layer (weights,
 * then bias). */
static inline void cg_test_build_ranks(cg_test_prog *c, plan_experiment *e, int threads, int B, int ranks)
{
    memset(c, 0, sizeof *c);
    hp_session_opts o = {.use = HP_USE_STEP, .threads = threads, .eval_batch = B, .ranks = ranks};
    hp_error err;
    hp_err_class cls = hp_session_init_plan(&c->hs, &o, e, &err);
    if (cls == HP_ERR_NONE)
        cls = hp_session_run(&c->hs, HP_PASS_COMPILE, &err);
    if (cls != HP_ERR_NONE)
        print_error("%s: %s\n", hp_pass_name(err.pass), err.msg);
    assert_int_equal(cls, HP_ERR_NONE);
    c->l = c->hs.layout;
    c->mem = c->hs.mem;
    c->opt = c->hs.opt;
    c->prog = c->hs.prog;
    hprt_rng r;
    hprt_rng_seed(&r, 42);
    for (int i = 0; i < c->l->n_layers; i++) {
        const cg_layer_layout *L = &c->l->layers[i];
        for (long k = 0; L->w >= 0 && k < L->w_size; k++)
            c->mem.params[L->w + k] = (float)(hprt_rng_uniform(&r) - 0.5);
        for (long k = 0; L->b >= 0 && k < L->b_size; k++)
            c->mem.params[L->b + k] = (float)(hprt_rng_uniform(&r) - 0.5);
    }
}

/* ... of one process; with ranks > 1, rank 0's data-parallel step (its share of B, the layout's dp on) */
static inline void cg_test_build(cg_test_prog *c, plan_experiment *e, int threads, int B)
{
    cg_test_build_ranks(c, e, threads, B, 1);
}

/* A test's CSV data set in a fresh directory: FEAT columns f0.. and a label
 * column (row i is class i % classes), values uniform in [-1, 1) from seed,
 * each row shifted by its own uniform offset in [-2, 2) when row_offset (so a
 * normalisation's mean matters). */
typedef struct {
    char *dir;
    char path[512];
} cg_test_csv;

static inline void cg_test_csv_write(cg_test_csv *f, int rows, int feat, int classes, uint64_t seed, bool row_offset)
{
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/d.csv", f->dir);
    FILE *out = fopen(f->path, "w");
    assert_non_null(out);
    hprt_rng r;
    hprt_rng_seed(&r, seed);
    for (int c = 0; c < feat; c++)
        fprintf(out, "f%d,", c);
    fprintf(out, "label\n");
    for (int i = 0; i < rows; i++) {
        double offset = row_offset ? hprt_rng_uniform(&r) * 4 - 2 : 0;
        for (int c = 0; c < feat; c++)
            fprintf(out, "%.4f,", offset + hprt_rng_uniform(&r) * 2 - 1);
        fprintf(out, "%d\n", i % classes);
    }
    assert_int_equal(fclose(out), 0);
}

/* One compiled step run as the driver runs it: thread 0 here, the others
 * in threads of their own (at most 8). */
typedef struct {
    hprt_step_fn fn;
    hprt_step_io *io;
    int tid;
} cg_test_worker;

static inline void *cg_test_worker_run(void *p)
{
    cg_test_worker *w = p;
    w->fn(w->io, w->tid);
    return NULL;
}

static inline void run_threads(hprt_step_fn fn, hprt_step_io *io, int threads)
{
    pthread_t th[8];
    cg_test_worker w[8];
    assert_non_null(fn);
    assert_true(threads >= 1 && threads <= 8);
    for (int t = 0; t < threads; t++) {
        w[t] = (cg_test_worker){fn, io, t};
        if (t > 0)
            assert_int_equal(pthread_create(&th[t], NULL, cg_test_worker_run, &w[t]), 0);
    }
    cg_test_worker_run(&w[0]);
    for (int t = 1; t < threads; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
}

static inline void cg_test_release(cg_test_prog *c) { hp_session_free(&c->hs); }

#endif
