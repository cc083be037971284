/* diag.c - sources, spans and diagnostics. */
#include "diag.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void hp_diags_init(hp_diags *d)
{
    memset(d, 0, sizeof *d);
    d->max_errors = 200;
}

void hp_diags_free(hp_diags *d)
{
    for (int i = 0; i < d->n_sources; i++) {
        free(d->sources[i]->text);
        free(d->sources[i]->line_start);
        free(d->sources[i]->path);
        free(d->sources[i]);
    }
    free(d->sources);
    free(d->seen);
    hp_arena_free(&d->arena);
    memset(d, 0, sizeof *d);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fputs("hpc: out of memory\n", stderr);
        abort();
    }
    return q;
}

int hp_diags_add_source(hp_diags *d, const char *path, char *text, size_t len)
{
    if (d->n_sources == d->cap_sources) {
        d->cap_sources = d->cap_sources ? d->cap_sources * 2 : 4;
        d->sources = xrealloc(d->sources, sizeof *d->sources * (size_t)d->cap_sources);
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* a BOM (editors on Windows write one) */
        memmove(text, text + 3, len - 3 + 1);
        len -= 3;
    }
    hp_source *s = xrealloc(NULL, sizeof *s);
    s->path = strdup(path);
    if (!s->path) {
        fputs("hpc: out of memory\n", stderr);
        abort();
    }
    s->text = text;
    s->len = len;
    int cap = 64;
    s->line_start = xrealloc(NULL, sizeof(int) * (size_t)cap);
    s->n_lines = 0;
    s->line_start[s->n_lines++] = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            if (s->n_lines == cap) {
                cap *= 2;
                s->line_start = xrealloc(s->line_start, sizeof(int) * (size_t)cap);
            }
            s->line_start[s->n_lines++] = (int)(i + 1);
        }
    }
    d->sources[d->n_sources] = s;
    return d->n_sources++;
}

const hp_source *hp_diags_source(const hp_diags *d, int file)
{
    return file >= 0 && file < d->n_sources ? d->sources[file] : NULL;
}

const char *const hp_note_names[] = {
#define X(e, name) [HP_NOTE_##e] = name,
#include "notes.def"
#undef X
    [HP_NOTE__COUNT] = NULL,
};

const char *hp_note_name(hp_note n) { return (unsigned)n < HP_NOTE__COUNT ? hp_note_names[n] : "?"; }

bool hp_is_note_name(const char *name)
{
    for (int i = 0; hp_note_names[i]; i++)
        if (strcmp(hp_note_names[i], name) == 0)
            return true;
    return false;
}

void hp_diags_allow(hp_diags *d, const char *name) { hp_diags_allow_line(d, -1, 0, name); }

void hp_diags_allow_line(hp_diags *d, int file, int line, const char *name)
{
    hp_allow *a = hp_alloc(&d->arena, sizeof *a);
    a->file = file;
    a->line = line;
    a->name = hp_strdup(&d->arena, name);
    hp_vec_push(&d->arena, &d->allows, a);
}

static bool silenced(const hp_diags *d, const char *name, hp_span span)
{
    if (!name)
        return false;
    for (int i = 0; i < d->allows.n; i++) {
        const hp_allow *a = d->allows.items[i];
        if (strcmp(a->name, name) != 0)
            continue;
        if (a->file < 0)
            return true;
        if (a->file == span.file && a->line >= span.line && a->line <= span.end_line)
            return true;
    }
    return false;
}

