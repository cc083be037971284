/* study_svg.c - a study's two plots: history.svg (the objective of every
 * trial against the study's training clock, the best so far as a step line,
 * pruned trials marked where they stopped) and parallel.svg (parallel
 * coordinates: one axis per varied path and one for the objective, log axes
 * for log spaces, one polyline per trial coloured by its objective). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study_out.h"

#define W 760
#define H 420
#define L 70
#define R 30
#define T 40
#define B 50


/* viridis-like: dark blue (worst) to yellow (best) */
static void colour(double u, char *buf, size_t n)
{
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    int r = (int)(68 + u * (253 - 68)), g = (int)(1 + u * (231 - 1)), b = (int)(84 + u * (37 - 84));
    snprintf(buf, n, "#%02x%02x%02x", r, g, b);
}

static bool objective_range(const study *S, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < S->st.n_trials; i++) {
        double v = search_value(&S->st.trials[i]);
        if (isfinite(v)) {
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    }
    if (!(*lo <= *hi))
        return false;
    if (*hi - *lo < 1e-12) {
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.05 : 0.05;
        *lo -= pad;
        *hi += pad;
    }
    return true;
}

static int history(const study *S, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    double lo, hi, tmax = 0;
    bool any = objective_range(S, &lo, &hi);
    for (int i = 0; i < S->st.n_trials; i++)
        tmax = fmax(tmax, S->when[i]);
    if (tmax <= 0)
        tmax = 1;
    const char *name = hprt_metric_name(S->s->objective);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">search ", L);
    cli_markup(f, S->s->name);
    fprintf(f, ": %s of every trial</text>\n", name);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", L, T, W - L - R,
            H - T - B);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">training seconds of the study</text>\n", (L + W - R) / 2,
            H - 12);
    fprintf(f, "<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">%s</text>\n",
            (T + H - B) / 2, (T + H - B) / 2, name);
    for (int k = 0; k <= 4 && any; k++) {
        double v = lo + (hi - lo) * k / 4;
        double y = H - B - (double)(H - T - B) * k / 4;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", L - 6, y + 4, v);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>\n", L + (double)(W - L - R) * k / 4,
                H - B + 16, tmax * k / 4);
    }
    /* the trials in the order they finished, for the best-so-far line */
    int n = S->st.n_trials, *order = malloc(sizeof(int) * (size_t)(n + 1));
    if (!order) {
        fclose(f);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && S->when[order[j - 1]] > S->when[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    bool maximize = S->s->objective_mode == HPRT_MODE_MAX;
    double best = NAN;
    fprintf(f, "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
    for (int k = 0; k < n && any; k++) {
        const search_trial *t = &S->st.trials[order[k]];
        double v = search_value(t);
        if (!isfinite(v) || t->status == SEARCH_FAILED)
            continue;
        double x = L + (W - L - R) * S->when[order[k]] / tmax;
        if (isfinite(best))
            fprintf(f, "%.1f,%.1f ", x, H - B - (H - T - B) * (best - lo) / (hi - lo));
        if (!isfinite(best) || (maximize ? v > best : v < best))
            best = v;
        fprintf(f, "%.1f,%.1f ", x, H - B - (H - T - B) * (best - lo) / (hi - lo));
    }
    fprintf(f, "\"/>\n");
    for (int i = 0; i < n && any; i++) {
        const search_trial *t = &S->st.trials[i];
        double v = search_value(t);
        if (!isfinite(v))
            continue;
        double x = L + (W - L - R) * S->when[i] / tmax, y = H - B - (H - T - B) * (v - lo) / (hi - lo);
        if (t->status == SEARCH_PRUNED)
            fprintf(f, "<g><title>trial %d pruned at epoch %d: %.4g</title><path d=\"M%.1f %.1fl4 4m0 -8l-8 8\" "
                       "stroke=\"#888\" stroke-width=\"1.5\"/></g>\n",
                    i, t->epochs, v, x - 2, y - 2);
        else
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#1f77b4\"><title>trial %d (%s, %d epochs): "
                       "%.4g</title></circle>\n",
                    x, y, i, search_status_name(t->status), t->epochs, v);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">best so far</text>\n", W - R - 150, T + 16);
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\">x pruned (at its last epoch)</text>\n", W - R - 150, T + 32);
    fprintf(f, "</svg>\n");
    free(order);
    return fclose(f) == 0 ? 0 : -1;
}

