/* hprt_sched.h - the training policies, as the reference C implementation.
 *
 * Learning-rate schedules (and momentum cycling), reduce-on-plateau, AdaBatch,
 * the stopping rules, adaptive dropout and the LR range test: everything in
 * docs/policies.md §1-§9 that decides, step by step or epoch by
 * epoch, how training proceeds.  The generated code emits the same arithmetic
 * as hprt_sched_lr(); the tests hold both to docs/policies.md's worked numbers.
 *
 * Conventions
 *  - Steps count from 0: hprt_sched_lr(r, base, t) is the rate of the t-th
 *    update, the LR(t) of docs/policies.md (the value after t PyTorch step() calls).
 *  - Epochs count from 0 in every API here.  (docs/policies.md §7 numbers Prechelt's
 *    epochs from 1: its "epoch 7" is the 7th call, epoch index 6.)
 *  - Nothing here allocates except the valley suggestion, keeps global state or
 *    prints.  Every state struct is plain data, so a checkpoint can save it
 *    with memcpy.
 */
#ifndef HPRT_SCHED_H
#define HPRT_SCHED_H

#include <stdbool.h>

#include "hprt_base.h"
#include "hprt_policy.h"

/* ======================================================================== */
/* Learning-rate schedules (docs/language.md §11, docs/policies.md §1-§4)                */
/* ======================================================================== */

/* A schedule with every duration turned into a number of steps, ready to be
 * evaluated at any step without state.  Built by hprt_sched_resolve(); read
 * by hprt_sched_lr() and by the code generator, which bakes these fields in
 * as constants.  Which fields a kind uses:
 *
 *   constant   -
 *   step       every, gamma
 *   multistep  n_at, at[], gamma
 *   exp        every (= steps_per_epoch), gamma
 *   cosine     period (T_max), min
 *   sgdr       period (T_0), mult, min
 *   cyclic     base, max, up, down, mode, gamma, momentum fields
 *   one_cycle  n_phases, anneal, ph_*, momentum fields
 *   plateau    -   (the rate comes from an hprt_plateau, see below)
 *
 * A `warmup(steps = W, then = S)` resolves to S's fields with warmup = W:
 * `kind` is never HPRT_SCHED_WARMUP.
 */
typedef struct {
    hprt_sched_kind kind;
    long steps_per_epoch;
    long total_steps;      /* of the whole run, warm-up included */
    long warmup;           /* W: steps of linear warm-up before S's clock starts */

    double gamma;
    long every;
    int n_at;
    long at[HPRT_MAX_MILESTONES];   /* ascending */

    double min;
    long period;
    long mult;

    double base, max;
    double up, down;       /* cyclic: step_size_up, step_size_down (down = up) */
    hprt_cyclic_mode mode;

    int n_phases;          /* one_cycle: 2, or 3 with three_phase */
    hprt_anneal anneal;
    double ph_end[3];      /* end step of each phase (floats, as in PyTorch) */
    double ph_lr0[3], ph_lr1[3];     /* rate at the phase's start and end */
    double ph_mom0[3], ph_mom1[3];   /* momentum at the phase's start and end */

    bool cycle_momentum;   /* cyclic, one_cycle */
    double base_momentum, max_momentum;
} hprt_sched_resolved;

/* Resolves s for a run of total_steps updates with steps_per_epoch updates per
 * epoch.
 *  - A duration in epochs is n * steps_per_epoch steps, rounded to the nearest
 *    step; a bare number is steps.
 *  - `cosine` with period n = 0 anneals over the whole run (after any warm-up).
 *  - Inside `warmup(W, then = S)`, S runs on its own clock t - W, and "the whole
 *    run" for S (cosine's default period, one_cycle's T) is total_steps - W.
 *  - With an adaptive batch, steps_per_epoch changes during the run; resolve
 *    with the starting batch's, and total_steps = the steps the run will take.
 * Fails (HPRT_E_RUN, with a message naming the parameter) on a setting that
 * cannot be evaluated: a `find_lr` rate not yet replaced by the range test's
 * value, a zero-length period, sgdr mult not an integer >= 1, a warm-up inside
 * a warm-up, a schedule that needs the run's length when total_steps < 1. */
