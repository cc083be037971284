/* search.c - the strategies of a search (search.h). */
#include "search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *search_status_name(search_status s)
{
    switch (s) {
    case SEARCH_WAITING: return "running"; /* at a rung, still in play */
    case SEARCH_RUNNING: return "running";
    case SEARCH_COMPLETED: return "completed";
    case SEARCH_PRUNED: return "pruned";
    case SEARCH_FAILED: return "failed";
    }
    return "?";
}

/* ---- schedules ------------------------------------------------------------ */

/* eta^k, and the largest k with eta^k <= x (1e-9 of slack for exact powers) */
static int log_floor(double x, double eta)
{
    int k = 0;
    for (double p = eta; p <= x * (1 + 1e-9) && k < 30; p *= eta)
        k++;
    return k;
}

search_rungs search_asha_rungs(int max_epochs, double eta, int trials)
{
    search_rungs r = {0};
    double e = 1;
    for (int it = 0; it < 10000 && r.n_rungs < 31 && (int)floor(e + 1e-9) < max_epochs; it++) { /* bounded for eta near 1 */
        int epochs = (int)floor(e + 1e-9);
        if (r.n_rungs == 0 || epochs > r.epochs[r.n_rungs - 1]) { /* eta near 1: no rung twice at one epoch */
            r.epochs[r.n_rungs] = epochs;
            r.trials[r.n_rungs] = (int)floor(trials / pow(eta, r.n_rungs) + 1e-9);
            r.n_rungs++;
        }
        e *= eta;
    }
    r.epochs[r.n_rungs] = max_epochs;
    r.trials[r.n_rungs] = (int)floor(trials / pow(eta, r.n_rungs) + 1e-9);
    r.n_rungs++;
    return r;
}

int search_hyperband(int max_epochs, double eta, search_rungs *b, int max_brackets)
{
    int s_max = log_floor(max_epochs, eta), n = 0;
    for (int s = s_max; s >= 0 && n < max_brackets; s--, n++) {
        search_rungs *r = &b[n];
        memset(r, 0, sizeof *r);
        double trials = ceil((double)(s_max + 1) / (s + 1) * pow(eta, s) - 1e-9);
        double epochs = max_epochs * pow(eta, -s);
        for (int i = 0; i <= s && i < 32; i++) {
            r->trials[i] = (int)floor(trials * pow(eta, -i) + 1e-9);
            int e = (int)floor(epochs * pow(eta, i) + 1e-9);
            r->epochs[i] = i == s ? max_epochs : e < 1 ? 1 : e;
            r->n_rungs++;
        }
    }
    return n;
}

static long space_size(const plan_vary *v)
{
    switch (v->kind) {
    case PLAN_SPACE_SET: return v->n_values;
    case PLAN_SPACE_RANGE: return (long)(v->hi - v->lo) + 1;
    case PLAN_SPACE_LOG:
    case PLAN_SPACE_UNIFORM: return 0;
    }
    return 0;
}

long search_grid_size(const plan_search *s)
{
    long n = 1;
    for (int i = 0; i < s->n_varies; i++) {
        long k = space_size(&s->varies[i]);
        if (k <= 0)
            return 0;
        if (n > 1000000 / k)
            return -1;
        n *= k;
    }
    return n;
}

void search_value_text(const plan_vary *v, double x, char *buf, size_t n)
{
    switch (v->kind) {
    case PLAN_SPACE_SET: {
        int i = (int)x;
        snprintf(buf, n, "%s", i >= 0 && i < v->n_values ? v->values[i] : "?");
        return;
    }
    case PLAN_SPACE_RANGE: snprintf(buf, n, "%.0f", x); return;
    case PLAN_SPACE_LOG:
    case PLAN_SPACE_UNIFORM: snprintf(buf, n, "%.6g", x); return;
    }
}

/* ---- the study ------------------------------------------------------------ */

bool search_study_init(search_study *st, const plan_search *s, int epochs, uint64_t seed)
{
    memset(st, 0, sizeof *st);
    st->s = s;
    st->seed = seed;
    st->minimize = s->objective_mode == HPRT_MODE_MIN;
    st->epochs = epochs;
    switch (s->strategy) {
    case PLAN_STRATEGY_GRID: st->n_total = (int)search_grid_size(s); break;
    case PLAN_STRATEGY_RANDOM:
    case PLAN_STRATEGY_TPE: st->n_total = s->trials; break;
    case PLAN_STRATEGY_HYPERBAND:
        st->epochs = s->max_epochs;
        st->n_brackets = search_hyperband(s->max_epochs, s->eta, st->brackets, 32);
        for (int b = 0; b < st->n_brackets; b++)
            st->n_total += st->brackets[b].trials[0];
        break;
    case PLAN_STRATEGY_ASHA:
        st->epochs = s->max_epochs;
        st->asha = search_asha_rungs(s->max_epochs, s->eta, s->trials);
        st->n_total = s->trials;
        break;
    case PLAN_STRATEGY__COUNT: break;
    }
    return st->n_total > 0;
}

