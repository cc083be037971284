/* plot.h - a run directory's curves (metrics.csv, steps.csv, events.log) as
 * SVG panels: `hpc plot` writes them to curves.svg, `hpc report` into its page. */
#ifndef HPC_PLOT_H
#define HPC_PLOT_H

#include <stddef.h>

#include "svg.h"

#define CSV_MAX_COLS 16
#define PLOT_MAX_MARKS 64

/* A CSV file with a header; an empty field is NaN. */
typedef struct {
    double *v[CSV_MAX_COLS];
    int cols, n, cap;
    char names[CSV_MAX_COLS][32];
} csv_table;

/* 0, or -1 (errno set; EINVAL for a file without a header). */
int csv_read(const char *path, csv_table *t);
/* The column called name, or NULL. */
const double *csv_column(const csv_table *t, const char *name);
void csv_free(csv_table *t);

typedef struct {
    csv_table metrics, steps;
    svg_mark marks[PLOT_MAX_MARKS];
    char labels[PLOT_MAX_MARKS][96];
    int n_marks;
    svg_series loss[3], acc[1], lr[1], mom[1], batch[1];
    svg_panel panels[5];
    int n_panels;
} plot_run;

/* Reads dir's metrics.csv, steps.csv and events.log into r and makes its
 * panels: loss, validation accuracy (with a validation split), learning rate,
 * momentum (when it is cycled), batch size (when it changes).  0, or -1 with
 * the reason in err. */
int plot_run_load(plot_run *r, const char *dir, char *err, size_t n);
void plot_run_free(plot_run *r);

#endif
