/* svg.c - small line plots as SVG, written by hand: a figure is a column of
 * panels, each with a title and legend above a frame, ticks on round numbers,
 * the lines and vertical marks labelled inside the frame. */
#include "svg.h"
#include "files.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 760
#define PANEL_H 300
#define ML 70
#define MR 20
#define MT 40
#define MB 50

/* A string's width in pixels at font-size px, estimated from DejaVu Sans's
 * advance widths (em) by classes of characters, a little generously. */
static double text_width(const char *s, double px)
{
    double w = 0;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        double em = 0.62;
        if (c >= 0x80 && c < 0xc0)
            continue; /* a UTF-8 continuation byte */
        if (strchr(" .,:;'|!il", c))
            em = 0.32;
        else if (strchr("()[]{}-fjrt", c))
            em = 0.42;
        else if (strchr("mwMW", c))
            em = 0.98;
        else if (c >= 'A' && c <= 'Z')
            em = 0.74;
        else if (strchr("<>=+~", c))
            em = 0.84;
        w += em;
    }
    return w * px;
}

static double tr(double v, bool lg) { return lg ? log10(v) : v; }


/* ---- axes ---- */

/* 1, 2 or 5 times a power of ten, near span / 5 */
static double nice_step(double span)
{
    double raw = span / 5, mag = pow(10, floor(log10(raw))), norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

void svg_axis_fit(svg_axis *a, double min, double max, bool log, bool loose)
{
    memset(a, 0, sizeof *a);
    a->log = log;
    if (!isfinite(min) || !isfinite(max) || min > max || (log && min <= 0)) {
        min = log ? 1 : 0;
        max = min;
    }
    if (log) {
        double l0 = floor(log10(min) + 1e-9), l1 = ceil(log10(max) - 1e-9);
        if (l1 <= l0) { /* within one decade, or a constant: the decades around it */
            l0 = min == max ? l0 - 1 : l0;
            l1 = l0 + (min == max ? 2 : 1);
        }
        if (loose || min == max) {
            a->lo = pow(10, l0);
            a->hi = pow(10, l1);
        } else {
            a->lo = min;
            a->hi = max;
        }
        int every = (int)ceil((l1 - l0 + 1) / 8); /* at most 8 labelled decades */
        for (double e = l0; e <= l1 + 1e-9 && a->n_ticks < SVG_MAX_TICKS; e += every) {
            double v = pow(10, e);
            if (v >= a->lo * (1 - 1e-9) && v <= a->hi * (1 + 1e-9))
                a->ticks[a->n_ticks++] = v;
        }
        if (a->n_ticks < 2 && !loose) /* a tight range within a decade: the decades around it */
            svg_axis_fit(a, min, max, true, true);
        return;
    }
    if (min == max) { /* a constant: a flat line in the middle */
        double v = min;
        if (v > 0)
            min = 0, max = 2 * v;
        else if (v < 0)
            min = 2 * v, max = 0;
        else
            min = 0, max = 1;
        loose = true;
    }
    double step = nice_step(max - min);
    if (loose) {
        a->lo = floor(min / step + 1e-9) * step;
        a->hi = ceil(max / step - 1e-9) * step;
        if (min >= 0 && a->lo < 0)
            a->lo = 0;
    } else {
        a->lo = min;
        a->hi = max;
    }
    a->step = step;
    for (double k = ceil(a->lo / step - 1e-9); a->n_ticks < SVG_MAX_TICKS; k++) {
        double v = k * step;
        if (v > a->hi + step * 1e-9)
            break;
        a->ticks[a->n_ticks++] = fabs(v) < step * 1e-9 ? 0 : v;
    }
}

static void strip_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot)
        return;
    char *e = s + strlen(s);
    while (e > dot + 1 && e[-1] == '0')
        *--e = 0;
    if (e == dot + 1)
        *dot = 0;
}

