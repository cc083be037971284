/* hprt_policy.h - the training policies as plain data.
 *
 * These structures are what the checker resolves an experiment's optimizer,
 * schedule, batch, stop and regularisation settings into (every default filled
 * in), and what the runtime and the generated code read.  They know nothing of
 * the .hp language: the Plan (compiler/plan.h) embeds them.
 *
 * Formulas: ../shared/spec/policies.md, cited per field where it matters.
 */
#ifndef HPRT_POLICY_H
#define HPRT_POLICY_H

#include <stdbool.h>

/* A length of training: `5 epochs`, `2000 steps`, or a bare number (steps). */
typedef enum { HPRT_STEPS = 0, HPRT_EPOCHS = 1 } hprt_unit;
typedef struct {
    double n;
    hprt_unit unit;
} hprt_duration;

/* Metrics that policies can monitor. ORDER: hprt_metric_name() in policy.c. */
typedef enum {
    HPRT_METRIC_VAL_LOSS = 0,
    HPRT_METRIC_VAL_ACCURACY,
    HPRT_METRIC_VAL_BPC,
    HPRT_METRIC_TRAIN_LOSS,
    HPRT_METRIC__COUNT
} hprt_metric;

typedef enum { HPRT_MODE_MIN = 0, HPRT_MODE_MAX = 1 } hprt_mode;

/* ---- optimizers (policies.md §10, torch.optim) ---- */
typedef enum {
    HPRT_OPT_SGD = 0,
    HPRT_OPT_ADAM,
    HPRT_OPT_ADAMW,
    HPRT_OPT_ADAGRAD,
    HPRT_OPT_RMSPROP,
    HPRT_OPT__COUNT
} hprt_opt_kind;

typedef struct {
    hprt_opt_kind kind;
    double lr;            /* the base rate; ignored while lr_find is set */
    bool lr_find;         /* `lr = find_lr`: replaced by the LR range test */
    double weight_decay;  /* sgd/adam/adagrad/rmsprop: L2 added to g; adamw: decoupled */
    /* sgd, rmsprop */
    double momentum;
    double dampening;     /* sgd */
    bool nesterov;        /* sgd */
    /* adam, adamw */
    double beta1, beta2;
    bool amsgrad;
    /* adam, adamw, adagrad, rmsprop */
    double eps;
    /* adagrad */
    double lr_decay;
    double initial;       /* initial_accumulator_value */
    /* rmsprop */
    double alpha;
    bool centered;
} hprt_optimizer;

/* ---- learning-rate schedules (language.md §8, policies.md §1-§5) ---- */
typedef enum {
    HPRT_SCHED_CONSTANT = 0,
    HPRT_SCHED_STEP,
    HPRT_SCHED_MULTISTEP,
    HPRT_SCHED_EXP,
    HPRT_SCHED_COSINE,
    HPRT_SCHED_SGDR,
    HPRT_SCHED_CYCLIC,
    HPRT_SCHED_ONE_CYCLE,
    HPRT_SCHED_WARMUP,
    HPRT_SCHED_PLATEAU,
    HPRT_SCHED__COUNT
} hprt_sched_kind;

typedef enum { HPRT_CYCLIC_TRIANGULAR = 0, HPRT_CYCLIC_TRIANGULAR2, HPRT_CYCLIC_EXP_RANGE } hprt_cyclic_mode;
typedef enum { HPRT_ANNEAL_COS = 0, HPRT_ANNEAL_LINEAR } hprt_anneal;

#define HPRT_MAX_MILESTONES 32

typedef struct hprt_schedule hprt_schedule;
struct hprt_schedule {
    hprt_sched_kind kind;
    /* step: every, gamma.  exp: gamma (per epoch).  multistep: at[], gamma. */
    hprt_duration every;
    double gamma;               /* step, multistep, exp, cyclic (exp_range) */
    int n_at;
    hprt_duration at[HPRT_MAX_MILESTONES];
    /* cosine: min, period (n = 0: the whole run).  sgdr: period, mult, min. */
    double min;                 /* cosine, sgdr, plateau (min_lr) */
    hprt_duration period;
    double mult;
    /* cyclic: base, max, step (the half cycle), mode, gamma.  one_cycle: max. */
    double base, max;
    bool base_find, max_find;   /* `base = find_lr`, `max = find_lr` */
    hprt_duration step_size;
    hprt_cyclic_mode mode;
    /* one_cycle */
    double pct, div, final_div;
    hprt_anneal anneal;
    bool three_phase;
    /* cyclic and one_cycle cycle the momentum (SGD) or beta1 (Adam/AdamW) */
    bool cycle_momentum;
    bool cycle_momentum_explicit; /* written in the file (the checker warns when it cannot apply) */
    double base_momentum, max_momentum;
    /* warmup: linear from 0 over `warmup`, then `then` (never NULL for warmup) */
    hprt_duration warmup;
    hprt_schedule *then;
    /* plateau (PyTorch ReduceLROnPlateau, rel threshold) */
    double factor;
    int patience;
    hprt_metric monitor;
    hprt_mode monitor_mode;
    double threshold;
    int cooldown;
};

/* ---- batch size (language.md §9, policies.md §8) ---- */
typedef struct {
    bool adaptive;
    int size;                   /* fixed batch; for adaptive, == start */
    int start, factor, max;     /* adaptive */
    hprt_duration every;        /* adaptive */
    bool scale_lr;              /* adaptive */
} hprt_batch;

/* ---- stopping rules (language.md §10, policies.md §6-§7) ---- */
typedef enum { HPRT_STOP_NONE = 0, HPRT_STOP_EARLY, HPRT_STOP_GL, HPRT_STOP_PQ, HPRT_STOP_UP } hprt_stop_kind;

typedef struct {
    hprt_stop_kind kind;
    hprt_metric monitor;        /* early */
    hprt_mode mode;             /* early */
    int window;                 /* early */
    int patience;               /* early */
    double min_delta;           /* early */
    bool restore_best;          /* early */
    double alpha;               /* gl, pq */
    int strip;                  /* pq, up: k */
    int s;                      /* up */
} hprt_stop;

/* ---- regularisation policy (language.md §10) ---- */
typedef struct {
    bool adaptive_dropout;
    double gap, step, max;
    int patience;
} hprt_regularize;

/* ---- the LR range test (language.md §11, policies.md §9) ---- */
typedef enum { HPRT_SUGGEST_VALLEY = 0, HPRT_SUGGEST_STEEP, HPRT_SUGGEST_MINIMUM } hprt_suggest;
typedef struct {
    double start, end;          /* 1e-7, 10 */
    int steps;                  /* 100 */
    hprt_suggest suggest;
    bool stop_div;              /* true: stop when smoothed loss > 4x its minimum */
} hprt_lrfind;

const char *hprt_metric_name(hprt_metric m);

#endif
