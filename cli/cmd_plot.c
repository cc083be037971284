/* cmd_plot.c - `hpc plot RUN_DIR`: curves.svg from a run's files. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "svg.h"

typedef struct {
    double *v[8]; /* columns */
    int cols, n, cap;
    char names[8][32];
} table;

static void table_free(table *t)
{
    for (int c = 0; c < 8; c++)
        free(t->v[c]);
}

/* Reads a CSV with a header; an empty field is NaN.  -1 when it cannot be read. */
static int read_csv(const char *path, table *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    for (char *p = line; *p && t->cols < 8;) {
        size_t n = strcspn(p, ",\r\n");
        snprintf(t->names[t->cols++], 32, "%.*s", (int)(n < 31 ? n : 31), p);
        p += n;
        if (*p != ',')
            break;
        p++;
    }
    while (fgets(line, sizeof line, f)) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 256;
            for (int c = 0; c < t->cols; c++) {
                double *nv = realloc(t->v[c], sizeof(double) * (size_t)t->cap);
                if (!nv) {
                    fclose(f);
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

static const double *column(const table *t, const char *name)
{
    for (int c = 0; c < t->cols; c++)
        if (strcmp(t->names[c], name) == 0)
            return t->v[c];
    return NULL;
}

int cmd_plot(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        cli_usage_error("plot", "plot takes one RUN_DIR");
        return EXIT_USAGE;
    }
    const char *dir = argv[0];
    char path[4200];
    table m, st;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (read_csv(path, &m) != 0) {
        fprintf(stderr, "hpc plot: cannot read %s: %s (is %s a run directory?)\n", path, strerror(errno ? errno : EINVAL), dir);
        return EXIT_USAGE;
    }
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    if (read_csv(path, &st) != 0) {
        fprintf(stderr, "hpc plot: cannot read %s: %s\n", path, strerror(errno ? errno : EINVAL));
        table_free(&m);
        return EXIT_USAGE;
    }
    const double *s_step = column(&st, "step"), *s_loss = column(&st, "loss"), *s_lr = column(&st, "lr");
    const double *m_step = column(&m, "step"), *m_train = column(&m, "train_loss"), *m_val = column(&m, "val_loss");
    const double *m_acc = column(&m, "val_accuracy"), *m_epoch = column(&m, "epoch");
    if (!s_step || !s_loss || !s_lr || !m_step || !m_train || !m_epoch) {
        fprintf(stderr, "hpc plot: %s: metrics.csv or steps.csv lacks the columns hpc run writes\n", dir);
        table_free(&m);
        table_free(&st);
        return EXIT_USAGE;
    }

    /* events: "epoch N: what" at the first step of epoch N; "step S (...)" at S */
    svg_mark marks[64];
    char labels[64][96];
    int nm = 0;
    snprintf(path, sizeof path, "%s/events.log", dir);
    FILE *ev = fopen(path, "r");
    char line[512];
    while (ev && nm < 64 && fgets(line, sizeof line, ev)) {
        line[strcspn(line, "\n")] = 0;
        long e, s;
        double x = NAN;
        if (sscanf(line, "epoch %ld:", &e) == 1) { /* at the start of epoch e */
            x = 0;
            for (int i = 0; i < m.n; i++)
                if ((long)m_epoch[i] == e - 1)
                    x = m_step[i];
        } else if (sscanf(line, "after epoch %ld:", &e) == 1) { /* at the end of epoch e */
            for (int i = 0; i < m.n; i++)
                if ((long)m_epoch[i] == e)
                    x = m_step[i];
        } else if (sscanf(line, "step %ld", &s) == 1) {
            x = (double)s;
        }
        if (isnan(x))
            continue;
        const char *text = strchr(line, ':');
        snprintf(labels[nm], sizeof labels[nm], "%.95s", text ? text + 2 : line);
        marks[nm].x = x;
        marks[nm].label = labels[nm];
        nm++;
    }
    if (ev)
        fclose(ev);

    svg_series loss[3] = {{"train loss (step)", s_step, s_loss, st.n, "#c7c7c7"},
                          {"train loss (epoch)", m_step, m_train, m.n, "#1f77b4"},
                          {"validation loss", m_step, m_val, m_val ? m.n : 0, "#ff7f0e"}};
    svg_series acc[1] = {{"validation accuracy", m_step, m_acc, m_acc ? m.n : 0, "#2ca02c"}};
    svg_series lr[1] = {{"learning rate", s_step, s_lr, st.n, "#9467bd"}};
    svg_panel panels[3] = {
        {"loss", "step", "loss", false, false, loss, 3, marks, nm, 0},
        {"validation accuracy", "step", "accuracy", false, false, acc, 1, marks, nm, 0},
        {"learning rate", "step", "rate", false, false, lr, 1, marks, nm, 0},
    };
    snprintf(path, sizeof path, "%s/curves.svg", dir);
    int rc = svg_write(path, panels, 3);
    table_free(&m);
    table_free(&st);
    if (rc != 0) {
        fprintf(stderr, "hpc plot: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_RUN;
    }
    printf("%s\n", path);
    return EXIT_OK;
}
