/* hprt_train.h - the epoch driver: runs compiled steps on worker threads,
 * applies the training policies, evaluates, and writes the run directory.
 *
 * The driver knows nothing of the language or of code generation: it is given
 * the data, the memory the steps work on, a way to find the step function of a
 * batch size, and the policies as plain data (hprt_policy.h).  It never
 * prints; progress and epoch summaries go to callbacks.
 */
#ifndef HPRT_TRAIN_H
#define HPRT_TRAIN_H

#include <signal.h>
#include <stdbool.h>

#include "hprt_base.h"
#include "hprt_ckpt.h"
#include "hprt_comm.h"
#include "hprt_data.h"
#include "hprt_optim.h"
#include "hprt_policy.h"
#include "hprt_sched.h"
#include "hprt_step.h"

#define HPRT_MAX_CARRY 64

/* A few times a second during an epoch. */
typedef struct {
    int epoch, epochs;          /* 1-based epoch */
    long step_in_epoch, steps_in_epoch;
    long step;                  /* steps done in the run */
    double loss;                /* the epoch's running mean training loss */
    double samples_per_second;  /* this epoch so far */
    double eta_seconds;         /* to the end of the epoch */
    int batch;
    double lr;
} hprt_progress;

/* After each epoch (one row of metrics.csv). */
typedef struct {
    int epoch, epochs;          /* 1-based */
    long step;                  /* steps done */
    double lr;                  /* the rate of the epoch's last step */
    int batch;
    double train_loss;
    bool has_valid;
    double val_loss, val_accuracy;
    double seconds;             /* wall time of the epoch, evaluation included */
    double samples_per_second;  /* training only */
} hprt_epoch_report;

/* After each training step (one row of steps.csv). */
typedef struct {
    long step;                  /* 1-based, as in steps.csv */
    int epoch;                  /* 1-based */
    double lr;
    int batch;                  /* rows of the step */
    double loss;                /* the step's mean training loss */
    double momentum;            /* the cycled momentum, NaN when it is not cycled */
} hprt_step_report;

typedef struct {
    void *ctx;
    void (*progress)(void *ctx, const hprt_progress *p);
    void (*epoch)(void *ctx, const hprt_epoch_report *r);
    void (*event)(void *ctx, const char *text);
    void (*step)(void *ctx, const hprt_step_report *r); /* may be NULL */
} hprt_callbacks;

typedef struct {
    /* data: train is required, valid and test may be NULL */
    const hprt_dataset *train, *valid, *test;
    bool shuffle;
    /* the model's memory (the steps read and write it) */
    float *params, *grads;
    size_t n_params;
    hprt_optim_state *opt;
    /* the compiled steps */
    hprt_step_fn (*train_fn)(void *ctx, int batch);
    hprt_step_fn (*eval_fn)(void *ctx, int batch);
    void *fn_ctx;
    /* the compiled schedule (NULL: the reference hprt_sched_lr/momentum) */
    double (*lr_fn)(int64_t t, double base);
    double (*momentum_fn)(int64_t t);
    int threads;
    hprt_barrier *barrier;      /* the one the steps wait at, for `threads` */
    /* dropout sites and their rates */
    int n_dropout;
    float dropout_p[HPRT_MAX_DROPOUT];
    /* policies */
    hprt_optimizer optimizer;
    hprt_schedule schedule;
    hprt_batch batch;
    int epochs;
    hprt_stop stop;
    hprt_regularize regularize;
    uint64_t seed;
    /* output */
    const char *run_dir;        /* NULL: write no files */
    bool events_append;         /* events.log already has lines (find_lr): append */
    hprt_callbacks cb;
    volatile sig_atomic_t *interrupt; /* set (by a signal handler) to stop after the current step */
    /* checkpoints: last.hpw at every epoch end (and every checkpoint_every
     * steps when > 0, and on an interrupt), best.hpw when the stop rule's
     * monitored metric improves; none when ckpt_id or run_dir is NULL */
    const struct hprt_ckpt_id_s *ckpt_id;
    long checkpoint_every;
    /* state carried from step to step (a recurrent model's hidden and cell
     * states, in the activation arena): saved in checkpoints so a resumed
     * run continues its streams exactly */
    struct { float *p; size_t n; } carry[HPRT_MAX_CARRY];
    int n_carry;
    /* normalize = standard: the training statistics (mean then std, n_norm =
     * 2 x features floats), saved in checkpoints so inference needs no data */
    const float *norm;
    size_t n_norm;
    /* a CSV's class names and categories (hprt_csv_encoding_save's text), saved in
     * checkpoints so predict and build map names as the run did; NULL: none */
    const char *encoding;
    size_t n_encoding;
    /* multi-label (bce over several 0/1 label columns): their number; the
     * step's `correct` then counts (row, label) pairs, so accuracy divides by
     * rows x labels (Keras' binary_accuracy).  0: one label per row. */
    int multi_labels;
    /* data-parallel training over the ranks of comm (NULL, or one rank: a
     * single process).  The steps must be compiled for this rank's share of
     * every batch (hprt_dp_share) with the layout's `dp` on.  Every rank
     * trains the same global batches; only the one with run_dir writes files.
     * dp_perturb = K + 1 (tests only, HPC_TEST_PERTURB_RANK=K): rank K
     * changes one weight before the first epoch-end checksum; 0: none */
    hprt_comm *comm;
    int dp_perturb;
    /* data-parallel with carried state: the rows of each carry array here
     * (the layout's largest batch, this rank's) and in one process (the
     * largest global batch); checkpoints hold the one-process form, each
     * rank's streams in their place, so any number of ranks resumes them */
    int carry_rows, carry_rows_all;
} hprt_train_config;

