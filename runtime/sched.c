/* sched.c - learning-rate schedules, momentum cycling, reduce-on-plateau and
 * AdaBatch (docs/policies.md §1-§5, §8).
 *
 * hprt_sched_resolve() does all the checking and unit conversion once, so that
 * hprt_sched_lr() is a pure function of (resolved constants, t), a few
 * operations long and without state: the code generator emits the same
 * expressions, in the same order, so the JIT's rates equal these bit for bit.
 * Each formula keeps PyTorch's order of operations, so that where PyTorch has
 * no chained form (CyclicLR, OneCycleLR, SGDR) the rates match it exactly.
 */
#include "hprt_sched.h"

#include <limits.h>
#include <math.h>

/* ---- resolution ---------------------------------------------------------- */

/* A duration in steps.  Epochs are n * steps_per_epoch rounded to the nearest
 * step, so `0.5 epochs` of a 7-step epoch is 4 steps. */
static bool duration_steps(hprt_duration d, long steps_per_epoch, long *out)
{
    double n = d.unit == HPRT_EPOCHS ? d.n * (double)steps_per_epoch : d.n;
    if (!(n >= 0.0) || n > 4.0e18)  /* also rejects NaN */
        return false;
    *out = (long)llround(n);
    return true;
}

static hprt_status bad(hprt_error *err, const char *what)
{
    return hprt_fail(err, HPRT_E_RUN, "schedule: %s", what);
}

