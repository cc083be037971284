/* data_csv.c - numeric CSV files with one integer label column.
 *
 * The file is read whole (CSV gives no row count up front, and the feature
 * matrix is one aligned allocation) and scanned twice: the first pass finds
 * the columns, the label column, the rows and the largest label, checking
 * the field counts and labels (this pass alone is the probe); the second
 * parses the features into the matrix.  Every message names the file, the
 * line and, for a bad value, the field (both counting from 1).
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

/* ---- the scan ------------------------------------------------------------ */

typedef struct {
    const char *path;
    hprt_csv_opts opts;
    const char *data_start; /* first byte after the header line */
    long data_lineno;       /* line number before data_start */
    int columns;
    int label_col;          /* -1: none */
    char **names;           /* columns entries when there is a header */
    long rows;
    int max_label;
    csv_field *fields;      /* scratch, columns entries */
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
    char shown[64], cname[96];
    field_show(f, shown, sizeof shown);
    column_note(sc, col, cname, sizeof cname);
    return hprt_fail(err, HPRT_E_DATA, "%s: line %ld, field %d (%s): %s%s%s", sc->path, lineno,
                     col + 1, shown, what, cname, header_hint(sc, lineno));
}

/* Resolves label = last | first | N | "name" once the columns are known. */
static hprt_status resolve_label(csv_scan *sc, hprt_error *err)
{
    const hprt_csv_opts *o = &sc->opts;
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
        if (sc->label_col >= 0) {
            int32_t lab;
            st = parse_label(sc, &sc->fields[sc->label_col], it.lineno, &lab, err);
            if (st != HPRT_OK)
                return st;
            if (lab > sc->max_label)
                sc->max_label = lab;
        }
        sc->rows++;
    }
    if (sc->rows == 0)
        return hprt_fail(err, HPRT_E_DATA, "%s: no data rows%s", sc->path,
                         sc->opts.header ? " after the header line" : "");
    return HPRT_OK;
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
        for (int j = 0; j < sc->columns; j++) {
            if (j == sc->label_col) {
                hprt_status st = parse_label(sc, &sc->fields[j], it.lineno, &ds->y[row], err);
                if (st != HPRT_OK)
                    return st;
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
            hprt_status st = j == sc->label_col ? HPRT_OK : parse_feature(sc, &sc->fields[j], it.lineno, j, &x, err);
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
    info->features = sc.label_col >= 0 ? sc.columns - 1 : sc.columns;
    info->rank = 1;
    info->dims[0] = info->features;
    info->classes = sc.label_col >= 0 ? sc.max_label + 1 : 0;
    info->names = sc.names; /* ownership passes to info */
    sc.names = NULL;
    scan_free(&sc);
    return HPRT_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
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
    ds->features = sc.label_col >= 0 ? sc.columns - 1 : sc.columns;
    ds->rank = 1;
    ds->dims[0] = ds->features;
    ds->classes = sc.label_col >= 0 ? sc.max_label + 1 : 0;
    size_t n = (size_t)sc.rows;
    if (n > SIZE_MAX / sizeof(float) / (size_t)ds->features)
        s = hprt_fail(err, HPRT_E_DATA, "%s: %ld rows of %d features do not fit in memory",
                      path, sc.rows, ds->features);
    if (s == HPRT_OK) {
        ds->x = hprt_alloc(n * (size_t)ds->features * sizeof(float));
        ds->y = sc.label_col >= 0 ? hprt_alloc(n * sizeof(int32_t)) : NULL;
        ds->line = malloc(n * sizeof(long));
        ds->source = dup_str(path);
        if (!ds->x || (sc.label_col >= 0 && !ds->y) || !ds->line || !ds->source)
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
