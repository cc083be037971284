/* data_csv.c - CSV files: numeric or categorical features, one label column
 * (class numbers or class names).
 *
 * The file is read whole (CSV gives no row count up front, and the feature
 * matrix is one aligned allocation) and scanned twice: the first pass finds
 * the columns, the label column, the rows and the largest label, checking
 * the field counts and labels (this pass alone is the probe); the second
 * parses the features into the matrix.  Every message names the file, the
 * line and, for a bad value, the field (both counting from 1).
 *
 * Categorical data (hprt_data.h, "categorical CSV"): without a given
 * encoding, a label that is not a number makes the labels class names, and
 * one more pass between the two collects the distinct class names and the
 * categories of the declared columns (bounded: HPRT_MAX_CLASSES,
 * HPRT_MAX_CATEGORIES) into a sorted encoding; with one (the training
 * file's), names are looked up in hash tables of it (an unknown class is an
 * error, an unknown category all zeros).
 *
 * Accepted: a UTF-8 byte-order mark, LF or CRLF line ends, a missing final
 * newline, blank lines anywhere (skipped, as pandas and numpy do), spaces or
 * tabs around fields, and RFC 4180 quoting within a line ("a ""b""").
 * The file may be gzip-compressed: zlib reads plain files transparently.
 */
#include "hprt_data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

hprt_csv_opts hprt_csv_defaults(void)
{
    return (hprt_csv_opts){.label = HPRT_LABEL_LAST, .label_index = 0, .label_name = NULL,
                           .header = true};
}

/* ---- reading the file ---------------------------------------------------- */

static hprt_status fail_errno(hprt_error *err, const char *path, const char *what, int e)
{
    char buf[256];
    if (strerror_r(e, buf, sizeof buf) != 0) /* XSI: thread-safe */
        snprintf(buf, sizeof buf, "error %d", e);
    return hprt_fail(err, HPRT_E_DATA, "%s: %s: %s; check the path and its permissions",
                     path, what, buf);
}

/* The whole (decompressed) file in a malloc'd buffer. */
static hprt_status read_all(const char *path, char **out, size_t *len, hprt_error *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail_errno(err, path, "cannot open", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, path, "cannot read", e);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return hprt_fail(err, HPRT_E_DATA, "%s: is a directory, not a CSV file", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory opening the file", path);
    }
    (void)gzbuffer(gz, 1u << 18); /* harmless if refused: zlib keeps its default */

    /* A plain file's size is its content's, so one read fills the buffer
     * exactly; a compressed file grows it below.  When the buffer is full a
     * small probe read tells EOF from more data, so a plain file is never
     * copied into a doubled buffer only to find its end. */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    hprt_status s = buf ? HPRT_OK : hprt_fail(err, HPRT_E_RUN, "%s: out of memory", path);
    char probe[4096];
    while (s == HPRT_OK) {
        size_t room = cap - n - 1; /* one byte kept for the terminating NUL */
        bool full = room == 0;
        char *dst = full ? probe : buf + n;
        size_t ask = full ? sizeof probe : room < ((size_t)1 << 30) ? room : (size_t)1 << 30;
        int r = gzread(gz, dst, (unsigned)ask);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            if (zerr == Z_ERRNO)
                s = fail_errno(err, path, "read error", errno);
            else
                s = hprt_fail(err, HPRT_E_DATA, "%s: corrupt gzip data after %zu bytes (%s)",
                              path, n, msg ? msg : "unknown zlib error");
            break;
        }
        if (r == 0) {
            int zerr = Z_OK;
            (void)gzerror(gz, &zerr);
            if (zerr == Z_BUF_ERROR)
                s = hprt_fail(err, HPRT_E_DATA,
                              "%s: truncated: the gzip stream ends early, after %zu bytes", path,
                              n);
            break;
        }
        if (full) {
            /* the probe may hold more than the buffer had: a small
             * compressed file's data is many times its size */
            size_t ncap = cap;
            while (ncap <= SIZE_MAX / 2 && ncap - n - 1 < (size_t)r)
                ncap *= 2;
            char *nb = ncap - n - 1 >= (size_t)r ? realloc(buf, ncap) : NULL;
            if (!nb) {
                s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory after %zu bytes", path, n);
                break;
            }
            buf = nb;
            cap = ncap;
            memcpy(buf + n, probe, (size_t)r);
        }
        n += (size_t)r;
    }
    (void)gzclose(gz); /* read-only: every read was checked */
    if (s != HPRT_OK) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return HPRT_OK;
}

/* ---- lines and fields ---------------------------------------------------- */

typedef struct {
    const char *p, *end;
    long lineno;            /* of the line last returned */
} line_iter;