void search_study_free(search_study *st)
{
    for (int i = 0; i < st->n_trials; i++) {
        free(st->trials[i].x);
        free(st->trials[i].value);
    }
    free(st->trials);
    memset(st, 0, sizeof *st);
}

bool search_add(search_study *st, const double *x)
{
    if (st->n_trials == st->cap) {
        int cap = st->cap ? 2 * st->cap : 16;
        search_trial *t = realloc(st->trials, sizeof *t * (size_t)cap);
        if (!t)
            return false;
        st->trials = t;
        st->cap = cap;
    }
    search_trial *t = &st->trials[st->n_trials];
    memset(t, 0, sizeof *t);
    t->id = st->n_trials;
    int nv = st->s->n_varies;
    t->x = malloc(sizeof(double) * (size_t)(nv > 0 ? nv : 1));
    t->value = malloc(sizeof(double) * (size_t)(st->epochs > 0 ? st->epochs : 1));
    if (!t->x || !t->value) {
        free(t->x);
        free(t->value);
        return false;
    }
    memcpy(t->x, x, sizeof(double) * (size_t)nv);
    for (int e = 0; e < st->epochs; e++)
        t->value[e] = NAN;
    if (st->s->strategy == PLAN_STRATEGY_HYPERBAND) {
        int b = 0, first = 0;
        while (b + 1 < st->n_brackets && t->id >= first + st->brackets[b].trials[0])
            first += st->brackets[b++].trials[0];
        t->bracket = b;
    }
    st->n_trials++;
    return true;
}

void search_start(search_study *st, int t, int epochs)
{
    if (t < 0 || t >= st->n_trials)
        return;
    st->trials[t].status = SEARCH_RUNNING;
    st->trials[t].target = epochs;
}

bool search_report(search_study *st, int t, int epoch, double value)
{
    if (t < 0 || t >= st->n_trials || epoch < 1 || epoch > st->epochs)
        return false;
    search_trial *tr = &st->trials[t];
    tr->value[epoch - 1] = isfinite(value) ? value : NAN;
    if (epoch > tr->epochs)
        tr->epochs = epoch;
    return true;
}

void search_done(search_study *st, int t, bool stopped, bool failed)
{
    if (t < 0 || t >= st->n_trials)
        return;
    search_trial *tr = &st->trials[t];
    tr->status = failed ? SEARCH_FAILED : stopped || tr->epochs >= st->epochs ? SEARCH_COMPLETED : SEARCH_WAITING;
}

void search_finish(search_study *st)
{
    for (int i = 0; i < st->n_trials; i++)
        if (st->trials[i].status == SEARCH_WAITING || st->trials[i].status == SEARCH_RUNNING)
            st->trials[i].status = SEARCH_PRUNED;
}

double search_value(const search_trial *t) { return t->epochs > 0 ? t->value[t->epochs - 1] : NAN; }

/* a better than b under the objective (NaN is worst; ties: the older trial) */
static bool better(const search_study *st, double a, double b)
{
    if (isnan(a))
        return false;
    if (isnan(b))
        return true;
    return st->minimize ? a < b : a > b;
}

int search_best(const search_study *st)
{
    int best = -1;
    bool best_done = false;
    for (int i = 0; i < st->n_trials; i++) {
        const search_trial *t = &st->trials[i];
        double v = search_value(t);
        if (isnan(v))
            continue;
        bool done = t->status == SEARCH_COMPLETED;
        if (best < 0 || (done && !best_done) ||
            (done == best_done && better(st, v, search_value(&st->trials[best])))) {
            best = i;
            best_done = done;
        }
    }
    return best;
}

/* ---- drawing points ------------------------------------------------------- */

