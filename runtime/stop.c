/* stop.c - stopping rules (docs/policies.md §6-§7) and adaptive dropout
 * (docs/language.md §14-§15), each a small state machine fed once per epoch. */
#include "hprt_sched.h"

#include <math.h>

hprt_metric hprt_stop_monitor(const hprt_stop *rule)
{
    /* Prechelt's criteria are defined on the validation error. */
    return rule->kind == HPRT_STOP_EARLY ? rule->monitor : HPRT_METRIC_VAL_LOSS;
}

hprt_status hprt_stop_init(hprt_stopper *st, const hprt_stop *rule, hprt_error *err)
{
    *st = (hprt_stopper){
        .rule = *rule,
        .stopped_epoch = -1,
        .best_epoch = -1,
        .best = NAN,
        .baseline = NAN,
        .average = NAN,
        .gl = NAN,
        .pk = NAN,
        .pq = NAN,
        .strip_min = INFINITY,
        .prev_strip_val = NAN,
    };
    switch (rule->kind) {
    case HPRT_STOP_EARLY:
        if (rule->window < 1 || rule->window > HPRT_STOP_MAX_WINDOW)
            return hprt_fail(err, HPRT_E_RUN, "stop: early: window = %d; it must be between 1 and %d",
                             rule->window, HPRT_STOP_MAX_WINDOW);
        if (rule->patience < 0)
            return hprt_fail(err, HPRT_E_RUN, "stop: early: patience = %d; it must be >= 0", rule->patience);
        break;
    case HPRT_STOP_PQ:
    case HPRT_STOP_UP:
        if (rule->strip < 1)
            return hprt_fail(err, HPRT_E_RUN, "stop: strip = %d; it must be >= 1", rule->strip);
        if (rule->kind == HPRT_STOP_UP && rule->s < 1)
            return hprt_fail(err, HPRT_E_RUN, "stop: up: s = %d; it must be >= 1", rule->s);
        break;
    case HPRT_STOP_NONE:
    case HPRT_STOP_GL:
        break;
    }
    if ((unsigned)rule->kind >= HPRT_STOP__COUNT)
        return hprt_fail(err, HPRT_E_RUN, "stop: unknown rule %d", (int)rule->kind);
    return HPRT_OK;
}

/* Keras EarlyStopping._is_improvement: monitor_op(v - min_delta, ref) with
 * min_delta = -|δ| in min mode and +|δ| in max mode.  A missing reference
 * (the first epoch, or no baseline) counts as improved. */
static bool keras_improves(const hprt_stop *r, double v, double ref, bool have_ref)
{
    if (!have_ref)
        return true;
    double d = fabs(r->min_delta);
    if (r->mode == HPRT_MODE_MAX)
        return v - d > ref;
    return v - (-d) < ref;
}

static hprt_verdict update_early(hprt_stopper *st, double value)
{
    const hprt_stop *r = &st->rule;
    long epoch = st->epoch;   /* index of this epoch, from 0 */

    /* The average over the last min(window, epochs seen) epochs, summed oldest
     * first.  With window = 1 it is value itself, so the rule is Keras's. */
    st->recent[epoch % r->window] = value;
    if (st->n_recent < r->window)
        st->n_recent++;
    double sum = 0.0;
    long first = epoch - st->n_recent + 1;
    for (long e = first; e <= epoch; e++)
        sum += st->recent[e % r->window];
    double avg = sum / (double)st->n_recent;
    st->average = avg;

    /* docs/policies.md §6, in Keras's order: wait grows first; an improvement
     * resets it only if it also beats the baseline, and skips the stop test. */
    st->wait++;
    if (keras_improves(r, avg, st->best, st->best_epoch >= 0)) {
        st->best = avg;
        st->best_epoch = epoch;
        if (keras_improves(r, avg, st->baseline, !isnan(st->baseline)))
            st->wait = 0;
        return HPRT_CONTINUE;
    }
    if (st->wait >= r->patience && epoch > 0)
        return HPRT_STOP;
    return HPRT_CONTINUE;
}

