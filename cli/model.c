/* model.c - a run's trained model for inference (model.h). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt.h"

int cli_model_open(cli_model *m, const char *dir, const char *weights, const char *command)
{
    memset(m, 0, sizeof *m);
    m->p = cli_open_run(dir, weights, &m->d, &m->pl, m->ckpt, sizeof m->ckpt);
    if (!m->p) {
        fprintf(stderr, "hpc %s: %s is not a run directory\n", command, dir);
        return EXIT_USAGE;
    }
    if (!m->pl || !m->pl->experiment)
        return EXIT_ERRORS;
    m->e = m->pl->experiment;
    return -1;
}

int cli_model_compile(cli_model *m, const char *command)
{
    plan_experiment *e = m->e;
    m->B = e->batch.adaptive ? e->batch.start : e->batch.size;
    char msg[512];
    if (!(m->l = cg_layout_new(e, 1, NULL, 0, &m->B, 1, msg, sizeof msg))) {
        fprintf(stderr, "hpc %s: %s\n", command, msg);
        return EXIT_USAGE;
    }
    m->mem.params = hprt_alloc(sizeof(float) * (size_t)m->l->n_params);
    m->mem.grads = hprt_alloc(sizeof(float) * (size_t)m->l->n_params);
    m->mem.acts = hprt_alloc(sizeof(float) * (size_t)m->l->n_acts);
    m->mem.barrier = hprt_barrier_new(1);
    if (!m->mem.params || !m->mem.grads || !m->mem.acts || !m->mem.barrier) {
        fprintf(stderr, "hpc %s: out of memory\n", command);
        return EXIT_RUN;
    }
    char desc[512];
    plan_shape_desc(e, desc, sizeof desc);
    hprt_ckpt_id id = {plan_shape_hash(e), desc};
    hprt_error err = {0};
    if (hprt_ckpt_read(m->ckpt, &id, m->mem.params, (size_t)m->l->n_params, NULL, &m->state, &err) != HPRT_OK) {
        fprintf(stderr, "hpc %s: %s\n", command, err.msg);
        return EXIT_RUN;
    }
    if (!(m->prog = cg_compile(e, m->l, &m->mem, NULL, msg, sizeof msg))) {
        fprintf(stderr, "hpc %s: compiling the model failed: %s\n", command, msg);
        return EXIT_RUN;
    }
    return -1;
}

int cli_eval_rows(cg_program *prog, const cg_layout *l, const float *acts, int B, const hprt_dataset *ds,
                  cli_scores_fn fn, void *ctx)
{
    int32_t *zeros = calloc((size_t)ds->n + 1, sizeof *zeros);
    uint32_t *identity = malloc(sizeof *identity * ((size_t)ds->n + 1));
    hprt_step_io *io = hprt_alloc(sizeof *io);
    int rc = -1;
    if (!zeros || !identity || !io)
        goto done;
    for (long i = 0; i < ds->n; i++)
        identity[i] = (uint32_t)i;
    int K = l->classes;
    const float *scores = acts + l->layers[l->scores].out;
    hprt_blas_set_threads(1);
    for (long start = 0; start < ds->n; start += B) {
        long rows = ds->n - start < B ? ds->n - start : B;
        memset(io, 0, sizeof *io);
        io->x = ds->x;
        io->x8 = ds->x8;
        io->mean = ds->mean;
        io->std = ds->std;
        io->y = ds->y ? ds->y : zeros;
        io->order = identity;
        io->start = start;
        io->rows = rows;
        cg_eval_fn(prog, B)(io, 0);
        for (long r = 0; r < rows; r++)
            fn(ctx, start + r, scores + r * K, K);
    }
    rc = 0;
done:
    hprt_free(io);
    free(zeros);
    free(identity);
    return rc;
}

int cli_model_eval(cli_model *m, const hprt_dataset *ds, cli_scores_fn fn, void *ctx, const char *command)
{
    if (cli_eval_rows(m->prog, m->l, m->mem.acts, m->B, ds, fn, ctx) != 0) {
        fprintf(stderr, "hpc %s: out of memory\n", command);
        return EXIT_RUN;
    }
    return -1;
}

void cli_model_close(cli_model *m)
{
    cg_program_free(m->prog);
    hprt_barrier_free(m->mem.barrier);
    hprt_free(m->mem.params);
    hprt_free(m->mem.grads);
    hprt_free(m->mem.acts);
    cg_layout_free(m->l);
    hprt_train_state_free(&m->state);
    plan_free(m->pl);
    hp_program_free(m->p);
    hp_diags_free(&m->d);
    memset(m, 0, sizeof *m);
}