/* The next line without its "\n" or "\r\n"; false at the end of the buffer. */
static bool next_line(line_iter *it, const char **s, const char **e)
{
    if (it->p >= it->end)
        return false;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *stop = nl ? nl : it->end;
    *s = it->p;
    *e = stop > it->p && stop[-1] == '\r' ? stop - 1 : stop;
    it->p = nl ? nl + 1 : it->end;
    it->lineno++;
    return true;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool blank_line(const char *s, const char *e)
{
    while (s < e && is_blank(*s))
        s++;
    return s == e;
}

typedef struct {
    const char *s, *e;      /* the text, inside the quotes if quoted, trimmed */
    bool escapes;           /* contains "" pairs to turn into " */
} csv_field;

typedef enum { FIELD_OK, FIELD_UNTERMINATED, FIELD_AFTER_QUOTE } field_status;

/* Parses the field at *pp (< e); leaves *pp after its comma, or NULL when it
 * was the last field of the line. */
static field_status next_field(const char **pp, const char *e, csv_field *f)
{
    const char *p = *pp;
    while (p < e && is_blank(*p))
        p++;
    f->escapes = false;
    if (p < e && *p == '"') {
        const char *q = p + 1;
        f->s = q;
        for (;;) {
            const char *dq = memchr(q, '"', (size_t)(e - q));
            if (!dq)
                return FIELD_UNTERMINATED;
            if (dq + 1 < e && dq[1] == '"') {
                f->escapes = true;
                q = dq + 2;
                continue;
            }
            f->e = dq;
            p = dq + 1;
            break;
        }
        while (p < e && is_blank(*p))
            p++;
        if (p < e && *p != ',')
            return FIELD_AFTER_QUOTE;
    } else {
        const char *comma = memchr(p, ',', (size_t)(e - p));
        f->s = p;
        f->e = comma ? comma : e;
        p = f->e;
        while (f->e > f->s && is_blank(f->e[-1]))
            f->e--;
    }
    *pp = p < e ? p + 1 : NULL; /* p is at a comma or at the end */
    return FIELD_OK;
}

/* A NUL-terminated copy with "" turned into ". */
static char *field_dup(const csv_field *f)
{
    size_t n = (size_t)(f->e - f->s);
    char *d = malloc(n + 1), *o = d;
    if (!d)
        return NULL;
    for (const char *p = f->s; p < f->e; p++) {
        *o++ = *p;
        if (f->escapes && p[0] == '"' && p + 1 < f->e && p[1] == '"')
            p++;
    }
    *o = '\0';
    return d;
}

/* Copies the field into buf (NUL-terminated) for strtod/strtof; false if it
 * does not fit (no sensible number is that long) or holds a NUL byte. */
static bool field_cstr(const csv_field *f, char *buf, size_t cap)
{
    size_t n = (size_t)(f->e - f->s);
    if (n >= cap || memchr(f->s, '\0', n)) /* a NUL would end the number early */
        return false;
    memcpy(buf, f->s, n);
    buf[n] = '\0';
    return true;
}

/* ---- string tables and the categorical encoding ---------------------------- */

/* Distinct strings with their insertion index: an open-addressing hash over
 * names (owned when building, borrowed when indexing an encoding). */
typedef struct {
    char **names;
    long *first;        /* building: the data row each name first occurs in */
    int n, cap;
    int32_t *slot;      /* nslot entries (a power of two): index + 1, or 0 */
    size_t nslot;
    bool own;
} strtab;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int strtab_find(const strtab *t, const char *s, size_t n)
{
    if (t->nslot == 0)
        return -1;
    size_t m = t->nslot - 1;
    for (size_t i = (size_t)hash_bytes(s, n) & m;; i = (i + 1) & m) {
        int32_t v = t->slot[i];
        if (v == 0)
            return -1;
        const char *q = t->names[v - 1];
        if (strlen(q) == n && memcmp(q, s, n) == 0)
            return v - 1;
    }
}

/* Adds name (taken over when t->own) with first-row `row`; false when out of memory. */
static bool strtab_add(strtab *t, char *name, long row)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **nn = realloc(t->names, sizeof *nn * (size_t)cap);
        if (!nn)
            return false;
        t->names = nn;
        long *nf = realloc(t->first, sizeof *nf * (size_t)cap);
        if (!nf)
            return false;
        t->first = nf;
        t->cap = cap;
    }
    if ((size_t)(t->n + 1) * 2 > t->nslot) { /* rehash at half full */
        size_t ns = t->nslot ? t->nslot * 2 : 64;
        int32_t *sl = calloc(ns, sizeof *sl);
        if (!sl)
            return false;
        for (int i = 0; i < t->n; i++) {
            size_t j = (size_t)hash_bytes(t->names[i], strlen(t->names[i])) & (ns - 1);
            while (sl[j])
                j = (j + 1) & (ns - 1);
            sl[j] = i + 1;
        }
        free(t->slot);
        t->slot = sl;
        t->nslot = ns;
    }
    size_t j = (size_t)hash_bytes(name, strlen(name)) & (t->nslot - 1);
    while (t->slot[j])
        j = (j + 1) & (t->nslot - 1);
    t->slot[j] = t->n + 1;
    t->names[t->n] = name;
    t->first[t->n] = row;
    t->n++;
    return true;
}

static void strtab_free(strtab *t)
{
    if (t->own)
        for (int i = 0; i < t->n; i++)
            free(t->names[i]);
    free(t->names);
    free(t->first);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

/* Indexes names[0..n) (borrowed); false when out of memory. */
static bool strtab_index(strtab *t, char *const *names, int n)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++)
        if (!strtab_add(t, names[i], 0))
            return false;
    return true;
}

