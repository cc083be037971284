/* model.c - a run's trained model for inference (model.h). */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt.h"

int cli_model_open(cli_model *m, const char *dir, const char *weights, const char *command)
{
    memset(m, 0, sizeof *m);
    int status = cli_open_run(dir, weights, HP_USE_EVAL, &m->hs, m->ckpt, sizeof m->ckpt, command);
    m->e = m->hs.e;
    return status;
}

int cli_model_compile(cli_model *m, const char *command)
{
    hp_error he;
    if (hp_session_run(&m->hs, HP_PASS_COMPILE, &he) != HP_ERR_NONE ||
        hp_session_read_checkpoint(&m->hs, m->ckpt, &m->state, &he) != HP_ERR_NONE)
        return cli_session_error(command, &he);
    m->l = m->hs.layout;
    m->B = m->l->eval_sizes[0];
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
    if (cli_eval_rows(m->hs.prog, m->l, m->hs.mem.acts, m->B, ds, fn, ctx) != 0) {
        fprintf(stderr, "hpc %s: out of memory\n", command);
        return EXIT_RUN;
    }
    return -1;
}

void cli_model_close(cli_model *m)
{
    hprt_train_state_free(&m->state);
    hp_session_free(&m->hs);
}
