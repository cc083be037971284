/* svg.c - small line plots as SVG, written by hand: a figure is a column of
 * panels, each with a frame, ticks, a legend, the lines and vertical marks. */
#include "svg.h"

#include <math.h>
#include <string.h>

#define W 760
#define PANEL_H 300
#define ML 70
#define MR 20
#define MT 40
#define MB 50

static double tr(double v, bool lg) { return lg ? log10(v) : v; }

static void escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

/* Tick labels: whole numbers as such (steps), others with three digits. */
static void tick(char *buf, size_t n, double v, double span)
{
    if (span >= 10 && fabs(v) < 1e7)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, "%.3g", v);
}

static void panel(FILE *f, const svg_panel *p, int top)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y) || (p->log_x && x <= 0) || (p->log_y && y <= 0))
                continue;
            x0 = fmin(x0, tr(x, p->log_x));
            x1 = fmax(x1, tr(x, p->log_x));
            y0 = fmin(y0, tr(y, p->log_y));
            y1 = fmax(y1, tr(y, p->log_y));
        }
    if (p->y_max > 0 && tr(p->y_max, p->log_y) < y1)
        y1 = tr(p->y_max, p->log_y);
    if (!(x0 < x1)) {
        x0 = isfinite(x0) ? x0 - 1 : 0;
        x1 = x0 + 2;
    }
    if (!(y0 < y1)) {
        y0 = isfinite(y0) ? y0 - 1 : 0;
        y1 = y0 + 2;
    }
    double pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
    int pw = W - ML - MR, ph = PANEL_H - MT - MB;
#define PX(v) (ML + ((tr((v), p->log_x) - x0) / (x1 - x0)) * pw)
#define PY(v) (top + MT + ph - ((tr((v), p->log_y) - y0) / (y1 - y0)) * ph)
    fprintf(f, "<text x='%d' y='%d' font-size='15' font-weight='bold'>", ML, top + 24);
    escape(f, p->title);
    fprintf(f, "</text>\n<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#444'/>\n", ML, top + MT, pw, ph);
    /* ticks: 5 on each axis (decades on a log axis) */
    for (int k = 0; k <= 4; k++) {
        double tx = x0 + (x1 - x0) * k / 4, ty = y0 + (y1 - y0) * k / 4;
        double vx = p->log_x ? pow(10, tx) : tx, vy = p->log_y ? pow(10, ty) : ty;
        double px = ML + (double)pw * k / 4, py = top + MT + ph - (double)ph * k / 4;
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#ddd'/>\n", px, top + MT, px, top + MT + ph);
        char lab[32];
        tick(lab, sizeof lab, vx, p->log_x ? 0 : x1 - x0);
        fprintf(f, "<text x='%.1f' y='%d' font-size='11' text-anchor='%s'>%s</text>\n", px, top + MT + ph + 16,
                k == 4 ? "end" : k == 0 ? "start" : "middle", lab);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>\n", ML, py, ML + pw, py);
        tick(lab, sizeof lab, vy, p->log_y ? 0 : y1 - y0);
        fprintf(f, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%s</text>\n", ML - 6, py + 4, lab);
    }
    fprintf(f, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>", ML + pw / 2, top + PANEL_H - 12);
    escape(f, p->xlabel);
    fprintf(f, "</text>\n<text x='14' y='%d' font-size='12' transform='rotate(-90 14 %d)' text-anchor='middle'>",
            top + MT + ph / 2, top + MT + ph / 2);
    escape(f, p->ylabel);
    fprintf(f, "</text>\n");
    for (int m = 0; m < p->n_marks; m++) {
        double x = p->marks[m].x;
        if (!isfinite(x) || (p->log_x && x <= 0))
            continue;
        double px = PX(x);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#c33' stroke-dasharray='4 3'/>\n", px, top + MT, px,
                top + MT + ph);
        fprintf(f, "<text x='%.1f' y='%d' font-size='10' fill='#c33'>", px + 3, top + MT + 12 + 12 * (m % 4));
        escape(f, p->marks[m].label);
        fprintf(f, "</text>\n");
    }
    for (int s = 0; s < p->n_series; s++) {
        const svg_series *se = &p->series[s];
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.5' points='", se->colour);
        for (int i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!isfinite(x) || !isfinite(y) || (p->log_x && x <= 0) || (p->log_y && y <= 0))
                continue;
            if (p->y_max > 0 && y > p->y_max)
                y = p->y_max;
            fprintf(f, "%.1f,%.1f ", PX(x), PY(y));
        }
        fprintf(f, "'/>\n<text x='%d' y='%d' font-size='11' fill='%s'>", ML + pw - 150, top + MT + 16 + 14 * s, se->colour);
        escape(f, se->label);
        fprintf(f, "</text>\n");
    }
#undef PX
#undef PY
}

int svg_write(const char *path, const svg_panel *panels, int n_panels)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n", W,
            PANEL_H * n_panels);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    for (int i = 0; i < n_panels; i++)
        panel(f, &panels[i], i * PANEL_H);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