static void free_strs(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void hprt_csv_encoding_free(hprt_csv_encoding *e)
{
    if (!e)
        return;
    free_strs(e->classes, e->n_classes);
    for (int i = 0; i < e->n_cats; i++) {
        free(e->cats[i].name);
        free_strs(e->cats[i].names, e->cats[i].n);
        free(e->cats[i].first_row);
        free(e->cats[i].row_cat);
    }
    free(e->cats);
    memset(e, 0, sizeof *e);
}

void hprt_csv_encoding_restrict(hprt_csv_encoding *e, long rows)
{
    for (int i = 0; i < e->n_cats; i++) {
        hprt_csv_category *c = &e->cats[i];
        if (!c->first_row)
            continue;
        long *count = NULL; /* min_count: each category's rows among the first `rows` */
        if (c->row_cat && c->min_count > 1 && c->n > 0 && (count = calloc((size_t)c->n, sizeof *count)))
            for (long r = 0; r < rows && r < c->n_rows; r++)
                if (c->row_cat[r] >= 0 && c->row_cat[r] < c->n)
                    count[c->row_cat[r]]++;
        free(c->row_cat);
        c->row_cat = NULL;
        int k = 0;
        for (int j = 0; j < c->n; j++) {
            if (c->first_row[j] < rows && (!count || count[j] >= c->min_count)) {
                c->names[k] = c->names[j];
                c->first_row[k++] = c->first_row[j];
            } else {
                free(c->names[j]);
            }
        }
        c->n = k;
        free(count);
    }
}

int hprt_csv_encoding_width(const hprt_csv_encoding *e, int raw_features)
{
    long w = raw_features;
    for (int i = 0; e && i < e->n_cats; i++)
        w += e->cats[i].dim > 0 ? 0 : e->cats[i].n - 1;
    return w > INT_MAX ? INT_MAX : (int)w;
}

int hprt_csv_encoding_model_width(const hprt_csv_encoding *e, int raw_features)
{
    long w = raw_features;
    for (int i = 0; e && i < e->n_cats; i++)
        w += (e->cats[i].dim > 0 ? e->cats[i].dim : e->cats[i].n) - 1;
    return w > INT_MAX ? INT_MAX : (int)w;
}

int hprt_csv_encoding_embedded(const hprt_csv_encoding *e, int *pos, int *model_pos, int cap)
{
    int n = 0;
    long shift = 0, mshift = 0; /* what the columns before add to a position */
    for (int i = 0; e && i < e->n_cats && n < cap; i++) {
        const hprt_csv_category *c = &e->cats[i];
        if (c->dim > 0) {
            if (pos)
                pos[n] = (int)(c->column + shift);
            if (model_pos)
                model_pos[n] = (int)(c->column + mshift);
            n++;
        }
        shift += c->dim > 0 ? 0 : c->n - 1;
        mshift += (c->dim > 0 ? c->dim : c->n) - 1;
    }
    return n;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char **dup_strs(char *const *v, int n, bool *ok)
{
    if (n == 0)
        return NULL;
    char **d = calloc((size_t)n, sizeof *d);
    if (!d) {
        *ok = false;
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!(d[i] = dup_str(v[i])))
            *ok = false;
    return d;
}

hprt_status hprt_csv_encoding_copy(hprt_csv_encoding *dst, const hprt_csv_encoding *src, hprt_error *err)
{
    memset(dst, 0, sizeof *dst);
    bool ok = true;
    dst->classes = dup_strs(src->classes, src->n_classes, &ok);
    dst->n_classes = dst->classes ? src->n_classes : 0;
    if (src->n_cats > 0) {
        dst->cats = calloc((size_t)src->n_cats, sizeof *dst->cats);
        if (dst->cats) {
            dst->n_cats = src->n_cats;
            for (int i = 0; i < src->n_cats; i++) {
                const hprt_csv_category *a = &src->cats[i];
                hprt_csv_category *b = &dst->cats[i];
                b->column = a->column;
                b->dim = a->dim;
                b->min_count = a->min_count;
                if (a->name && !(b->name = dup_str(a->name)))
                    ok = false;
                b->names = dup_strs(a->names, a->n, &ok);
                b->n = b->names ? a->n : 0;
            }
        } else {
            ok = false;
        }
    }
    if (!ok) {
        hprt_csv_encoding_free(dst);
        return hprt_fail(err, HPRT_E_RUN, "out of memory copying the CSV encoding");
    }
    return HPRT_OK;
}

typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} textbuf;

static void tb_put(textbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void tb_line(textbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
    tb_put(b, "\n", 1);
}

char *hprt_csv_encoding_save(const hprt_csv_encoding *e, size_t *len)
{
    textbuf b = {0};
    char head[64];
    snprintf(head, sizeof head, "classes %d", e->n_classes);
    tb_line(&b, head);
    for (int i = 0; i < e->n_classes; i++)
        tb_line(&b, e->classes[i]);
    for (int i = 0; i < e->n_cats; i++) {
        const hprt_csv_category *c = &e->cats[i];
        if (c->dim > 0)
            snprintf(head, sizeof head, "embed %d %d %d", c->column, c->n, c->dim);
        else
            snprintf(head, sizeof head, "column %d %d", c->column, c->n);
        tb_line(&b, head);
        tb_line(&b, c->name ? c->name : "");
        for (int j = 0; j < c->n; j++)
            tb_line(&b, c->names[j]);
    }
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

/* The next line of [*p, end) as a new string; NULL at the end or out of memory (*oom). */
static char *take_line(const char **p, const char *end, bool *oom)
{
    if (*p >= end)
        return NULL;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return NULL; /* every line ends with \n */
    size_t n = (size_t)(nl - *p);
    char *d = malloc(n + 1);
    if (!d) {
        *oom = true;
        return NULL;
    }
    memcpy(d, *p, n);
    d[n] = '\0';
    *p = nl + 1;
    return d;
}

static bool take_names(const char **p, const char *end, int n, char ***out, bool *oom)
{
    *out = NULL;
    if (n == 0)
        return true;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) {
        *oom = true;
        return false;
    }
    *out = v;
    for (int i = 0; i < n; i++)
        if (!(v[i] = take_line(p, end, oom)))
            return false;
    return true;
}

hprt_status hprt_csv_encoding_parse(const char *text, size_t len, hprt_csv_encoding *e, hprt_error *err)
{
    memset(e, 0, sizeof *e);
    const char *p = text, *end = text + len;
    bool oom = false, ok = false;
    char *line = take_line(&p, end, &oom);
    int n = -1, col = -1, pos = 0, dim = 0;
    if (line && sscanf(line, "classes %d%n", &n, &pos) == 1 && line[pos] == '\0' && n >= 0 &&
        n <= HPRT_MAX_CLASSES && take_names(&p, end, n, &e->classes, &oom)) {
        e->n_classes = n;
        ok = true;
    } else if (e->classes) {
        e->n_classes = n; /* freed below */
    }
    free(line);
    while (ok && p < end) {
        ok = false;
        line = take_line(&p, end, &oom);
        dim = 0;
        bool head = line && ((sscanf(line, "column %d %d%n", &col, &n, &pos) == 2 && line[pos] == '\0') ||
                             (sscanf(line, "embed %d %d %d%n", &col, &n, &dim, &pos) == 3 && line[pos] == '\0' &&
                              dim >= 1 && dim <= HPRT_MAX_EMBED_DIM));
        if (!head || col < 0 || n < 1 || n > HPRT_MAX_CATEGORIES || e->n_cats >= 1 << 20) {
            free(line);
            break;
        }
        free(line);
        hprt_csv_category *nc = realloc(e->cats, sizeof *nc * (size_t)(e->n_cats + 1));
        if (!nc) {
            oom = true;
            break;
        }
        e->cats = nc;
        hprt_csv_category *c = &e->cats[e->n_cats++];
        memset(c, 0, sizeof *c);
        c->column = col;
        c->dim = dim;
        if (!(c->name = take_line(&p, end, &oom)))
            break;
        if (c->name[0] == '\0') {
            free(c->name);
            c->name = NULL;
        }
        ok = take_names(&p, end, n, &c->names, &oom);
        c->n = n; /* every entry set or NULL: freed alike */
    }
    if (!ok) {
        hprt_csv_encoding_free(e);
        return oom ? hprt_fail(err, HPRT_E_RUN, "out of memory reading the CSV encoding")
                   : hprt_fail(err, HPRT_E_DATA, "the CSV encoding (class names and categories) is malformed");
    }
    return HPRT_OK;
}

/* ---- the scan ------------------------------------------------------------ */

typedef struct {
    const char *path;
    hprt_csv_opts opts;
    const char *data_start; /* first byte after the header line */
    long data_lineno;       /* line number before data_start */
    int columns;
    int label_col;          /* -1: none (or several: n_labels) */
    int n_labels;           /* multi-label: the label columns, label i in file column label_cols[i] */
    int label_cols[HPRT_MAX_LABELS];
    char **names;           /* columns entries when there is a header */
    long rows;
    int max_label;
    csv_field *fields;      /* scratch, columns entries */
    /* categorical data */
    bool string_labels;     /* the labels are class names */
    hprt_csv_encoding built; /* built from this file (when opts.encoding is NULL) */
    const hprt_csv_encoding *enc; /* in force: opts.encoding or &built */
    strtab class_tab;       /* enc's classes -> class number */
    strtab *cat_tab;        /* per enc->cats entry: category -> index */
    int *cat_of;            /* per file column: its enc->cats entry, or -1 */
    int features;           /* per row, after one-hot encoding */
} csv_scan;

static void free_names(char **names, int n)
{
    if (!names)
        return;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Splits a line into sc->fields; returns the number of fields found (all of
 * them, even past columns), or -1 with err set. */
static int split_line(csv_scan *sc, const char *s, const char *e, long lineno, int cap,
                      hprt_error *err)
{
    const char *p = s;
    int n = 0;
    while (p) {
        csv_field f;
        field_status fs = next_field(&p, e, &f);
        if (fs != FIELD_OK) {
            hprt_fail(err, HPRT_E_DATA, "%s: line %ld, field %d: %s", sc->path, lineno, n + 1,
                      fs == FIELD_UNTERMINATED
                          ? "unterminated quote (a quoted field may not span lines)"
                          : "unexpected text after a closing quote");
            return -1;
        }
        if (n < cap)
            sc->fields[n] = f;
        n++;
    }
    return n;
}

/* Shows a field in a message: quoted, shortened past 40 characters. */
static void field_show(const csv_field *f, char *buf, size_t cap)
{
    int n = (int)(f->e - f->s);
    if (n > 40)
        snprintf(buf, cap, "'%.37s...'", f->s);
    else
        snprintf(buf, cap, "'%.*s'", n, f->s);
}

/* " (column 'name')" when the file has a header. */
static void column_note(const csv_scan *sc, int col, char *buf, size_t cap)
{
    if (sc->names)
        snprintf(buf, cap, " (column '%.60s')", sc->names[col]);
    else
        buf[0] = '\0';
}

/* A file whose first line fails to parse without header = true probably
 * has a header: say so. */
static const char *header_hint(const csv_scan *sc, long lineno)
{
    return !sc->opts.header && lineno == sc->data_lineno + 1
               ? "; if this line names the columns, set header = true"
               : "";
}

static hprt_status parse_label(csv_scan *sc, const csv_field *f, long lineno, int32_t *out,
                               hprt_error *err)
{
    char buf[128], *end;
    double v = 0;
    bool ok = field_cstr(f, buf, sizeof buf) && buf[0] != '\0';
    if (ok) {
        errno = 0;
        v = strtod(buf, &end);
        /* "3" or "3.0" (pandas writes integer columns with gaps as floats) */
        ok = *end == '\0' && isfinite(v) && v >= 0 && v <= INT32_MAX && v == floor(v);
    }
    if (ok && v >= HPRT_MAX_CLASSES) {
        char col[96];
        column_note(sc, sc->label_col, col, sizeof col);
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: line %ld, field %d: label %.0f%s would make %.0f classes; the most is %d (labels 0 to %d)",
                         sc->path, lineno, sc->label_col + 1, v, col, v + 1, HPRT_MAX_CLASSES, HPRT_MAX_CLASSES - 1);
    }
    if (!ok) {
        char shown[64], col[96];
        field_show(f, shown, sizeof shown);
        column_note(sc, sc->label_col, col, sizeof col);
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: line %ld, field %d (%s): the label must be a non-negative integer "
                         "(a class number 0, 1, 2, ...)%s%s",
                         sc->path, lineno, sc->label_col + 1, shown, col,
                         header_hint(sc, lineno));
    }
    *out = (int32_t)v;
    return HPRT_OK;
}

static bool is_number(const csv_field *f);

static hprt_status parse_feature(csv_scan *sc, const csv_field *f, long lineno, int col,
                                 float *out, hprt_error *err)
{
    char buf[128], *end;
    const char *what = NULL;
    if (f->s == f->e) {
        what = "empty field; not a number";
    } else if (!field_cstr(f, buf, sizeof buf)) {
        what = "not a number";
    } else {
        errno = 0;
        float v = strtof(buf, &end);
        if (*end != '\0')
            what = "not a number";
        else if (!isfinite(v))
            what = "not a finite float32 number";
        else
            *out = v;
    }
    if (!what)
        return HPRT_OK;
    char shown[64], cname[96], hint[160] = "";
    field_show(f, shown, sizeof shown);
    column_note(sc, col, cname, sizeof cname);
    if (f->s != f->e && !is_number(f) && !header_hint(sc, lineno)[0]) { /* a word: a category? */
        if (sc->names)
            snprintf(hint, sizeof hint, "; if the column holds categories, declare it: categories = [\"%.60s\"]",
                     sc->names[col]);
        else
            snprintf(hint, sizeof hint, "; if the column holds categories, declare it: categories = [%d]", col);
    }
    return hprt_fail(err, HPRT_E_DATA, "%s: line %ld, field %d (%s): %s%s%s%s", sc->path, lineno,
                     col + 1, shown, what, cname, header_hint(sc, lineno), hint);
}

/* Resolves label = last | first | N | "name" once the columns are known. */
static hprt_status resolve_labels(csv_scan *sc, hprt_error *err);

static hprt_status resolve_label(csv_scan *sc, hprt_error *err)
{
    const hprt_csv_opts *o = &sc->opts;
    if (o->n_labels > 0)
        return resolve_labels(sc, err);
    switch (o->label) {
    case HPRT_LABEL_LAST: sc->label_col = sc->columns - 1; break;
    case HPRT_LABEL_FIRST: sc->label_col = 0; break;
    case HPRT_LABEL_NONE: sc->label_col = -1; break;
    case HPRT_LABEL_INDEX:
        if (o->label_index < 0 || o->label_index >= sc->columns)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: label column %d does not exist: the file has %d columns, "
                             "numbered 0 to %d",
                             sc->path, o->label_index, sc->columns, sc->columns - 1);
        sc->label_col = o->label_index;
        break;
    case HPRT_LABEL_NAME: {
        const char *want = o->label_name ? o->label_name : "";
        if (!sc->names)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: label = \"%s\" names a column, but header = false, so the "
                             "columns have no names; set header = true or give the label's "
                             "column number",
                             sc->path, want);
        sc->label_col = -1;
        for (int i = 0; i < sc->columns; i++)
            if (strcmp(sc->names[i], want) == 0) {
                sc->label_col = i;
                break;
            }
        if (sc->label_col < 0) {
            char list[512];
            size_t used = 0;
            list[0] = '\0';
            for (int i = 0; i < sc->columns; i++) {
                int w = snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "",
                                 sc->names[i]);
                if (w < 0 || (size_t)w >= sizeof list - used) {
                    memcpy(list + sizeof list - 4, "...", 4); /* too many to list */
                    break;
                }
                used += (size_t)w;
            }
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: no column named '%s' in the header; the columns are %s",
                             sc->path, want, list);
        }
        break;
    }
    default:
        return hprt_fail(err, HPRT_E_DATA, "%s: invalid label selection %d", sc->path,
                         (int)o->label);
    }
    if (sc->label_col >= 0 && sc->columns < 2)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: only one column; a data set needs at least one feature column "
                         "besides the label",
                         sc->path);
    return HPRT_OK;
}

