/* cg_test.h - a compiled experiment for the code generation tests (link with
 * hpcc): the layout, the memory, the optimizer state and the program, with
 * parameters the references can reproduce; and its steps run on threads. */
#ifndef HPC_CG_TEST_H
#define HPC_CG_TEST_H

#include <pthread.h>
#include <string.h>

#include "codegen.h"
#include "hprt.h"
#include "testutil.h"

typedef struct {
    cg_layout *l;
    cg_memory mem;
    hprt_optim_state *opt;
    cg_program *prog;
} cg_test_prog;

/* Experiment e for `threads` threads and batch B (training and evaluation):
 * activations zeroed, parameters uniform in ±0.5 from seed 42, layer by
 * layer (weights, then bias). */
static inline void cg_test_build(cg_test_prog *c, const plan_experiment *e, int threads, int B)
{
    memset(c, 0, sizeof *c);
    cg_error err;
    c->l = cg_layout_new(e, threads, &B, 1, &B, 1, &err);
    if (!c->l)
        print_error("%s\n", err.msg);
    assert_non_null(c->l);
    c->mem.params = hprt_alloc(sizeof(float) * (size_t)c->l->n_params);
    c->mem.grads = hprt_alloc(sizeof(float) * (size_t)c->l->n_params);
    c->mem.acts = hprt_alloc(sizeof(float) * (size_t)c->l->n_acts);
    assert_true(c->mem.params && c->mem.grads && c->mem.acts);
    memset(c->mem.acts, 0, sizeof(float) * (size_t)c->l->n_acts);
    c->opt = hprt_optim_state_new(&e->optimizer, (size_t)c->l->n_params);
    assert_non_null(c->opt);
    c->mem.opt_buf = c->opt->buf;
    c->mem.opt_m = c->opt->m;
    c->mem.opt_v = c->opt->v;
    c->mem.opt_vmax = c->opt->vmax;
    c->mem.opt_sum = c->opt->sum;
    c->mem.opt_ga = c->opt->ga;
    c->mem.barrier = hprt_barrier_new(threads);
    c->prog = cg_compile(e, c->l, &c->mem, NULL, &err);
    if (!c->prog)
        print_error("%s\n", err.msg);
    assert_non_null(c->prog);
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

static inline void cg_test_release(cg_test_prog *c)
{
    cg_program_free(c->prog);
    hprt_barrier_free(c->mem.barrier);
    hprt_free(c->mem.params);
    hprt_free(c->mem.grads);
    hprt_free(c->mem.acts);
    hprt_optim_state_free(c->opt);
    cg_layout_free(c->l);
}

#endif
