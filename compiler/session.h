/* session.h - the pipeline as a library: one experiment, from its file to a
 * compiled step, driven the same way by every command, the tests and the
 * search.
 *
 * The passes, in order (hp_session_run() shows them as one list in
 * session.c), each reading only what the ones before it made:
 *
 *   load     parse and check the file and its imports       hp_program, diagnostics
 *   plan     resolve one experiment                          plan
 *   data     load its data sets                              hp_loaded_data
 *   layout   the memory plan of the compiled code            cg_layout
 *   memory   the parameter, gradient, activation arenas,     cg_memory, hprt_optim_state
 *            the optimizer state and the barrier
 *   init     the parameters from the seed                    (in memory)
 *   compile  the steps, and the schedule as code             cg_program
 *
 * Compiling is separate from running: a session ends at `compile`, and the
 * caller runs what it made (hprt_train with hp_session_train_config(), or the
 * evaluation step).  The library never prints: diagnostics go to the
 * session's sink, every other failure to an hp_error with a class the CLI
 * turns into an exit status.
 */
#ifndef HP_SESSION_H
#define HP_SESSION_H

#include <stdbool.h>
#include <stdio.h>

#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "hprt_ckpt.h"
#include "hprt_optim.h"
#include "hprt_train.h"
#include "load.h"
#include "plan.h"

typedef enum {
    HP_PASS_LOAD = 0,
    HP_PASS_PLAN,
    HP_PASS_DATA,
    HP_PASS_LAYOUT,
    HP_PASS_MEMORY,
    HP_PASS_INIT,
    HP_PASS_COMPILE,
    HP_PASS__COUNT
} hp_pass;

const char *hp_pass_name(hp_pass p);

/* What a failure means for the user (the CLI maps each to an exit status). */
typedef enum {
    HP_ERR_NONE = 0,
    HP_ERR_FILE,  /* the file has errors: they are in the session's diagnostics */
    HP_ERR_USAGE, /* the request does not fit the file (a search given to run, a model a command cannot run) */
    HP_ERR_DATA,  /* a data file is missing or malformed */
    HP_ERR_RUN    /* out of memory, the compiler failed */
} hp_err_class;

typedef struct {
    hp_err_class cls;
    hp_pass pass;     /* where it happened */
    char msg[1024];   /* empty for HP_ERR_FILE (the diagnostics say it) */
} hp_error;

/* What the compiled code is for. */
typedef enum {
    HP_USE_TRAIN = 0, /* training: every batch size the policies reach, the data loaded, the schedule compiled */
    HP_USE_EVAL,      /* evaluation only (predict): one thread, one batch size, no data loaded */
    HP_USE_SAMPLE,    /* a language model one token at a time: one thread, batch 1, windows of 1 step */
    HP_USE_BUILD,     /* ahead of time: a one-thread layout of one sample, nothing compiled here */
    HP_USE_STEP       /* the steps alone (tests): one batch size (eval_batch) for training and evaluation,
                         no data, no schedule, the parameters left to the caller */
} hp_use;

/* What sessions run one after another can share (a search's trials): the
 * data sets, loaded once per process and read by every trial, and, per
 * worker, the last compiled model with its memory, reused by the next trial
 * whose compiled code would be the same (the code reads the settings that
 * differ between such trials, rates, betas, dropout rates, at run time).
 * A worker keeps up to HP_CACHE_MODELS models (HP_CACHE_BYTES of memory),
 * so a search that alternates between shapes compiles each once. */
typedef struct hp_data_entry hp_data_entry;
typedef struct {
    void *mu;                     /* pthread_mutex_t, shared by the workers' caches */
    hp_data_entry *data;          /* a list, by the data declaration's text */
    int loads;                    /* data sets loaded (the list's length) */
} hp_data_cache;

/* One compiled model with its memory. */
typedef struct {
    uint64_t key;                 /* what the compiled code depends on */
    cg_layout *layout;
    cg_memory mem;
    hprt_optim_state *opt;
    cg_program *prog;
    double bytes;                 /* its memory */
    unsigned long used;           /* when it was last used (the cache's clock) */
} hp_cached_model;

#define HP_CACHE_MODELS 16        /* models a worker keeps at most */
#define HP_CACHE_BYTES (1024.0 * 1024 * 1024) /* ... and their memory at most */

