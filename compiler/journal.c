/* journal.c - a study's append-only journal (journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool journal_open(journal *j, const char *path)
{
    snprintf(j->path, sizeof j->path, "%s", path);
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    return j->fd >= 0;
}

void journal_close(journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

bool journal_write(journal *j, const char *line)
{
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t w = write(j->fd, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    return fsync(j->fd) == 0;
}

/* ---- writing ---------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->buf && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
}

static void put_str(sbuf *b, const char *s)
{
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(b, "\\%c", *p);
        else if (*p < 0x20)
            put(b, "\\u%04x", *p);
        else
            put(b, "%c", *p);
    }
    put(b, "\"");
}

static void put_num(sbuf *b, double v)
{
    if (isfinite(v))
        put(b, "%.17g", v);
    else
        put(b, "null");
}

bool journal_event_write(journal *j, const journal_event *e, const char *const *paths, const char *const *values)
{
    sbuf b = {0};
    switch (e->kind) {
    case JOURNAL_STUDY:
        put(&b, "{\"event\": \"study\", \"version\": 1, \"search\": ");
        put_str(&b, e->search);
        put(&b, ", \"strategy\": ");
        put_str(&b, e->strategy);
        put(&b, ", \"seed\": %llu, \"paths\": [", (unsigned long long)e->seed);
        for (int i = 0; i < e->n_paths; i++) {
            put(&b, i ? ", " : "");
            put_str(&b, paths[i]);
        }
        put(&b, "]}\n");
        break;
    case JOURNAL_TRIAL:
        put(&b, "{\"event\": \"trial\", \"trial\": %d, \"x\": [", e->trial);
        for (int i = 0; i < e->n_x; i++) {
            put(&b, i ? ", " : "");
            put_num(&b, e->x[i]);
        }
        put(&b, "], \"values\": {");
        for (int i = 0; i < e->n_x && paths && values; i++) {
            put(&b, i ? ", " : "");
            put_str(&b, paths[i]);
            put(&b, ": ");
            put_str(&b, values[i]);
        }
        put(&b, "}}\n");
        break;
    case JOURNAL_START: /* the rank that trains the job, when not rank 0 (a study over MPI ranks) */
        put(&b, "{\"event\": \"start\", \"trial\": %d, \"to\": %d", e->trial, e->to);
        if (e->rank > 0)
            put(&b, ", \"rank\": %d", e->rank);
        put(&b, "}\n");
        break;
    case JOURNAL_EPOCH:
        put(&b, "{\"event\": \"epoch\", \"trial\": %d, \"epoch\": %d, \"value\": ", e->trial, e->epoch);
        put_num(&b, e->value);
        put(&b, ", \"seconds\": ");
        put_num(&b, e->seconds);
        put(&b, "}\n");
        break;
    case JOURNAL_DONE:
        put(&b, "{\"event\": \"done\", \"trial\": %d, \"stopped\": %s}\n", e->trial, e->stopped ? "true" : "false");
        break;
    case JOURNAL_FAILED:
        put(&b, "{\"event\": \"failed\", \"trial\": %d, \"reason\": ", e->trial);
        put_str(&b, e->reason);
        put(&b, "}\n");
        break;
    case JOURNAL_COMPILE:
        put(&b, "{\"event\": \"compile\", \"ms\": ");
        put_num(&b, e->seconds);
        put(&b, "}\n");
        break;
    case JOURNAL_END: put(&b, "{\"event\": \"end\"}\n"); break;
    }
    bool ok = !b.oom && b.buf && journal_write(j, b.buf);
    if (b.oom)
        errno = ENOMEM;
    free(b.buf);
    return ok;
}