static void draw_random(const search_study *st, hprt_rng *r, double *x)
{
    for (int i = 0; i < st->s->n_varies; i++) {
        const plan_vary *v = &st->s->varies[i];
        switch (v->kind) {
        case PLAN_SPACE_SET: x[i] = (double)hprt_rng_below(r, (uint64_t)v->n_values); break;
        case PLAN_SPACE_RANGE: x[i] = v->lo + (double)hprt_rng_below(r, (uint64_t)(v->hi - v->lo) + 1); break;
        case PLAN_SPACE_LOG: x[i] = exp(log(v->lo) + hprt_rng_uniform(r) * (log(v->hi) - log(v->lo))); break;
        case PLAN_SPACE_UNIFORM: x[i] = v->lo + hprt_rng_uniform(r) * (v->hi - v->lo); break;
        }
    }
}

/* the grid's point k: the last path varies fastest */
static void grid_point(const search_study *st, long k, double *x)
{
    for (int i = st->s->n_varies - 1; i >= 0; i--) {
        const plan_vary *v = &st->s->varies[i];
        long n = space_size(v);
        long j = k % n;
        k /= n;
        x[i] = v->kind == PLAN_SPACE_RANGE ? v->lo + (double)j : (double)j;
    }
}

/* The epoch at which TPE compares trials: the full training for grid,
 * random and tpe; for hyperband and asha the largest rung that `startup`
 * trials have reached (BOHB), else 0 (draw randomly). */
static int tpe_epoch(const search_study *st)
{
    if (st->s->strategy == PLAN_STRATEGY_TPE)
        return st->epochs;
    int need = st->s->startup > 2 ? st->s->startup : 2, best = 0;
    for (int e = 1; e <= st->epochs; e++) {
        int n = 0;
        for (int i = 0; i < st->n_trials; i++)
            n += st->trials[i].epochs >= e && !isnan(st->trials[i].value[e - 1]);
        if (n >= need)
            best = e;
    }
    return best;
}

/* Creates the next trial: its point from the grid, at random, or from TPE.
 * Random draws come from a generator seeded by (seed, trial), so a resumed
 * study draws the same points. */
static int create(search_study *st)
{
    int id = st->n_trials, nv = st->s->n_varies;
    double *x = malloc(sizeof(double) * (size_t)(nv > 0 ? nv : 1));
    if (!x)
        return -1;
    hprt_rng r;
    hprt_rng_seed(&r, st->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(id + 1)));
    bool tpe = st->s->strategy == PLAN_STRATEGY_TPE || st->s->sample_tpe;
    int at = tpe && id >= st->s->startup ? tpe_epoch(st) : 0;
    if (st->s->strategy == PLAN_STRATEGY_GRID)
        grid_point(st, id, x);
    else if (at > 0)
        search_tpe_sample(st, at, &r, x);
    else
        draw_random(st, &r, x);
    bool ok = search_add(st, x);
    free(x);
    return ok ? id : -1;
}

/* ---- jobs ------------------------------------------------------------------ */

static search_job job(search_study *st, int t, int epochs)
{
    (void)st;
    return (search_job){t, epochs};
}

static bool any_running(const search_study *st)
{
    for (int i = 0; i < st->n_trials; i++)
        if (st->trials[i].status == SEARCH_RUNNING)
            return true;
    return false;
}

/* Trials at rung k of `rungs` (reached its epochs, not failed), best first. */
static int ranked(const search_study *st, const search_rungs *rungs, int k, int bracket, int *out)
{
    int n = 0, e = rungs->epochs[k];
    for (int i = 0; i < st->n_trials; i++) {
        const search_trial *t = &st->trials[i];
        if (t->bracket != bracket || t->status == SEARCH_FAILED || t->epochs < e)
            continue;
        int j = n++;
        /* insertion by value at the rung, the older trial first on ties */
        while (j > 0 && better(st, t->value[e - 1], st->trials[out[j - 1]].value[e - 1])) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = i;
    }
    return n;
}

static search_job next_asha(search_study *st)
{
    const search_rungs *R = &st->asha;
    int *order = malloc(sizeof(int) * (size_t)(st->n_trials + 1));
    if (!order)
        return job(st, SEARCH_WAIT, 0);
    for (int k = R->n_rungs - 2; k >= 0; k--) {
        int n = ranked(st, R, k, 0, order);
        int top = (int)floor(n / st->s->eta + 1e-9);
        for (int j = 0; j < top; j++) {
            search_trial *t = &st->trials[order[j]];
            if (t->status == SEARCH_WAITING && t->rung == k) { /* not promoted from k yet */
                t->rung = k + 1;
                free(order);
                return job(st, t->id, R->epochs[k + 1]);
            }
        }
    }
    free(order);
    if (st->n_trials < st->n_total) {
        int id = create(st);
        return id < 0 ? job(st, SEARCH_WAIT, 0) : job(st, id, R->epochs[0]);
    }
    return job(st, any_running(st) ? SEARCH_WAIT : SEARCH_DONE, 0);
}