hprt_status hprt_sched_resolve(const hprt_schedule *s, long steps_per_epoch, long total_steps,
                               hprt_sched_resolved *out, hprt_error *err);

/* The learning rate of update t (t >= 0), in closed form.
 *
 * base_lr is the optimizer's lr; for `plateau` it is the hprt_plateau's current
 * lr (so a warm-up composes with it).  `cyclic` and `one_cycle` ignore it:
 * like PyTorch's CyclicLR/OneCycleLR they overwrite the optimizer's rate with
 * their own base/max.  The driver multiplies the result by AdaBatch's lr_scale.
 *
 * Warm-up (W = r->warmup > 0): for t < W the rate is S(0) * (t / W), where S(0)
 * is the inner schedule's first rate; from t = W on it is S(t - W).  This is
 * PyTorch LinearLR's closed form with start_factor -> 0 and end_factor 1 over
 * total_iters = W (LinearLR itself refuses start_factor = 0), and Hugging
 * Face's get_*_schedule_with_warmup: the ramp starts at exactly 0 at t = 0 and
 * reaches S(0) at t = W, where it joins S without a repeated value.
 *
 * Closed form versus PyTorch: PyTorch's step() mostly uses a chained recursion
 * (lr <- lr * factor) and only step(epoch) the closed form computed here.  The
 * two differ by a few ulps (docs/policies.md conventions): ExponentialLR(0.95) at
 * t = 10 is 0.05987369392383787 here and 0.05987369392383786 chained;
 * CosineAnnealingLR(T = 10) at t = 5 is 0.05 here, 0.05000000000000001
 * chained.  CyclicLR, OneCycleLR and CosineAnnealingWarmRestarts (stepped one
 * by one) have no chained form in PyTorch: those agree to the bit, given the
 * same libm and no FMA contraction.  `exp` is per epoch: base * gamma^floor(t /
 * steps_per_epoch) (docs/language.md §11; ExponentialLR stepped once per epoch).
 *
 * hpc explain's per-epoch table is hprt_sched_lr(r, base, e * steps_per_epoch):
 * the rate of each epoch's first update. */
double hprt_sched_lr(const hprt_sched_resolved *r, double base_lr, long t);

/* The momentum (SGD) or beta1 (Adam, AdamW) of update t for `cyclic` and
 * `one_cycle` with cycle_momentum set, cycled inversely to the rate; NAN when
 * the schedule does not cycle it (the optimizer's own value then applies).
 * During a warm-up it is the inner schedule's value at its t = 0. */
double hprt_sched_momentum(const hprt_sched_resolved *r, long t);

/* ---- reduce on plateau (docs/policies.md §5, PyTorch ReduceLROnPlateau) ---- */

/* PyTorch's eps: a cut whose size is <= this is skipped. */
#define HPRT_PLATEAU_EPS 1e-8

/* PyTorch ReduceLROnPlateau in 'rel' threshold mode, stepped once per epoch
 * with the monitored metric.  `lr` is the current rate: pass it to
 * hprt_sched_lr() as base_lr. */
typedef struct {
    double factor, threshold, min_lr, eps;
    int patience, cooldown;
    hprt_mode mode;
    double lr;             /* current rate */
    double best;           /* +inf (min) or -inf (max) before the first epoch */
    int num_bad_epochs;
    int cooldown_counter;
    long epochs;           /* calls so far */
} hprt_plateau;

/* s is a `plateau` schedule, or a `warmup` whose `then` is one; lr0 is the
 * optimizer's rate. */
void hprt_plateau_init(hprt_plateau *p, const hprt_schedule *s, double lr0);
/* Feeds one epoch's metric; returns the rate for the next epoch (p->lr). */
double hprt_plateau_step(hprt_plateau *p, double metric);

/* ---- AdaBatch (docs/language.md §13, docs/policies.md §8) ---- */

typedef struct {
    int batch;             /* the batch size */
    double lr_scale;       /* multiply the scheduled rate by this */
    int stage;             /* k: `every` boundaries passed */
} hprt_batch_stage;

