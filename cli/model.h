/* model.h - a run's trained model for inference: the evaluation loop shared
 * by `hpc predict` and `hpc report` (cli_eval_rows), and for the report the
 * session of the run (HP_USE_EVAL: the Plan, the checkpoint's weights, one
 * compiled evaluation step on one thread; cli_model_*). */
#ifndef HPC_MODEL_H
#define HPC_MODEL_H

#include "cli.h"
#include "codegen.h"
#include "hprt_ckpt.h"
#include "hprt_train.h"

typedef struct {
    hp_session hs;           /* HP_USE_EVAL over the run's experiment.hp */
    plan_experiment *e;      /* the run's experiment (set by cli_model_open) */
    const cg_layout *l;      /* set by cli_model_compile */
    hprt_train_state state;  /* the checkpoint's (normalisation statistics...) */
    int B;                   /* the evaluation batch */
    char ckpt[4200];         /* the checkpoint read */
} cli_model;

/* Reads dir's experiment.hp and plans it (weights: "best", "last" or NULL for
 * those the run ended with).  -1 when it is open, else the exit status, the
 * reason printed as "hpc COMMAND: ...".  Close m in either case. */
int cli_model_open(cli_model *m, const char *dir, const char *weights, const char *command);
/* Lays out the model, reads the checkpoint and compiles the evaluation step.
 * -1 or the exit status, as above. */
int cli_model_compile(cli_model *m, const char *command);
typedef void (*cli_scores_fn)(void *ctx, long row, const float *scores, int K);
/* The evaluation loop of `hpc predict` and `hpc report`: ds (prepared like
 * the training data: scaled, normalised) through prog's evaluation step of
 * batch B on one thread, batch by batch; fn gets each row's K scores (the
 * last layer's outputs in acts: logits when a softmax is folded into
 * cross_entropy).  0, or -1 when out of memory. */
int cli_eval_rows(cg_program *prog, const cg_layout *l, const float *acts, int B, const hprt_dataset *ds,
                  cli_scores_fn fn, void *ctx);

/* cli_eval_rows with m's model.  -1 or the exit status. */
int cli_model_eval(cli_model *m, const hprt_dataset *ds, cli_scores_fn fn, void *ctx, const char *command);
void cli_model_close(cli_model *m);

#endif