/* One bracket of synchronous successive halving: a job, or -1 when it
 * waits for its running trials, -2 when it is over. */
static search_job next_bracket(search_study *st, int b)
{
    const search_rungs *R = &st->brackets[b];
    int first = 0; /* brackets create their trials in order: bracket b's ids follow b-1's */
    for (int k = 0; k < b; k++)
        first += st->brackets[k].trials[0];
    int created = st->n_trials - first;
    created = created < 0 ? 0 : created > R->trials[0] ? R->trials[0] : created;
    if (created < R->trials[0]) {
        if (st->n_trials != first + created) /* an earlier bracket is still creating */
            return job(st, SEARCH_WAIT, 0);
        int id = create(st);
        return id < 0 ? job(st, SEARCH_WAIT, 0) : job(st, id, R->epochs[0]);
    }
    bool running = false, waiting_at = false;
    int k_min = R->n_rungs;
    for (int i = first; i < first + created; i++) {
        search_trial *t = &st->trials[i];
        if (t->status == SEARCH_RUNNING)
            running = true;
        if (t->status == SEARCH_WAITING && t->epochs < R->epochs[t->rung]) /* promoted: needs its job */
            return job(st, i, R->epochs[t->rung]);
        if (t->status == SEARCH_WAITING || t->status == SEARCH_RUNNING) {
            waiting_at = true;
            if (t->rung < k_min)
                k_min = t->rung;
        }
    }
    if (running)
        return job(st, SEARCH_WAIT, 0);
    if (!waiting_at || k_min + 1 >= R->n_rungs)
        return job(st, SEARCH_DONE, 0);
    /* every trial of rung k_min is in: keep the best trials[k+1], prune the rest */
    int *order = malloc(sizeof(int) * (size_t)(st->n_trials + 1));
    if (!order)
        return job(st, SEARCH_WAIT, 0);
    int n = ranked(st, R, k_min, b, order), keep = R->trials[k_min + 1];
    for (int j = 0; j < n; j++) {
        search_trial *t = &st->trials[order[j]];
        if (t->status != SEARCH_WAITING || t->rung != k_min)
            continue;
        if (j < keep)
            t->rung = k_min + 1;
        else
            t->status = SEARCH_PRUNED;
    }
    free(order);
    return next_bracket(st, b);
}

static search_job next_hyperband(search_study *st)
{
    bool wait = false;
    for (int b = 0; b < st->n_brackets; b++) {
        search_job j = next_bracket(st, b);
        if (j.trial >= 0)
            return j;
        if (j.trial == SEARCH_WAIT)
            wait = true;
    }
    return job(st, wait || any_running(st) ? SEARCH_WAIT : SEARCH_DONE, 0);
}

search_job search_next(search_study *st)
{
    switch (st->s->strategy) {
    case PLAN_STRATEGY_ASHA: return next_asha(st);
    case PLAN_STRATEGY_HYPERBAND: return next_hyperband(st);
    case PLAN_STRATEGY_GRID:
    case PLAN_STRATEGY_RANDOM:
    case PLAN_STRATEGY_TPE:
        if (st->n_trials < st->n_total) {
            int id = create(st);
            return id < 0 ? job(st, SEARCH_WAIT, 0) : job(st, id, st->epochs);
        }
        return job(st, any_running(st) ? SEARCH_WAIT : SEARCH_DONE, 0);
    case PLAN_STRATEGY__COUNT: break;
    }
    return job(st, SEARCH_DONE, 0);
}

/* ---- TPE ---------------------------------------------------------------------- */

int search_tpe_gamma(int n)
{
    int g = (int)ceil(0.1 * n);
    return g < 25 ? g : 25;
}

#define TPE_CANDIDATES 24
#define TPE_PRIOR_WEIGHT 1.0

/* A Parzen estimator over one numeric dimension (in its transformed space:
 * log for log spaces; a whole-number range widened by a half on each side). */
typedef struct {
    int n;
    double *mu, *sigma, *w;
    double lo, hi;
    bool discrete;
} parzen;