typedef struct {
    int epochs;                 /* epochs completed */
    long steps;
    int best_epoch;             /* 1-based; 0 when no validation */
    const char *stopped;        /* "completed", "early_stop", "interrupted", "nan" */
    double train_loss;
    bool has_valid, has_test;
    bool restored_best;         /* the run ended on the best epoch's weights (best.hpw), not the last */
    double val_loss, val_accuracy;
    double test_loss, test_accuracy;
    double seconds;             /* the training loop */
    double samples_per_second;  /* training steps only */
    long nan_step;              /* the step whose loss was not finite, or -1 */
} hprt_train_result;

/* The batch sizes a run can meet (for compiling one step per size).  Training:
 * every batch the policy reaches and the last partial batch of each epoch.
 * Evaluation (at the starting batch): its size and the partial last batches of
 * valid and test.  Returns the number of training sizes; *n_eval gets the
 * number of evaluation sizes. */
int hprt_train_batch_sizes(const hprt_batch *b, int epochs, long n_train, long n_valid, long n_test, int *train,
                           int *eval, int *n_eval, int max);

/* A step's per-step numbers: the optimizer's coefficients at rate lr (mom:
 * the cycled momentum/beta1, NaN for the optimizer's own) for update t, and
 * the dropout keys and thresholds of step `step`. */
void hprt_step_set_numbers(hprt_step_io *io, const hprt_optimizer *o, double lr, double mom, long t, uint64_t seed,
                           long step, const float *dropout_p, int n_dropout);
/* A step's batch: rows order[start .. start + rows) of ds. */
void hprt_step_set_batch(hprt_step_io *io, const hprt_dataset *ds, const uint32_t *order, long start, long rows);

/* Rank `rank` of `ranks`' share of a batch of `rows` rows: the first rows %
 * ranks ranks take one row more; *first gets the global index of its first row. */
int hprt_dp_share(int rows, int rank, int ranks, int *first);
/* The sharded update's slices of a parameter arena of n floats: rank k
 * owns [at[k], at[k+1]) (at has ranks + 1 entries), about n / ranks each,
 * the boundaries 16-float aligned (the last slices may be shorter or empty). */
void hprt_dp_slices(size_t n, int ranks, size_t *at);

/* Training steps in one epoch: ceil(n / batch), or for text (seq > 0: n is
 * tokens) the full windows of seq tokens of `batch` streams,
 * floor((floor(n / batch) - 1) / seq). */
long hprt_train_steps_per_epoch(long n, int batch, int seq);

/* The schedule resolved for a run: durations in steps at the starting batch,
 * the run's total steps over `epochs` with the batch policy.  seq: as above. */
hprt_status hprt_train_resolve_schedule(const hprt_schedule *s, const hprt_batch *b, int epochs, long n_train, int seq,
                                        hprt_sched_resolved *out, hprt_error *err);

