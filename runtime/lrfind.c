/* lrfind.c - the LR range test as fastai's lr_find runs it (docs/policies.md §9):
 * the exponential sweep, the smoothed loss with its divergence stop, and the
 * valley / steep / minimum suggestions. */
#include "hprt_sched.h"

#include <math.h>

int hprt_lrfind_steps(const hprt_lrfind *cfg)
{
    /* fastai's LRFinder: `if num_it < 6: num_it = 6` */
    return cfg->steps < 6 ? 6 : cfg->steps;
}

double hprt_lrfind_lr(const hprt_lrfind *cfg, int i)
{
    /* §9 / fastai SchedExp: start * (end / start) ** pos, pos = i / num_it */
    double pos = (double)i / (double)hprt_lrfind_steps(cfg);
    return cfg->start * pow(cfg->end / cfg->start, pos);
}

void hprt_lrfind_init(hprt_lrfind_state *st, const hprt_lrfind *cfg)
{
    *st = (hprt_lrfind_state){
        .beta = 0.98,
        .smooth = NAN,
        .best = INFINITY,
        .steps = hprt_lrfind_steps(cfg),
        .stop_div = cfg->stop_div,
    };
}

bool hprt_lrfind_record(hprt_lrfind_state *st, double loss)
{
    /* §9 / fastai AvgSmoothLoss: val = beta val + (1 - beta) loss, reported
     * debiased as val / (1 - beta^n).  (fastai uses torch.lerp in float32;
     * this is the same average in double.) */
    st->n++;
    st->avg = st->beta * st->avg + (1 - st->beta) * loss;
    st->smooth = st->avg / (1 - pow(st->beta, (double)st->n));

    /* fastai LRFinder.after_batch: track the best, stop on divergence, then on
     * the batch count. */
    if (st->smooth < st->best)
        st->best = st->smooth;
    if (st->stop_div && (st->smooth > 4 * st->best || !isfinite(st->smooth)))
        return false;
    return st->n < st->steps;
}

double hprt_lrfind_valley(const double *lrs, const double *losses, int n)
{
    if (n <= 0)
        return NAN;
    int *lds = hprt_alloc((size_t)n * sizeof *lds);
    if (!lds)
        return NAN;
    /* fastai valley: lds[i] is the length of the longest strictly decreasing
     * subsequence ending at i; the best end is updated inside the j loop,
     * exactly where fastai does it (it matters for which of equal-length
     * valleys wins). */
    for (int i = 0; i < n; i++)
        lds[i] = 1;
    int max_start = 0, max_end = 0;
    for (int i = 1; i < n; i++) {
        for (int j = 0; j < i; j++) {
            if (losses[i] < losses[j] && lds[i] < lds[j] + 1)
                lds[i] = lds[j] + 1;
            if (lds[max_end] < lds[i]) {
                max_end = i;
                max_start = max_end - lds[max_end];
            }
        }
    }
    hprt_free(lds);
    /* max_start is one before the valley's first point, so it can be -1. */
    double sections = (double)(max_end - max_start) / 3;
    int idx = max_start + (int)sections + (int)(sections / 2);
    /* Python's lrs[-1] is the last element: a valley of two points starting
     * at 0 gives idx = -1 + 0 + 0. */
    if (idx < 0)
        idx += n;
    return lrs[idx];
}

double hprt_lrfind_steep(const double *lrs, const double *losses, int n)
{
    /* fastai steep: the steepest descent of loss against ln(lr) */
    int best = -1;
    double best_g = 0.0;
    for (int i = 0; i + 1 < n; i++) {
        double g = (losses[i + 1] - losses[i]) / (log(lrs[i + 1]) - log(lrs[i]));
        if (isnan(g))
            continue;
        if (best < 0 || g < best_g) {
            best = i;
            best_g = g;
        }
    }
    return best < 0 ? NAN : lrs[best];
}

double hprt_lrfind_minimum(const double *lrs, const double *losses, int n)
{
    /* fastai minimum: lrs[argmin loss] / 10 */
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(losses[i]) && (best < 0 || losses[i] < losses[best]))
            best = i;
    return best < 0 ? NAN : lrs[best] / 10;
}

double hprt_lrfind_suggest(const hprt_lrfind *cfg, const double *lrs, const double *losses, int n)
{
    /* fastai lr_find: lrs[num_it // 10 : -5], with Python's slice clamping
     * (an empty slice when fewer points than that were recorded). */
    int lo = cfg->steps / 10;
    int hi = n - 5;
    if (lo < 0)
        lo = 0;
    if (lo > n)
        lo = n;
    if (hi < 0)
        hi = 0;
    int m = hi > lo ? hi - lo : 0;
    lrs += lo;
    losses += lo;
    switch (cfg->suggest) {
    case HPRT_SUGGEST_STEEP:
        return hprt_lrfind_steep(lrs, losses, m);
    case HPRT_SUGGEST_MINIMUM:
        return hprt_lrfind_minimum(lrs, losses, m);
    case HPRT_SUGGEST_VALLEY:
    default:
        return hprt_lrfind_valley(lrs, losses, m);
    }
}