/* Where value x of path i sits on its axis, 0 (bottom) to 1 (top). */
static double axis_pos(const plan_vary *v, double x)
{
    switch (v->kind) {
    case PLAN_SPACE_SET: return v->n_values > 1 ? x / (v->n_values - 1) : 0.5;
    case PLAN_SPACE_RANGE: return v->hi > v->lo ? (x - v->lo) / (v->hi - v->lo) : 0.5;
    case PLAN_SPACE_LOG: return (log(x) - log(v->lo)) / (log(v->hi) - log(v->lo));
    case PLAN_SPACE_UNIFORM: return (x - v->lo) / (v->hi - v->lo);
    }
    return 0.5;
}

static int parallel(const study *S, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int na = S->s->n_varies + 1;
    double lo, hi;
    bool any = objective_range(S, &lo, &hi);
    bool maximize = S->s->objective_mode == HPRT_MODE_MAX;
    double gap = na > 1 ? (double)(W - L - R) / (na - 1) : 0;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">search ", L);
    cli_markup(f, S->s->name);
    fprintf(f, ": parallel coordinates (colour: %s, yellow is best)</text>\n", hprt_metric_name(S->s->objective));
    for (int a = 0; a < na; a++) {
        double x = L + gap * a;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>\n", x, T, x, H - B);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", x, H - B + 18);
        cli_markup(f, a < na - 1 ? S->s->varies[a].path : hprt_metric_name(S->s->objective));
        fprintf(f, "</text>\n");
        if (a == na - 1) {
            if (any)
                fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.4g</text><text x=\"%.1f\" y=\"%d\">%.4g</text>\n", x + 4,
                        T + 4, hi, x + 4, H - B, lo);
            continue;
        }
        const plan_vary *v = &S->s->varies[a];
        if (v->kind == PLAN_SPACE_SET) {
            for (int k = 0; k < v->n_values; k++) {
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 4, H - B - (H - T - B) * axis_pos(v, k) + 4);
                cli_markup(f, v->values[k]);
                fprintf(f, "</text>\n");
            }
        } else {
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.4g</text><text x=\"%.1f\" y=\"%d\">%.4g%s</text>\n", x + 4, T + 4,
                    v->hi, x + 4, H - B, v->lo, v->kind == PLAN_SPACE_LOG ? " (log)" : "");
        }
    }
    /* the worst first, so the best lie on top */
    int n = S->st.n_trials, *order = malloc(sizeof(int) * (size_t)(n + 1)), k = 0;
    if (!order) {
        fclose(f);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        double v = search_value(&S->st.trials[i]);
        if (!isfinite(v))
            continue;
        int j = k++;
        while (j > 0) {
            double u = search_value(&S->st.trials[order[j - 1]]);
            if (maximize ? u <= v : u >= v)
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int r = 0; r < k && any; r++) {
        const search_trial *t = &S->st.trials[order[r]];
        double v = search_value(t), u = (v - lo) / (hi - lo);
        char c[16];
        colour(maximize ? u : 1 - u, c, sizeof c);
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.8\" points=\"", c);
        for (int a = 0; a < na; a++) {
            double p = a < na - 1 ? axis_pos(&S->s->varies[a], t->x[a]) : u;
            fprintf(f, "%.1f,%.1f ", L + gap * a, H - B - (H - T - B) * p);
        }
        fprintf(f, "\"><title>trial %d: %.4g</title></polyline>\n", t->id, v);
    }
    fprintf(f, "</svg>\n");
    free(order);
    return fclose(f) == 0 ? 0 : -1;
}

int study_write_plots(const study *S)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/history.svg", S->dir);
    if (history(S, path) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/parallel.svg", S->dir);
    return parallel(S, path);
}
