/* data_text.c - byte-level text: the bytes of every file, in order, as ids.
 *
 * The vocabulary is the set of distinct byte values present, numbered in
 * ascending byte order (numpy.unique, as the PyTorch peer does), so a model
 * trained on a corpus maps bytes to the same ids whatever their order of
 * appearance.  Files are read raw (not through zlib): text is whatever bytes
 * the files hold.
 */
#include "hprt_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hprt_vocab_init(hprt_vocab *v)
{
    v->size = 0;
    for (int b = 0; b < 256; b++)
        v->id[b] = -1;
    memset(v->byte, 0, sizeof v->byte);
}

void hprt_vocab_add(hprt_vocab *v, const uint8_t *buf, size_t n)
{
    bool seen[256];
    for (int b = 0; b < 256; b++)
        seen[b] = v->id[b] >= 0;
    for (size_t i = 0; i < n; i++)
        seen[buf[i]] = true;
    /* Renumber everything: ids stay in ascending byte order as bytes join. */
    v->size = 0;
    for (int b = 0; b < 256; b++) {
        if (seen[b]) {
            v->id[b] = (int16_t)v->size;
            v->byte[v->size++] = (uint8_t)b;
        } else {
            v->id[b] = -1;
        }
    }
}

static hprt_status fail_errno(hprt_error *err, const char *path, const char *what, int e)
{
    char buf[256];
    if (strerror_r(e, buf, sizeof buf) != 0) /* XSI: thread-safe */
        snprintf(buf, sizeof buf, "error %d", e);
    return hprt_fail(err, HPRT_E_DATA, "%s: %s: %s; check the path and its permissions",
                     path, what, buf);
}

/* All files concatenated; ends[i] is the offset just past file i. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t *ends;
} text_bytes;

static void text_bytes_free(text_bytes *t)
{
    free(t->buf);
    free(t->ends);
    memset(t, 0, sizeof *t);
}

static hprt_status read_one(text_bytes *t, const char *path, hprt_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail_errno(err, path, "cannot open", errno);
    size_t start = t->len;
    hprt_status s = HPRT_OK;
    for (;;) {
        if (t->cap - t->len < 65536) {
            size_t ncap = t->cap ? t->cap * 2 : (size_t)1 << 20;
            uint8_t *nb = ncap > t->cap ? realloc(t->buf, ncap) : NULL;
            if (!nb) {
                s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory after %zu bytes", path,
                              t->len);
                break;
            }
            t->buf = nb;
            t->cap = ncap;
        }
        size_t got = fread(t->buf + t->len, 1, t->cap - t->len, f);
        t->len += got;
        if (got == 0) {
            if (ferror(f))
                s = fail_errno(err, path, "read error", errno);
            break;
        }
    }
    if (fclose(f) != 0 && s == HPRT_OK)
        s = fail_errno(err, path, "read error", errno);
    if (s == HPRT_OK && t->len == start)
        s = hprt_fail(err, HPRT_E_DATA, "%s: empty file; text data needs at least one byte",
                      path);
    return s;
}

static hprt_status read_texts(const char *const *paths, int npaths, text_bytes *t,
                              hprt_error *err)
{
    memset(t, 0, sizeof *t);
    if (npaths <= 0 || !paths)
        return hprt_fail(err, HPRT_E_DATA, "text data: no files given");
    t->ends = malloc((size_t)npaths * sizeof *t->ends);
    if (!t->ends)
        return hprt_fail(err, HPRT_E_RUN, "text data: out of memory");
    for (int i = 0; i < npaths; i++) {
        hprt_status s = read_one(t, paths[i], err);
        if (s != HPRT_OK) {
            text_bytes_free(t);
            return s;
        }
        t->ends[i] = t->len;
    }
    return HPRT_OK;
}

hprt_status hprt_text_probe(const char *const *paths, int npaths, hprt_data_info *info,
                            hprt_error *err)
{
    memset(info, 0, sizeof *info);
    text_bytes t;
    hprt_status s = read_texts(paths, npaths, &t, err);
    if (s != HPRT_OK)
        return s;
    info->kind = HPRT_DATA_TEXT;
    info->n = (long)t.len;
    hprt_vocab_init(&info->vocab_map);
    hprt_vocab_add(&info->vocab_map, t.buf, t.len);
    info->vocab = info->vocab_map.size;
    info->classes = info->vocab; /* the targets are next tokens */
    info->label_column = -1;
    text_bytes_free(&t);
    return HPRT_OK;
}

/* "a, b, c": the source named in messages about the whole stream. */
static char *join_paths(const char *const *paths, int npaths)
{
    size_t n = 1;
    for (int i = 0; i < npaths; i++)
        n += strlen(paths[i]) + 2;
    char *s = malloc(n), *o = s;
    if (!s)
        return NULL;
    for (int i = 0; i < npaths; i++) {
        size_t l = strlen(paths[i]);
        if (i) {
            memcpy(o, ", ", 2);
            o += 2;
        }
        memcpy(o, paths[i], l);
        o += l;
    }
    *o = '\0';
    return s;
}

hprt_status hprt_text_load(const char *const *paths, int npaths, int seq,
                           const hprt_vocab *vocab, hprt_dataset *ds, hprt_error *err)
{
    memset(ds, 0, sizeof *ds);
    text_bytes t;
    hprt_status s = read_texts(paths, npaths, &t, err);
    if (s != HPRT_OK)
        return s;

    if (vocab) {
        ds->vocab = *vocab;
    } else {
        hprt_vocab_init(&ds->vocab);
        hprt_vocab_add(&ds->vocab, t.buf, t.len);
    }
    ds->tokens = hprt_alloc(t.len);
    ds->source = join_paths(paths, npaths);
    if (!ds->tokens || !ds->source)
        s = hprt_fail(err, HPRT_E_RUN, "%s: out of memory for %zu bytes of text", paths[0],
                      t.len);
    for (size_t i = 0; s == HPRT_OK && i < t.len; i++) {
        int id = ds->vocab.id[t.buf[i]];
        if (id < 0) {
            /* Only with a given vocabulary: name the file and its offset. */
            int fi = 0;
            while (t.ends[fi] <= i)
                fi++;
            size_t off = i - (fi ? t.ends[fi - 1] : 0);
            unsigned char c = t.buf[i];
            char shown[8] = "";
            if (c >= 0x20 && c < 0x7F)
                snprintf(shown, sizeof shown, " ('%c')", c);
            s = hprt_fail(err, HPRT_E_DATA,
                          "%s: byte 0x%02x%s at offset %zu (counting from 0) is not in the "
                          "training text's vocabulary of %d bytes; a model cannot read it",
                          paths[fi], c, shown, off, ds->vocab.size);
            break;
        }
        ds->tokens[i] = (uint8_t)id;
    }
    size_t len = t.len;
    text_bytes_free(&t);
    if (s != HPRT_OK) {
        hprt_dataset_free(ds);
        return s;
    }
    ds->kind = HPRT_DATA_TEXT;
    ds->n = (long)len;
    ds->seq = seq;
    ds->classes = ds->vocab.size;
    return HPRT_OK;
}
