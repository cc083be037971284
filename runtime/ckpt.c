/* ckpt.c - checkpoints (.hpw), written atomically and checked on reading.
 *
 * Layout (little-endian; docs/internals.md lists every field):
 *   "HPWC" | u32 version | u64 plan hash | str description
 *   | u64 n_params | f32 params[n]
 *   | u32 optimizer kind | for each of buf, m, v, vmax, sum, ga: u8 present, f32[n] when present
 *   | the driver state (hprt_train_state, field by field)
 *   | u32 CRC-32 of every byte before it
 */
#include "hprt_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char MAGIC[4] = {'H', 'P', 'W', 'C'};

void hprt_train_state_free(hprt_train_state *s)
{
    free(s->order);
    s->order = NULL;
    s->n_order = 0;
    free(s->carry);
    s->carry = NULL;
    s->n_carry = 0;
    free(s->norm);
    s->norm = NULL;
    s->n_norm = 0;
    free(s->encoding);
    s->encoding = NULL;
    s->n_encoding = 0;
}

/* ---- a growable byte buffer ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
#define PUT(b, v) put((b), &(v), sizeof(v))

static void put_u8(buf *b, uint8_t v) { PUT(b, v); }
static void put_u32(buf *b, uint32_t v) { PUT(b, v); }
static void put_i32(buf *b, int32_t v) { PUT(b, v); }
static void put_u64(buf *b, uint64_t v) { PUT(b, v); }
static void put_i64(buf *b, int64_t v) { PUT(b, v); }
static void put_f64(buf *b, double v) { PUT(b, v); }
static void put_str(buf *b, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    put_u32(b, n);
    put(b, s, n);
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *p;
    size_t n, at;
    bool short_read;
} reader;

static void get(reader *r, void *out, size_t n)
{
    if (r->short_read || r->n - r->at < n) {
        r->short_read = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p + r->at, n);
    r->at += n;
}
#define GET(r, v) get((r), &(v), sizeof(v))

/* Steps over n bytes (an array the caller does not want); past the end is a short read. */
static void skip(reader *r, size_t n)
{
    if (r->short_read || r->n - r->at < n) {
        r->short_read = true;
        return;
    }
    r->at += n;
}

static uint8_t get_u8(reader *r) { uint8_t v; GET(r, v); return v; }
static uint32_t get_u32(reader *r) { uint32_t v; GET(r, v); return v; }
static int32_t get_i32(reader *r) { int32_t v; GET(r, v); return v; }
static uint64_t get_u64(reader *r) { uint64_t v; GET(r, v); return v; }
static int64_t get_i64(reader *r) { int64_t v; GET(r, v); return v; }
static double get_f64(reader *r) { double v; GET(r, v); return v; }

/* An i64 count, then that many elements of `size` bytes (the variable-length
 * tails of the state: order, carry, norm). */
static void put_array(buf *b, int64_t n, const void *p, size_t size)
{
    put_i64(b, n);
    if (n > 0)
        put(b, p, size * (size_t)n);
}

/* The same, read into a new array (*out; NULL for none).  A count the rest of
 * the file cannot hold is a short read; false only when out of memory. */
static bool get_array(reader *r, int64_t *n, void **out, size_t size)
{
    *out = NULL;
    *n = get_i64(r);
    if (r->short_read || *n < 0 || (size_t)*n > (r->n - r->at) / size) {
        r->short_read = true;
        *n = 0;
        return true;
    }
    if (*n == 0)
        return true;
    if (!(*out = malloc(size * (size_t)*n)))
        return false;
    get(r, *out, size * (size_t)*n);
    return true;
}

/* ---- the state, field by field (the same order both ways) ---- */