void svg_tick_label(char *buf, size_t n, const svg_axis *a, double v)
{
    if (a->log) {
        int e = (int)lround(log10(v));
        if (e >= -2 && e <= 4)
            snprintf(buf, n, "%g", pow(10, e));
        else
            snprintf(buf, n, "1e%d", e);
        return;
    }
    double step = a->step > 0 ? a->step : 1;
    int k = (int)floor(log10(step) + 1e-9); /* step = m x 10^k, m in {1, 2, 5} */
    v = round(v / step) * step;
    if (fabs(v) < step * 1e-6) {
        snprintf(buf, n, "0");
        return;
    }
    int ex = (int)floor(log10(fabs(v)) + 1e-9);
    if (k <= -4 || ex >= 6) { /* 1.5e-3, 2e-4, 3e6 */
        int digits = ex - k > 0 ? ex - k : 0;
        snprintf(buf, n, "%.*f", digits, v / pow(10, ex));
        strip_zeros(buf);
        size_t len = strlen(buf);
        snprintf(buf + len, n > len ? n - len : 0, "e%d", ex);
    } else {
        snprintf(buf, n, "%.*f", k < 0 ? -k : 0, v);
        strip_zeros(buf);
    }
}

/* ---- panels ---- */

/* Where a mark's label goes: a row inside the frame and a side of the line;
 * or, when the labels would need more than MAX_FLAT_ROWS rows (many events),
 * down its line from the top (vertical), beside it. */
#define MAX_FLAT_ROWS 3
typedef struct {
    int row;       /* -1: no label (no room) */
    bool left;     /* left of the line (anchored at its end when flat) */
    bool vertical;
    int chars;     /* the label is cut to this many characters */
} mark_place;

/* The characters of label that fit in room px at font-size 10 with "…" after them. */
static int cut_to(const char *label, double width, double room)
{
    int len = (int)strlen(label);
    if (width <= room)
        return len;
    char prefix[512];
    int k = 0;
    for (int c = 1; c < len && c < (int)sizeof prefix; c++) {
        memcpy(prefix, label, (size_t)c);
        prefix[c] = 0;
        if (text_width(prefix, 10) + 10 > room)
            break;
        k = c;
    }
    return k > 0 ? k + 1 : 0; /* the k that fit, and the "…" that replaces the last */
}

static void place_marks(const svg_panel *p, double x0, double x1, int pw, int ph, mark_place *place)
{
    enum { MAX_ROWS = 24 };
    double row_end[MAX_ROWS];
    int rows = (ph - 8) / 12;
    if (rows > MAX_ROWS)
        rows = MAX_ROWS;
    for (int r = 0; r < rows; r++)
        row_end[r] = -INFINITY;
    int *order = malloc(sizeof(int) * (size_t)(p->n_marks > 0 ? p->n_marks : 1));
    int n = 0;
    for (int m = 0; m < p->n_marks; m++)
        place[m].row = -1;
    if (!order)
        return; /* no labels, only the lines */
    for (int m = 0; m < p->n_marks; m++)
        if (isfinite(p->marks[m].x) && !(p->log_x && p->marks[m].x <= 0))
            order[n++] = m;
    for (int i = 1; i < n; i++) /* by x, stable */
        for (int j = i; j > 0 && p->marks[order[j - 1]].x > p->marks[order[j]].x; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        int m = order[i];
        double px = ML + (tr(p->marks[m].x, p->log_x) - x0) / (x1 - x0) * pw;
        const char *label = p->marks[m].label ? p->marks[m].label : "";
        int len = (int)strlen(label);
        double width = text_width(label, 10), room_right = ML + pw - 4 - (px + 3), room_left = px - 3 - ML - 4;
        mark_place *pl = &place[m];
        pl->left = width > room_right && room_left > room_right;
        pl->chars = cut_to(label, width, pl->left ? room_left : room_right);
        if (pl->chars < len)
            width = pl->left ? room_left : room_right;
        double a = pl->left ? px - 3 - width : px + 3, b = pl->left ? px - 3 : px + 3 + width;
        int r = 0;
        while (r < rows && row_end[r] > a - 6)
            r++;
        if (r == rows) { /* every row is taken here: the row that ends first */
            r = 0;
            for (int k = 1; k < rows; k++)
                if (row_end[k] < row_end[r])
                    r = k;
        }
        if (rows > 0) {
            row_end[r] = b;
            pl->row = r;
        }
    }
    bool flat = true;
    for (int i = 0; i < n; i++)
        flat &= place[order[i]].row < MAX_FLAT_ROWS;
    if (!flat) { /* vertical: a column 11 px wide beside each line, left if free, else right */
        double taken = -INFINITY;
        for (int i = 0; i < n; i++) {
            int m = order[i];
            double px = ML + (tr(p->marks[m].x, p->log_x) - x0) / (x1 - x0) * pw;
            const char *label = p->marks[m].label ? p->marks[m].label : "";
            mark_place *pl = &place[m];
            pl->vertical = true;
            pl->row = 0;
            pl->chars = cut_to(label, text_width(label, 10), ph - 8);
            if (px - 13 >= ML + 1 && px - 13 > taken) {
                pl->left = true;
                taken = px - 2;
            } else if (px + 2 > taken && px + 13 <= ML + pw - 1) {
                pl->left = false;
                taken = px + 13;
            } else {
                pl->row = -1; /* no room beside this line: the line alone */
            }
        }
    }
    free(order);
}

