/* make_seeds.c - writes the seed corpora of the runtime's fuzz targets
 * (tests/fuzz/corpus/{idx,csv,text,ckpt}), in each target's input format
 * (a flags byte first; see fuzz_idx.c, fuzz_csv.c, fuzz_text.c,
 * fuzz_ckpt.c).  The cases are small versions of the unit tests' files:
 * valid ones of every kind the readers take, and a few of the damaged ones
 * the unit tests refuse.  Usage: fuzz_make_seeds DIR (DIR/idx ... are
 * created).  The checkpoints are written by hprt_ckpt_write (version 4) and
 * cut down to versions 2 and 1, which differ only by their last arrays. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hprt_ckpt.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put_file(const char *dir, const char *target, const char *name, unsigned flags, const void *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    unsigned char fl = (unsigned char)flags;
    if (!f || fwrite(&fl, 1, 1, f) != 1 || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0)
        die(path);
}

/* ---- IDX: flags, u16 labels length, labels, images ---- */

static size_t idx_file(unsigned char *out, uint32_t magic, const uint32_t *dims, int nd, const unsigned char *data,
                       size_t len)
{
    size_t k = 0;
    uint32_t words[5] = {magic, dims[0], nd > 1 ? dims[1] : 0, nd > 2 ? dims[2] : 0, nd > 3 ? dims[3] : 0};
    for (int i = 0; i <= nd; i++)
        for (int b = 3; b >= 0; b--)
            out[k++] = (unsigned char)(words[i] >> (8 * b));
    memcpy(out + k, data, len);
    return k + len;
}

static void idx_seed(const char *dir, const char *name, unsigned flags, uint32_t n, const uint32_t *item, int item_dims, size_t cut)
{
    unsigned char labels[64], lab[16], px[256], input[512];
    size_t features = 1;
    for (int i = 0; i < item_dims; i++)
        features *= item[i];
    for (uint32_t i = 0; i < n; i++)
        lab[i] = (unsigned char)(i % 3);
    for (size_t i = 0; i < n * features; i++)
        px[i] = (unsigned char)(i * 37);
    uint32_t d1[1] = {n}, dims[4] = {n, item[0], item_dims > 1 ? item[1] : 0, item_dims > 2 ? item[2] : 0};
    size_t nl = idx_file(labels, 0x801, d1, 1, lab, n);
    input[0] = (unsigned char)nl;
    input[1] = 0;
    memcpy(input + 2, labels, nl);
    size_t ni = idx_file(input + 2 + nl, 0x800u | (unsigned)(item_dims + 1), dims, item_dims + 1, px, n * features);
    put_file(dir, "idx", name, flags, input, 2 + nl + ni - cut);
}

static void idx_seeds(const char *dir)
{
    uint32_t img[2] = {3, 2}, vec[1] = {5}, vol[3] = {2, 2, 3};
    idx_seed(dir, "images_plain", 0, 4, img, 2, 0);
    idx_seed(dir, "images_gzip", 3, 4, img, 2, 0);
    idx_seed(dir, "images_bytes", 8 | 1, 4, img, 2, 0);
    idx_seed(dir, "vectors", 0, 3, vec, 1, 0);
    idx_seed(dir, "volumes_nolabels", 4, 2, vol, 3, 0);
    idx_seed(dir, "truncated", 0, 4, img, 2, 5);
    /* raw gzip in the file itself: the loader's own gzip path on a real stream */
    unsigned char plain[128], z[256], input[300];
    uint32_t d3[3] = {2, 2, 2}, d1[1] = {2};
    unsigned char px[8] = {0, 64, 128, 255, 1, 2, 3, 4}, lab[2] = {1, 0};
    size_t np = idx_file(plain, 0x803, d3, 3, px, 8);
    z_stream s = {0};
    if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    s.next_in = plain;
    s.avail_in = (uInt)np;
    s.next_out = z;
    s.avail_out = sizeof z;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    size_t nz = s.total_out;
    deflateEnd(&s);
    unsigned char labels[16];
    size_t nl = idx_file(labels, 0x801, d1, 1, lab, 2);
    input[0] = (unsigned char)nl;
    input[1] = 0;
    memcpy(input + 2, labels, nl);
    memcpy(input + 2 + nl, z, nz);
    put_file(dir, "idx", "gzip_in_file", 0, input, 2 + nl + nz);
    put_file(dir, "idx", "gzip_in_file_cut", 0, input, 2 + nl + nz - 6);
}