/* Resolves the warm-up-free schedule s (its clock starts at 0) into out. */
static hprt_status resolve_inner(const hprt_schedule *s, long spe, long total, hprt_sched_resolved *out,
                                 hprt_error *err)
{
    out->kind = s->kind;
    switch (s->kind) {
    case HPRT_SCHED_CONSTANT:
    case HPRT_SCHED_PLATEAU:
        return HPRT_OK;

    case HPRT_SCHED_STEP:
        if (!duration_steps(s->every, spe, &out->every) || out->every < 1)
            return bad(err, "step: `every` must be at least one step");
        out->gamma = s->gamma;
        return HPRT_OK;

    case HPRT_SCHED_MULTISTEP:
        if (s->n_at < 0 || s->n_at > HPRT_MAX_MILESTONES)
            return hprt_fail(err, HPRT_E_RUN, "schedule: multistep: %d milestones; at most %d are supported",
                             s->n_at, HPRT_MAX_MILESTONES);
        out->n_at = s->n_at;
        for (int i = 0; i < s->n_at; i++)
            if (!duration_steps(s->at[i], spe, &out->at[i]))
                return bad(err, "multistep: a milestone in `at` is negative or not a number");
        /* Insertion sort: lr_at counts milestones <= t, which needs ascending
         * order (PyTorch sorts too, in _get_closed_form_lr). */
        for (int i = 1; i < out->n_at; i++) {
            long v = out->at[i];
            int j = i;
            for (; j > 0 && out->at[j - 1] > v; j--)
                out->at[j] = out->at[j - 1];
            out->at[j] = v;
        }
        out->gamma = s->gamma;
        return HPRT_OK;

    case HPRT_SCHED_EXP:
        out->every = spe;
        out->gamma = s->gamma;
        return HPRT_OK;

    case HPRT_SCHED_COSINE:
        if (s->period.n == 0.0) {
            if (total < 1)
                return bad(err, "cosine: the run (after any warm-up) has no steps to anneal over");
            out->period = total;
        } else if (!duration_steps(s->period, spe, &out->period) || out->period < 1) {
            return bad(err, "cosine: `period` must be at least one step");
        }
        out->min = s->min;
        return HPRT_OK;

    case HPRT_SCHED_SGDR:
        if (!duration_steps(s->period, spe, &out->period) || out->period < 1)
            return bad(err, "sgdr: `period` must be at least one step");
        /* PyTorch requires an integer T_mult >= 1; integer cycle lengths let
         * lr() find the cycle with integer arithmetic (docs/policies.md §3). */
        if (!(s->mult >= 1.0) || s->mult != floor(s->mult) || s->mult > 1e9)
            return bad(err, "sgdr: `mult` must be an integer >= 1");
        out->mult = (long)s->mult;
        out->min = s->min;
        return HPRT_OK;

    case HPRT_SCHED_CYCLIC: {
        if (s->base_find || s->max_find)
            return bad(err, "cyclic: a `find_lr` rate must be replaced by the LR range test's value first");
        long half;
        if (!duration_steps(s->step_size, spe, &half) || half < 1)
            return bad(err, "cyclic: `step` (the half cycle) must be at least one step");
        out->base = s->base;
        out->max = s->max;
        out->up = (double)half;
        out->down = (double)half;
        out->mode = s->mode;
        out->gamma = s->gamma;
        out->cycle_momentum = s->cycle_momentum;
        out->base_momentum = s->base_momentum;
        out->max_momentum = s->max_momentum;
        return HPRT_OK;
    }

    case HPRT_SCHED_ONE_CYCLE: {
        if (s->max_find)
            return bad(err, "one_cycle: a `find_lr` rate must be replaced by the LR range test's value first");
        if (total < 1)
            return bad(err, "one_cycle: the run (after any warm-up) has no steps");
        if (!(s->pct >= 0.0 && s->pct <= 1.0))
            return bad(err, "one_cycle: `pct` must be between 0 and 1");
        if (!(s->div > 0.0) || !(s->final_div > 0.0))
            return bad(err, "one_cycle: `div` and `final_div` must be positive");
        /* docs/policies.md §2: OneCycleLR's phases, end steps as floats computed
         * exactly as PyTorch does (pct * T, 2 * pct * T). */
        double T = (double)total;
        double init = s->max / s->div, mx = s->max, mn = init / s->final_div;
        double mlo = s->base_momentum, mhi = s->max_momentum;
        out->max = mx;
        out->anneal = s->anneal;
        out->cycle_momentum = s->cycle_momentum;
        out->base_momentum = mlo;
        out->max_momentum = mhi;
        if (s->three_phase) {
            out->n_phases = 3;
            out->ph_end[0] = s->pct * T - 1;
            out->ph_end[1] = 2 * s->pct * T - 2;
            out->ph_end[2] = T - 1;
            out->ph_lr0[0] = init, out->ph_lr1[0] = mx;
            out->ph_lr0[1] = mx, out->ph_lr1[1] = init;
            out->ph_lr0[2] = init, out->ph_lr1[2] = mn;
            out->ph_mom0[0] = mhi, out->ph_mom1[0] = mlo;
            out->ph_mom0[1] = mlo, out->ph_mom1[1] = mhi;
            out->ph_mom0[2] = mhi, out->ph_mom1[2] = mhi;
        } else {
            out->n_phases = 2;
            out->ph_end[0] = s->pct * T - 1;
            out->ph_end[1] = T - 1;
            out->ph_lr0[0] = init, out->ph_lr1[0] = mx;
            out->ph_lr0[1] = mx, out->ph_lr1[1] = mn;
            out->ph_mom0[0] = mhi, out->ph_mom1[0] = mlo;
            out->ph_mom0[1] = mlo, out->ph_mom1[1] = mhi;
        }
        /* A zero-length phase is 0/0 in p (PyTorch raises ZeroDivisionError
         * there).  A negative one is merely never selected, as in PyTorch. */
        double start = 0.0;
        for (int i = 0; i < out->n_phases; i++) {
            if (out->ph_end[i] == start)
                return hprt_fail(err, HPRT_E_RUN,
                                 "schedule: one_cycle: phase %d has no length with pct = %g over %ld steps; "
                                 "change `pct` or train longer",
                                 i + 1, s->pct, total);
            start = out->ph_end[i];
        }
        return HPRT_OK;
    }

    case HPRT_SCHED_WARMUP:
        return bad(err, "warmup: a warm-up cannot be nested inside another warm-up");
    case HPRT_SCHED__COUNT:
        break;
    }
    return bad(err, "unknown schedule kind");
}

hprt_status hprt_sched_resolve(const hprt_schedule *s, long steps_per_epoch, long total_steps,
                               hprt_sched_resolved *out, hprt_error *err)
{
    *out = (hprt_sched_resolved){0};
    if (steps_per_epoch < 1)
        return bad(err, "an epoch must have at least one step");
    if (total_steps < 0)
        total_steps = 0;
    out->steps_per_epoch = steps_per_epoch;
    out->total_steps = total_steps;
    if (s->kind != HPRT_SCHED_WARMUP)
        return resolve_inner(s, steps_per_epoch, total_steps, out, err);

    if (!s->then)
        return bad(err, "warmup: no `then` schedule");
    long w;
    if (!duration_steps(s->warmup, steps_per_epoch, &w))
        return bad(err, "warmup: `steps` is negative or not a number");
    out->warmup = w;
    /* The inner schedule's "whole run" is what is left after the warm-up. */
    long rest = total_steps > w ? total_steps - w : 0;
    return resolve_inner(s->then, steps_per_epoch, rest, out, err);
}

/* ---- the rate of step t ---------------------------------------------------- */

/* docs/policies.md §1: PyTorch CyclicLR.get_lr.  sf is the triangle in [0, 1]. */
static double cyclic_sf(const hprt_sched_resolved *r, long t, double *cycle_out)
{
    double total = r->up + r->down;
    double ratio = r->up / total;
    double cycle = floor(1 + (double)t / total);
    double x = 1.0 + (double)t / total - cycle;
    *cycle_out = cycle;
    return x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
}

