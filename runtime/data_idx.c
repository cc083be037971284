/* data_idx.c - IDX files (MNIST, Fashion-MNIST), gzip-compressed or plain.
 *
 * An IDX file is a big-endian header followed by raw row-major data:
 *
 *   magic   0x0000TTDD   TT = element type (0x08 = unsigned byte), DD = dims
 *   dims    DD x uint32  n, then the shape of one item
 *   data    n * prod(shape) elements
 *
 * Images files are 0x00000803 (n, rows, cols); other unsigned-byte ranks
 * 0x00000802..0x00000804 are accepted too.  Labels files are 0x00000801 (n).
 *
 * Everything goes through zlib's gz* functions, which read plain files
 * transparently, so a file may or may not be compressed whatever its name.
 * Reads are done in large chunks: per-byte gzread calls would make loading
 * the 47 MB of Fashion-MNIST's training images many times slower.
 */
#include "hprt_data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_UBYTE 0x08
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_IMAGES_MAGIC 0x00000803u
/* Data is converted to float in chunks of this size: big enough that gzread's
 * per-call cost vanishes, small enough to stay in cache while converting. */
#define IDX_CHUNK ((size_t)1 << 20)

typedef struct {
    const char *path;
    gzFile gz;
    long long max_bytes; /* what the file can hold once decompressed; -1: unknown (not a regular file) */
} idx_file;

/* Deflate expands at most 1032:1; a regular file of `size` bytes, compressed
 * or not, holds no more than this once decompressed (with room for gzip's
 * headers).  A header that announces more is refused before the allocation:
 * a 20-byte file must not reserve gigabytes. */
#define IDX_MAX_RATIO 1032LL

static hprt_status fail_errno(hprt_error *err, const char *path, const char *what, int e)
{
    char buf[256];
    /* XSI strerror_r (we build with _POSIX_C_SOURCE): thread-safe, unlike
     * strerror, since two experiments may load data at once. */
    if (strerror_r(e, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", e);
    return hprt_fail(err, HPRT_E_DATA, "%s: %s: %s; check the path and its permissions",
                     path, what, buf);
}

/* open() + gzdopen() rather than gzopen(): errno from open() is reliable,
 * and a directory is caught before zlib reports a puzzling read error. */
static hprt_status idx_open(idx_file *f, const char *path, hprt_error *err)
{
    f->path = path;
    f->gz = NULL;
    f->max_bytes = -1;
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
        return hprt_fail(err, HPRT_E_DATA, "%s: is a directory, not an IDX file", path);
    }
    if (S_ISREG(st.st_mode) && st.st_size < LLONG_MAX / IDX_MAX_RATIO - 4096)
        f->max_bytes = (long long)st.st_size * IDX_MAX_RATIO + 4096;
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory opening the file", path);
    }
    /* zlib's default 8 KB input buffer means many small reads of the file.
     * gzbuffer fails only after the first read or without memory for the
     * buffer, both harmless: zlib keeps its default. */
    (void)gzbuffer(f->gz, 1u << 18);
    return HPRT_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        (void)gzclose(f->gz); /* read-only: every read was already checked */
    f->gz = NULL;
}

/* Reads up to want bytes; *got < want means the file ended.  A corrupt gzip
 * stream is an error. */
static hprt_status idx_read(idx_file *f, void *buf, size_t want, size_t *got, hprt_error *err)
{
    unsigned char *p = buf;
    size_t total = 0;
    while (total < want) {
        size_t ask = want - total;
        if (ask > ((size_t)1 << 30))
            ask = (size_t)1 << 30; /* gzread's length is unsigned, its result int */
        int r = gzread(f->gz, p + total, (unsigned)ask);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f->gz, &zerr);
            *got = total;
            if (zerr == Z_ERRNO)
                return fail_errno(err, f->path, "read error", errno);
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: corrupt gzip data after %zu bytes (%s); download the file again",
                             f->path, total, msg ? msg : "unknown zlib error");
        }
        if (r == 0)
            break;
        total += (size_t)r;
    }
    *got = total;
    return HPRT_OK;
}

/* A phrase for a short read: a gzip stream that stops mid-way says so. */
static const char *idx_eof_note(idx_file *f)
{
    int zerr = Z_OK;
    (void)gzerror(f->gz, &zerr);
    return zerr == Z_BUF_ERROR ? " (the gzip stream ends early)" : "";
}

/* After the announced data the file must end: more bytes mean the header and
 * the data disagree.  This read also makes zlib check the gzip trailer (CRC
 * and length), which it does only on reaching it. */