static void state_stopper(buf *b, reader *r, hprt_stopper *s)
{
#define F64(x) (b ? put_f64(b, (x)) : (void)((x) = get_f64(r)))
#define I64(x) (b ? put_i64(b, (int64_t)(x)) : (void)((x) = get_i64(r)))
#define I32(x) (b ? put_i32(b, (int32_t)(x)) : (void)((x) = get_i32(r)))
    I64(s->epoch);
    I32(s->stopped);
    I64(s->stopped_epoch);
    I64(s->best_epoch);
    F64(s->best);
    for (int i = 0; i < HPRT_STOP_MAX_WINDOW; i++)
        F64(s->recent[i]);
    I32(s->n_recent);
    I32(s->wait);
    F64(s->baseline);
    F64(s->average);
    F64(s->gl);
    F64(s->pk);
    F64(s->pq);
    F64(s->strip_sum);
    F64(s->strip_min);
    I32(s->strip_n);
    F64(s->prev_strip_val);
    I32(s->up_run);
}

static void state_plateau(buf *b, reader *r, hprt_plateau *p)
{
    F64(p->lr);
    F64(p->best);
    I32(p->num_bad_epochs);
    I32(p->cooldown_counter);
    I64(p->epochs);
}

static void state_dropout(buf *b, reader *r, hprt_dropout_policy *d)
{
    I32(d->count);
    I32(d->raises);
    F64(d->increment);
}

static void state_fields(buf *b, reader *r, hprt_train_state *s)
{
    I64(s->step);
    I32(s->epoch);
    I64(s->pos);
    for (int i = 0; i < 4; i++)
        b ? put_u64(b, s->rng.s[i]) : (void)(s->rng.s[i] = get_u64(r));
    F64(s->loss_sum);
    I64(s->loss_rows);
    I64(s->samples);
    F64(s->train_seconds);
    I32(s->batch);
    F64(s->last_lr);
    F64(s->dropout_inc);
    I32(s->n_dropout);
    for (int i = 0; i < HPRT_MAX_DROPOUT; i++) {
        double v = s->dropout_p[i];
        F64(v);
        s->dropout_p[i] = (float)v;
    }
    state_stopper(b, r, &s->stopper);
    state_plateau(b, r, &s->plateau);
    state_dropout(b, r, &s->dropout);
    I32(s->epochs_done);
    I32(s->has_valid);
    F64(s->val_loss);
    F64(s->val_accuracy);
    F64(s->train_loss);
    I32(s->has_best);
    I64(s->metrics_bytes);
    I64(s->steps_bytes);
    I64(s->events_bytes);
    I32(s->threads);
#undef F64
#undef I64
#undef I32
}

/* State array i (hprt_state_array order: buf, m, v, vmax, sum, ga); which ones
 * an optimizer keeps is its table row's (hprt_optimizers.def). */
static float *opt_array(const hprt_optim_state *o, int i) { return o->arrays[i]; }
_Static_assert(HPRT_STATE__COUNT == 6, "the checkpoint format has six state slots; a new array needs a new version");

/* The first field of the state outside the values a run can leave in it, or
 * NULL.  The driver indexes arrays with these (the epoch's position in the
 * order, the stop rule's ring buffer) and derives dropout thresholds from
 * the rates, so a file with a good CRC but impossible values (damaged before
 * it was checksummed, or made by hand) is refused here. */
static const char *state_invalid(const hprt_train_state *s)
{
    if (s->step < 0 || s->epoch < 0 || s->pos < 0 || s->pos > s->step)
        return "step, epoch or position";
    if (s->loss_rows < 0 || s->samples < 0 || s->epochs_done < 0 || s->epochs_done > s->epoch)
        return "counters";
    if (s->n_dropout < 0 || s->n_dropout > HPRT_MAX_DROPOUT)
        return "dropout sites";
    for (int i = 0; i < HPRT_MAX_DROPOUT; i++)
        if (!(s->dropout_p[i] >= 0.0f && s->dropout_p[i] < 1.0f))
            return "dropout rates";
    const hprt_stopper *st = &s->stopper;
    if (st->epoch < 0 || st->n_recent < 0 || st->n_recent > HPRT_STOP_MAX_WINDOW || st->best_epoch < -1 ||
        st->wait < 0 || st->strip_n < 0 || st->up_run < 0)
        return "stop rule";
    if (s->plateau.num_bad_epochs < 0 || s->plateau.cooldown_counter < 0 || s->plateau.epochs < 0)
        return "plateau schedule";
    if (s->metrics_bytes < 0 || s->steps_bytes < 0 || s->events_bytes < 0)
        return "run file lengths";
    return NULL;
}