static double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Optuna's default weights: 1 for the 25 newest, a ramp from 1/n for the older. */
static double obs_weight(int i, int n)
{
    if (n < 25 || i >= n - 25)
        return 1.0;
    int ramp = n - 25;
    return ramp <= 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * i / (ramp - 1);
}

static bool parzen_build(parzen *p, const double *obs, int n, double lo, double hi, bool discrete)
{
    p->n = n + 1;
    p->lo = lo;
    p->hi = hi;
    p->discrete = discrete;
    p->mu = malloc(sizeof(double) * (size_t)p->n * 3);
    if (!p->mu)
        return false;
    p->sigma = p->mu + p->n;
    p->w = p->sigma + p->n;
    /* sigmas: the larger distance to a neighbour (sorted, with the bounds as
     * neighbours at the ends), clipped to [(hi-lo)/min(100, n+1), hi-lo] */
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!idx) {
        free(p->mu);
        return false;
    }
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && obs[idx[j - 1]] > obs[i]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    double range = hi - lo, minsig = range / (n + 1 < 100 ? n + 1 : 100);
    double wsum = TPE_PRIOR_WEIGHT;
    for (int j = 0; j < n; j++) {
        double left = j > 0 ? obs[idx[j - 1]] : lo, right = j + 1 < n ? obs[idx[j + 1]] : hi;
        double o = obs[idx[j]];
        double s = fmax(o - left, right - o);
        if (n >= 2 && j == 0)
            s = right - o;
        else if (n >= 2 && j == n - 1)
            s = o - left;
        p->mu[idx[j]] = o;
        p->sigma[idx[j]] = fmin(fmax(s, minsig), range);
    }
    for (int i = 0; i < n; i++) {
        p->w[i] = obs_weight(i, n);
        wsum += p->w[i];
    }
    p->mu[n] = (lo + hi) / 2;
    p->sigma[n] = range;
    p->w[n] = TPE_PRIOR_WEIGHT;
    for (int i = 0; i < p->n; i++)
        p->w[i] /= wsum;
    free(idx);
    return true;
}

static double parzen_sample(const parzen *p, hprt_rng *r)
{
    double u = hprt_rng_uniform(r);
    int k = 0;
    while (k + 1 < p->n && u >= p->w[k]) {
        u -= p->w[k];
        k++;
    }
    for (int tries = 0; tries < 100; tries++) {
        double x = p->mu[k] + p->sigma[k] * hprt_rng_normal(r);
        if (x >= p->lo && x <= p->hi)
            return x;
    }
    return fmin(fmax(p->mu[k], p->lo), p->hi);
}

/* log of the mixture's density at x (a discrete dimension: the mass of the
 * unit interval around x) */
static double parzen_logpdf(const parzen *p, double x)
{
    double sum = 0;
    for (int k = 0; k < p->n; k++) {
        double s = p->sigma[k], m = p->mu[k];
        double z = norm_cdf((p->hi - m) / s) - norm_cdf((p->lo - m) / s);
        if (z <= 0)
            continue;
        double d;
        if (p->discrete)
            d = norm_cdf((fmin(x + 0.5, p->hi) - m) / s) - norm_cdf((fmax(x - 0.5, p->lo) - m) / s);
        else
            d = exp(-0.5 * ((x - m) / s) * ((x - m) / s)) / (s * sqrt(2 * M_PI));
        sum += p->w[k] * d / z;
    }
    return log(sum > 1e-300 ? sum : 1e-300);
}

static double to_space(const plan_vary *v, double x) { return v->kind == PLAN_SPACE_LOG ? log(x) : x; }
static double from_space(const plan_vary *v, double y)
{
    switch (v->kind) {
    case PLAN_SPACE_LOG: return fmin(fmax(exp(y), v->lo), v->hi);
    case PLAN_SPACE_RANGE: return fmin(fmax(round(y), v->lo), v->hi);
    case PLAN_SPACE_UNIFORM: return fmin(fmax(y, v->lo), v->hi);
    case PLAN_SPACE_SET: return y;
    }
    return y;
}

