/* search.h - what a search runs next, and what it makes of the results.
 *
 * Pure logic over a study's trials: no files, no training.  `hpc search`
 * asks search_next() for a job (a trial to train up to an epoch), trains it,
 * and reports every epoch's objective (search_report) and the job's end
 * (search_done); the journal replays the same calls on resume, so a study
 * resumed after kill -9 reaches exactly the state it had.  The tests script
 * both sides with hand-worked examples.
 *
 * Strategies:
 *   grid            every combination of the finite spaces, the last path fastest
 *   random          `trials` points drawn uniformly (log spaces in log space)
 *   tpe             Tree-structured Parzen Estimator (Bergstra et al. 2011, as
 *                   Optuna's TPESampler: `startup` random trials, then the point
 *                   of 24 candidates drawn from l(x) with the largest l(x)/g(x))
 *   hyperband       every bracket of Li et al. 2018 (max_epochs R, eta): bracket
 *                   s = s_max..0 starts n = ceil((s_max+1)/(s+1) eta^s) trials at
 *                   R eta^-s epochs and keeps the best 1/eta at each rung
 *   asha            asynchronous successive halving (Li et al. 2020): rungs at
 *                   eta^k epochs up to R; a trial at rung k is promoted as soon
 *                   as it is in the top 1/eta of those that reached rung k, else
 *                   a new trial starts at rung 0; nothing waits for a rung to fill
 * hyperband and asha draw their trials randomly or with TPE (BOHB's idea).
 */
#ifndef HP_SEARCH_H
#define HP_SEARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "hprt_rng.h"
#include "plan.h"

typedef enum {
    SEARCH_WAITING = 0, /* created, or at a rung, not running: may be (re)scheduled */
    SEARCH_RUNNING,     /* a job is in flight */
    SEARCH_COMPLETED,   /* trained to its last epoch (or stopped by its own stop rule) */
    SEARCH_PRUNED,      /* left behind at a rung */
    SEARCH_FAILED       /* NaN, out of memory, bad values: the reason is in the journal */
} search_status;

const char *search_status_name(search_status s);

typedef struct {
    int id;             /* 0, 1, ... in creation order */
    double *x;          /* one number per varied path: a set's index, a whole number, a real */
    search_status status;
    int epochs;         /* epochs reported so far */
    int target;         /* the epoch its last job trains it to */
    double *value;      /* the objective after epoch e+1 at value[e]; NaN where not a number */
    int bracket;        /* hyperband: its bracket (0 = the most aggressive); else 0 */
    int rung;           /* hyperband, asha: the rung its last job reaches (beyond k: promoted from k) */
} search_trial;

/* What to run: train `trial` up to epoch `epochs` (from where it is).
 * trial -1: nothing now (wait for a running job); -2: the study is done. */
typedef struct {
    int trial;
    int epochs;
} search_job;

enum { SEARCH_WAIT = -1, SEARCH_DONE = -2 };

/* The rungs of a successive-halving schedule. */
typedef struct {
    int n_rungs;
    int epochs[32];     /* epochs at rung k */
    int trials[32];     /* hyperband: trials at rung k of the bracket; asha: at most (trials / eta^k) */
} search_rungs;

typedef struct {
    const plan_search *s;
    int epochs;         /* a trial's full training (the base's epochs; hyperband/asha: max_epochs) */
    uint64_t seed;
    bool minimize;
    search_trial *trials;
    int n_trials, cap;
    int n_total;        /* trials the strategy creates in all (grid: the grid) */
    /* hyperband: the brackets */
    int n_brackets;
    search_rungs brackets[32];
    /* asha */
    search_rungs asha;
} search_study;

/* A study of s (which must outlive it); false when out of memory or when the
 * strategy has nothing to run (an empty grid). */
bool search_study_init(search_study *st, const plan_search *s, int epochs, uint64_t seed);
void search_study_free(search_study *st);

/* The next job; creates a trial when the strategy needs one. */
search_job search_next(search_study *st);
/* Trial t was created with x (the journal's replay of search_next's choice). */
bool search_add(search_study *st, const double *x);
/* Trial t starts training up to `epochs`. */
void search_start(search_study *st, int t, int epochs);
/* Trial t's objective after epoch `epoch` (1-based). */
bool search_report(search_study *st, int t, int epoch, double value);
/* Trial t's job ended: it reached its target, its own stop rule ended it
 * (stopped), or it failed. */
void search_done(search_study *st, int t, bool stopped, bool failed);
/* At the end: trials left waiting at a rung are pruned. */
void search_finish(search_study *st);

/* The trial's objective at its last reported epoch (NaN: none). */
double search_value(const search_trial *t);
/* The best trial so far (-1: none has a value). */
int search_best(const search_study *st);
/* The value of varied path i at x as .hp text ("256", "0.0012", "one_cycle(max = 1e-2)"). */
void search_value_text(const plan_vary *v, double x, char *buf, size_t n);

/* Schedules, for explain and the tests. */
search_rungs search_asha_rungs(int max_epochs, double eta, int trials);
int search_hyperband(int max_epochs, double eta, search_rungs *brackets, int max_brackets);
/* The grid's size (0: a space is not finite; -1: larger than 1,000,000). */
long search_grid_size(const plan_search *s);

/* ---- TPE (exposed for the tests) ---- */
/* How many of n observations are "good" (Optuna: min(ceil(0.1 n), 25)). */
int search_tpe_gamma(int n);
/* The TPE's choice of a point, from the trials with a value at epoch
 * `at_epoch`, drawing its candidates from rng. */
void search_tpe_sample(const search_study *st, int at_epoch, hprt_rng *rng, double *x);

#endif