/* The file column `r` names (a header name or a 0-based number) in *col;
 * `what` names the kind of column in the messages, `hint` ends the one for
 * a name without a header. */
static hprt_status find_column(const csv_scan *sc, const hprt_csv_colref *r, const char *what, const char *hint, int *col,
                               hprt_error *err)
{
    if (!r->name) {
        if (r->index < 0 || r->index >= sc->columns)
            return hprt_fail(err, HPRT_E_DATA, "%s: %s column %d does not exist: the file has %d columns, numbered 0 to %d",
                             sc->path, what, r->index, sc->columns, sc->columns - 1);
        *col = r->index;
        return HPRT_OK;
    }
    if (!sc->names)
        return hprt_fail(err, HPRT_E_DATA, "%s: %s column \"%s\" is a name, but header = false%s", sc->path, what,
                         r->name, hint);
    for (int j = 0; j < sc->columns; j++)
        if (strcmp(sc->names[j], r->name) == 0) {
            *col = j;
            return HPRT_OK;
        }
    return hprt_fail(err, HPRT_E_DATA, "%s: %s column: no column named '%s' in the header", sc->path, what, r->name);
}

/* Several label columns (opts.labels): each by header name or number, none twice. */
static hprt_status resolve_labels(csv_scan *sc, hprt_error *err)
{
    const hprt_csv_opts *o = &sc->opts;
    sc->label_col = -1;
    if (o->n_labels > HPRT_MAX_LABELS)
        return hprt_fail(err, HPRT_E_DATA, "%s: %d label columns; the most is %d", sc->path, o->n_labels,
                         HPRT_MAX_LABELS);
    for (int i = 0; i < o->n_labels; i++) {
        int col;
        hprt_status st = find_column(sc, &o->labels[i], "label", ", so the columns have no names; set header = true or give "
                                     "the column's number", &col, err);
        if (st != HPRT_OK)
            return st;
        for (int k = 0; k < i; k++)
            if (sc->label_cols[k] == col)
                return hprt_fail(err, HPRT_E_DATA, "%s: label column %d is named twice", sc->path, col);
        sc->label_cols[i] = col;
    }
    sc->n_labels = o->n_labels;
    if (sc->columns <= sc->n_labels)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: %d columns, all of them labels; a data set needs at least one feature column", sc->path,
                         sc->columns);
    return HPRT_OK;
}

