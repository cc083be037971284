/* svg.h - small line plots as SVG (lr_find.svg, curves.svg). */
#ifndef HPC_SVG_H
#define HPC_SVG_H

#include <stdbool.h>
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
} svg_panel;

/* Writes panels stacked vertically into path.  0 on success, -1 (errno set). */
int svg_write(const char *path, const svg_panel *panels, int n_panels);

#endif