/* docs/policies.md §1: scale_fn(cycle) for triangular/triangular2, scale_fn(t)
 * (scale_mode 'iterations') for exp_range: only the amplitude decays. */
static double cyclic_scale(const hprt_sched_resolved *r, long t, double cycle)
{
    switch (r->mode) {
    case HPRT_CYCLIC_TRIANGULAR2:
        return 1 / pow(2.0, cycle - 1);
    case HPRT_CYCLIC_EXP_RANGE:
        return pow(r->gamma, (double)t);
    case HPRT_CYCLIC_TRIANGULAR:
        break;
    }
    return 1.0;
}

/* docs/policies.md §2: OneCycleLR._annealing_cos / _annealing_linear. */
static double anneal(hprt_anneal how, double start, double end, double p)
{
    if (how == HPRT_ANNEAL_LINEAR)
        return (end - start) * p + start;
    double cos_out = cos(M_PI * p) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

/* docs/policies.md §2: the first phase whose end step is >= t (or the last one),
 * p = (t - start) / (end - start). */
static int one_cycle_phase(const hprt_sched_resolved *r, long t, double *p)
{
    double start = 0.0;
    int i = 0;
    for (; i < r->n_phases - 1; i++) {
        if ((double)t <= r->ph_end[i])
            break;
        start = r->ph_end[i];
    }
    *p = ((double)t - start) / (r->ph_end[i] - start);
    return i;
}

/* The rate of the schedule proper, on its own clock t (after any warm-up). */
static double inner_lr(const hprt_sched_resolved *r, double base_lr, long t)
{
    switch (r->kind) {
    case HPRT_SCHED_STEP:
        /* §4 StepLR: base * gamma^floor(t / every) */
        return base_lr * pow(r->gamma, (double)(t / r->every));
    case HPRT_SCHED_EXP:
        /* §4 ExponentialLR, stepped per epoch: base * gamma^floor(t / spe) */
        return base_lr * pow(r->gamma, (double)(t / r->every));
    case HPRT_SCHED_MULTISTEP: {
        /* MultiStepLR: base * gamma^bisect_right(milestones, t) */
        int k = 0;
        while (k < r->n_at && r->at[k] <= t)
            k++;
        return base_lr * pow(r->gamma, (double)k);
    }
    case HPRT_SCHED_COSINE:
        /* §3 CosineAnnealingLR closed form; no clamp past T (period 2T) */
        return r->min + (base_lr - r->min) * (1 + cos(M_PI * (double)t / (double)r->period)) / 2;
    case HPRT_SCHED_SGDR: {
        /* §3 CosineAnnealingWarmRestarts stepped once per update: find T_cur
         * and T_i by whole cycles (no floating log: that picks the wrong cycle
         * at boundaries such as T_0 = 10, T_mult = 3, t = 1210). */
        long tcur = t, ti = r->period;
        double span;   /* T_i */
        if (r->mult == 1) {
            tcur = t % ti;
            span = (double)ti;
        } else {
            for (;;) {
                if (tcur < ti) {
                    span = (double)ti;
                    break;
                }
                tcur -= ti;
                if (ti > LONG_MAX / r->mult) {
                    /* T_i * T_mult does not fit in a long, so it certainly
                     * holds tcur: this is the last cycle any t can reach. */
                    span = (double)ti * (double)r->mult;
                    break;
                }
                ti *= r->mult;
            }
        }
        return r->min + (base_lr - r->min) * (1 + cos(M_PI * (double)tcur / span)) / 2;
    }
    case HPRT_SCHED_CYCLIC: {
        double cycle;
        double sf = cyclic_sf(r, t, &cycle);
        double base_height = (r->max - r->base) * sf;
        return r->base + base_height * cyclic_scale(r, t, cycle);
    }
    case HPRT_SCHED_ONE_CYCLE: {
        double p;
        int i = one_cycle_phase(r, t, &p);
        return anneal(r->anneal, r->ph_lr0[i], r->ph_lr1[i], p);
    }
    case HPRT_SCHED_CONSTANT:
    case HPRT_SCHED_PLATEAU:
    case HPRT_SCHED_WARMUP: /* resolved into its `then` and r->warmup */
    case HPRT_SCHED__COUNT:
        break;
    }
    return base_lr;
}

double hprt_sched_lr(const hprt_sched_resolved *r, double base_lr, long t)
{
    if (t < 0)
        t = 0;
    if (t < r->warmup)
        /* LinearLR closed form with start 0, end 1: target * (t / W) */
        return inner_lr(r, base_lr, 0) * ((double)t / (double)r->warmup);
    return inner_lr(r, base_lr, t - r->warmup);
}

double hprt_sched_momentum(const hprt_sched_resolved *r, long t)
{
    if (!r->cycle_momentum)
        return NAN;
    t = t < r->warmup ? 0 : t - r->warmup;
    switch (r->kind) {
    case HPRT_SCHED_CYCLIC: {
        /* §1: mom = max_m - (max_m - base_m) * sf * scale */
        double cycle;
        double sf = cyclic_sf(r, t, &cycle);
        double base_height = (r->max_momentum - r->base_momentum) * sf;
        return r->max_momentum - base_height * cyclic_scale(r, t, cycle);
    }
    case HPRT_SCHED_ONE_CYCLE: {
        double p;
        int i = one_cycle_phase(r, t, &p);
        return anneal(r->anneal, r->ph_mom0[i], r->ph_mom1[i], p);
    }
    case HPRT_SCHED_CONSTANT: case HPRT_SCHED_STEP: case HPRT_SCHED_MULTISTEP: case HPRT_SCHED_EXP:
    case HPRT_SCHED_COSINE: case HPRT_SCHED_SGDR: case HPRT_SCHED_WARMUP: case HPRT_SCHED_PLATEAU:
    case HPRT_SCHED__COUNT:
        break;
    }
    return NAN;
}

/* ---- ReduceLROnPlateau (docs/policies.md §5) ------------------------------------ */

void hprt_plateau_init(hprt_plateau *p, const hprt_schedule *s, double lr0)
{
    if (s->kind == HPRT_SCHED_WARMUP && s->then)
        s = s->then;
    *p = (hprt_plateau){
        .factor = s->factor,
        .threshold = s->threshold,
        .min_lr = s->min,
        .eps = HPRT_PLATEAU_EPS,
        .patience = s->patience,
        .cooldown = s->cooldown,
        .mode = s->monitor_mode,
        .lr = lr0,
        .best = s->monitor_mode == HPRT_MODE_MAX ? -INFINITY : INFINITY,
    };
}

/* PyTorch _is_better, threshold_mode 'rel'. */
static bool plateau_better(const hprt_plateau *p, double a)
{
    if (p->mode == HPRT_MODE_MAX)
        return a > p->best * (p->threshold + 1.0);
    return a < p->best * (1.0 - p->threshold);
}

double hprt_plateau_step(hprt_plateau *p, double metric)
{
    /* §5, in PyTorch's order: the cooldown clears bad epochs counted in it,
     * and a reduction needs patience + 1 bad epochs. */
    p->epochs++;
    if (plateau_better(p, metric)) {
        p->best = metric;
        p->num_bad_epochs = 0;
    } else {
        p->num_bad_epochs++;
    }
    if (p->cooldown_counter > 0) {
        p->cooldown_counter--;
        p->num_bad_epochs = 0;
    }
    if (p->num_bad_epochs > p->patience) {
        double old_lr = p->lr;
        double new_lr = fmax(old_lr * p->factor, p->min_lr);
        /* A cut of eps or less is skipped, but the cooldown and the count
         * restart anyway, as in PyTorch. */
        if (old_lr - new_lr > p->eps)
            p->lr = new_lr;
        p->cooldown_counter = p->cooldown;
        p->num_bad_epochs = 0;
    }
    return p->lr;
}

/* ---- AdaBatch (docs/policies.md §8) ------------------------------------------------ */

hprt_batch_stage hprt_adabatch_at(const hprt_batch *b, long epoch, long step)
{
    if (!b->adaptive)
        return (hprt_batch_stage){.batch = b->size, .lr_scale = 1.0, .stage = 0};

    long k = 0;
    if (b->every.unit == HPRT_EPOCHS) {
        if (b->every.n > 0 && epoch > 0)
            k = (long)floor((double)epoch / b->every.n);
    } else {
        long every = (long)llround(b->every.n);
        if (every > 0 && step > 0)
            k = step / every;
    }

    /* batch_k = min(start * factor^k, max), grown one stage at a time so that
     * it never overflows; a max below start means "never grow". */
    long long cap = b->max > b->start ? b->max : b->start;
    long long batch = b->start;
    for (long i = 0; i < k && batch < cap && b->factor > 1; i++)
        batch = batch * b->factor < cap ? batch * b->factor : cap;

    double scale = b->scale_lr && b->start > 0 ? (double)batch / (double)b->start : 1.0;
    return (hprt_batch_stage){.batch = (int)batch, .lr_scale = scale, .stage = (int)(k > 0x7fffffff ? 0x7fffffff : k)};
}