/* Is file column j a label (the one, or one of several)? */
static bool is_label_col(const csv_scan *sc, int j)
{
    if (j == sc->label_col)
        return true;
    for (int i = 0; i < sc->n_labels; i++)
        if (sc->label_cols[i] == j)
            return true;
    return false;
}

/* Feature columns before one-hot encoding: the columns but the labels. */
static int raw_features(const csv_scan *sc)
{
    return sc->columns - (sc->label_col >= 0 ? 1 : 0) - sc->n_labels;
}

/* A multi-label field: 0 or 1 (written "0", "1", "0.0" or "1.0"). */
static hprt_status parse_bit(csv_scan *sc, const csv_field *f, long lineno, int col, int *out, hprt_error *err)
{
    char buf[128], *end;
    double v = -1;
    if (field_cstr(f, buf, sizeof buf) && buf[0] != '\0') {
        v = strtod(buf, &end);
        if (*end != '\0')
            v = -1;
    }
    if (v == 0 || v == 1) {
        *out = (int)v;
        return HPRT_OK;
    }
    char shown[64], cname[96];
    field_show(f, shown, sizeof shown);
    column_note(sc, col, cname, sizeof cname);
    return hprt_fail(err, HPRT_E_DATA, "%s: line %ld, field %d (%s): a label column of a multi-label set holds 0 or 1%s%s",
                     sc->path, lineno, col + 1, shown, cname, header_hint(sc, lineno));
}

/* The bit set of a row's label columns: bit i is label i. */
static hprt_status parse_bits(csv_scan *sc, long lineno, int32_t *out, hprt_error *err)
{
    int32_t bits = 0;
    for (int i = 0; i < sc->n_labels; i++) {
        int b;
        hprt_status st = parse_bit(sc, &sc->fields[sc->label_cols[i]], lineno, sc->label_cols[i], &b, err);
        if (st != HPRT_OK)
            return st;
        bits |= (int32_t)b << i;
    }
    *out = bits;
    return HPRT_OK;
}

/* ---- categorical fields ---- */

/* A field that strtod reads whole: a number, even if not a valid label. */
static bool is_number(const csv_field *f)
{
    char buf[128], *end;
    if (!field_cstr(f, buf, sizeof buf) || buf[0] == '\0')
        return false;
    (void)strtod(buf, &end);
    return *end == '\0';
}

/* The field's text with "" unescaped: its bytes, or a copy in *tmp (freed by
 * the caller); NULL when out of memory. */
static const char *field_text(const csv_field *f, char **tmp, size_t *n)
{
    *tmp = NULL;
    if (!f->escapes) {
        *n = (size_t)(f->e - f->s);
        return f->s;
    }
    if (!(*tmp = field_dup(f)))
        return NULL;
    *n = strlen(*tmp);
    return *tmp;
}

/* A class name or category: not empty, no carriage return or NUL byte. */
static hprt_status name_ok(csv_scan *sc, const csv_field *f, long lineno, int col, hprt_error *err)
{
    const char *what = NULL;
    if (f->s == f->e)
        what = col == sc->label_col ? "empty field; a label needs a value" : "empty field; a category needs a value";
    else if (memchr(f->s, '\0', (size_t)(f->e - f->s)) || memchr(f->s, '\r', (size_t)(f->e - f->s)))
        what = "a NUL byte or carriage return in a category or class name";
    if (!what)
        return HPRT_OK;
    char shown[64], cname[96];
    field_show(f, shown, sizeof shown);
    column_note(sc, col, cname, sizeof cname);
    return hprt_fail(err, HPRT_E_DATA, "%s: line %ld, field %d (%s): %s%s", sc->path, lineno, col + 1, shown, what,
                     cname);
}

/* The class number of a label that names a class of the encoding in force. */
static hprt_status class_of(csv_scan *sc, const csv_field *f, long lineno, int32_t *out, hprt_error *err)
{
    hprt_status st = name_ok(sc, f, lineno, sc->label_col, err);
    if (st != HPRT_OK)
        return st;
    char *tmp;
    size_t n;
    const char *t = field_text(f, &tmp, &n);
    if (!t)
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    int id = strtab_find(&sc->class_tab, t, n);
    free(tmp);
    if (id >= 0) {
        *out = id;
        return HPRT_OK;
    }
    char shown[64], col[96];
    field_show(f, shown, sizeof shown);
    column_note(sc, sc->label_col, col, sizeof col);
    const hprt_csv_encoding *e = sc->enc;
    return hprt_fail(err, HPRT_E_DATA,
                     "%s: line %ld, field %d (%s): not one of the %d classes of the training data%s (%s%s%s%s%s)",
                     sc->path, lineno, sc->label_col + 1, shown, e->n_classes, col, e->classes[0],
                     e->n_classes > 1 ? ", " : "", e->n_classes > 1 ? e->classes[1] : "", e->n_classes > 2 ? ", " : "",
                     e->n_classes > 2 ? "..." : "");
}

/* The category index of file column j's field; -1 for a category the encoding lacks. */
static int category_of(const csv_scan *sc, int j, const csv_field *f)
{
    char *tmp;
    size_t n;
    const char *t = field_text(f, &tmp, &n);
    int id = t ? strtab_find(&sc->cat_tab[sc->cat_of[j]], t, n) : -1;
    free(tmp);
    return id;
}

static hprt_status check_categories(csv_scan *sc, long lineno, hprt_error *err)
{
    for (int j = 0; j < sc->columns; j++)
        if (sc->cat_of[j] >= 0) {
            hprt_status st = name_ok(sc, &sc->fields[j], lineno, j, err);
            if (st != HPRT_OK)
                return st;
        }
    return HPRT_OK;
}

/* The file column of a feature position (0-based among the non-label columns) and back. */
static int file_column(const csv_scan *sc, int pos)
{
    for (int j = 0; j < sc->columns; j++)
        if (!is_label_col(sc, j) && pos-- == 0)
            return j;
    return sc->columns;
}

static int feature_pos(const csv_scan *sc, int col)
{
    int pos = 0;
    for (int j = 0; j < col; j++)
        pos += !is_label_col(sc, j);
    return pos;
}

/* Resolves opts.categorical into file columns (cols[n_categorical]). */
static hprt_status resolve_categorical(csv_scan *sc, int *cols, hprt_error *err)
{
    for (int i = 0; i < sc->opts.n_categorical; i++) {
        int col;
        hprt_status st = find_column(sc, &sc->opts.categorical[i], "categorical", "; give its column number", &col, err);
        if (st != HPRT_OK)
            return st;
        if (is_label_col(sc, col))
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: categorical column %d is %s label column; label names need no declaration",
                             sc->path, col, sc->n_labels ? "a" : "the");
        for (int k = 0; k < i; k++)
            if (cols[k] == col)
                return hprt_fail(err, HPRT_E_DATA, "%s: categorical column %d is declared twice", sc->path, col);
        cols[i] = col;
    }
    return HPRT_OK;
}

