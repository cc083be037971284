/* test_rt_data.c - the runtime's data layer: IDX, CSV, text, and the
 * operations on data sets (split, scale, normalize, order, batches). */
#include "testutil.h"

#include "hprt_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define FMNIST "/usr/share/datasets/fashion-mnist/"
#define FORTUNES_COMPUTERS "/usr/share/games/fortunes/computers"

/* ---- helpers ------------------------------------------------------------- */

typedef struct {
    char *dir;
    char path[8][600];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = tu_tmpdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static const char *tmp(fixture *f, int slot, const char *name)
{
    snprintf(f->path[slot], sizeof f->path[slot], "%s/%s", f->dir, name);
    return f->path[slot];
}

#define assert_msg_has(err, s) assert_msg_has_at(&(err), (s), __FILE__, __LINE__)
static void assert_msg_has_at(const hprt_error *err, const char *s, const char *file, int line)
{
    if (!strstr(err->msg, s)) {
        print_error("message \"%s\" lacks \"%s\"\n", err->msg, s);
        _fail(file, line);
    }
}

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* Writes an IDX file (magic, dims, then len data bytes); gzip-compressed
 * with zlib when gz. */
static void write_idx(const char *path, bool gz, uint32_t magic, const uint32_t *dims, int ndims,
                      const unsigned char *data, size_t len)
{
    size_t hl = 4 + 4 * (size_t)ndims;
    unsigned char *buf = malloc(hl + len + 1);
    assert_non_null(buf);
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(buf + 4 + 4 * i, dims[i]);
    if (len)
        memcpy(buf + hl, data, len);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, buf, (unsigned)(hl + len)), (int)(hl + len));
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        tu_write_file(path, buf, hl + len);
    }
    free(buf);
}

/* n images of rows x cols with pixel (i, k) = (i * 7 + k) % 256, labels i % classes. */
static void write_pair(const char *images, const char *labels, bool gz, uint32_t n, uint32_t rows,
                       uint32_t cols, int classes)
{
    size_t m = (size_t)n * rows * cols;
    unsigned char *px = malloc(m + 1), *lab = malloc(n + 1);
    assert_non_null(px);
    assert_non_null(lab);
    for (uint32_t i = 0; i < n; i++) {
        for (size_t k = 0; k < (size_t)rows * cols; k++)
            px[(size_t)i * rows * cols + k] = (unsigned char)((i * 7 + k) % 256);
        lab[i] = (unsigned char)(i % (uint32_t)classes);
    }
    uint32_t d3[3] = {n, rows, cols}, d1[1] = {n};
    write_idx(images, gz, 0x803, d3, 3, px, m);
    write_idx(labels, gz, 0x801, d1, 1, lab, n);
    free(px);
    free(lab);
}

static void truncate_file(const char *path, size_t keep)
{
    size_t len;
    char *all = tu_read_file(path, &len);
    assert_non_null(all);
    assert_true(keep < len);
    tu_write_file(path, all, keep);
    free(all);
}

/* ---- IDX ----------------------------------------------------------------- */

static void check_small_idx(const hprt_dataset *ds, uint32_t n, uint32_t rows, uint32_t cols,
                            int classes)
{
    assert_int_equal(ds->kind, HPRT_DATA_IDX);
    assert_int_equal(ds->n, n);
    assert_int_equal(ds->features, rows * cols);
    assert_int_equal(ds->rank, 3);
    assert_int_equal(ds->dims[0], 1);
    assert_int_equal(ds->dims[1], rows);
    assert_int_equal(ds->dims[2], cols);
    assert_int_equal(ds->classes, classes);
    assert_int_equal((uintptr_t)ds->x % 64, 0);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(ds->y[i], (int)(i % (uint32_t)classes));
        for (size_t k = 0; k < (size_t)rows * cols; k++)
            assert_true(ds->x[(size_t)i * rows * cols + k] == (float)((i * 7 + k) % 256));
    }
}

static void test_idx_plain_and_gzip(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    for (int gz = 0; gz < 2; gz++) {
        const char *im = tmp(f, 0, gz ? "im.gz" : "im"), *lb = tmp(f, 1, gz ? "lb.gz" : "lb");
        /* 700 images of 40x50: more than one 1 MB read chunk of data */
        write_pair(im, lb, gz, 700, 40, 50, 7);
        hprt_dataset ds;
        assert_int_equal(hprt_idx_load(im, lb, &ds, &err), HPRT_OK);
        check_small_idx(&ds, 700, 40, 50, 7);
        assert_string_equal(ds.source, im);
        assert_string_equal(ds.label_source, lb);
        hprt_dataset_free(&ds);
        assert_null(ds.x);

        hprt_data_info info;
        assert_int_equal(hprt_idx_probe(im, lb, &info, &err), HPRT_OK);
        assert_int_equal(info.kind, HPRT_DATA_IDX);
        assert_int_equal(info.n, 700);
        assert_int_equal(info.rank, 3);
        assert_int_equal(info.dims[0], 1);
        assert_int_equal(info.dims[1], 40);
        assert_int_equal(info.dims[2], 50);
        assert_int_equal(info.features, 2000);
        assert_int_equal(info.classes, 7);
        hprt_data_info_free(&info);

        /* images alone (inference input) */
        assert_int_equal(hprt_idx_load(im, NULL, &ds, &err), HPRT_OK);
        assert_null(ds.y);
        assert_int_equal(ds.classes, 0);
        hprt_dataset_free(&ds);
    }
}