/* One dimension: the candidate of 24 drawn from l with the largest log l - log g. */
static double tpe_numeric(const plan_vary *v, const double *below, int nb, const double *above, int na, hprt_rng *r)
{
    bool discrete = v->kind == PLAN_SPACE_RANGE;
    double lo = discrete ? v->lo - 0.5 : to_space(v, v->lo), hi = discrete ? v->hi + 0.5 : to_space(v, v->hi);
    double *tb = malloc(sizeof(double) * (size_t)(nb + na + 1));
    if (!tb)
        return from_space(v, (lo + hi) / 2);
    double *ta = tb + nb;
    for (int i = 0; i < nb; i++)
        tb[i] = to_space(v, below[i]);
    for (int i = 0; i < na; i++)
        ta[i] = to_space(v, above[i]);
    parzen l, g;
    double best = from_space(v, (lo + hi) / 2);
    if (parzen_build(&l, tb, nb, lo, hi, discrete)) {
        if (parzen_build(&g, ta, na, lo, hi, discrete)) {
            double score = -INFINITY;
            for (int c = 0; c < TPE_CANDIDATES; c++) {
                double y = parzen_sample(&l, r);
                if (discrete)
                    y = round(y);
                double s = parzen_logpdf(&l, y) - parzen_logpdf(&g, y);
                if (s > score) {
                    score = s;
                    best = from_space(v, y);
                }
            }
            free(g.mu);
        }
        free(l.mu);
    }
    free(tb);
    return best;
}

static double tpe_categorical(int k, const double *below, int nb, const double *above, int na, hprt_rng *r)
{
    double *pl = calloc((size_t)k * 2, sizeof(double));
    if (!pl)
        return 0;
    double *pg = pl + k;
    for (int c = 0; c < k; c++)
        pl[c] = pg[c] = TPE_PRIOR_WEIGHT / k;
    for (int i = 0; i < nb; i++)
        pl[(int)below[i]] += obs_weight(i, nb);
    for (int i = 0; i < na; i++)
        pg[(int)above[i]] += obs_weight(i, na);
    double sl = 0, sg = 0;
    for (int c = 0; c < k; c++) {
        sl += pl[c];
        sg += pg[c];
    }
    int best = 0;
    double score = -INFINITY;
    for (int cand = 0; cand < TPE_CANDIDATES; cand++) {
        double u = hprt_rng_uniform(r) * sl;
        int c = 0;
        while (c + 1 < k && u >= pl[c]) {
            u -= pl[c];
            c++;
        }
        double s = log(pl[c] / sl) - log(pg[c] / sg);
        if (s > score) {
            score = s;
            best = c;
        }
    }
    free(pl);
    return best;
}

void search_tpe_sample(const search_study *st, int at, hprt_rng *r, double *x)
{
    const plan_search *s = st->s;
    int n = 0;
    int *order = malloc(sizeof(int) * (size_t)(st->n_trials + 1));
    double *below = malloc(sizeof(double) * (size_t)(st->n_trials + 1));
    double *above = malloc(sizeof(double) * (size_t)(st->n_trials + 1));
    if (!order || !below || !above) {
        free(order);
        free(below);
        free(above);
        draw_random(st, r, x);
        return;
    }
    /* the observations at epoch `at`, best first (ties: the older trial) */
    for (int i = 0; i < st->n_trials; i++) {
        const search_trial *t = &st->trials[i];
        if (t->epochs < at || isnan(t->value[at - 1]))
            continue;
        int j = n++;
        while (j > 0 && better(st, t->value[at - 1], st->trials[order[j - 1]].value[at - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    int nb = search_tpe_gamma(n), na = n - nb;
    /* each group in trial order, for the weights */
    int *ib = malloc(sizeof(int) * (size_t)(n + 1)), *ia = malloc(sizeof(int) * (size_t)(n + 1));
    if (!ib || !ia || n == 0) {
        free(ib);
        free(ia);
        free(order);
        free(below);
        free(above);
        draw_random(st, r, x);
        return;
    }
    memcpy(ib, order, sizeof(int) * (size_t)nb);
    memcpy(ia, order + nb, sizeof(int) * (size_t)na);
    for (int g = 0; g < 2; g++) {
        int *a = g ? ia : ib, m = g ? na : nb;
        for (int i = 1; i < m; i++)
            for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
                int t = a[j];
                a[j] = a[j - 1];
                a[j - 1] = t;
            }
    }
    for (int d = 0; d < s->n_varies; d++) {
        const plan_vary *v = &s->varies[d];
        for (int i = 0; i < nb; i++)
            below[i] = st->trials[ib[i]].x[d];
        for (int i = 0; i < na; i++)
            above[i] = st->trials[ia[i]].x[d];
        x[d] = v->kind == PLAN_SPACE_SET ? tpe_categorical(v->n_values, below, nb, above, na, r)
                                         : tpe_numeric(v, below, nb, above, na, r);
    }
    free(ib);
    free(ia);
    free(order);
    free(below);
    free(above);
}
