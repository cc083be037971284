/* cmd_plot.c - `hpc plot RUN_DIR`: curves.svg from a run's files (plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void csv_free(csv_table *t)
{
    for (int c = 0; c < CSV_MAX_COLS; c++)
        free(t->v[c]);
    memset(t, 0, sizeof *t);
}

int csv_read(const char *path, csv_table *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        errno = EINVAL;
        return -1;
    }
    t->cap = 256; /* every column of the header has storage, rows or not */
    for (int c = 0; c < CSV_MAX_COLS; c++)
        if (!(t->v[c] = malloc(sizeof(double) * (size_t)t->cap))) {
            fclose(f);
            csv_free(t);
            errno = ENOMEM;
            return -1;
        }
    for (char *p = line; *p && t->cols < CSV_MAX_COLS;) {
        size_t n = strcspn(p, ",\r\n");
        snprintf(t->names[t->cols++], 32, "%.*s", (int)(n < 31 ? n : 31), p);
        p += n;
        if (*p != ',')
            break;
        p++;
    }
    while (fgets(line, sizeof line, f)) {
        if (t->n == t->cap) {
            t->cap *= 2;
            for (int c = 0; c < t->cols; c++) {
                double *nv = realloc(t->v[c], sizeof(double) * (size_t)t->cap);
                if (!nv) {
                    fclose(f);
                    csv_free(t);
                    errno = ENOMEM;
                    return -1;
                }
                t->v[c] = nv;
            }
        }
        char *p = line;
        for (int c = 0; c < t->cols; c++) {
            size_t n = strcspn(p, ",\r\n");
            t->v[c][t->n] = n ? strtod(p, NULL) : NAN;
            p += n;
            if (*p == ',')
                p++;
        }
        t->n++;
    }
    fclose(f);
    return 0;
}

const double *csv_column(const csv_table *t, const char *name)
{
    for (int c = 0; c < t->cols; c++)
        if (strcmp(t->names[c], name) == 0)
            return t->v[c];
    return NULL;
}

void plot_run_free(plot_run *r)
{
    csv_free(&r->metrics);
    csv_free(&r->steps);
}

static bool any_finite(const double *v, int n)
{
    for (int i = 0; v && i < n; i++)
        if (isfinite(v[i]))
            return true;
    return false;
}