/* The batch and rate multiplier in force at (epoch, step), both counted from 0
 * since the start of the run.  k = floor(epoch / every) for `every` in epochs
 * (changes happen at epoch starts), floor(step / every) for steps.
 * batch_k = min(start * factor^k, max).  With scale_lr, lr_scale = batch_k /
 * start: the rate grows by the same factor as the batch at each change, so
 * rate / batch stays that of stage 0 (docs/policies.md §8).  Once the batch reaches
 * max it stops growing and so does the rate; a last change clipped by max
 * (64 -> 100 when 128 would exceed max = 100) scales the rate by the clipped
 * ratio 100/64, not by `factor`.  A fixed batch gives {size, 1, 0}. */
hprt_batch_stage hprt_adabatch_at(const hprt_batch *b, long epoch, long step);

/* ======================================================================== */
/* Stopping rules (docs/language.md §14-§15, docs/policies.md §6-§7)                        */
/* ======================================================================== */

#define HPRT_STOP_MAX_WINDOW 64

typedef enum { HPRT_CONTINUE = 0, HPRT_STOP = 1 } hprt_verdict;

/* The state of a stop rule, fed once per epoch by hprt_stop_update(). */
typedef struct {
    hprt_stop rule;
    long epoch;                      /* epochs fed so far */
    bool stopped;
    long stopped_epoch;              /* the epoch after which to stop, or -1 */

    /* the best epoch, for restore_best and summary.json: `early`: the epoch
     * whose windowed average was best; gl/pq/up/none: the epoch of the lowest
     * validation error (E_opt).  -1 before any epoch (or if all were NaN). */
    long best_epoch;
    double best;                     /* the best average / E_opt */

    /* early (Keras EarlyStopping, windowed) */
    double recent[HPRT_STOP_MAX_WINDOW];  /* ring buffer of the last `window` values */
    int n_recent;
    int wait;
    double baseline;                 /* NAN: none.  Keras's `baseline`; .hp has no
                                        syntax for it, it is here for parity tests */
    double average;                  /* the last windowed average */

    /* Prechelt (gl, pq, up) */
    double gl;                       /* GL(t) of the last epoch */
    double pk, pq;                   /* P_k and GL/P_k at the last strip end (NAN before) */
    double strip_sum, strip_min;     /* training errors of the current strip */
    int strip_n;
    double prev_strip_val;           /* E_va at the previous strip end (NAN: none) */
    int up_run;                      /* consecutive strip ends with E_va rising */
} hprt_stopper;

/* Fails (HPRT_E_RUN) on window outside 1..HPRT_STOP_MAX_WINDOW, negative
 * patience, strip < 1 or s < 1 for the rules that use them. */
hprt_status hprt_stop_init(hprt_stopper *st, const hprt_stop *rule, hprt_error *err);

/* The metric to pass as `value` to hprt_stop_update(): rule->monitor for
 * `early`, the validation loss (Prechelt's E_va) otherwise. */
hprt_metric hprt_stop_monitor(const hprt_stop *rule);

/* Feeds one epoch: train_loss is Prechelt's E_tr (only pq reads it), value the
 * metric named by hprt_stop_monitor().  Returns HPRT_STOP when training should
 * end after this epoch (and keeps returning it).
 *  - early: the average of `value` over the last min(window, epochs seen)
 *    epochs goes through Keras's EarlyStopping logic (docs/policies.md §6), so
 *    window = 1 is Keras exactly: wait counter, |min_delta|, mode, the
 *    `epoch > 0` guard.  Improvement in min mode: avg + |min_delta| < best.
 *  - gl: every epoch, stop when GL(t) = 100 (E_va / E_opt - 1) > alpha, E_opt
 *    the lowest E_va so far (all epochs, not only strip ends).
 *  - pq: at strip ends only (every `strip` epochs), stop when GL / P_k > alpha,
 *    P_k = 1000 (sum E_tr / (k min E_tr) - 1) over the strip's k epochs.
 *    Prechelt's extra stops (P_k < 0.1, 3000 epochs) are not applied.
 *  - up: at strip ends only, stop after `s` successive strip ends each with
 *    E_va higher than at the previous strip end. */