static hprt_status idx_expect_end(idx_file *f, long n, const char *items, hprt_error *err)
{
    unsigned char extra[4096];
    size_t got;
    hprt_status s = idx_read(f, extra, sizeof extra, &got, err);
    if (s != HPRT_OK)
        return s;
    if (got > 0)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: more data than the header announces (%ld %s); "
                         "the header and the data disagree: download the file again",
                         f->path, n, items);
    return HPRT_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static const char *idx_type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

typedef struct {
    long n;
    int rank;
    int dims[3];
    int features;
} idx_shape;

/* The data a header announces (n items of `values` bytes) must fit in the
 * file: see IDX_MAX_RATIO. */
static hprt_status idx_check_room(idx_file *f, long n, int values, const char *items, hprt_error *err)
{
    unsigned long long want = (unsigned long long)n * (unsigned long long)values; /* < 2^63: n, values < 2^32 */
    if (f->max_bytes < 0 || want <= (unsigned long long)f->max_bytes)
        return HPRT_OK;
    return hprt_fail(err, HPRT_E_DATA,
                     "%s: truncated: the header announces %ld %s (%llu bytes of data), more than this file "
                     "can hold even gzip-compressed: download the file again",
                     f->path, n, items, want);
}

/* Reads and checks the header.  labels selects which kind of file is
 * expected; the messages say which was found when the two are swapped. */
static hprt_status idx_header(idx_file *f, bool labels, idx_shape *sh, hprt_error *err)
{
    unsigned char b[4 * 5];
    size_t got;
    hprt_status s = idx_read(f, b, 4, &got, err);
    if (s != HPRT_OK)
        return s;
    if (got == 0)
        return hprt_fail(err, HPRT_E_DATA, "%s: empty file; expected an IDX %s file", f->path,
                         labels ? "labels" : "images");
    if (got < 4)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: truncated header: expected 4 bytes of magic number, found %zu",
                         f->path, got);
    uint32_t magic = be32(b);
    unsigned type = (magic >> 8) & 0xFF, ndims = magic & 0xFF;

    if (labels) {
        if (magic != IDX_LABELS_MAGIC)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: wrong magic number 0x%08x; expected an IDX labels file (0x%08x)%s",
                             f->path, magic, IDX_LABELS_MAGIC,
                             (magic & 0xFFFFFF00u) == 0x800u && ndims > 1
                                 ? "; this looks like an images file: are images and labels swapped?"
                                 : "");
    } else {
        if (magic == IDX_LABELS_MAGIC)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: wrong magic number 0x%08x; expected an IDX images file (0x%08x); "
                             "this looks like a labels file: are images and labels swapped?",
                             f->path, magic, IDX_IMAGES_MAGIC);
        if ((magic >> 16) == 0 && type != IDX_UBYTE && idx_type_name(type))
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: IDX elements of type 0x%02x (%s); hpc reads IDX images of "
                             "unsigned bytes (magic 0x%08x)",
                             f->path, type, idx_type_name(type), IDX_IMAGES_MAGIC);
        if ((magic >> 16) != 0 || type != IDX_UBYTE || ndims < 2 || ndims > 4)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: wrong magic number 0x%08x; expected an IDX images file (0x%08x)",
                             f->path, magic, IDX_IMAGES_MAGIC);
    }

    s = idx_read(f, b + 4, 4 * ndims, &got, err);
    if (s != HPRT_OK)
        return s;
    if (got < 4 * ndims)
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: truncated header: expected %u bytes of dimensions, found %zu",
                         f->path, 4 * ndims, got);
    uint32_t d[4];
    for (unsigned i = 0; i < ndims; i++)
        d[i] = be32(b + 4 + 4 * i);

    memset(sh, 0, sizeof *sh);
    sh->n = (long)d[0];
    if (sh->n == 0)
        return hprt_fail(err, HPRT_E_DATA, "%s: empty: the header announces 0 %s", f->path,
                         labels ? "labels" : "images");
    if (labels)
        return idx_check_room(f, sh->n, 1, "labels", err);

    /* One item's shape.  (rows, cols) is a one-channel image [1, rows, cols]
     * for the convolution layers; a single dimension is a feature vector;
     * three are taken as stored, channels first. */
    unsigned sd = ndims - 1;
    uint64_t prod = 1;
    for (unsigned i = 0; i < sd; i++) {
        if (d[1 + i] == 0)
            return hprt_fail(err, HPRT_E_DATA, "%s: item dimension %u is 0 in the header",
                             f->path, i + 1);
        prod *= d[1 + i];
        if (prod > (uint64_t)INT_MAX)
            return hprt_fail(err, HPRT_E_DATA,
                             "%s: items of more than %d values are not supported", f->path,
                             INT_MAX);
    }
    if (sd == 1) {
        sh->rank = 1;
        sh->dims[0] = (int)d[1];
    } else if (sd == 2) {
        sh->rank = 3;
        sh->dims[0] = 1;
        sh->dims[1] = (int)d[1];
        sh->dims[2] = (int)d[2];
    } else {
        sh->rank = 3;
        for (int i = 0; i < 3; i++)
            sh->dims[i] = (int)d[1 + i];
    }
    sh->features = (int)prod;
    if ((uint64_t)sh->n > SIZE_MAX / sizeof(float) / prod)
        return hprt_fail(err, HPRT_E_DATA, "%s: %ld images of %d values do not fit in memory",
                         f->path, sh->n, sh->features);
    return idx_check_room(f, sh->n, sh->features, "images", err);
}

