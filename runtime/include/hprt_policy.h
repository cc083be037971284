/* hprt_policy.h - the training policies as plain data.
 *
 * These structures are what the checker resolves an experiment's optimizer,
 * schedule, batch, stop and regularisation settings into (every default filled
 * in), and what the runtime and the generated code read.  They know nothing of
 * the .hp language: the Plan (compiler/plan.h) embeds them.
 *
 * Formulas: docs/policies.md, cited per field where it matters.
 */
#ifndef HPRT_POLICY_H
#define HPRT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* A length of training: `5 epochs`, `2000 steps`, or a bare number (steps). */
typedef enum { HPRT_STEPS = 0, HPRT_EPOCHS = 1 } hprt_unit;
typedef struct {
    double n;
    hprt_unit unit;
} hprt_duration;

typedef enum { HPRT_MODE_MIN = 0, HPRT_MODE_MAX = 1 } hprt_mode;

/* Metrics that policies can monitor (the table: hprt_metrics.def). */
typedef enum {
#define X(e, name, mode) HPRT_METRIC_##e,
#include "hprt_metrics.def"
#undef X
    HPRT_METRIC__COUNT /* the number of rows */
} hprt_metric;

/* ---- optimizers (docs/policies.md §10, torch.optim) ---- */
typedef enum {
#define X(e, name, ...) HPRT_OPT_##e,
#include "hprt_optimizers.def"
#undef X
    HPRT_OPT__COUNT /* the number of rows */
} hprt_opt_kind;

typedef struct {
    hprt_opt_kind kind;
    double lr;            /* the base rate; ignored while lr_find is set */
    bool lr_find;         /* `lr = find_lr`: replaced by the LR range test */
    double weight_decay;  /* sgd/adam/adamax/adagrad/rmsprop: L2 added to g; adamw: decoupled */
    /* sgd, rmsprop */
    double momentum;
    double dampening;     /* sgd */
    bool nesterov;        /* sgd */
    /* adam, adamw, adamax */
    double beta1, beta2;
    bool amsgrad;         /* adam, adamw */
    /* adam, adamw, adamax, adagrad, rmsprop */
    double eps;
    /* adagrad */
    double lr_decay;
    double initial;       /* initial_accumulator_value */
    /* rmsprop */
    double alpha;
    bool centered;
} hprt_optimizer;

/* The per-element state arrays an optimizer can keep (hprt_optim_state). */
typedef enum {
    HPRT_STATE_BUF = 0, /* momentum buffer */
    HPRT_STATE_M,       /* exp_avg */
    HPRT_STATE_V,       /* exp_avg_sq, square_avg, adamax's exp_inf */
    HPRT_STATE_VMAX,    /* max_exp_avg_sq */
    HPRT_STATE_SUM,     /* adagrad's state_sum */
    HPRT_STATE_GA,      /* centered rmsprop's grad_avg */
    HPRT_STATE__COUNT
} hprt_state_array;

/* A hyperparameter of an optimizer as the language spells it: its type, where
 * it lives in hprt_optimizer, its default and its range. */
typedef enum {
    HPRT_HP_LR = 0, /* double: a number > 0 or `find_lr` (sets lr_find) */
    HPRT_HP_NUM,    /* double in [lo, hi] (an end is open when *_open) */
    HPRT_HP_BOOL    /* bool: `true`/`false`; def is 0 or 1 */
} hprt_hp_type;

typedef struct {
    const char *name;   /* "!lr": required (no default) */
    hprt_hp_type type;
    size_t offset;      /* offsetof(hprt_optimizer, ...) */
    double def;
    double lo, hi;
    bool lo_open, hi_open;
} hprt_opt_param;

#define HPRT_OPT_MAX_PARAMS 8

/* One row of the optimizer table (hprt_optimizers.def).  State arrays: those in
 * `states` always; `cond_state` as well when the bool at `cond_offset` is set
 * (cond_state == HPRT_STATE__COUNT: none). */
typedef struct {
    const char *name;
    const char *torch;           /* the PyTorch class whose formulas it follows */
    hprt_opt_param params[HPRT_OPT_MAX_PARAMS];
    int n_params;
    unsigned states;             /* bit (1u << hprt_state_array) per array */
    hprt_state_array cond_state;
    size_t cond_offset;
    bool cycles_beta1;           /* cyclic/one_cycle momentum cycling moves beta1 (else the momentum) */
} hprt_opt_desc;

/* The row of kind k; NULL for a value outside the enum. */
const hprt_opt_desc *hprt_opt_info(hprt_opt_kind k);
/* Does an optimizer o keep state array a? */
bool hprt_opt_has_state(const hprt_optimizer *o, hprt_state_array a);
/* Can cyclic/one_cycle momentum cycling apply to o: beta1 (the Adam family)
 * or a momentum > 0 (sgd, rmsprop)? */
bool hprt_opt_can_cycle(const hprt_optimizer *o);

/* ---- learning-rate schedules (docs/language.md §11, docs/policies.md §1-§5) ---- */
typedef enum {
#define X(e, name) HPRT_SCHED_##e,
#include "hprt_schedules.def"
#undef X
    HPRT_SCHED__COUNT /* the number of rows */
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

/* ---- batch size (docs/language.md §13, docs/policies.md §8) ---- */
typedef struct {
    bool adaptive;
    int size;                   /* fixed batch; for adaptive, == start */
    int start, factor, max;     /* adaptive */
    hprt_duration every;        /* adaptive */
    bool scale_lr;              /* adaptive */
} hprt_batch;

/* ---- stopping rules (docs/language.md §14-§15, docs/policies.md §6-§7) ---- */
typedef enum {
#define X(e, name) HPRT_STOP_##e,
#include "hprt_stops.def"
#undef X
} hprt_stop_kind;
/* the number of rows (not a member: switches over the enum stay exhaustive) */
enum {
    HPRT_STOP__COUNT = 0
#define X(e, name) +1
#include "hprt_stops.def"
#undef X
};

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

/* ---- regularisation policy (docs/language.md §14-§15) ---- */
typedef struct {
    bool adaptive_dropout;
    double gap, step, max;
    int patience;
    double l1;                  /* l1(lambda): lambda·sign(θ) added to every gradient (0: off) */
} hprt_regularize;

/* ---- the LR range test (docs/language.md §12, docs/policies.md §9) ---- */
typedef enum { HPRT_SUGGEST_VALLEY = 0, HPRT_SUGGEST_STEEP, HPRT_SUGGEST_MINIMUM } hprt_suggest;
typedef struct {
    double start, end;          /* 1e-7, 10 */
    int steps;                  /* 100 */
    hprt_suggest suggest;
    bool stop_div;              /* true: stop when smoothed loss > 4x its minimum */
} hprt_lrfind;

/* Names as the language spells them ("?" outside the enum), and the better
 * direction of a metric. */
const char *hprt_metric_name(hprt_metric m);
hprt_mode hprt_metric_mode(hprt_metric m);
const char *hprt_opt_name(hprt_opt_kind k);
const char *hprt_sched_name(hprt_sched_kind k);
const char *hprt_stop_name(hprt_stop_kind k);

#endif