static void test_idx_other_ranks(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    unsigned char data[2 * 24], lab[2] = {1, 3};
    for (int i = 0; i < 48; i++)
        data[i] = (unsigned char)i;
    uint32_t d1[1] = {2};
    write_idx(tmp(f, 1, "lb"), false, 0x801, d1, 1, lab, 2);

    uint32_t d2[2] = {2, 24};
    write_idx(tmp(f, 0, "flat"), false, 0x802, d2, 2, data, 48);
    hprt_dataset ds;
    assert_int_equal(hprt_idx_load(f->path[0], f->path[1], &ds, &err), HPRT_OK);
    assert_int_equal(ds.rank, 1);
    assert_int_equal(ds.dims[0], 24);
    assert_int_equal(ds.features, 24);
    assert_int_equal(ds.classes, 4);
    assert_true(ds.x[24 + 5] == 29.0f);
    hprt_dataset_free(&ds);

    uint32_t d4[4] = {2, 2, 3, 4};
    write_idx(tmp(f, 0, "chw"), true, 0x804, d4, 4, data, 48);
    hprt_data_info info;
    assert_int_equal(hprt_idx_probe(f->path[0], f->path[1], &info, &err), HPRT_OK);
    assert_int_equal(info.rank, 3);
    assert_int_equal(info.dims[0], 2);
    assert_int_equal(info.dims[1], 3);
    assert_int_equal(info.dims[2], 4);
    assert_int_equal(info.features, 24);
    hprt_data_info_free(&info);
}