/* ---- reading ---------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
} cur;

static void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

static bool lit(cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A string into out (truncated to n - 1 bytes; \uXXXX below 0x80 only). */
static bool str(cur *c, char *out, size_t n)
{
    ws(c);
    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return false;
            ch = *c->p++;
            if (ch == 'u') {
                if (c->end - c->p < 4)
                    return false;
                char hex[5] = {c->p[0], c->p[1], c->p[2], c->p[3], 0};
                char *e;
                long v = strtol(hex, &e, 16);
                if (*e || v < 0 || v > 0x7f)
                    return false;
                ch = (char)v;
                c->p += 4;
            } else if (ch == 'n') {
                ch = '\n';
            } else if (ch == 't') {
                ch = '\t';
            } else if (ch != '"' && ch != '\\' && ch != '/') {
                return false;
            }
        }
        if (k + 1 < n)
            out[k++] = ch;
    }
    if (n)
        out[k] = 0;
    if (c->p >= c->end)
        return false;
    c->p++;
    return true;
}

/* A number, or null (NaN). */
static bool num(cur *c, double *v)
{
    ws(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        *v = NAN;
        return true;
    }
    char buf[64];
    size_t k = 0;
    while (c->p < c->end && k + 1 < sizeof buf && strchr("+-0123456789.eE", *c->p))
        buf[k++] = *c->p++;
    buf[k] = 0;
    if (!k)
        return false;
    char *e;
    *v = strtod(buf, &e);
    return *e == 0;
}

static bool boolean(cur *c, bool *v)
{
    ws(c);
    if (c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
        c->p += 4;
        *v = true;
        return true;
    }
    if (c->end - c->p >= 5 && memcmp(c->p, "false", 5) == 0) {
        c->p += 5;
        *v = false;
        return true;
    }
    return false;
}

/* Skips an array of strings or numbers, counting its entries into *n and,
 * for numbers, storing up to max of them. */
static bool array(cur *c, double *xs, int max, int *n)
{
    if (!lit(c, '['))
        return false;
    *n = 0;
    if (lit(c, ']'))
        return true;
    do {
        ws(c);
        double v = 0;
        if (c->p < c->end && *c->p == '"') {
            char tmp[8];
            if (!str(c, tmp, sizeof tmp))
                return false;
        } else if (!num(c, &v)) {
            return false;
        }
        if (*n >= max)
            return false;
        if (xs)
            xs[*n] = v;
        (*n)++;
    } while (lit(c, ','));
    return lit(c, ']');
}

/* An object of strings (the values of a trial): skipped. */
static bool string_object(cur *c)
{
    if (!lit(c, '{'))
        return false;
    if (lit(c, '}'))
        return true;
    do {
        char tmp[8];
        if (!str(c, tmp, sizeof tmp) || !lit(c, ':') || !str(c, tmp, sizeof tmp))
            return false;
    } while (lit(c, ','));
    return lit(c, '}');
}

static bool whole(double v, int *out)
{
    if (!(v >= 0 && v <= 1e9) || v != floor(v))
        return false;
    *out = (int)v;
    return true;
}