typedef struct {
    char *name;
    long first;
} named_row;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const named_row *)a)->name, ((const named_row *)b)->name);
}

/* The distinct names of t in strcmp order (t's names pass to *names; t keeps none). */
static bool sorted_names(strtab *t, char ***names, long **first)
{
    *names = NULL;
    if (first)
        *first = NULL;
    if (t->n == 0)
        return true;
    named_row *v = malloc(sizeof *v * (size_t)t->n);
    char **nm = malloc(sizeof *nm * (size_t)t->n);
    long *fr = first ? malloc(sizeof *fr * (size_t)t->n) : NULL;
    if (!v || !nm || (first && !fr)) {
        free(v);
        free(nm);
        free(fr);
        return false;
    }
    for (int i = 0; i < t->n; i++)
        v[i] = (named_row){t->names[i], t->first[i]};
    qsort(v, (size_t)t->n, sizeof *v, by_name);
    for (int i = 0; i < t->n; i++) {
        nm[i] = v[i].name;
        if (fr)
            fr[i] = v[i].first;
    }
    free(v);
    t->own = false; /* the names moved */
    *names = nm;
    if (first)
        *first = fr;
    return true;
}

/* Adds field f (of data row `row`) to t unless present; the limit is a located error. */
static hprt_status add_name(csv_scan *sc, strtab *t, const csv_field *f, int col, long lineno, long row, int limit,
                            hprt_error *err)
{
    hprt_status st = name_ok(sc, f, lineno, col, err);
    if (st != HPRT_OK)
        return st;
    char *tmp;
    size_t n;
    const char *s = field_text(f, &tmp, &n);
    if (!s)
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    if (strtab_find(t, s, n) >= 0) {
        free(tmp);
        return HPRT_OK;
    }
    if (t->n >= limit) {
        free(tmp);
        char cname[96];
        column_note(sc, col, cname, sizeof cname);
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: line %ld, field %d%s: more than %d distinct %s; the most is %d",
                         sc->path, lineno, col + 1, cname, limit,
                         col == sc->label_col ? "class names" : "categories in a categorical column", limit);
    }
    char *d = tmp ? tmp : malloc(n + 1);
    if (d && !tmp) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    if (!d || !strtab_add(t, d, row)) {
        free(d);
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    }
    return HPRT_OK;
}

/* The class names (when the labels are names) and the categories of the
 * declared columns, from this file: one more pass over the rows. */
static hprt_status build_encoding(csv_scan *sc, const char *buf, size_t len, hprt_error *err)
{
    int ncat = sc->opts.n_categorical;
    if (!sc->string_labels && ncat == 0)
        return HPRT_OK;
    int *cols = ncat ? malloc(sizeof *cols * (size_t)ncat) : NULL;
    int *dims = ncat ? calloc((size_t)ncat, sizeof *dims) : NULL;
    strtab classes = {.own = true};
    strtab *tabs = ncat ? calloc((size_t)ncat, sizeof *tabs) : NULL;
    hprt_status st = (ncat && (!cols || !dims || !tabs)) ? hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path)
                                                          : HPRT_OK;
    int *mins = ncat ? calloc((size_t)ncat, sizeof *mins) : NULL;
    if (st == HPRT_OK && ncat && !mins)
        st = hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    for (int i = 0; st == HPRT_OK && sc->opts.categorical_dims && i < ncat; i++)
        dims[i] = sc->opts.categorical_dims[i];
    for (int i = 0; st == HPRT_OK && sc->opts.categorical_min_counts && i < ncat; i++)
        mins[i] = sc->opts.categorical_min_counts[i];
    if (st == HPRT_OK)
        st = resolve_categorical(sc, cols, err);
    for (int i = 0; st == HPRT_OK && i < ncat; i++)
        tabs[i].own = true;
    line_iter it = {sc->data_start, buf + len, sc->data_lineno};
    const char *s, *e;
    long row = 0;
    while (st == HPRT_OK && row < sc->rows && next_line(&it, &s, &e)) {
        if (blank_line(s, e))
            continue;
        (void)split_line(sc, s, e, it.lineno, sc->columns, err); /* checked by pass 1 */
        if (sc->string_labels)
            st = add_name(sc, &classes, &sc->fields[sc->label_col], sc->label_col, it.lineno, row, HPRT_MAX_CLASSES,
                          err);
        for (int i = 0; st == HPRT_OK && i < ncat; i++)
            st = add_name(sc, &tabs[i], &sc->fields[cols[i]], cols[i], it.lineno, row, HPRT_MAX_CATEGORIES, err);
        row++;
    }
    hprt_csv_encoding *b = &sc->built;
    if (st == HPRT_OK) {
        bool ok = sorted_names(&classes, &b->classes, NULL);
        b->n_classes = ok ? classes.n : 0;
        b->cats = ncat ? calloc((size_t)ncat, sizeof *b->cats) : NULL;
        if (b->cats) {
            /* in column order, as the features are laid out */
            for (int i = 0; i < ncat; i++)
                for (int k = i + 1; k < ncat; k++)
                    if (cols[k] < cols[i]) {
                        int tc = cols[i];
                        cols[i] = cols[k];
                        cols[k] = tc;
                        tc = dims[i];
                        dims[i] = dims[k];
                        dims[k] = tc;
                        tc = mins[i];
                        mins[i] = mins[k];
                        mins[k] = tc;
                        strtab tt = tabs[i];
                        tabs[i] = tabs[k];
                        tabs[k] = tt;
                    }
            b->n_cats = ncat;
            for (int i = 0; i < ncat; i++) {
                hprt_csv_category *c = &b->cats[i];
                c->column = feature_pos(sc, cols[i]);
                c->dim = dims[i];
                c->min_count = mins[i];
                if (sc->names && !(c->name = dup_str(sc->names[cols[i]])))
                    ok = false;
                if (sorted_names(&tabs[i], &c->names, &c->first_row))
                    c->n = tabs[i].n;
                else
                    ok = false;
            }
        } else if (ncat) {
            ok = false;
        }
        if (!ok)
            st = hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    }
    /* min_count: each row's category, counted once the training rows are known (hprt_csv_encoding_restrict) */
    for (int i = 0; st == HPRT_OK && i < ncat; i++) {
        hprt_csv_category *c = &b->cats[i];
        if (c->min_count <= 1)
            continue;
        strtab idx;
        c->row_cat = malloc(sizeof *c->row_cat * (size_t)(sc->rows > 0 ? sc->rows : 1));
        if (!c->row_cat || !strtab_index(&idx, c->names, c->n)) {
            if (c->row_cat)
                strtab_free(&idx);
            st = hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
            break;
        }
        c->n_rows = sc->rows;
        line_iter it2 = {sc->data_start, buf + len, sc->data_lineno};
        for (long r = 0; st == HPRT_OK && r < sc->rows && next_line(&it2, &s, &e);) {
            if (blank_line(s, e))
                continue;
            (void)split_line(sc, s, e, it2.lineno, sc->columns, err); /* checked by pass 1 */
            char *tmp;
            size_t n;
            const char *t = field_text(&sc->fields[cols[i]], &tmp, &n);
            if (!t)
                st = hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
            c->row_cat[r++] = t ? strtab_find(&idx, t, n) : -1;
            free(tmp);
        }
        strtab_free(&idx);
    }
    strtab_free(&classes);
    for (int i = 0; tabs && i < ncat; i++)
        strtab_free(&tabs[i]);
    free(tabs);
    free(cols);
    free(dims);
    free(mins);
    return st;
}