hprt_verdict hprt_stop_update(hprt_stopper *st, double train_loss, double value);

/* ---- adaptive dropout (docs/language.md §14-§15) ---- */

typedef struct {
    hprt_regularize cfg;
    int count;             /* consecutive epochs over the gap */
    int raises;            /* raises so far */
    double increment;      /* min(raises * step, max) */
} hprt_dropout_policy;

void hprt_dropout_init(hprt_dropout_policy *d, const hprt_regularize *cfg);
/* Feeds one epoch.  An epoch is over the gap when (val - train) / train > gap
 * (train <= 0: when val > train).  After `patience` consecutive such epochs
 * (at least 1) the increment grows by `step`, up to `max`, and the count
 * restarts.  Returns the increment now in force (0 when adaptive_dropout is
 * off); a change from the previous return is the event to log. */
double hprt_dropout_update(hprt_dropout_policy *d, double train_loss, double val_loss);
/* A dropout layer's rate: base + increment, capped at max; a layer already at
 * or above max keeps its own rate. */
double hprt_dropout_rate(const hprt_dropout_policy *d, double base_rate);

/* ======================================================================== */
/* The LR range test (docs/language.md §12, docs/policies.md §9, fastai lr_find)         */
/* ======================================================================== */

/* The number of batches the test runs: cfg->steps, raised to 6 as fastai does. */
int hprt_lrfind_steps(const hprt_lrfind *cfg);
/* The rate of batch i: start * (end / start)^(i / steps).  i = steps would be
 * `end`; the test never gets there. */
double hprt_lrfind_lr(const hprt_lrfind *cfg, int i);

typedef struct {
    double beta;           /* 0.98 */
    double avg;            /* the biased running average */
    double smooth;         /* the debiased value of the last batch */
    double best;           /* the lowest smooth loss so far */
    long n;                /* batches recorded */
    int steps;
    bool stop_div;
} hprt_lrfind_state;

void hprt_lrfind_init(hprt_lrfind_state *st, const hprt_lrfind *cfg);
/* Records the loss of the next batch: avg = beta avg + (1 - beta) loss,
 * smooth = avg / (1 - beta^n).  Returns false when the test is over: after
 * `steps` batches, or (stop_div) when smooth > 4 best.  The batch that
 * diverged is still recorded (st->smooth), as fastai's Recorder does.  A
 * non-finite loss also ends the test with stop_div, where fastai would carry
 * on with a NaN average. */
bool hprt_lrfind_record(hprt_lrfind_state *st, double loss);

/* fastai's suggestion functions, on arrays already cut to the part to use.
 * NAN when there are too few points (valley: 0, steep: < 2, minimum: 0) or
 * valley cannot allocate its work array.
 *  - valley: the longest strictly decreasing subsequence of losses (O(n^2)),
 *    ending at me and starting after ms = me - its length; the answer is
 *    lrs[ms + int(s) + int(s / 2)], s = (me - ms) / 3, about halfway along.
 *    An index of -1 wraps to the last point, as Python's lrs[-1] does.
 *  - steep: lrs[i] for the most negative (L[i+1]-L[i]) / (ln lr[i+1]-ln lr[i]).
 *  - minimum: lrs[argmin L] / 10.
 * Ties go to the first index (torch.argmin).  NaN losses are skipped by steep
 * and minimum (torch.argmin would pick them). */
double hprt_lrfind_valley(const double *lrs, const double *losses, int n);
double hprt_lrfind_steep(const double *lrs, const double *losses, int n);
double hprt_lrfind_minimum(const double *lrs, const double *losses, int n);

/* cfg->suggest on the recorded curve (lrs, smooth losses, n points): fastai
 * first drops the first steps // 10 and the last 5 points (lrs[steps//10:-5],
 * with Python's slice clamping). */
double hprt_lrfind_suggest(const hprt_lrfind *cfg, const double *lrs, const double *losses, int n);

#endif