/* ---- writing ---- */

static hprt_status write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return HPRT_E_RUN;
        }
        p += w;
        n -= (size_t)w;
    }
    return HPRT_OK;
}

hprt_status hprt_ckpt_write(const char *path, const hprt_ckpt_id *id, const float *params, size_t n_params,
                            const hprt_optim_state *opt, const hprt_train_state *st, hprt_error *err)
{
    buf b = {0};
    put(&b, MAGIC, 4);
    put_u32(&b, HPRT_CKPT_VERSION);
    put_u64(&b, id->plan_hash);
    put_str(&b, id->desc ? id->desc : "");
    put_u64(&b, (uint64_t)n_params);
    put(&b, params, sizeof(float) * n_params);
    put_u32(&b, (uint32_t)opt->kind);
    for (int i = 0; i < HPRT_STATE__COUNT; i++) {
        float *a = opt_array(opt, i);
        put_u8(&b, a != NULL);
        if (a)
            put(&b, a, sizeof(float) * n_params);
    }
    hprt_train_state copy = *st;
    state_fields(&b, NULL, &copy);
    put_array(&b, st->n_order, st->order, sizeof *st->order);
    put_array(&b, st->n_carry, st->carry, sizeof *st->carry);
    put_array(&b, st->n_norm, st->norm, sizeof *st->norm);
    put_array(&b, st->n_encoding, st->encoding, 1);
    uint32_t crc = (uint32_t)crc32(0L, b.p, (uInt)0);
    for (size_t off = 0; off < b.n;) { /* crc32 takes at most UINT_MAX bytes at a time */
        size_t chunk = b.n - off > (1u << 30) ? (1u << 30) : b.n - off;
        crc = (uint32_t)crc32(crc, b.p + off, (uInt)chunk);
        off += chunk;
    }
    put_u32(&b, crc);
    if (b.oom) {
        free(b.p);
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory writing the checkpoint", path);
    }

    /* temporary file beside it, fsync, rename, fsync the directory */
    char tmp[4200], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    hprt_status rc = HPRT_OK;
    int e = 0;
    if (fd < 0) {
        e = errno;
        rc = HPRT_E_RUN;
    } else {
        if (write_all(fd, b.p, b.n) != HPRT_OK || fsync(fd) != 0) {
            e = errno;
            rc = HPRT_E_RUN;
        }
        if (close(fd) != 0 && rc == HPRT_OK) {
            e = errno;
            rc = HPRT_E_RUN;
        }
    }
    free(b.p);
    if (rc != HPRT_OK) {
        unlink(tmp);
        return hprt_fail(err, HPRT_E_RUN,
                         "%s: cannot write the checkpoint: %s; the previous checkpoint is kept; free some disk space "
                         "and resume with `hpc resume`",
                         path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return hprt_fail(err, HPRT_E_RUN, "%s: cannot replace the checkpoint: %s", path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        int s = fsync(dfd);
        e = errno;
        close(dfd);
        if (s != 0)
            return hprt_fail(err, HPRT_E_RUN, "%s: cannot sync the directory: %s", dir, strerror(e));
    }
    return HPRT_OK;
}

/* ---- reading ---- */

hprt_status hprt_ckpt_read(const char *path, const hprt_ckpt_id *id, float *params, size_t n_params,
                           hprt_optim_state *opt, hprt_train_state *st, hprt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hprt_fail(err, HPRT_E_RUN, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    unsigned char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nd = realloc(data, cap);
            if (!nd) {
                free(data);
                fclose(f);
                return hprt_fail(err, HPRT_E_RUN, "%s: out of memory reading the checkpoint", path);
            }
            data = nd;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    hprt_status rc = HPRT_E_RUN;
    if (failed) {
        hprt_fail(err, rc, "%s: read error", path);
        goto out;
    }
    if (n < 4 + 4 + 8 + 4 || memcmp(data, MAGIC, 4) != 0) {
        hprt_fail(err, rc, "%s: not an hpc checkpoint (no HPWC magic number)", path);
        goto out;
    }
    uint32_t stored;
    memcpy(&stored, data + n - 4, 4);
    uint32_t crc = (uint32_t)crc32(0L, data, 0);
    for (size_t off = 0; off < n - 4;) {
        size_t chunk = n - 4 - off > (1u << 30) ? (1u << 30) : n - 4 - off;
        crc = (uint32_t)crc32(crc, data + off, (uInt)chunk);
        off += chunk;
    }
    if (crc != stored) {
        hprt_fail(err, rc,
                  "%s: the checkpoint is damaged (its CRC-32 is %08x, its contents give %08x): truncated or corrupted; "
                  "it was not used",
                  path, stored, crc);
        goto out;
    }
    reader r = {data, n - 4, 4, false};
    uint32_t version = get_u32(&r);
    if (version < 1 || version > HPRT_CKPT_VERSION) {
        hprt_fail(err, rc, "%s: checkpoint format version %u; this hpc reads versions 1 to %d", path, version,
                  HPRT_CKPT_VERSION);
        goto out;
    }
    uint64_t hash = get_u64(&r);
    uint32_t dlen = get_u32(&r);
    char desc[512] = "";
    if (dlen < r.n - r.at) {
        size_t k = dlen < sizeof desc - 1 ? dlen : sizeof desc - 1;
        memcpy(desc, r.p + r.at, k);
        desc[k] = 0;
        r.at += dlen;
    } else {
        r.short_read = true;
    }
    if (id && hash != id->plan_hash) {
        hprt_fail(err, rc, "%s: the checkpoint belongs to a different model: it was written for %s; this experiment is %s",
                  path, desc, id->desc ? id->desc : "?");
        goto out;
    }
    uint64_t np = get_u64(&r);
    if (np != n_params) {
        hprt_fail(err, rc, "%s: the checkpoint has %llu parameters; the model has %zu", path, (unsigned long long)np,
                  n_params);
        goto out;
    }
    get(&r, params, sizeof(float) * n_params);
    uint32_t kind = get_u32(&r);
    if (opt && kind != (uint32_t)opt->kind) {
        hprt_fail(err, rc, "%s: the checkpoint's optimizer state is for another optimizer", path);
        goto out;
    }
    for (int i = 0; i < HPRT_STATE__COUNT; i++) {
        uint8_t present = get_u8(&r);
        float *a = opt ? opt_array(opt, i) : NULL;
        if (present && a)
            get(&r, a, sizeof(float) * n_params);
        else if (present)
            skip(&r, sizeof(float) * n_params);
    }
    hprt_train_state s;
    memset(&s, 0, sizeof s);
    state_fields(NULL, &r, &s);
    /* version 1 ends with the order, 2 adds the carried state, 3 the statistics, 4 the CSV encoding */
    void *order = NULL, *carry = NULL, *norm = NULL, *encoding = NULL;
    bool ok = get_array(&r, &s.n_order, &order, sizeof *s.order) &&
              (version < 2 || get_array(&r, &s.n_carry, &carry, sizeof *s.carry)) &&
              (version < 3 || get_array(&r, &s.n_norm, &norm, sizeof *s.norm)) &&
              (version < 4 || get_array(&r, &s.n_encoding, &encoding, 1));
    s.order = order, s.carry = carry, s.norm = norm, s.encoding = encoding;
    if (!ok) {
        hprt_train_state_free(&s);
        hprt_fail(err, rc, "%s: out of memory", path);
        goto out;
    }
    if (r.short_read || r.at != r.n) {
        hprt_train_state_free(&s);
        hprt_fail(err, rc, "%s: the checkpoint's contents do not match its format (written by another version?)", path);
        goto out;
    }
    const char *bad = state_invalid(&s);
    if (bad) {
        hprt_train_state_free(&s);
        hprt_fail(err, rc, "%s: the checkpoint's state is impossible (its %s); it was not used", path, bad);
        goto out;
    }
    if (st)
        *st = s;
    else
        hprt_train_state_free(&s);
    rc = HPRT_OK;
out:
    free(data);
    return rc;
}