static void panel(FILE *f, const svg_panel *p, int top)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y) || (p->log_x && x <= 0) || (p->log_y && y <= 0))
                continue;
            if (p->y_max > 0 && y > p->y_max)
                y = p->y_max;
            x0 = fmin(x0, x);
            x1 = fmax(x1, x);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
        }
    if (p->x_lo < p->x_hi && !(p->log_x && p->x_lo <= 0)) {
        x0 = p->x_lo;
        x1 = p->x_hi;
    }
    svg_axis ax, ay;
    svg_axis_fit(&ax, x0, x1, p->log_x, false);
    svg_axis_fit(&ay, y0, y1, p->log_y, true);
    if (ax.lo == ax.hi) { /* one point: a range around it */
        svg_axis_fit(&ax, x0, x1, p->log_x, true);
    }
    double tx0 = tr(ax.lo, p->log_x), tx1 = tr(ax.hi, p->log_x), ty0 = tr(ay.lo, p->log_y), ty1 = tr(ay.hi, p->log_y);
    int pw = W - ML - MR, ph = PANEL_H - MT - MB;
#define PX(v) (ML + ((tr((v), p->log_x) - tx0) / (tx1 - tx0)) * pw)
#define PY(v) (top + MT + ph - ((tr((v), p->log_y) - ty0) / (ty1 - ty0)) * ph)
    fprintf(f, "<g class='panel'>\n<text x='%d' y='%d' font-size='15' font-weight='bold'>", ML, top + 24);
    cli_markup(f, p->title);
    fprintf(f, "</text>\n");
    /* the legend, right-aligned in the title's row: never over the data or the marks */
    double lx = ML + pw; /* each label ends at lx (exact); its swatch is before its estimated start */
    for (int s = p->n_series - 1; s >= 0; s--) {
        const svg_series *se = &p->series[s];
        if (se->n == 0)
            continue;
        fprintf(f, "<text class='legend' x='%.1f' y='%d' font-size='11' text-anchor='end'>", lx, top + 24);
        cli_markup(f, se->label);
        fprintf(f, "</text>");
        lx -= text_width(se->label, 11) + 5;
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s' stroke-width='2'/>\n", lx - 14, top + 20, lx,
                top + 20, se->colour);
        lx -= 28;
    }
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#444'/>\n", ML, top + MT, pw, ph);
    for (int k = 0; k < ax.n_ticks; k++) {
        double px = PX(ax.ticks[k]);
        char lab[48];
        svg_tick_label(lab, sizeof lab, &ax, ax.ticks[k]);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#e4e4e4'/>\n", px, top + MT, px, top + MT + ph);
        fprintf(f, "<text class='xtick' x='%.1f' y='%d' font-size='11' text-anchor='middle'>%s</text>\n", px,
                top + MT + ph + 16, lab);
    }
    for (int k = 0; k < ay.n_ticks; k++) {
        double py = PY(ay.ticks[k]);
        char lab[48];
        svg_tick_label(lab, sizeof lab, &ay, ay.ticks[k]);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#e4e4e4'/>\n", ML, py, ML + pw, py);
        fprintf(f, "<text class='ytick' x='%d' y='%.1f' font-size='11' text-anchor='end'>%s</text>\n", ML - 6, py + 4, lab);
    }
    fprintf(f, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>", ML + pw / 2, top + PANEL_H - 14);
    cli_markup(f, p->xlabel);
    fprintf(f, "</text>\n<text x='14' y='%d' font-size='12' transform='rotate(-90 14 %d)' text-anchor='middle'>",
            top + MT + ph / 2, top + MT + ph / 2);
    cli_markup(f, p->ylabel);
    fprintf(f, "</text>\n");
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
        fprintf(f, "'/>\n");
    }
    /* the marks over the lines, their labels with a white halo */
    mark_place *place = p->n_marks > 0 ? calloc((size_t)p->n_marks, sizeof *place) : NULL;
    if (place)
        place_marks(p, tx0, tx1, pw, ph, place);
    for (int m = 0; m < p->n_marks; m++) {
        double x = p->marks[m].x;
        if (!isfinite(x) || (p->log_x && x <= 0) || x < ax.lo || x > ax.hi)
            continue;
        double px = PX(x);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#c33' stroke-dasharray='4 3'/>\n", px, top + MT, px,
                top + MT + ph);
        if (!place || place[m].row < 0 || place[m].chars == 0)
            continue;
        if (place[m].vertical) { /* rotated: it reads upwards, from the top of the frame down */
            double tx = place[m].left ? px - 3 : px + 12;
            fprintf(f,
                    "<text class='mark' x='%.1f' y='%d' font-size='10' fill='#c33' text-anchor='end' stroke='white' "
                    "stroke-width='3' paint-order='stroke' transform='rotate(-90 %.1f %d)'>",
                    tx, top + MT + 4, tx, top + MT + 4);
        } else {
            fprintf(f,
                    "<text class='mark' x='%.1f' y='%d' font-size='10' fill='#c33' text-anchor='%s' stroke='white' "
                    "stroke-width='3' paint-order='stroke'>",
                    place[m].left ? px - 3 : px + 3, top + MT + 12 + 12 * place[m].row, place[m].left ? "end" : "start");
        }
        const char *label = p->marks[m].label ? p->marks[m].label : "";
        if ((int)strlen(label) > place[m].chars) {
            char cut[512];
            int c = place[m].chars > 1 ? place[m].chars - 1 : 0;
            snprintf(cut, sizeof cut, "%.*s", c < 500 ? c : 500, label);
            cli_markup(f, cut);
            fputs("…", f);
        } else {
            cli_markup(f, label);
        }
        fprintf(f, "</text>\n");
    }
    free(place);
    fprintf(f, "</g>\n");
#undef PX
#undef PY
}

void svg_print(FILE *f, const svg_panel *panels, int n_panels)
{
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' font-family='sans-serif'>\n",
            W, PANEL_H * n_panels, W, PANEL_H * n_panels);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    for (int i = 0; i < n_panels; i++)
        panel(f, &panels[i], i * PANEL_H);
    fprintf(f, "</svg>\n");
}

int svg_write(const char *path, const svg_panel *panels, int n_panels)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    svg_print(f, panels, n_panels);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
}