int plot_run_load(plot_run *r, const char *dir, char *err, size_t n)
{
    memset(r, 0, sizeof *r);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    errno = 0;
    if (csv_read(path, &r->metrics) != 0) {
        snprintf(err, n, "cannot read %s: %s (is %s a run directory?)", path,
                 errno == EINVAL ? "no header line" : strerror(errno ? errno : EINVAL), dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    errno = 0;
    if (csv_read(path, &r->steps) != 0) {
        snprintf(err, n, "cannot read %s: %s", path, errno == EINVAL ? "no header line" : strerror(errno ? errno : EINVAL));
        plot_run_free(r);
        return -1;
    }
    const csv_table *m = &r->metrics, *st = &r->steps;
    const double *s_step = csv_column(st, "step"), *s_loss = csv_column(st, "loss"), *s_lr = csv_column(st, "lr");
    const double *s_mom = csv_column(st, "momentum"), *s_batch = csv_column(st, "batch");
    const double *m_step = csv_column(m, "step"), *m_train = csv_column(m, "train_loss"), *m_val = csv_column(m, "val_loss");
    const double *m_acc = csv_column(m, "val_accuracy"), *m_epoch = csv_column(m, "epoch");
    if (!s_step || !s_loss || !s_lr || !m_step || !m_train || !m_epoch) {
        snprintf(err, n, "%s: metrics.csv or steps.csv lacks the columns hpc run writes", dir);
        plot_run_free(r);
        return -1;
    }

    /* events: "epoch N: what" at the first step of epoch N; "step S (...)" at S */
    snprintf(path, sizeof path, "%s/events.log", dir);
    FILE *ev = fopen(path, "r");
    char line[512];
    while (ev && r->n_marks < PLOT_MAX_MARKS && fgets(line, sizeof line, ev)) {
        line[strcspn(line, "\n")] = 0;
        long e, s;
        double x = NAN;
        if (sscanf(line, "epoch %ld:", &e) == 1) { /* at the start of epoch e */
            x = 0;
            for (int i = 0; i < m->n; i++)
                if ((long)m_epoch[i] == e - 1)
                    x = m_step[i];
        } else if (sscanf(line, "after epoch %ld:", &e) == 1) { /* at the end of epoch e */
            for (int i = 0; i < m->n; i++)
                if ((long)m_epoch[i] == e)
                    x = m_step[i];
        } else if (sscanf(line, "step %ld", &s) == 1) {
            x = (double)s;
        }
        if (isnan(x))
            continue;
        const char *text = strchr(line, ':');
        int k = r->n_marks++;
        snprintf(r->labels[k], sizeof r->labels[k], "%.95s", text ? text + 2 : line);
        r->marks[k].x = x;
        r->marks[k].label = r->labels[k];
    }
    if (ev)
        fclose(ev);

    r->loss[0] = (svg_series){"train loss (step)", s_step, s_loss, st->n, "#c7c7c7"};
    r->loss[1] = (svg_series){"train loss (epoch)", m_step, m_train, m->n, "#1f77b4"};
    r->loss[2] = (svg_series){"validation loss", m_step, m_val, any_finite(m_val, m->n) ? m->n : 0, "#ff7f0e"};
    r->acc[0] = (svg_series){"validation accuracy", m_step, m_acc, m->n, "#2ca02c"};
    r->lr[0] = (svg_series){"learning rate", s_step, s_lr, st->n, "#9467bd"};
    r->mom[0] = (svg_series){"momentum (beta1)", s_step, s_mom, st->n, "#8c564b"};
    r->batch[0] = (svg_series){"batch size", s_step, s_batch, st->n, "#17becf"};
    svg_panel *p = r->panels;
    p[r->n_panels++] = (svg_panel){"loss", "step", "loss", false, false, r->loss, 3, r->marks, r->n_marks, 0, 0, 0};
    if (any_finite(m_acc, m->n))
        p[r->n_panels++] = (svg_panel){"validation accuracy", "step", "accuracy", false, false, r->acc, 1, r->marks,
                                       r->n_marks, 0, 0, 0};
    p[r->n_panels++] = (svg_panel){"learning rate", "step", "rate", false, false, r->lr, 1, r->marks, r->n_marks, 0, 0, 0};
    if (any_finite(s_mom, st->n))
        p[r->n_panels++] = (svg_panel){"momentum", "step", "momentum", false, false, r->mom, 1, r->marks, r->n_marks, 0, 0, 0};
    /* the batch: when it changes (AdaBatch), not an epoch's short last batch */
    bool changes = false;
    for (int i = 1; s_batch && i < st->n; i++)
        changes |= s_batch[i] > s_batch[0];
    if (changes)
        p[r->n_panels++] = (svg_panel){"batch size", "step", "rows per step", false, false, r->batch, 1, r->marks,
                                       r->n_marks, 0, 0, 0};
    /* one x axis for every panel: from step 0 to the run's last */
    double last = 0;
    for (int i = 0; i < st->n; i++)
        last = isfinite(s_step[i]) && s_step[i] > last ? s_step[i] : last;
    for (int i = 0; i < m->n; i++)
        last = isfinite(m_step[i]) && m_step[i] > last ? m_step[i] : last;
    for (int i = 0; i < r->n_panels && last > 0; i++) {
        p[i].x_lo = 0;
        p[i].x_hi = last;
    }
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        cli_usage_error("plot", "plot takes one RUN_DIR");
        return EXIT_USAGE;
    }
    const char *dir = argv[0];
    plot_run *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "hpc plot: out of memory\n");
        return EXIT_RUN;
    }
    char err[4400];
    if (plot_run_load(r, dir, err, sizeof err) != 0) {
        fprintf(stderr, "hpc plot: %s\n", err);
        free(r);
        return EXIT_USAGE;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/curves.svg", dir);
    int rc = svg_write(path, r->panels, r->n_panels);
    plot_run_free(r);
    free(r);
    if (rc != 0) {
        fprintf(stderr, "hpc plot: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    printf("%s\n", path);
    return EXIT_OK;
}