/* Trains, from the start or (resume != NULL) from a checkpoint's state, with
 * best_params the best weights so far when the state has them (best.hpw).
 * HPRT_E_RUN on a non-finite loss (res->stopped = "nan", nan_step set), an
 * I/O error on the run directory (a checkpoint that could not be written
 * included: training does not go on without it), or out of memory. */
hprt_status hprt_train(const hprt_train_config *cfg, const hprt_train_state *resume, const float *best_params,
                       hprt_train_result *res, hprt_error *err);

/* The same run, one epoch at a time, for callers that stop a run and go on
 * with it later (a hyperparameter search's trials).  hprt_train is the loop:
 *
 *     hprt_trainer *t;
 *     st = hprt_trainer_new(cfg, &t, err);               // the policies' fresh state
 *     st = hprt_trainer_restore(t, state, best, err);    // optional: a checkpoint's state
 *     while (st == HPRT_OK && !hprt_trainer_done(t))
 *         st = hprt_trainer_epoch(t, err);                // runs (the rest of) one epoch and its end
 *     st = hprt_trainer_finish(t, err);                  // best weights, test set, files closed
 *     ... hprt_trainer_result(t) ...
 *     hprt_trainer_free(t);
 *
 * cfg (and everything it points to) must outlive the trainer.  The first
 * hprt_trainer_epoch (or hprt_trainer_finish) opens the run's files, starts
 * the worker threads and, for a fresh run, writes the initial last.hpw.
 * Every epoch ends with last.hpw written, so a caller may stop after any
 * epoch (hprt_trainer_free without hprt_trainer_finish: the files are closed,
 * the test set is not evaluated) and continue later: hprt_ckpt_read the
 * state, then a new trainer, hprt_trainer_restore, and the same loop.  After
 * an error of hprt_trainer_epoch the run is over: hprt_trainer_done is true
 * and hprt_trainer_finish refuses; free it. */
typedef struct hprt_trainer hprt_trainer;

hprt_status hprt_trainer_new(const hprt_train_config *cfg, hprt_trainer **out, hprt_error *err);
/* Before the first epoch only; best_params as for hprt_train (may be NULL).
 * On a run directory, its files are cut back to the checkpoint's lengths. */
hprt_status hprt_trainer_restore(hprt_trainer *t, const hprt_train_state *state, const float *best_params,
                                 hprt_error *err);
/* Runs the epoch in progress to its end (or to an interrupt, a non-finite
 * loss or an error); the errors are hprt_train's. */
hprt_status hprt_trainer_epoch(hprt_trainer *t, hprt_error *err);
/* Every epoch run, the stop rule ended the run, it was interrupted, or it failed. */
bool hprt_trainer_done(const hprt_trainer *t);
hprt_status hprt_trainer_finish(hprt_trainer *t, hprt_error *err);
/* The figures so far (complete after hprt_trainer_finish); owned by t. */
const hprt_train_result *hprt_trainer_result(const hprt_trainer *t);
/* Stops the workers, closes the files, frees; NULL is allowed. */
void hprt_trainer_free(hprt_trainer *t);

/* The LR range test (docs/language.md §12, fastai's lr_find) on a copy of the
 * current state: the rate grows exponentially from cfg->start to cfg->end over
 * cfg->steps training steps (stopping early when the smoothed loss exceeds 4x
 * its minimum), then the weights, optimizer state and gradients are put back
 * as they were, so the training that follows is the same as one given the
 * suggested rate by hand.  The batches are the first of an epoch shuffled with
 * a copy of the run's generator. */
typedef struct {
    int n;                      /* points recorded */
    double *lr, *loss, *smooth; /* n each; free with hprt_lrfind_result_free */
    double suggestion;
} hprt_lrfind_result;

hprt_status hprt_lr_find(const hprt_train_config *c, const hprt_lrfind *cfg, hprt_lrfind_result *res, hprt_error *err);
void hprt_lrfind_result_free(hprt_lrfind_result *r);

/* Evaluates ds (loss, accuracy) with the eval steps; used for test and by tests. */
hprt_status hprt_evaluate(const hprt_train_config *cfg, const hprt_dataset *ds, int batch, double *loss,
                          double *accuracy, hprt_error *err);

#endif