static hprt_verdict update_prechelt(hprt_stopper *st, double train_loss, double val)
{
    const hprt_stop *r = &st->rule;
    long epoch = st->epoch;

    /* §7: E_opt(t) = min over t' <= t of E_va(t'), every epoch. */
    if (!isnan(val) && (isnan(st->best) || val < st->best)) {
        st->best = val;
        st->best_epoch = epoch;
    }
    /* GL(t) = 100 (E_va(t) / E_opt(t) - 1) */
    st->gl = 100 * (val / st->best - 1);

    if (r->kind == HPRT_STOP_GL)
        return st->gl > r->alpha ? HPRT_STOP : HPRT_CONTINUE;
    if (r->kind == HPRT_STOP_NONE)
        return HPRT_CONTINUE;

    /* The strip's training errors; strips are epochs n+1..n+k with k | n. */
    st->strip_sum += train_loss;
    st->strip_min = fmin(st->strip_min, train_loss);
    st->strip_n++;
    if (st->strip_n < r->strip)
        return HPRT_CONTINUE;

    hprt_verdict v = HPRT_CONTINUE;
    int k = r->strip;
    if (r->kind == HPRT_STOP_PQ) {
        /* P_k(t) = 1000 (sum E_tr / (k min E_tr) - 1); PQ = GL / P_k */
        st->pk = 1000 * (st->strip_sum / (k * st->strip_min) - 1);
        st->pq = st->gl / st->pk;
        if (st->pq > r->alpha)
            v = HPRT_STOP;
    } else {
        /* UP_s: UP_{s-1} stopped at t - k and E_va(t) > E_va(t - k), i.e. s
         * successive strip ends each higher than the one before.  The first
         * strip end has no t - k to compare with. */
        if (!isnan(st->prev_strip_val) && val > st->prev_strip_val)
            st->up_run++;
        else
            st->up_run = 0;
        st->prev_strip_val = val;
        if (st->up_run >= r->s)
            v = HPRT_STOP;
    }
    st->strip_sum = 0.0;
    st->strip_min = INFINITY;
    st->strip_n = 0;
    return v;
}

hprt_verdict hprt_stop_update(hprt_stopper *st, double train_loss, double value)
{
    if (st->stopped)
        return HPRT_STOP;
    hprt_verdict v = st->rule.kind == HPRT_STOP_EARLY ? update_early(st, value)
                                                      : update_prechelt(st, train_loss, value);
    if (v == HPRT_STOP) {
        st->stopped = true;
        st->stopped_epoch = st->epoch;
    }
    st->epoch++;
    return v;
}

/* ---- adaptive dropout ------------------------------------------------------- */

void hprt_dropout_init(hprt_dropout_policy *d, const hprt_regularize *cfg)
{
    *d = (hprt_dropout_policy){.cfg = *cfg};
}

double hprt_dropout_update(hprt_dropout_policy *d, double train_loss, double val_loss)
{
    const hprt_regularize *c = &d->cfg;
    if (!c->adaptive_dropout)
        return 0.0;
    /* docs/language.md §14-§15: "exceeds the training loss by more than gap (relative)" */
    bool over = train_loss > 0 ? (val_loss - train_loss) / train_loss > c->gap : val_loss > train_loss;
    d->count = over ? d->count + 1 : 0;
    int patience = c->patience > 1 ? c->patience : 1;
    if (d->count >= patience) {
        d->count = 0;
        if (d->increment < c->max) {
            d->raises++;
            /* raises * step rather than a running sum: 3 * 0.05 drifts less
             * than 0.05 + 0.05 + 0.05, and the logged rates read cleanly. */
            d->increment = fmin(d->raises * c->step, c->max);
        }
    }
    return d->increment;
}

double hprt_dropout_rate(const hprt_dropout_policy *d, double base_rate)
{
    if (base_rate >= d->cfg.max)
        return base_rate;
    return fmin(base_rate + d->increment, d->cfg.max);
}