/* ---- CSV: flags, file ---- */

static void csv_seeds(const char *dir)
{
    static const struct {
        const char *name;
        unsigned flags;
        const char *text;
    } c[] = {
        {"header_last", 0, "a,b,c,label\n1,2,3,0\n4.5,-6e-1,7,2\n"},
        {"first", 1, "label,x,y\n1,0.5,2\n0,1e3,-4\n"},
        {"index", 2 | (1 << 3), "x,l,y\n1,3.0,2\n2,0,1\n"},
        {"name", 3, "x,label,y\n1,1,2\n2,0,1\n"},
        {"none", 4 | 64, "1,2,3\n4,5,6\n"},
        {"no_header", 64, "1,2,0\n3,4,1\n"},
        {"crlf_bom_quotes", 0, "\xEF\xBB\xBF\"a\",\" b \"\"q\"\"\",l\r\n 1 , 2 ,0\r\n\r\n3,4,1"},
        {"blank_lines", 0, "a,l\n\n  \n1,0\n\n2,1\n"},
        {"gzip", 128, "a,b,l\n1,2,0\n3,4,1\n"},
        {"bad_field", 0, "a,b,c,l\n1,2,3,0\r\n\n4,5,abc,1\n"},
        {"bad_count", 0, "a,b,c,d,e\n1,2,3,4,0\n1,2,3,0\n"},
        {"unterminated", 0, "a,\"b\n1,2\n"},
        {"bad_label", 64, "1,nan,0\n2,3,-1\n4,5,1.5\n"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        put_file(dir, "csv", c[i].name, c[i].flags, c[i].text, strlen(c[i].text));
}

/* ---- text: flags, u16 length of the first file, the two files ---- */

static void text_seed(const char *dir, const char *name, unsigned flags, const char *a, const char *b)
{
    unsigned char input[512];
    size_t na = strlen(a), nb = strlen(b);
    input[0] = (unsigned char)na;
    input[1] = (unsigned char)(na >> 8);
    memcpy(input + 2, a, na);
    memcpy(input + 2 + na, b, nb);
    put_file(dir, "text", name, flags, input, 2 + na + nb);
}

static void text_seeds(const char *dir)
{
    text_seed(dir, "two_files", 2 | (1 << 6), "hello world\n", "held\nhowl!");
    text_seed(dir, "one_file", 16 | 2, "the quick brown fox jumps over the lazy dog\n", "");
    text_seed(dir, "test_vocab", 32 | 1 | (1 << 6), "hello world\n", "held\nhowl");
    text_seed(dir, "outside_vocab", 32, "hello\n", "help!");
    text_seed(dir, "too_short", 15 | (3 << 6), "ab", "c");
    text_seed(dir, "binary", 4, "\x01\xff\xfe\x80", "\x7f\x02");
}

/* ---- checkpoints: flags, file ---- */

static void put_u32le(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

static unsigned char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    unsigned char *p = malloc(1 << 20);
    if (!p)
        die("malloc");
    *n = fread(p, 1, 1 << 20, f);
    fclose(f);
    return p;
}

/* The file with its version set and its last `drop` bytes before the CRC cut; the CRC redone. */
static void ckpt_variant(const char *dir, const char *name, const unsigned char *file, size_t n, uint32_t version, size_t drop)
{
    unsigned char *p = malloc(n);
    if (!p)
        die("malloc");
    size_t m = n - 4 - drop;
    memcpy(p, file, m);
    put_u32le(p + 4, version);
    put_u32le(p + m, (uint32_t)crc32(0L, p, (uInt)m));
    /* 6 << 4: arrays m and v, and optimizer 6 % 5 = adam, as written */
    put_file(dir, "ckpt", name, 2 | 6 << 4, p, m + 4);
    char alt[64];
    snprintf(alt, sizeof alt, "%s_nocrc", name); /* the fuzz target appends the CRC */
    put_file(dir, "ckpt", alt, 3 | 6 << 4, p, m);
    free(p);
    (void)n;
}

static void ckpt_seeds(const char *dir)
{
    char tmpl[] = "/tmp/hpc-seeds-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    if (!tmp)
        die("mkdtemp");
    char path[4200];
    snprintf(path, sizeof path, "%s/last.hpw", tmp);
    enum { NP = 6 };
    float params[NP] = {0.5f, -1, 2, 0, 1e-3f, 3};
    hprt_optimizer o = {.kind = HPRT_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    hprt_optim_state *opt = hprt_optim_state_new(&o, NP);
    if (!opt)
        die("hprt_optim_state_new");
    uint32_t order[5] = {4, 2, 0, 1, 3};
    float carry[3] = {0.25f, -0.5f, 1}, norm[4] = {0.5f, 1.5f, 1, 2};
    hprt_train_state st;
    memset(&st, 0, sizeof st);
    st.step = 7;
    st.epoch = 1;
    st.pos = 2;
    st.batch = 2;
    st.n_dropout = 1;
    st.dropout_p[0] = 0.5f;
    st.stopper.best_epoch = -1;
    st.order = order;
    st.n_order = 5;
    st.threads = 1;
    hprt_ckpt_id id = {0x1234abcdULL, "2 -> 3 -> 2, 6 parameters, adam"};
    hprt_error err;
    /* version 4 with a CSV encoding, then without it (the base of version 3),
     * then without statistics (2) and without the carry (1) */
    static char enc[] = "classes 2\ncat\ndog\ncolumn 0 2\ncolour\nblue\nred\n";
    st.encoding = enc;
    st.n_encoding = (int64_t)strlen(enc);
    st.carry = carry;
    st.n_carry = 3;
    st.norm = norm;
    st.n_norm = 4;
    size_t n;
    if (hprt_ckpt_write(path, &id, params, NP, opt, &st, &err) != HPRT_OK) {
        fprintf(stderr, "fuzz_make_seeds: %s\n", err.msg);
        exit(1);
    }
    unsigned char *file = read_whole(path, &n);
    ckpt_variant(dir, "v4_encoding", file, n, 4, 0);
    free(file);
    st.encoding = NULL;
    st.n_encoding = 0;
    if (hprt_ckpt_write(path, &id, params, NP, opt, &st, &err) != HPRT_OK)
        exit(1);
    file = read_whole(path, &n);
    put_file(dir, "ckpt", "v4_no_opt", 2 | 4, file, n); /* the optimizer state skipped */
    ckpt_variant(dir, "v3_norm", file, n, 3, 8);        /* without the encoding's count */
    free(file);
    st.n_norm = 0;
    st.norm = NULL;
    if (hprt_ckpt_write(path, &id, params, NP, opt, &st, &err) != HPRT_OK)
        exit(1);
    file = read_whole(path, &n);
    ckpt_variant(dir, "v2_carry", file, n, 2, 16);     /* without the statistics' and encoding's counts */
    free(file);
    st.n_carry = 0;
    st.carry = NULL;
    if (hprt_ckpt_write(path, &id, params, NP, opt, &st, &err) != HPRT_OK)
        exit(1);
    file = read_whole(path, &n);
    ckpt_variant(dir, "v1", file, n, 1, 24);           /* without the carry's, statistics' and encoding's counts */
    ckpt_variant(dir, "v5_unknown", file, n, 5, 0);
    put_file(dir, "ckpt", "damaged_crc", 2, file, n - 1);
    free(file);
    hprt_optim_state_free(opt);
    unlink(path);
    rmdir(tmp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
        return 2;
    }
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST)
        die(argv[1]);
    idx_seeds(argv[1]);
    csv_seeds(argv[1]);
    text_seeds(argv[1]);
    ckpt_seeds(argv[1]);
    return 0;
}