/* The duplicate set: FNV-1a over what makes two diagnostics the same. */
static unsigned long diag_hash(const hp_diag *g)
{
    unsigned long h = 2166136261u;
    int key[5] = {(int)g->severity, g->has_span, g->has_span ? g->span.file : 0, g->has_span ? g->span.line : 0,
                  g->has_span ? g->span.col : 0};
    for (size_t i = 0; i < sizeof key; i++)
        h = (h ^ ((const unsigned char *)key)[i]) * 16777619u;
    for (const char *c = g->message; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return h;
}

static bool same_diag(const hp_diag *o, const hp_diag *g)
{
    return o->severity == g->severity && o->has_span == g->has_span && strcmp(o->message, g->message) == 0 &&
           (!g->has_span ||
            (o->span.file == g->span.file && o->span.line == g->span.line && o->span.col == g->span.col));
}

/* Adds g to the set; false when an equal diagnostic is there already. */
static bool remember(hp_diags *d, hp_diag *g)
{
    if (2 * (d->diags.n + 1) > d->seen_cap) {
        int cap = d->seen_cap ? 2 * d->seen_cap : 64;
        hp_diag **t = calloc((size_t)cap, sizeof *t);
        if (!t) {
            fputs("hpc: out of memory\n", stderr);
            abort();
        }
        for (int i = 0; i < d->seen_cap; i++)
            if (d->seen[i]) {
                unsigned long k = diag_hash(d->seen[i]) & (unsigned long)(cap - 1);
                while (t[k])
                    k = (k + 1) & (unsigned long)(cap - 1);
                t[k] = d->seen[i];
            }
        free(d->seen);
        d->seen = t;
        d->seen_cap = cap;
    }
    unsigned long k = diag_hash(g) & (unsigned long)(d->seen_cap - 1);
    for (; d->seen[k]; k = (k + 1) & (unsigned long)(d->seen_cap - 1))
        if (same_diag(d->seen[k], g))
            return false;
    d->seen[k] = g;
    return true;
}

static hp_diag *vreport(hp_diags *d, hp_severity sev, const char *name, const hp_span *span,
                        const char *fmt, va_list ap)
{
    if (sev == HP_ERROR)
        d->errors_seen++;
    if (span && silenced(d, name, *span))
        return NULL;
    if (sev != HP_ERROR && d->quiet_notes > 0)
        return NULL;
    if (sev == HP_ERROR && d->max_errors && d->n_errors >= d->max_errors) {
        d->n_errors++;
        return NULL;
    }
    hp_diag *g = hp_alloc(&d->arena, sizeof *g);
    g->severity = sev;
    g->name = name ? hp_strdup(&d->arena, name) : NULL;
    if (span) {
        g->span = *span;
        g->has_span = true;
    }
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    g->message = hp_alloc(&d->arena, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(g->message, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap2);
    va_end(ap2);
    /* the same problem found twice (a model used by two experiments, a layer
     * inside `repeat`) is reported once */
    if (!remember(d, g))
        return NULL;
    g->seq = d->diags.n;
    hp_vec_push(&d->arena, &d->diags, g);
    if (sev == HP_ERROR)
        d->n_errors++;
    else if (sev == HP_WARNING)
        d->n_warnings++;
    else
        d->n_notes++;
    return g;
}

hp_diag *hp_report(hp_diags *d, hp_severity sev, const char *name, hp_span span, const char *fmt, ...)
{
    assert(!name || hp_is_note_name(name)); /* a note's name is a row of notes.def */
    va_list ap;
    va_start(ap, fmt);
    hp_diag *g = vreport(d, sev, name, &span, fmt, ap);
    va_end(ap);
    return g;
}

hp_diag *hp_report_nospan(hp_diags *d, hp_severity sev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hp_diag *g = vreport(d, sev, NULL, NULL, fmt, ap);
    va_end(ap);
    return g;
}

void hp_attach_note(hp_diags *d, hp_diag *diag, hp_span span, const char *fmt, ...)
{
    if (!diag)
        return;
    hp_diag *n = hp_alloc(&d->arena, sizeof *n);
    n->severity = HP_NOTE;
    n->span = span;
    n->has_span = true;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    n->message = hp_alloc(&d->arena, (size_t)(len < 0 ? 0 : len) + 1);
    vsnprintf(n->message, (size_t)(len < 0 ? 0 : len) + 1, fmt, ap2);
    va_end(ap2);
    va_end(ap);
    diag->attached = n;
}

hp_span hp_span_join(hp_span a, hp_span b)
{
    hp_span s = a;
    if (b.end_line > a.end_line || (b.end_line == a.end_line && b.end_col > a.end_col)) {
        s.end_line = b.end_line;
        s.end_col = b.end_col;
    }
    return s;
}

/* ---- rendering ---- */

#define C_BOLD "\033[1m"
#define C_RED "\033[1;31m"
#define C_MAGENTA "\033[1;35m"
#define C_CYAN "\033[1;36m"
#define C_GREEN "\033[1;32m"
#define C_RESET "\033[0m"

static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Source lines wider than this are shown as a window around the span. */
#define EXCERPT_WIDTH 120

/* Writes the source line and a caret with tildes under [col, end_col]; a long
 * line is clipped to EXCERPT_WIDTH columns around the caret, with "..." where
 * text was left out. */
static void render_excerpt(const hp_source *s, hp_span sp, FILE *out, bool colour)
{
    if (sp.line < 1 || sp.line > s->n_lines)
        return;
    const char *line = s->text + s->line_start[sp.line - 1];
    size_t n = 0;
    int cols = 0;
    while (line + n < s->text + s->len && line[n] != '\n' && line[n] != '\r') {
        cols += !is_cont((unsigned char)line[n]);
        n++;
    }
    int w0 = 1, w1 = cols; /* the window of columns shown */
    if (cols > EXCERPT_WIDTH) {
        w0 = sp.col - EXCERPT_WIDTH / 3 < 1 ? 1 : sp.col - EXCERPT_WIDTH / 3;
        w1 = w0 + EXCERPT_WIDTH - 1;
        if (w1 > cols) {
            w1 = cols;
            w0 = cols - EXCERPT_WIDTH + 1;
        }
    }
    /* the source text of the window */
    if (w0 > 1)
        fputs("...", out);
    int col = 0;
    for (size_t i = 0; i < n; i++) {
        col += !is_cont((unsigned char)line[i]);
        if (col >= w0 && col <= w1)
            fputc(line[i], out);
    }
    if (w1 < cols)
        fputs("...", out);
    fputc('\n', out);
    int last = sp.end_line == sp.line ? sp.end_col : -1; /* -1: to the end of the line */
    if (colour)
        fputs(C_GREEN, out);
    if (w0 > 1)
        fputs("   ", out);
    col = 1;
    for (size_t i = 0; i < n; i++) {
        if (is_cont((unsigned char)line[i]))
            continue;
        if (col > w1)
            break;
        if (col < w0)
            ;
        else if (col < sp.col)
            fputc(line[i] == '\t' ? '\t' : ' ', out);
        else if (col == sp.col)
            fputc('^', out);
        else if (last < 0 || col <= last)
            fputc('~', out);
        else
            break;
        col++;
    }
    if (col <= sp.col) /* the span is past the end of the line (end of file) */
        fputc('^', out);
    if (colour)
        fputs(C_RESET, out);
    fputc('\n', out);
}

static void render_one(const hp_diags *d, const hp_diag *g, FILE *out, bool colour)
{
    static const char *const sev_name[] = {"error", "warning", "note"};
    static const char *const sev_colour[] = {C_RED, C_MAGENTA, C_CYAN};
    const hp_source *s = g->has_span ? hp_diags_source(d, g->span.file) : NULL;
    if (colour)
        fputs(C_BOLD, out);
    if (s)
        fprintf(out, "%s:%d:%d: ", s->path, g->span.line, g->span.col);
    else
        fputs("hpc: ", out);
    if (colour)
        fprintf(out, "%s%s:" C_RESET C_BOLD " %s" C_RESET, sev_colour[g->severity], sev_name[g->severity],
                g->message);
    else
        fprintf(out, "%s: %s", sev_name[g->severity], g->message);
    if (g->name)
        fprintf(out, " [%s]", g->name);
    fputc('\n', out);
    if (s)
        render_excerpt(s, g->span, out, colour);
}

void hp_diag_render(const hp_diags *d, const hp_diag *g, FILE *out, bool colour)
{
    render_one(d, g, out, colour);
    if (g->attached)
        render_one(d, g->attached, out, colour);
}

static int by_position(const void *pa, const void *pb)
{
    const hp_diag *a = *(hp_diag *const *)pa, *b = *(hp_diag *const *)pb;
    if (a->has_span != b->has_span)
        return a->has_span ? 1 : -1; /* place-less problems (missing file) first */
    if (a->has_span) {
        if (a->span.file != b->span.file)
            return a->span.file < b->span.file ? -1 : 1;
        if (a->span.line != b->span.line)
            return a->span.line < b->span.line ? -1 : 1;
        if (a->span.col != b->span.col)
            return a->span.col < b->span.col ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void hp_diags_render(const hp_diags *d, FILE *out, bool colour)
{
    if (d->diags.n == 0)
        return;
    hp_diag **sorted = malloc(sizeof *sorted * (size_t)d->diags.n);
    if (!sorted) {
        for (int i = 0; i < d->diags.n; i++)
            hp_diag_render(d, d->diags.items[i], out, colour);
        return;
    }
    memcpy(sorted, d->diags.items, sizeof *sorted * (size_t)d->diags.n);
    qsort(sorted, (size_t)d->diags.n, sizeof *sorted, by_position);
    for (int i = 0; i < d->diags.n; i++)
        hp_diag_render(d, sorted[i], out, colour);
    free(sorted);
    int dropped = d->max_errors && d->n_errors > d->max_errors ? d->n_errors - d->max_errors : 0;
    if (dropped)
        fprintf(out, "hpc: %d more errors not shown\n", dropped);
}