/* Reads a whole labels file into a malloc'd byte array. */
static hprt_status idx_read_labels(const char *path, long *n, unsigned char **out, hprt_error *err)
{
    idx_file f;
    *out = NULL;
    hprt_status s = idx_open(&f, path, err);
    if (s != HPRT_OK)
        return s;
    idx_shape sh;
    s = idx_header(&f, true, &sh, err);
    unsigned char *lab = NULL;
    if (s == HPRT_OK) {
        lab = malloc((size_t)sh.n);
        if (!lab)
            s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory for %ld labels", path, sh.n);
    }
    if (s == HPRT_OK) {
        size_t got;
        s = idx_read(&f, lab, (size_t)sh.n, &got, err);
        if (s == HPRT_OK && got < (size_t)sh.n)
            s = hprt_fail(err, HPRT_E_DATA,
                          "%s: truncated: expected %ld bytes of label data, found %zu%s; "
                          "record %zu (counting from 0) is missing: download the file again",
                          path, sh.n, got, idx_eof_note(&f), got);
    }
    if (s == HPRT_OK)
        s = idx_expect_end(&f, sh.n, "labels", err);
    idx_close(&f);
    if (s != HPRT_OK) {
        free(lab);
        return s;
    }
    *n = sh.n;
    *out = lab;
    return HPRT_OK;
}

static int max_label(const unsigned char *lab, long n)
{
    int m = 0;
    for (long i = 0; i < n; i++)
        if (lab[i] > m)
            m = lab[i];
    return m;
}

static hprt_status count_mismatch(hprt_error *err, const char *images, long ni,
                                  const char *labels, long nl)
{
    return hprt_fail(err, HPRT_E_DATA,
                     "%s has %ld images but %s has %ld labels; the two files do not belong together",
                     images, ni, labels, nl);
}

hprt_status hprt_idx_probe(const char *images, const char *labels, hprt_data_info *info,
                           hprt_error *err)
{
    memset(info, 0, sizeof *info);
    idx_file f;
    hprt_status s = idx_open(&f, images, err);
    if (s != HPRT_OK)
        return s;
    idx_shape sh;
    s = idx_header(&f, false, &sh, err);
    idx_close(&f);
    if (s != HPRT_OK)
        return s;

    int classes = 0;
    if (labels) {
        long nl;
        unsigned char *lab;
        s = idx_read_labels(labels, &nl, &lab, err);
        if (s != HPRT_OK)
            return s;
        if (nl != sh.n) {
            free(lab);
            return count_mismatch(err, images, sh.n, labels, nl);
        }
        classes = max_label(lab, nl) + 1;
        free(lab);
    }
    info->kind = HPRT_DATA_IDX;
    info->n = sh.n;
    info->rank = sh.rank;
    memcpy(info->dims, sh.dims, sizeof info->dims);
    info->features = sh.features;
    info->classes = classes;
    info->label_column = -1;
    return HPRT_OK;
}