bool journal_parse(const char *line, size_t len, journal_event *e)
{
    memset(e, 0, sizeof *e);
    e->trial = e->to = e->epoch = -1;
    e->value = e->seconds = NAN;
    cur c = {line, line + len};
    char ev[32] = "";
    bool have_trial = false, have_to = false, have_epoch = false, have_value = false, have_x = false,
         have_stopped = false, have_reason = false, have_ms = false;
    if (!lit(&c, '{'))
        return false;
    if (!lit(&c, '}'))
        do {
            char key[32];
            if (!str(&c, key, sizeof key) || !lit(&c, ':'))
                return false;
            double v;
            if (strcmp(key, "event") == 0) {
                if (!str(&c, ev, sizeof ev))
                    return false;
            } else if (strcmp(key, "search") == 0) {
                if (!str(&c, e->search, sizeof e->search))
                    return false;
            } else if (strcmp(key, "strategy") == 0) {
                if (!str(&c, e->strategy, sizeof e->strategy))
                    return false;
            } else if (strcmp(key, "reason") == 0) {
                if (!str(&c, e->reason, sizeof e->reason))
                    return false;
                have_reason = true;
            } else if (strcmp(key, "x") == 0) {
                if (!array(&c, e->x, JOURNAL_MAX_PATHS, &e->n_x))
                    return false;
                have_x = true;
            } else if (strcmp(key, "paths") == 0) {
                if (!array(&c, NULL, JOURNAL_MAX_PATHS, &e->n_paths))
                    return false;
            } else if (strcmp(key, "values") == 0) {
                if (!string_object(&c))
                    return false;
            } else if (strcmp(key, "seed") == 0) { /* 64 bits: not through a double */
                ws(&c);
                char *e2;
                errno = 0;
                if (c.p >= c.end || *c.p < '0' || *c.p > '9')
                    return false;
                char digits[24];
                size_t k = 0;
                while (c.p < c.end && *c.p >= '0' && *c.p <= '9' && k + 1 < sizeof digits)
                    digits[k++] = *c.p++;
                digits[k] = 0;
                e->seed = strtoull(digits, &e2, 10);
                if (*e2 || errno)
                    return false;
            } else if (strcmp(key, "stopped") == 0) {
                if (!boolean(&c, &e->stopped))
                    return false;
                have_stopped = true;
            } else if (num(&c, &v)) {
                if (strcmp(key, "trial") == 0)
                    have_trial = whole(v, &e->trial);
                else if (strcmp(key, "to") == 0)
                    have_to = whole(v, &e->to);
                else if (strcmp(key, "rank") == 0) {
                    if (!whole(v, &e->rank))
                        return false;
                }
                else if (strcmp(key, "epoch") == 0)
                    have_epoch = whole(v, &e->epoch);
                else if (strcmp(key, "value") == 0)
                    e->value = v, have_value = true;
                else if (strcmp(key, "seconds") == 0)
                    e->seconds = v;
                else if (strcmp(key, "ms") == 0)
                    e->seconds = v, have_ms = true;
                else if (strcmp(key, "version") != 0)
                    return false;
            } else {
                return false;
            }
        } while (lit(&c, ','));
    if (!lit(&c, '}'))
        return false;
    ws(&c);
    if (c.p != c.end)
        return false;
    if (strcmp(ev, "study") == 0)
        e->kind = JOURNAL_STUDY;
    else if (strcmp(ev, "trial") == 0 && have_trial && have_x)
        e->kind = JOURNAL_TRIAL;
    else if (strcmp(ev, "start") == 0 && have_trial && have_to)
        e->kind = JOURNAL_START;
    else if (strcmp(ev, "epoch") == 0 && have_trial && have_epoch && have_value)
        e->kind = JOURNAL_EPOCH;
    else if (strcmp(ev, "done") == 0 && have_trial && have_stopped)
        e->kind = JOURNAL_DONE;
    else if (strcmp(ev, "failed") == 0 && have_trial && have_reason)
        e->kind = JOURNAL_FAILED;
    else if (strcmp(ev, "compile") == 0 && have_ms)
        e->kind = JOURNAL_COMPILE;
    else if (strcmp(ev, "end") == 0)
        e->kind = JOURNAL_END;
    else
        return false;
    return true;
}

bool journal_read(const char *path, bool (*f)(void *ctx, const journal_event *e, int line), void *ctx, long *valid_end,
                  char *err, size_t errlen)
{
    *valid_end = 0;
    FILE *in = fopen(path, "rb");
    if (!in) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long off = 0;
    int no = 0;
    bool ok = true;
    journal_event *e = malloc(sizeof *e);
    if (!e) {
        fclose(in);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    while ((n = getline(&line, &cap, in)) > 0) {
        no++;
        bool complete = line[n - 1] == '\n';
        size_t len = (size_t)n - (complete ? 1 : 0);
        if (!journal_parse(line, len, e)) {
            /* the last line, torn by kill -9 in the middle of a write, is not an error */
            int c = fgetc(in);
            if (c == EOF && (!complete || len == 0))
                break;
            if (c == EOF) {
                /* a complete but unreadable last line: torn too when what follows is nothing */
                break;
            }
            snprintf(err, errlen, "%s:%d: not a journal event", path, no);
            ok = false;
            break;
        }
        if (!complete) /* a whole event without its newline: torn; written again on resume */
            break;
        if (!f(ctx, e, no)) {
            snprintf(err, errlen, "%s:%d: this event does not fit the study", path, no);
            ok = false;
            break;
        }
        off += (long)n;
    }
    if (ok && ferror(in)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        ok = false;
    }
    *valid_end = off;
    free(e);
    free(line);
    fclose(in);
    return ok;
}