typedef struct {
    hp_data_cache *data;          /* NULL: every session loads its own */
    cg_objects *objects;          /* compiled code shared by the workers (NULL: each compiles its own) */
    hp_cached_model models[HP_CACHE_MODELS]; /* the least recently used goes first */
    int n;
    unsigned long clock;
} hp_session_cache;

hp_data_cache *hp_data_cache_new(void);
void hp_data_cache_free(hp_data_cache *c);
void hp_session_cache_free(hp_session_cache *c);

typedef struct {
    const char *file;             /* the .hp file */
    const char *target;           /* EXPERIMENT (NULL: the file's only one) */
    const hp_override *sets;      /* --set PATH=VALUE */
    int n_sets;
    const char *const *allow;     /* notes silenced by --allow */
    int n_allow;
    bool quiet_notes;             /* a run directory's experiment.hp: its notes were shown when it ran */
    hp_use use;
    int threads;                  /* 0: the experiment's (0 there: every core) */
    int epochs;                   /* 0: the experiment's */
    int eval_batch;               /* HP_USE_EVAL: the batch (0: the experiment's); HP_USE_STEP: the batch */
    hp_session_cache *shared;     /* HP_USE_TRAIN: data and the compiled model shared with other sessions */
    /* HP_USE_TRAIN, data-parallel (mpirun): this process is rank `rank` of
     * `ranks` > 1, its steps compiled for its share of every batch
     * (hprt_dp_share) with the layout's `dp` on; 0 or 1: a single process
     * (HP_USE_STEP takes them too: the code generation tests of the dp step) */
    int ranks, rank;
    int rank_threads;             /* > 0: the cores this rank may use: the threads when neither `threads`
                                   * above nor the experiment says, and at most this when the experiment does */
} hp_session_opts;

typedef struct {
    hp_session_opts o;
    hp_diags diags;
    hp_program *program;
    plan *plan;
    plan_experiment *e;           /* plan->experiment */
    int threads;                  /* resolved */
    hp_loaded_data data;          /* HP_USE_TRAIN */
    float *class_weights;         /* loss weights = balanced: from the training split (e->loss_opts.weights) */
    cg_layout *layout;
    cg_memory mem;
    hprt_optim_state *opt;
    cg_program *prog;
    cg_program *sched_prog;       /* the schedule compiled again (after the LR range test) */
    char desc[512];               /* plan_shape_desc */
    hprt_ckpt_id ckpt_id;         /* what this model's checkpoints carry */
    int done;                     /* passes completed */
    bool borrowed;                /* e belongs to the caller (hp_session_init_plan) */
    bool shared_data;             /* data belongs to o.shared */
    bool shared_model;            /* layout, mem, opt and prog belong to o.shared */
    bool compiled;                /* the compile pass compiled (false: it reused o.shared's model) */
    uint64_t key;                 /* with o.shared: what the compiled code depends on (0: none) */
} hp_session;

/* Starts a session (nothing runs yet). */
void hp_session_init(hp_session *s, const hp_session_opts *o);
/* Runs the passes after the last one done, up to and including `last`.
 * HP_ERR_NONE, or the class of the first failure (described in err). */
hp_err_class hp_session_run(hp_session *s, hp_pass last, hp_error *err);
/* A session that starts after `plan`, from an experiment the caller owns and
 * frees after the session (the code generation tests). */
hp_err_class hp_session_init_plan(hp_session *s, const hp_session_opts *o, plan_experiment *e, hp_error *err);
/* Frees what the passes made (a zeroed hp_session may be freed too). */
void hp_session_free(hp_session *s);

/* The training configuration of the compiled model: data, memory, steps,
 * policies, checkpoint identity and period, carried state, normalisation
 * statistics.  The caller adds run_dir, callbacks and the interrupt flag. */
void hp_session_train_config(hp_session *s, hprt_train_config *cfg);
/* After the LR range test changed the rates: the schedule compiled again and
 * put in cfg (lr_fn, momentum_fn, optimizer, schedule). */
hp_err_class hp_session_recompile_schedule(hp_session *s, hprt_train_config *cfg, hp_error *err);
/* The first error of the session's diagnostics, as one line ("FILE:LINE: message"). */
void hp_session_first_error(const hp_session *s, char *buf, size_t n);
/* Reads a checkpoint of this model into the parameters (and, when state is
 * given, the optimizer state and the training state). */
hp_err_class hp_session_read_checkpoint(hp_session *s, const char *path, hprt_train_state *state, hp_error *err);

#endif