/* Reads n*features image bytes as floats straight into x, chunk by chunk. */
static hprt_status idx_read_images(idx_file *f, const idx_shape *sh, float *x, hprt_error *err)
{
    size_t total = (size_t)sh->n * (size_t)sh->features;
    unsigned char *chunk = malloc(IDX_CHUNK);
    if (!chunk)
        return hprt_fail(err, HPRT_E_RUN, "%s: out of memory", f->path);
    size_t done = 0;
    hprt_status s = HPRT_OK;
    while (done < total) {
        size_t want = total - done < IDX_CHUNK ? total - done : IDX_CHUNK, got;
        s = idx_read(f, chunk, want, &got, err);
        if (s != HPRT_OK)
            break;
        float *dst = x + done;
        for (size_t i = 0; i < got; i++)
            dst[i] = (float)chunk[i];
        done += got;
        if (got < want) {
            s = hprt_fail(err, HPRT_E_DATA,
                          "%s: truncated: expected %zu bytes of image data, found %zu%s; "
                          "record %zu (counting from 0) of %ld is incomplete: download the file again",
                          f->path, total, done, idx_eof_note(f), done / (size_t)sh->features,
                          sh->n);
            break;
        }
    }
    free(chunk);
    return s;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static hprt_status idx_read_bytes(idx_file *f, const idx_shape *sh, uint8_t *x8, hprt_error *err)
{
    size_t total = (size_t)sh->n * (size_t)sh->features, got = 0;
    hprt_status s = idx_read(f, x8, total, &got, err);
    if (s != HPRT_OK)
        return s;
    if (got < total) {
        long rec = (long)(got / (size_t)sh->features);
        return hprt_fail(err, HPRT_E_DATA,
                         "%s: truncated: expected %zu bytes of image data, found %zu; record %ld (counting from 0) of "
                         "%ld is incomplete%s: download the file again",
                         f->path, total, got, rec, sh->n, idx_eof_note(f));
    }
    return HPRT_OK;
}

static hprt_status idx_load(const char *images, const char *labels, hprt_dataset *ds, bool bytes, hprt_error *err);

hprt_status hprt_idx_load(const char *images, const char *labels, hprt_dataset *ds, hprt_error *err)
{
    return idx_load(images, labels, ds, false, err);
}

hprt_status hprt_idx_load_bytes(const char *images, const char *labels, hprt_dataset *ds, hprt_error *err)
{
    return idx_load(images, labels, ds, true, err);
}

static hprt_status idx_load(const char *images, const char *labels, hprt_dataset *ds, bool bytes, hprt_error *err)
{
    memset(ds, 0, sizeof *ds);
    /* Labels first: the file is small, and a count mismatch is then reported
     * before the (slow) image data is decompressed. */
    long nl = 0;
    unsigned char *lab = NULL;
    hprt_status s;
    if (labels) {
        s = idx_read_labels(labels, &nl, &lab, err);
        if (s != HPRT_OK)
            return s;
    }

    idx_file f;
    s = idx_open(&f, images, err);
    if (s != HPRT_OK) {
        free(lab);
        return s;
    }
    idx_shape sh;
    s = idx_header(&f, false, &sh, err);
    if (s == HPRT_OK && labels && nl != sh.n)
        s = count_mismatch(err, images, sh.n, labels, nl);
    if (s == HPRT_OK) {
        if (bytes)
            ds->x8 = hprt_alloc((size_t)sh.n * (size_t)sh.features);
        else
            ds->x = hprt_alloc((size_t)sh.n * (size_t)sh.features * sizeof(float));
        if (!ds->x && !ds->x8)
            s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory for %ld images of %d values",
                          images, sh.n, sh.features);
    }
    if (s == HPRT_OK)
        s = bytes ? idx_read_bytes(&f, &sh, ds->x8, err) : idx_read_images(&f, &sh, ds->x, err);
    if (s == HPRT_OK)
        s = idx_expect_end(&f, sh.n, "images", err);
    idx_close(&f);

    if (s == HPRT_OK && labels) {
        ds->y = hprt_alloc((size_t)nl * sizeof(int32_t));
        if (!ds->y)
            s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory for %ld labels", labels, nl);
        else
            for (long i = 0; i < nl; i++)
                ds->y[i] = lab[i];
    }
    if (s == HPRT_OK) {
        ds->source = dup_str(images);
        ds->label_source = labels ? dup_str(labels) : NULL;
        if (!ds->source || (labels && !ds->label_source))
            s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory", images);
    }
    if (s != HPRT_OK) {
        free(lab);
        hprt_dataset_free(ds);
        return s;
    }
    ds->kind = HPRT_DATA_IDX;
    ds->scale = 1.0f;
    ds->n = sh.n;
    ds->features = sh.features;
    ds->rank = sh.rank;
    memcpy(ds->dims, sh.dims, sizeof ds->dims);
    ds->classes = labels ? max_label(lab, nl) + 1 : 0;
    free(lab);
    return HPRT_OK;
}
