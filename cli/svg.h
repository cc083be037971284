/* svg.h - small line plots as SVG (lr_find.svg, curves.svg, hpc report). */
#ifndef HPC_SVG_H
#define HPC_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *label;
    const double *x, *y;   /* n points; non-finite y values are skipped */
    int n;
    const char *colour;
} svg_series;

typedef struct {
    double x;
    const char *label;
} svg_mark;

/* One panel of a figure: axes with ticks, the series, vertical marks. */
typedef struct {
    const char *title, *xlabel, *ylabel;
    bool log_x, log_y;
    const svg_series *series;
    int n_series;
    const svg_mark *marks;
    int n_marks;
    double y_max;  /* clip the y axis here (0: fit the data) */
    double x_lo, x_hi; /* the x axis's range when x_lo < x_hi (panels that share it), else the data's */
} svg_panel;

/* Writes panels stacked vertically into path.  0 on success, -1 (errno set). */
int svg_write(const char *path, const svg_panel *panels, int n_panels);
/* The same <svg> element written to f (an HTML page embeds it). */
void svg_print(FILE *f, const svg_panel *panels, int n_panels);

/* An axis: its range [lo, hi] and its ticks, on round numbers (1, 2 or 5
 * times a power of ten apart; decades on a log axis, where lo and hi are
 * the values, not their logarithms). */
#define SVG_MAX_TICKS 24
typedef struct {
    bool log;
    double lo, hi;
    double step;   /* linear: the distance between two ticks */
    int n_ticks;
    double ticks[SVG_MAX_TICKS];
} svg_axis;

/* Fits an axis to data in [min, max] (finite; > 0 on a log axis).  loose:
 * the range is widened to the ticks around the data (a y axis), else it is
 * the data's (an x axis).  Data that never goes below zero gets no negative
 * range; a constant gets a range around it (0 to twice it, a decade either
 * side on a log axis), so it plots as a flat line. */
void svg_axis_fit(svg_axis *a, double min, double max, bool log, bool loose);
/* A tick's label: "0.2", "1.5e-3", "200"; "1e-5", "0.01", "100" on a log axis. */
void svg_tick_label(char *buf, size_t n, const svg_axis *a, double v);

#endif