/* Lookup tables for the encoding in force (sc->enc) and each file column's category entry. */
static hprt_status index_encoding(csv_scan *sc, hprt_error *err)
{
    const hprt_csv_encoding *e = sc->enc;
    sc->cat_of = malloc(sizeof *sc->cat_of * (size_t)sc->columns);
    if (!sc->cat_of)
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    for (int j = 0; j < sc->columns; j++)
        sc->cat_of[j] = -1;
    if (!strtab_index(&sc->class_tab, e->classes, e->n_classes))
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    if (e->n_cats == 0)
        return HPRT_OK;
    if (!(sc->cat_tab = calloc((size_t)e->n_cats, sizeof *sc->cat_tab)))
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    int raw = raw_features(sc);
    for (int i = 0; i < e->n_cats; i++) {
        const hprt_csv_category *c = &e->cats[i];
        if (c->column < 0 || c->column >= raw)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: the model one-hot encodes feature column %d%s%s%s, but the file has %d feature columns",
                             sc->path, c->column, c->name ? " ('" : "", c->name ? c->name : "", c->name ? "')" : "", raw);
        sc->cat_of[file_column(sc, c->column)] = i;
        if (!strtab_index(&sc->cat_tab[i], c->names, c->n))
            return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
    }
    return HPRT_OK;
}

static hprt_status finish_features(csv_scan *sc, hprt_error *err)
{
    int raw = raw_features(sc);
    sc->features = hprt_csv_encoding_width(sc->enc, raw);
    if (sc->features < 1)
        return hprt_fail(err, HPRT_E_DATA, "%s: no features: the categorical columns have no categories", sc->path);
    return HPRT_OK;
}

/* Pass 1: header, columns, label column, rows, max label. */
static hprt_status scan_structure(csv_scan *sc, const char *buf, size_t len, hprt_error *err)
{
    line_iter it = {buf, buf + len, 0};
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        it.p += 3; /* a UTF-8 byte-order mark, as Excel writes */
    const char *s, *e;
    bool found = false;
    while (next_line(&it, &s, &e))
        if (!blank_line(s, e)) {
            found = true;
            break;
        }
    if (!found)
        return hprt_fail(err, HPRT_E_DATA, "%s: empty file; a CSV data set needs data rows",
                         sc->path);

    /* The first non-blank line fixes the number of columns. */
    int cols = 0;
    for (const char *p = s; p;) {
        csv_field f;
        field_status fs = next_field(&p, e, &f);
        if (fs != FIELD_OK)
            return hprt_fail(err, HPRT_E_DATA, "%s: line %ld, field %d: %s", sc->path,
                             it.lineno, cols + 1,
                             fs == FIELD_UNTERMINATED
                                 ? "unterminated quote (a quoted field may not span lines)"
                                 : "unexpected text after a closing quote");
        if (cols == INT_MAX - 1)
            return hprt_fail(err, HPRT_E_DATA, "%s: line %ld: too many fields", sc->path,
                             it.lineno);
        cols++;
    }
    sc->columns = cols;
    sc->fields = malloc((size_t)cols * sizeof *sc->fields);
    if (!sc->fields)
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);

    if (sc->opts.header) {
        (void)split_line(sc, s, e, it.lineno, cols, err); /* parsed fine just above */
        sc->names = calloc((size_t)cols, sizeof *sc->names);
        if (!sc->names)
            return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
        for (int i = 0; i < cols; i++)
            if (!(sc->names[i] = field_dup(&sc->fields[i])))
                return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", sc->path);
        sc->data_start = it.p;
        sc->data_lineno = it.lineno;
    } else {
        sc->data_start = s;
        sc->data_lineno = it.lineno - 1;
    }
    hprt_status st = resolve_label(sc, err);
    if (st != HPRT_OK)
        return st;
    if (sc->opts.encoding) { /* the training set's encoding */
        sc->enc = sc->opts.encoding;
        sc->string_labels = sc->enc->n_classes > 0;
        if ((st = index_encoding(sc, err)) != HPRT_OK)
            return st;
    }

    /* Count the rows; check every row's field count and label. */
    it.p = sc->data_start;
    it.lineno = sc->data_lineno;
    sc->rows = 0;
    sc->max_label = -1;
    while (next_line(&it, &s, &e)) {
        if (blank_line(s, e))
            continue;
        int n = split_line(sc, s, e, it.lineno, cols, err);
        if (n < 0)
            return err ? err->status : HPRT_E_DATA;
        if (n != cols)
            return hprt_fail(err, HPRT_E_DATA, "%s: line %ld: expected %d fields, found %d",
                             sc->path, it.lineno, cols, n);
        if (sc->n_labels > 0) {
            int32_t bits;
            if ((st = parse_bits(sc, it.lineno, &bits, err)) != HPRT_OK)
                return st;
        }
        if (sc->label_col >= 0) {
            const csv_field *lf = &sc->fields[sc->label_col];
            if (sc->string_labels) {
                int32_t lab;
                st = sc->enc ? class_of(sc, lf, it.lineno, &lab, err) : name_ok(sc, lf, it.lineno, sc->label_col, err);
                if (st != HPRT_OK)
                    return st;
            } else {
                int32_t lab;
                st = parse_label(sc, lf, it.lineno, &lab, err);
                if (st != HPRT_OK && !sc->enc && lf->s != lf->e && !is_number(lf)) {
                    /* not a number: the labels are class names (from the first row) */
                    sc->string_labels = true;
                    st = name_ok(sc, lf, it.lineno, sc->label_col, err);
                }
                if (st != HPRT_OK)
                    return st;
                if (!sc->string_labels && lab > sc->max_label)
                    sc->max_label = lab;
            }
        }
        if (sc->enc) {
            st = check_categories(sc, it.lineno, err);
            if (st != HPRT_OK)
                return st;
        }
        sc->rows++;
    }
    if (sc->rows == 0)
        return hprt_fail(err, HPRT_E_DATA, "%s: no data rows%s", sc->path,
                         sc->opts.header ? " after the header line" : "");
    if (!sc->enc) { /* the encoding from this file */
        st = build_encoding(sc, buf, len, err);
        if (st != HPRT_OK)
            return st;
        sc->enc = &sc->built;
        st = index_encoding(sc, err);
        if (st != HPRT_OK)
            return st;
    }
    return finish_features(sc, err);
}