static void test_idx_errors(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    hprt_dataset ds;
    hprt_data_info info;
    const char *im = tmp(f, 0, "im.gz"), *lb = tmp(f, 1, "lb.gz");
    write_pair(im, lb, true, 10, 4, 5, 3);

    /* missing file: strerror and the path */
    const char *missing = tmp(f, 2, "nope-images.gz");
    assert_int_equal(hprt_idx_load(missing, lb, &ds, &err), HPRT_E_DATA);
    assert_int_equal(err.status, HPRT_E_DATA);
    assert_msg_has(err, missing);
    assert_msg_has(err, "No such file");
    assert_null(ds.x);
    assert_int_equal(hprt_idx_probe(im, missing, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, missing);

    /* a directory */
    assert_int_equal(hprt_idx_load(f->dir, lb, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, f->dir);

    /* wrong magic */
    const char *bad = tmp(f, 3, "bad-magic");
    uint32_t d3[3] = {1, 1, 1};
    unsigned char px[1] = {0};
    write_idx(bad, false, 0x12345678, d3, 3, px, 1);
    assert_int_equal(hprt_idx_load(bad, lb, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, bad);
    assert_msg_has(err, "wrong magic number 0x12345678; expected an IDX images file (0x00000803)");
    assert_int_equal(hprt_idx_probe(bad, lb, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "wrong magic number 0x12345678");

    /* images and labels swapped */
    assert_int_equal(hprt_idx_load(lb, im, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "swapped");
    assert_int_equal(hprt_idx_probe(lb, im, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, lb);
    assert_msg_has(err, "wrong magic number 0x00000801; expected an IDX images file (0x00000803)");
    assert_msg_has(err, "swapped");

    /* a float IDX file */
    write_idx(bad, false, 0x00000D03, d3, 3, (const unsigned char *)"\0\0\0\0", 4);
    assert_int_equal(hprt_idx_load(bad, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "float");

    /* truncated image data, plain: 10 images of 20 bytes, cut inside image 7 */
    const char *tr = tmp(f, 4, "trunc-images");
    write_pair(tr, tmp(f, 5, "trunc-labels"), false, 10, 4, 5, 3);
    truncate_file(tr, 16 + 7 * 20 + 3);
    assert_int_equal(hprt_idx_load(tr, f->path[5], &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, tr);
    assert_msg_has(err, "truncated: expected 200 bytes of image data, found 143");
    assert_msg_has(err, "record 7");
    assert_null(ds.x);

    /* truncated gzip stream */
    const char *trz = tmp(f, 4, "trunc-images.gz");
    write_pair(trz, f->path[5], true, 2000, 28, 28, 3);
    size_t zlen;
    char *z = tu_read_file(trz, &zlen);
    assert_non_null(z);
    free(z);
    truncate_file(trz, zlen / 2);
    assert_int_equal(hprt_idx_load(trz, f->path[5], &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, trz);
    assert_msg_has(err, "truncated: expected 1568000 bytes of image data");
    assert_msg_has(err, "is incomplete");

    /* truncated header */
    truncate_file(trz, 2);
    assert_int_equal(hprt_idx_load(trz, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, trz);

    /* truncated labels: 10 announced, 6 present */
    const char *tl = tmp(f, 6, "trunc-labels");
    uint32_t d1[1] = {10};
    write_idx(tl, false, 0x801, d1, 1, (const unsigned char *)"\1\2\1\0\1\2", 6);
    assert_int_equal(hprt_idx_load(im, tl, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, tl);
    assert_msg_has(err, "truncated: expected 10 bytes of label data, found 6");
    assert_msg_has(err, "record 6");
    assert_int_equal(hprt_idx_probe(im, tl, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, tl);

    /* image count != label count: both files named */
    const char *l9 = tmp(f, 6, "nine-labels");
    uint32_t d9[1] = {9};
    write_idx(l9, false, 0x801, d9, 1, (const unsigned char *)"\0\1\2\0\1\2\0\1\2", 9);
    assert_int_equal(hprt_idx_load(im, l9, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, im);
    assert_msg_has(err, l9);
    assert_msg_has(err, "10 images");
    assert_msg_has(err, "9 labels");
    assert_int_equal(hprt_idx_probe(im, l9, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, l9);

    /* empty: no items, and a zero-length file */
    const char *e0 = tmp(f, 7, "empty-images");
    uint32_t dz[3] = {0, 28, 28};
    write_idx(e0, false, 0x803, dz, 3, NULL, 0);
    assert_int_equal(hprt_idx_load(e0, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, e0);
    assert_msg_has(err, "empty");
    tu_write_file(e0, "", 0);
    assert_int_equal(hprt_idx_probe(e0, NULL, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, e0);
    assert_msg_has(err, "empty");

    /* more data than announced */
    const char *ex = tmp(f, 7, "extra");
    uint32_t dx[3] = {1, 2, 2};
    write_idx(ex, false, 0x803, dx, 3, (const unsigned char *)"\1\2\3\4\5", 5);
    assert_int_equal(hprt_idx_load(ex, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, ex);
    assert_msg_has(err, "more data");

    /* labels outside 0..classes-1: the labels file and the record */
    assert_int_equal(hprt_idx_load(im, lb, &ds, &err), HPRT_OK);
    assert_int_equal(hprt_data_check_labels(&ds, 3, &err), HPRT_OK);
    assert_int_equal(hprt_data_check_labels(&ds, 2, &err), HPRT_E_DATA);
    assert_msg_has(err, lb);
    assert_msg_has(err, "record 2 (counting from 0): label 2 is outside 0..1");
    hprt_dataset valid;
    assert_int_equal(hprt_data_split(&ds, 0.5, &valid, &err), HPRT_OK);
    assert_int_equal(hprt_data_check_labels(&valid, 2, &err), HPRT_E_DATA);
    assert_msg_has(err, "record 5 (counting from 0): label 2"); /* 5 % 3 == 2 */
    hprt_dataset_free(&valid);
    hprt_dataset_free(&ds);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Found by fuzz_idx: a header that announces billions of items made the
 * loader allocate for all of them before finding the file short (a 20-byte
 * labels file reserved 2.6 GB).  The header is now weighed against the
 * file's size first: no allocation, an error that names the file. */
static void test_idx_header_larger_than_file(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    hprt_dataset ds;
    hprt_data_info info;
    const char *im = tmp(f, 0, "im"), *lb = tmp(f, 1, "lb"), *big_lb = tmp(f, 2, "big-lb"),
               *big_im = tmp(f, 3, "big-im.gz");
    write_pair(im, lb, false, 4, 3, 2, 3);
    uint32_t n[1] = {0x9a999999u};
    unsigned char lab[4] = {0, 1, 2, 0};
    write_idx(big_lb, false, 0x801, n, 1, lab, 4);
    assert_int_equal(hprt_idx_load(im, big_lb, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, big_lb);
    assert_msg_has(err, "2593757593 labels");
    assert_msg_has(err, "more than this file can hold");
    assert_null(ds.x);
    assert_int_equal(hprt_idx_probe(im, big_lb, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "more than this file can hold");
    /* images: 100000 of 100 x 100, gzip-compressed (the bound allows for
     * deflate's best ratio, 1032:1) */
    uint32_t d3[3] = {100000, 100, 100};
    unsigned char px[16] = {0};
    write_idx(big_im, true, 0x803, d3, 3, px, sizeof px);
    assert_int_equal(hprt_idx_load_bytes(big_im, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, big_im);
    assert_msg_has(err, "100000 images");
    assert_msg_has(err, "more than this file can hold");
    assert_int_equal(hprt_idx_probe(big_im, NULL, &info, &err), HPRT_E_DATA);
    /* a file short by a little still gets the precise message */
    truncate_file(im, 16 + 3 * 2 * 3 + 2);
    assert_int_equal(hprt_idx_load(im, lb, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "truncated: expected 24 bytes of image data, found");
}

static void test_fashion_mnist(void **state)
{
    (void)state;
    const char *ti = FMNIST "train-images-idx3-ubyte.gz", *tl = FMNIST "train-labels-idx1-ubyte.gz";
    const char *ei = FMNIST "t10k-images-idx3-ubyte.gz", *el = FMNIST "t10k-labels-idx1-ubyte.gz";
    if (!exists(ti) || !exists(tl) || !exists(ei) || !exists(el))
        skip();
    hprt_error err = {0};
    hprt_data_info info;
    assert_int_equal(hprt_idx_probe(ti, tl, &info, &err), HPRT_OK);
    assert_int_equal(info.n, 60000);
    assert_int_equal(info.features, 784);
    assert_int_equal(info.rank, 3);
    assert_int_equal(info.dims[1], 28);
    assert_int_equal(info.classes, 10);
    hprt_data_info_free(&info);

    hprt_dataset tr, te;
    assert_int_equal(hprt_idx_load(ti, tl, &tr, &err), HPRT_OK);
    assert_int_equal(tr.n, 60000);
    assert_int_equal(tr.features, 784);
    assert_int_equal(tr.classes, 10);
    assert_int_equal(tr.y[0], 9); /* an ankle boot */
    float mx = 0;
    double sum = 0;
    for (size_t i = 0; i < 784; i++) {
        mx = tr.x[i] > mx ? tr.x[i] : mx;
        sum += tr.x[i];
    }
    assert_true(mx > 200 && mx <= 255);
    assert_true(sum > 0);

    assert_int_equal(hprt_idx_load(ei, el, &te, &err), HPRT_OK);
    assert_int_equal(te.n, 10000);
    assert_int_equal(te.classes, 10);
    assert_int_equal(hprt_data_check_labels(&te, 10, &err), HPRT_OK);

    /* valid = split(train, 0.1): the last 6000 rows, before shuffling */
    float row[784];
    memcpy(row, tr.x + (size_t)54000 * 784, sizeof row);
    int32_t y54000 = tr.y[54000], y_last = tr.y[59999];
    hprt_dataset va;
    assert_int_equal(hprt_data_split(&tr, 0.1, &va, &err), HPRT_OK);
    assert_int_equal(tr.n, 54000);
    assert_int_equal(va.n, 6000);
    assert_int_equal(va.first_record, 54000);
    assert_int_equal(va.y[0], y54000);
    assert_int_equal(va.y[5999], y_last);
    assert_memory_equal(va.x, row, sizeof row);

    hprt_data_scale(&tr, 1.0f / 255);
    hprt_data_scale(&va, 1.0f / 255);
    assert_close(va.x[300], row[300] / 255.0f, 1e-6);
    hprt_dataset_free(&va);
    hprt_dataset_free(&tr);
    hprt_dataset_free(&te);
}

/* ---- CSV ----------------------------------------------------------------- */

static void test_csv_label_columns(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    hprt_dataset ds;
    const char *p = tmp(f, 0, "iris.csv");
    /* BOM, quoted header, CRLF, spaces, a blank line inside, blank trailing lines */
    const char *text = "\xEF\xBB\xBF" "a,\"b\",c ,species\r\n"
                       "1.5, 2,3e-1,2\r\n"
                       "\r\n"
                       "-4,5.25,6,0\r\n"
                       "7,8,9,1\r\n"
                       "\r\n\r\n";
    tu_write_file(p, text, strlen(text));

    hprt_csv_opts o = hprt_csv_defaults();
    assert_int_equal(o.label, HPRT_LABEL_LAST);
    assert_true(o.header);
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.kind, HPRT_DATA_CSV);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.features, 3);
    assert_int_equal(ds.classes, 3);
    assert_int_equal((uintptr_t)ds.x % 64, 0);
    float want[9] = {1.5f, 2, 0.3f, -4, 5.25f, 6, 7, 8, 9};
    for (int i = 0; i < 9; i++)
        assert_true(ds.x[i] == want[i]);
    assert_int_equal(ds.y[0], 2);
    assert_int_equal(ds.y[1], 0);
    assert_int_equal(ds.y[2], 1);
    assert_int_equal(ds.line[0], 2);
    assert_int_equal(ds.line[1], 4);
    assert_int_equal(ds.line[2], 5);
    /* a label outside 0..classes-1 names the line */
    assert_int_equal(hprt_data_check_labels(&ds, 2, &err), HPRT_E_DATA);
    assert_msg_has(err, p);
    assert_msg_has(err, "line 2: label 2 is outside 0..1");
    hprt_dataset_free(&ds);

    /* by name: "species" is the last; "b" is column 1 */
    o.label = HPRT_LABEL_NAME;
    o.label_name = "b";
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA); /* 5.25 is no integer */
    assert_msg_has(err, "line 4, field 2 ('5.25'): the label must be a non-negative integer");
    assert_msg_has(err, "column 'b'");

    o.label_name = "species";
    hprt_data_info info;
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_OK);
    assert_int_equal(info.kind, HPRT_DATA_CSV);
    assert_int_equal(info.columns, 4);
    assert_int_equal(info.label_column, 3);
    assert_int_equal(info.features, 3);
    assert_int_equal(info.n, 3);
    assert_int_equal(info.classes, 3);
    assert_non_null(info.names);
    assert_string_equal(info.names[0], "a");
    assert_string_equal(info.names[1], "b");
    assert_string_equal(info.names[2], "c");
    assert_string_equal(info.names[3], "species");
    hprt_data_info_free(&info);

    /* label first, index, without header */
    const char *q = tmp(f, 1, "nohdr.csv");
    const char *t2 = "3,0.5,1\n0,1.5,2\n1,2.5,3"; /* no final newline */
    tu_write_file(q, t2, strlen(t2));
    o = hprt_csv_defaults();
    o.header = false;
    o.label = HPRT_LABEL_FIRST;
    assert_int_equal(hprt_csv_load(q, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.features, 2);
    assert_int_equal(ds.classes, 4);
    assert_int_equal(ds.y[0], 3);
    assert_true(ds.x[0] == 0.5f && ds.x[1] == 1.0f && ds.x[4] == 2.5f && ds.x[5] == 3.0f);
    assert_int_equal(ds.line[2], 3);
    hprt_dataset_free(&ds);

    o.label = HPRT_LABEL_INDEX;
    o.label_index = 2;
    assert_int_equal(hprt_csv_load(q, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.y[1], 2);
    assert_true(ds.x[2] == 0.0f && ds.x[3] == 1.5f);
    hprt_dataset_free(&ds);

    o.label = HPRT_LABEL_NONE;
    assert_int_equal(hprt_csv_load(q, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.features, 3);
    assert_null(ds.y);
    hprt_dataset_free(&ds);

    /* "3.0" is an integer label; a gzip-compressed CSV reads the same */
    const char *gzp = tmp(f, 2, "lab.csv.gz");
    gzFile g = gzopen(gzp, "wb");
    assert_non_null(g);
    const char *t3 = "x,y\n1,3.0\n2,0\n";
    assert_int_equal(gzwrite(g, t3, (unsigned)strlen(t3)), (int)strlen(t3));
    assert_int_equal(gzclose(g), Z_OK);
    o = hprt_csv_defaults();
    assert_int_equal(hprt_csv_load(gzp, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.y[0], 3);
    hprt_dataset_free(&ds);
    /* NULL options are the defaults */
    assert_int_equal(hprt_csv_load(gzp, NULL, &ds, &err), HPRT_OK);
    assert_int_equal(ds.features, 1);
    hprt_dataset_free(&ds);
}

/* A CSV bigger than every read buffer, plain and compressed. */
static void test_csv_large(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "id,half,label\r\n");
    for (int i = 0; i < 20000; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,%g,%d\r\n", i, i * 0.5, i % 3);
    const char *p = tmp(f, 0, "big.csv"), *z = tmp(f, 1, "big.csv.gz");
    tu_write_file(p, text, len);
    gzFile g = gzopen(z, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, text, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
    free(text);
    const char *paths[2] = {p, z};
    for (int k = 0; k < 2; k++) {
        hprt_dataset ds;
        assert_int_equal(hprt_csv_load(paths[k], NULL, &ds, &err), HPRT_OK);
        assert_int_equal(ds.n, 20000);
        assert_int_equal(ds.features, 2);
        assert_int_equal(ds.classes, 3);
        for (long i = 0; i < ds.n; i += 997) {
            assert_true(ds.x[2 * i] == (float)i);
            assert_true(ds.x[2 * i + 1] == (float)(i * 0.5));
            assert_int_equal(ds.y[i], i % 3);
            assert_int_equal(ds.line[i], i + 2);
        }
        hprt_dataset_free(&ds);
    }
    /* a NUL byte inside a number is not a number */
    tu_write_file(p, "a,l\n1\0002,0\n", 10);
    hprt_dataset ds;
    assert_int_equal(hprt_csv_load(p, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 2, field 1");
}

/* Found by fuzz_csv: a gzip-compressed CSV file whose contents are more
 * than 4 KB larger than the file overflowed the read buffer (sized from the
 * file, then doubled once for a 4 KB probe read); AddressSanitizer reports
 * the old code.  3000 rows of "1,0" (12 KB) compress to well under 4 KB. */
static void test_csv_gzip_small_file_large_contents(void **state)
{
    fixture *f = *state;
    const char *p = tmp(f, 0, "small.csv.gz");
    gzFile g = gzopen(p, "wb9");
    assert_non_null(g);
    assert_true(gzputs(g, "a,l\n") > 0);
    for (int i = 0; i < 3000; i++)
        assert_true(gzputs(g, "1,0\n") > 0);
    assert_int_equal(gzclose(g), Z_OK);
    size_t len;
    char *all = tu_read_file(p, &len);
    assert_non_null(all);
    free(all);
    assert_true(len < 1000);
    hprt_csv_opts o = hprt_csv_defaults();
    hprt_error err = {0};
    hprt_dataset ds;
    hprt_status s = hprt_csv_load(p, &o, &ds, &err);
    if (s != HPRT_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(s, HPRT_OK);
    assert_int_equal(ds.n, 3000);
    assert_int_equal(ds.features, 1);
    assert_true(ds.x[2999] == 1.0f);
    assert_int_equal(ds.line[2999], 3001);
    hprt_dataset_free(&ds);
}

static hprt_status load_csv_text(fixture *f, const char *text, const hprt_csv_opts *o,
                                 hprt_error *err)
{
    const char *p = tmp(f, 0, "bad.csv");
    tu_write_file(p, text, strlen(text));
    hprt_dataset ds;
    hprt_status s = hprt_csv_load(p, o, &ds, err);
    if (s == HPRT_OK)
        hprt_dataset_free(&ds);
    else
        assert_null(ds.x);
    return s;
}

static void test_csv_errors(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    hprt_csv_opts o = hprt_csv_defaults();
    const char *p = tmp(f, 0, "bad.csv");

    assert_int_equal(load_csv_text(f, "a,b,c,d,e\n1,2,3,4,0\n1,2,3,0\n", &o, &err), HPRT_E_DATA);
    assert_int_equal(err.status, HPRT_E_DATA);
    assert_msg_has(err, p);
    assert_msg_has(err, "line 3: expected 5 fields, found 4");

    assert_int_equal(load_csv_text(f, "a,b,c,l\n1,2,3,0\r\n\n4,5,abc,1\n", &o, &err),
                     HPRT_E_DATA);
    assert_msg_has(err, p);
    assert_msg_has(err, "line 4, field 3 ('abc'): not a number");
    assert_msg_has(err, "column 'c'");

    assert_int_equal(load_csv_text(f, "1,2,,0\n", &(hprt_csv_opts){.header = false}, &err),
                     HPRT_E_DATA);
    assert_msg_has(err, "line 1, field 3 (''): empty field");

    assert_int_equal(load_csv_text(f, "1,nan,0\n", &(hprt_csv_opts){.header = false}, &err),
                     HPRT_E_DATA);
    assert_msg_has(err, "line 1, field 2 ('nan'): not a finite");

    /* a header read as data gets a hint */
    assert_int_equal(load_csv_text(f, "x,y\n1,0\n", &(hprt_csv_opts){.header = false}, &err),
                     HPRT_E_DATA);
    assert_msg_has(err, "line 1, field 1 ('x')"); /* 'y' would be a class name */
    assert_msg_has(err, "set header = true");
    assert_int_equal(load_csv_text(f, "x,y\n1,0\n", &(hprt_csv_opts){.header = false,
                                                                  .label = HPRT_LABEL_NONE},
                                   &err),
                     HPRT_E_DATA);
    assert_msg_has(err, "line 1, field 1 ('x'): not a number");
    assert_msg_has(err, "set header = true");

    const char *labels[] = {"-1", "1.5", "", "1e10"}; /* numbers, but not classes ("cat" is a name) */
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
        char text[64];
        snprintf(text, sizeof text, "a,l\n1,0\n2,%s\n", labels[i]);
        assert_int_equal(load_csv_text(f, text, &o, &err), HPRT_E_DATA);
        assert_msg_has(err, p);
        assert_msg_has(err, "line 3, field 2");
        assert_msg_has(err, "non-negative integer");
    }
    /* the probe checks labels too */
    hprt_data_info info;
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 3, field 2");

    assert_int_equal(load_csv_text(f, "", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, p);
    assert_msg_has(err, "empty");
    assert_int_equal(load_csv_text(f, "\n\r\n  \n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "empty");
    assert_int_equal(load_csv_text(f, "a,b\n\n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "no data rows after the header");
    assert_int_equal(load_csv_text(f, "l\n1\n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "only one column");

    assert_int_equal(load_csv_text(f, "a,\"b\n1,2\n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 1, field 2: unterminated quote");

    o.label = HPRT_LABEL_NAME;
    o.label_name = "kind";
    assert_int_equal(load_csv_text(f, "a,b\n1,0\n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "no column named 'kind'");
    assert_msg_has(err, "'a', 'b'");
    o.header = false;
    assert_int_equal(load_csv_text(f, "1,0\n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "header = false");
    o.label = HPRT_LABEL_INDEX;
    o.label_index = 2;
    assert_int_equal(load_csv_text(f, "1,0\n", &o, &err), HPRT_E_DATA);
    assert_msg_has(err, "label column 2 does not exist: the file has 2 columns");

    const char *missing = tmp(f, 1, "missing.csv");
    hprt_dataset ds;
    assert_int_equal(hprt_csv_load(missing, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, missing);
    assert_msg_has(err, "No such file");
    assert_int_equal(hprt_csv_probe(missing, NULL, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, missing);
}

/* ---- operations ---------------------------------------------------------- */

/* n rows of F features: x[i][f] = i + 100 f; y = i % 4. */
static void make_rows(hprt_dataset *ds, long n, int F)
{
    memset(ds, 0, sizeof *ds);
    ds->kind = HPRT_DATA_CSV;
    ds->n = n;
    ds->features = F;
    ds->rank = 1;
    ds->dims[0] = F;
    ds->x = hprt_alloc((size_t)n * F * sizeof(float));
    ds->y = hprt_alloc((size_t)n * sizeof(int32_t));
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    for (long i = 0; i < n; i++) {
        for (int f = 0; f < F; f++)
            ds->x[i * F + f] = (float)(i + 100 * f);
        ds->y[i] = (int32_t)(i % 4);
    }
    ds->classes = 4;
    ds->source = strdup("rows");
    assert_non_null(ds->source);
}

static void test_split(void **state)
{
    (void)state;
    hprt_error err = {0};
    hprt_dataset tr, va;
    make_rows(&tr, 10, 3);
    assert_int_equal(hprt_data_split(&tr, 0.3, &va, &err), HPRT_OK);
    assert_int_equal(tr.n, 7);
    assert_int_equal(va.n, 3);
    assert_int_equal(va.first_record, 7);
    assert_int_equal(va.features, 3);
    for (long i = 0; i < 3; i++) {
        assert_true(va.x[i * 3] == (float)(7 + i));
        assert_true(va.x[i * 3 + 2] == (float)(207 + i));
        assert_int_equal(va.y[i], (7 + i) % 4);
    }
    assert_int_equal(va.classes, 4); /* labels 3, 0, 1 */
    assert_int_equal(tr.classes, 4);
    assert_string_equal(va.source, "rows");
    hprt_dataset_free(&va);

    assert_int_equal(hprt_data_split(&tr, 0.0, &va, &err), HPRT_E_DATA);
    assert_int_equal(hprt_data_split(&tr, 1.0, &va, &err), HPRT_E_DATA);
    assert_int_equal(hprt_data_split(&tr, 1e-9, &va, &err), HPRT_E_DATA);
    assert_msg_has(err, "rows");
    assert_msg_has(err, "split-off part empty");
    assert_int_equal(hprt_data_split(&tr, 0.99, &va, &err), HPRT_E_DATA);
    assert_msg_has(err, "training part empty");
    assert_null(va.x);
    assert_int_equal(tr.n, 7);
    hprt_dataset_free(&tr);

    /* the size rule: floor(n * (1 - f)) kept */
    make_rows(&tr, 60000, 1);
    assert_int_equal(hprt_data_split(&tr, 0.1, &va, &err), HPRT_OK);
    assert_int_equal(tr.n, 54000);
    assert_int_equal(va.n, 6000);
    assert_true(va.x[0] == 54000.0f);
    assert_true(va.x[5999] == 59999.0f);
    hprt_dataset_free(&va);
    hprt_dataset_free(&tr);
    make_rows(&tr, 101, 1);
    assert_int_equal(hprt_data_split(&tr, 0.1, &va, &err), HPRT_OK);
    assert_int_equal(tr.n, 90);
    assert_int_equal(va.n, 11);
    hprt_dataset_free(&va);
    hprt_dataset_free(&tr);
}

static void test_scale_normalize(void **state)
{
    (void)state;
    hprt_error err = {0};
    hprt_dataset tr, va;
    /* feature 0: i; feature 1: 100 + i; feature 2: constant 5 */
    make_rows(&tr, 10, 3);
    for (long i = 0; i < 10; i++)
        tr.x[i * 3 + 2] = 5.0f;
    assert_int_equal(hprt_data_split(&tr, 0.2, &va, &err), HPRT_OK); /* train rows 0..7 */

    hprt_norm nm;
    assert_int_equal(hprt_norm_fit(&nm, &tr, &err), HPRT_OK);
    assert_int_equal(nm.features, 3);
    /* mean and population std of 0..7: 3.5 and sqrt(5.25) */
    assert_close(nm.mean[0], 3.5, 1e-6);
    assert_close(nm.mean[1], 103.5, 1e-6);
    assert_close(nm.mean[2], 5.0, 1e-6);
    assert_close(nm.std[0], sqrt(5.25), 1e-6);
    assert_close(nm.std[1], sqrt(5.25), 1e-6);
    assert_close(nm.std[2], 1.0, 0); /* constant: guarded */

    assert_int_equal(hprt_norm_apply(&nm, &tr, &err), HPRT_OK);
    assert_int_equal(hprt_norm_apply(&nm, &va, &err), HPRT_OK);
    double s = 0, ss = 0;
    for (long i = 0; i < tr.n; i++) {
        s += tr.x[i * 3];
        ss += (double)tr.x[i * 3] * tr.x[i * 3];
        assert_true(tr.x[i * 3 + 2] == 0.0f);
    }
    assert_close_abs(s / 8, 0.0, 0, 1e-6);
    assert_close(ss / 8, 1.0, 1e-5);
    /* valid uses the training statistics: row 8 -> (8 - 3.5) / sqrt(5.25) */
    assert_close(va.x[0], 4.5 / sqrt(5.25), 1e-6);
    assert_close(va.x[4], 5.5 / sqrt(5.25), 1e-6);
    assert_true(va.x[2] == 0.0f);

    hprt_dataset other;
    make_rows(&other, 2, 4);
    assert_int_equal(hprt_norm_apply(&nm, &other, &err), HPRT_E_DATA);
    hprt_dataset_free(&other);
    hprt_norm_free(&nm);

    hprt_data_scale(&va, 2.0f);
    assert_close(va.x[0], 9.0 / sqrt(5.25), 1e-6);
    hprt_dataset_free(&va);
    hprt_dataset_free(&tr);
}

static bool is_permutation(const uint32_t *idx, uint32_t n)
{
    bool *seen = calloc(n, 1);
    bool ok = seen != NULL;
    for (uint32_t i = 0; ok && i < n; i++) {
        ok = idx[i] < n && !seen[idx[i]];
        if (ok)
            seen[idx[i]] = true;
    }
    free(seen);
    return ok;
}

static void test_order(void **state)
{
    (void)state;
    hprt_error err = {0};
    hprt_order a, b, id;
    assert_int_equal(hprt_order_init(&a, 1000, true, &err), HPRT_OK);
    assert_int_equal(hprt_order_init(&b, 1000, true, &err), HPRT_OK);
    assert_int_equal(hprt_order_init(&id, 1000, false, &err), HPRT_OK);
    hprt_rng ra, rb;
    hprt_rng_seed(&ra, 42);
    hprt_rng_seed(&rb, 42);

    hprt_order_next_epoch(&a, &ra);
    hprt_order_next_epoch(&b, &rb);
    hprt_order_next_epoch(&id, NULL);
    assert_true(is_permutation(a.idx, 1000));
    assert_memory_equal(a.idx, b.idx, 1000 * sizeof(uint32_t));
    long moved = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        moved += a.idx[i] != i;
        assert_int_equal(id.idx[i], i);
    }
    assert_true(moved > 900);

    /* the next epoch differs, and depends only on the generator's state */
    uint32_t first[1000];
    memcpy(first, a.idx, sizeof first);
    hprt_rng saved = ra;
    hprt_order_next_epoch(&a, &ra);
    assert_true(is_permutation(a.idx, 1000));
    assert_true(memcmp(first, a.idx, sizeof first) != 0);
    hprt_order fresh;
    assert_int_equal(hprt_order_init(&fresh, 1000, true, &err), HPRT_OK);
    hprt_order_next_epoch(&fresh, &saved);
    assert_memory_equal(fresh.idx, a.idx, sizeof first);

    /* another seed, another order */
    hprt_rng rc;
    hprt_rng_seed(&rc, 43);
    hprt_order_next_epoch(&b, &rc);
    assert_true(memcmp(b.idx, first, sizeof first) != 0);

    hprt_order_free(&a);
    hprt_order_free(&b);
    hprt_order_free(&id);
    hprt_order_free(&fresh);
    assert_int_equal(hprt_order_init(&a, 0, true, &err), HPRT_E_DATA);
}

static void test_gather(void **state)
{
    (void)state;
    hprt_error err = {0};
    hprt_dataset ds;
    make_rows(&ds, 10, 3);
    hprt_order o;
    assert_int_equal(hprt_order_init(&o, ds.n, true, &err), HPRT_OK);
    hprt_rng r;
    hprt_rng_seed(&r, 7);
    hprt_order_next_epoch(&o, &r);

    assert_int_equal(hprt_data_batches(10, 4), 3);
    assert_int_equal(hprt_data_batches(8, 4), 2);
    float x[4 * 3];
    int32_t y[4];
    long seen = 0;
    int count[10] = {0};
    for (long bi = 0; bi < hprt_data_batches(ds.n, 4); bi++) {
        long m = hprt_data_gather(&ds, o.idx, bi * 4, 4, x, y);
        assert_int_equal(m, bi < 2 ? 4 : 2); /* the last batch is partial */
        for (long i = 0; i < m; i++) {
            uint32_t row = o.idx[bi * 4 + i];
            assert_true(x[i * 3] == (float)row);
            assert_true(x[i * 3 + 1] == (float)(row + 100));
            assert_true(x[i * 3 + 2] == (float)(row + 200));
            assert_int_equal(y[i], (int)(row % 4));
            count[row]++;
        }
        seen += m;
    }
    assert_int_equal(seen, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(count[i], 1);
    assert_int_equal(hprt_data_gather(&ds, o.idx, 10, 4, x, y), 0);
    /* identity order, no labels wanted */
    assert_int_equal(hprt_data_gather(&ds, NULL, 8, 4, x, NULL), 2);
    assert_true(x[0] == 8.0f && x[3] == 9.0f);
    hprt_order_free(&o);
    hprt_dataset_free(&ds);
}

/* ---- text ---------------------------------------------------------------- */

static void test_text_small(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    const char *a = tmp(f, 0, "a.txt"), *b = tmp(f, 1, "b.txt");
    tu_write_file(a, "hello", 5);
    tu_write_file(b, " world\n", 7);
    const char *paths[] = {a, b};

    hprt_data_info info;
    assert_int_equal(hprt_text_probe(paths, 2, &info, &err), HPRT_OK);
    assert_int_equal(info.kind, HPRT_DATA_TEXT);
    assert_int_equal(info.n, 12);
    /* distinct bytes: '\n' ' ' d e h l o r w */
    assert_int_equal(info.vocab, 9);
    assert_int_equal(info.classes, 9);
    assert_int_equal(info.vocab_map.id['\n'], 0);
    assert_int_equal(info.vocab_map.id[' '], 1);
    assert_int_equal(info.vocab_map.id['d'], 2);
    assert_int_equal(info.vocab_map.id['w'], 8);
    assert_int_equal(info.vocab_map.id['a'], -1);
    assert_int_equal(info.vocab_map.byte[4], 'h');
    hprt_data_info_free(&info);

    hprt_dataset ds;
    assert_int_equal(hprt_text_load(paths, 2, 3, NULL, &ds, &err), HPRT_OK);
    assert_int_equal(ds.kind, HPRT_DATA_TEXT);
    assert_int_equal(ds.n, 12);
    assert_int_equal(ds.seq, 3);
    assert_int_equal(ds.vocab.size, 9);
    assert_int_equal((uintptr_t)ds.tokens % 64, 0);
    const char *all = "hello world\n";
    for (int i = 0; i < 12; i++)
        assert_int_equal(ds.vocab.byte[ds.tokens[i]], (unsigned char)all[i]);

    /* 2 streams of 6: "hello " and "world\n"; seq 3 -> windows [0,3) and [3,5) */
    hprt_text_layout l;
    assert_int_equal(hprt_text_layout_init(&l, &ds, 2, 3, &err), HPRT_OK);
    assert_int_equal(l.stream_len, 6);
    assert_int_equal(l.full_windows, 1);
    assert_int_equal(l.windows, 2);
    int32_t x[6], y[6];
    assert_int_equal(hprt_text_window(&ds, &l, 0, HPRT_SEQ_BATCH_MAJOR, x, y), 3);
    const char *wx = "helwor", *wy = "ellorl";
    for (int k = 0; k < 6; k++) {
        assert_int_equal(x[k], ds.vocab.id[(unsigned char)wx[k]]);
        assert_int_equal(y[k], ds.vocab.id[(unsigned char)wy[k]]);
    }
    assert_int_equal(hprt_text_window(&ds, &l, 1, HPRT_SEQ_TIME_MAJOR, x, y), 2);
    /* window 1: stream 0 x = "lo" y = "o ", stream 1 x = "ld" y = "d\n"; time-major */
    const char *mx = "llod", *my = "od \n";
    for (int k = 0; k < 4; k++) {
        assert_int_equal(x[k], ds.vocab.id[(unsigned char)mx[k]]);
        assert_int_equal(y[k], ds.vocab.id[(unsigned char)my[k]]);
    }
    assert_int_equal(hprt_text_window(&ds, &l, 2, HPRT_SEQ_TIME_MAJOR, x, y), 0);
    assert_int_equal(hprt_text_layout_init(&l, &ds, 4, 3, &err), HPRT_E_DATA);
    assert_msg_has(err, "too few");

    /* split: the last tokens */
    hprt_dataset va;
    assert_int_equal(hprt_data_split(&ds, 0.25, &va, &err), HPRT_OK);
    assert_int_equal(ds.n, 9);
    assert_int_equal(va.n, 3);
    assert_int_equal(va.first_record, 9);
    assert_int_equal(va.vocab.size, 9);
    assert_int_equal(va.tokens[0], ds.vocab.id['l']); /* "ld\n" */

    /* a test text read with the training vocabulary */
    const char *c = tmp(f, 2, "c.txt");
    tu_write_file(c, "held\nhowl!", 10);
    const char *cp[] = {a, c};
    hprt_dataset te;
    assert_int_equal(hprt_text_load(cp, 2, 3, &ds.vocab, &te, &err), HPRT_E_DATA);
    assert_msg_has(err, c);
    assert_msg_has(err, "byte 0x21 ('!') at offset 9");
    assert_null(te.tokens);
    tu_write_file(c, "held\nhowl", 9);
    assert_int_equal(hprt_text_load(cp, 2, 3, &ds.vocab, &te, &err), HPRT_OK);
    assert_int_equal(te.n, 14);
    assert_int_equal(te.tokens[5], ds.vocab.id['h']);
    hprt_dataset_free(&te);
    hprt_dataset_free(&va);
    hprt_dataset_free(&ds);

    /* empty and missing files */
    const char *e = tmp(f, 3, "empty.txt");
    tu_write_file(e, "", 0);
    const char *ep[] = {a, e};
    assert_int_equal(hprt_text_load(ep, 2, 64, NULL, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, e);
    assert_msg_has(err, "empty");
    assert_int_equal(hprt_text_probe(ep + 1, 1, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, e);
    const char *mp[] = {tmp(f, 4, "missing.txt")};
    assert_int_equal(hprt_text_probe(mp, 1, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, mp[0]);
    assert_msg_has(err, "No such file");
    assert_int_equal(hprt_text_load(NULL, 0, 64, NULL, &ds, &err), HPRT_E_DATA);
}

static void test_text_fortunes(void **state)
{
    (void)state;
    struct stat st;
    if (stat(FORTUNES_COMPUTERS, &st) != 0)
        skip();
    hprt_error err = {0};
    const char *paths[] = {FORTUNES_COMPUTERS};
    hprt_data_info info;
    assert_int_equal(hprt_text_probe(paths, 1, &info, &err), HPRT_OK);
    assert_int_equal(info.n, (long)st.st_size);
    assert_true(info.vocab > 60 && info.vocab <= 256);
    assert_int_equal(info.vocab_map.id['%'] >= 0, 1);

    hprt_dataset ds;
    assert_int_equal(hprt_text_load(paths, 1, 64, NULL, &ds, &err), HPRT_OK);
    assert_int_equal(ds.n, (long)st.st_size);
    assert_int_equal(ds.vocab.size, info.vocab);
    /* every id in range, and the ids read back as the file's bytes */
    size_t len;
    char *raw = tu_read_file(FORTUNES_COMPUTERS, &len);
    assert_non_null(raw);
    assert_int_equal(len, (size_t)ds.n);
    for (long i = 0; i < ds.n; i++) {
        assert_true(ds.tokens[i] < ds.vocab.size);
        assert_int_equal(ds.vocab.byte[ds.tokens[i]], (unsigned char)raw[i]);
    }

    hprt_dataset va;
    assert_int_equal(hprt_data_split(&ds, 0.1, &va, &err), HPRT_OK);
    hprt_text_layout l;
    assert_int_equal(hprt_text_layout_init(&l, &ds, 32, 64, &err), HPRT_OK);
    assert_int_equal(l.stream_len, ds.n / 32);
    assert_int_equal(l.full_windows, (l.stream_len - 1) / 64);
    int32_t *x = malloc(32 * 64 * sizeof(int32_t)), *y = malloc(32 * 64 * sizeof(int32_t));
    assert_non_null(x);
    assert_non_null(y);
    /* window 5, stream 31, step 10 */
    assert_int_equal(hprt_text_window(&ds, &l, 5, HPRT_SEQ_BATCH_MAJOR, x, y), 64);
    long pos = 31 * l.stream_len + 5 * 64 + 10;
    assert_int_equal(x[31 * 64 + 10], ds.vocab.id[(unsigned char)raw[pos]]);
    assert_int_equal(y[31 * 64 + 10], ds.vocab.id[(unsigned char)raw[pos + 1]]);
    /* consecutive windows continue each stream */
    int32_t last_y = y[3 * 64 + 63];
    assert_int_equal(hprt_text_window(&ds, &l, 6, HPRT_SEQ_BATCH_MAJOR, x, y), 64);
    assert_int_equal(x[3 * 64 + 0], last_y);
    free(x);
    free(y);
    free(raw);
    hprt_data_info_free(&info);
    hprt_dataset_free(&va);
    hprt_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idx_plain_and_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_other_ranks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_header_larger_than_file, setup, teardown),
        cmocka_unit_test(test_fashion_mnist),
        cmocka_unit_test_setup_teardown(test_csv_label_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_gzip_small_file_large_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_large, setup, teardown),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_scale_normalize),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_gather),
        cmocka_unit_test_setup_teardown(test_text_small, setup, teardown),
        cmocka_unit_test(test_text_fortunes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