/* Pass 2: the values.  The structure was checked by pass 1. */
static hprt_status scan_values(csv_scan *sc, const char *buf, size_t len, hprt_dataset *ds,
                               hprt_error *err)
{
    line_iter it = {sc->data_start, buf + len, sc->data_lineno};
    const char *s, *e;
    int features = ds->features;
    long row = 0;
    while (row < sc->rows && next_line(&it, &s, &e)) {
        if (blank_line(s, e))
            continue;
        (void)split_line(sc, s, e, it.lineno, sc->columns, err); /* checked by pass 1 */
        float *xr = ds->x + (size_t)row * (size_t)features;
        int k = 0;
        if (sc->n_labels > 0) {
            hprt_status st = parse_bits(sc, it.lineno, &ds->y[row], err);
            if (st != HPRT_OK)
                return st;
        }
        for (int j = 0; j < sc->columns; j++) {
            if (sc->n_labels > 0 && is_label_col(sc, j))
                continue;
            if (j == sc->label_col) {
                hprt_status st = sc->string_labels ? class_of(sc, &sc->fields[j], it.lineno, &ds->y[row], err)
                                                   : parse_label(sc, &sc->fields[j], it.lineno, &ds->y[row], err);
                if (st != HPRT_OK)
                    return st;
                continue;
            }
            if (sc->cat_of[j] >= 0) { /* one-hot, all zeros for an unknown category */
                const hprt_csv_category *cat = &sc->enc->cats[sc->cat_of[j]];
                int id = category_of(sc, j, &sc->fields[j]);
                if (cat->dim > 0) { /* embedded: the id, 1..n; 0 for an unknown category */
                    xr[k++] = (float)(id + 1);
                    continue;
                }
                for (int c = 0; c < cat->n; c++)
                    xr[k + c] = c == id ? 1.0f : 0.0f;
                k += cat->n;
                continue;
            }
            hprt_status st = parse_feature(sc, &sc->fields[j], it.lineno, j, &xr[k++], err);
            if (st != HPRT_OK)
                return st;
        }
        ds->line[row] = it.lineno;
        row++;
    }
    return HPRT_OK;
}

/* Pass 2 without keeping the values: every feature must be a number. */
static hprt_status check_values(csv_scan *sc, const char *buf, size_t len, hprt_error *err)
{
    line_iter it = {sc->data_start, buf + len, sc->data_lineno};
    const char *s, *e;
    long row = 0;
    while (row < sc->rows && next_line(&it, &s, &e)) {
        if (blank_line(s, e))
            continue;
        (void)split_line(sc, s, e, it.lineno, sc->columns, err); /* checked by pass 1 */
        for (int j = 0; j < sc->columns; j++) {
            float x;
            hprt_status st = is_label_col(sc, j) || sc->cat_of[j] >= 0
                                 ? HPRT_OK
                                 : parse_feature(sc, &sc->fields[j], it.lineno, j, &x, err);
            if (st != HPRT_OK)
                return st;
        }
        row++;
    }
    return HPRT_OK;
}

static void scan_free(csv_scan *sc)
{
    free_names(sc->names, sc->columns);
    sc->names = NULL;
    free(sc->fields);
    sc->fields = NULL;
    strtab_free(&sc->class_tab);
    if (sc->cat_tab)
        for (int i = 0; sc->enc && i < sc->enc->n_cats; i++)
            strtab_free(&sc->cat_tab[i]);
    free(sc->cat_tab);
    sc->cat_tab = NULL;
    free(sc->cat_of);
    sc->cat_of = NULL;
    hprt_csv_encoding_free(&sc->built);
    sc->enc = NULL;
}

static hprt_status csv_begin(csv_scan *sc, const char *path, const hprt_csv_opts *opts,
                             char **buf, size_t *len, hprt_error *err)
{
    memset(sc, 0, sizeof *sc);
    sc->path = path;
    sc->opts = opts ? *opts : hprt_csv_defaults();
    sc->label_col = -1;
    hprt_status s = read_all(path, buf, len, err);
    if (s != HPRT_OK)
        return s;
    s = scan_structure(sc, *buf, *len, err);
    if (s != HPRT_OK) {
        scan_free(sc);
        free(*buf);
        *buf = NULL;
    }
    return s;
}

hprt_status hprt_csv_probe(const char *path, const hprt_csv_opts *opts, hprt_data_info *info,
                           hprt_error *err)
{
    memset(info, 0, sizeof *info);
    csv_scan sc;
    char *buf;
    size_t len;
    hprt_status s = csv_begin(&sc, path, opts, &buf, &len, err);
    if (s != HPRT_OK)
        return s;
    s = check_values(&sc, buf, len, err);
    free(buf);
    if (s != HPRT_OK) {
        scan_free(&sc);
        return s;
    }
    info->kind = HPRT_DATA_CSV;
    info->n = sc.rows;
    info->columns = sc.columns;
    info->label_column = sc.label_col;
    info->features = sc.features;
    info->rank = 1;
    info->dims[0] = info->features;
    info->classes = sc.n_labels       ? sc.n_labels
                    : sc.label_col < 0 ? 0
                    : sc.string_labels ? sc.enc->n_classes
                                       : sc.max_label + 1;
    info->labels = sc.n_labels;
    memcpy(info->label_columns, sc.label_cols, sizeof info->label_columns);
    info->names = sc.names; /* ownership passes to info */
    sc.names = NULL;
    if (sc.enc == &sc.built) { /* so does the encoding built from this file */
        info->encoding = sc.built;
        memset(&sc.built, 0, sizeof sc.built);
        sc.enc = &info->encoding; /* scan_free walks its tables */
    } else {
        s = hprt_csv_encoding_copy(&info->encoding, sc.enc, err);
    }
    scan_free(&sc);
    if (s != HPRT_OK)
        hprt_data_info_free(info);
    return s;
}

hprt_status hprt_csv_load(const char *path, const hprt_csv_opts *opts, hprt_dataset *ds,
                          hprt_error *err)
{
    memset(ds, 0, sizeof *ds);
    csv_scan sc;
    char *buf;
    size_t len;
    hprt_status s = csv_begin(&sc, path, opts, &buf, &len, err);
    if (s != HPRT_OK)
        return s;

    ds->kind = HPRT_DATA_CSV;
    ds->n = sc.rows;
    ds->features = sc.features;
    ds->rank = 1;
    ds->dims[0] = ds->features;
    ds->classes = sc.n_labels       ? sc.n_labels
                  : sc.label_col < 0 ? 0
                  : sc.string_labels ? sc.enc->n_classes
                                     : sc.max_label + 1;
    ds->labels = sc.n_labels;
    bool has_y = sc.label_col >= 0 || sc.n_labels > 0;
    size_t n = (size_t)sc.rows;
    if (n > SIZE_MAX / sizeof(float) / (size_t)ds->features)
        s = hprt_fail(err, HPRT_E_DATA, "%s: %ld rows of %d features do not fit in memory",
                      path, sc.rows, ds->features);
    if (s == HPRT_OK) {
        ds->x = hprt_alloc(n * (size_t)ds->features * sizeof(float));
        ds->y = has_y ? hprt_alloc(n * sizeof(int32_t)) : NULL;
        ds->line = malloc(n * sizeof(long));
        ds->source = dup_str(path);
        if (!ds->x || (has_y && !ds->y) || !ds->line || !ds->source)
            s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory for %ld rows of %d features",
                          path, sc.rows, ds->features);
    }
    if (s == HPRT_OK)
        s = scan_values(&sc, buf, len, ds, err);
    free(buf);
    scan_free(&sc);
    if (s != HPRT_OK)
        hprt_dataset_free(ds);
    return s;
}
