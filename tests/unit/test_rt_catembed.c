/* test_rt_catembed.c - embedded categorical CSV columns (`categories =
 * [embed("city", 8)]`) in the runtime: the reference gather/scatter kernels
 * (hprt_catembed_*: forward by hand, the id rule, duplicates accumulating,
 * finite differences of the tables), the CSV loader writing ids (1..n, 0 for
 * a category the training rows lack), the encoding's widths and positions and
 * its text form (embed lines; the old one-hot form still read), and scale and
 * normalize leaving ids alone. */
#include "testutil.h"

#include "hprt_data.h"
#include "hprt_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A row [a, id1, b, id2, c]: column 1 with 3 categories in 2 values, column 3
 * with 2 categories in 3 values: the model's row is [a, e1 e1, b, e2 e2 e2, c]. */
static const hprt_catembed_col COLS[2] = {
    {.in_pos = 1, .out_pos = 1, .n = 3, .dim = 2, .w = 0},
    {.in_pos = 3, .out_pos = 4, .n = 2, .dim = 3, .w = 8},
};
static const hprt_catembed_geom GEOM = {.in_width = 5, .out_width = 8, .n_cols = 2, .cols = COLS};
#define NW (4 * 2 + 3 * 3)

static void test_id_rule(void **state)
{
    (void)state;
    assert_int_equal(hprt_catembed_id(1.0f, 3), 1);
    assert_int_equal(hprt_catembed_id(3.0f, 3), 3);
    assert_int_equal(hprt_catembed_id(0.0f, 3), 0);
    assert_int_equal(hprt_catembed_id(4.0f, 3), 0);   /* outside 1..n: unknown */
    assert_int_equal(hprt_catembed_id(-2.0f, 3), 0);
    assert_int_equal(hprt_catembed_id(2.5f, 3), 2);   /* a fraction: its whole part */
    assert_int_equal(hprt_catembed_id(3.5f, 3), 3);
    assert_int_equal(hprt_catembed_id(NAN, 3), 0);
    assert_int_equal(hprt_catembed_id(INFINITY, 3), 0);
}

static void fill_tables(float *W)
{
    for (int k = 0; k < NW; k++)
        W[k] = (float)(k + 1) * 0.5f;
}

static void test_forward_by_hand(void **state)
{
    (void)state;
    float W[NW];
    fill_tables(W);
    const float X[2 * 5] = {10, 2, 20, 1, 30, /* */ 11, 0, 21, 7, 31};
    float Y[2 * 8];
    tu_poison(Y, 16);
    hprt_catembed_forward(&GEOM, W, X, 2, Y);
    /* row 0: city id 2 -> W[4..5]; column 3 id 1 -> W[8 + 3..5] */
    const float want0[8] = {10, W[4], W[5], 20, W[11], W[12], W[13], 30};
    /* row 1: id 0 -> row 0 of each table; 7 is outside 1..2 -> row 0 */
    const float want1[8] = {11, W[0], W[1], 21, W[8], W[9], W[10], 31};
    for (int k = 0; k < 8; k++) {
        assert_true(Y[k] == want0[k]);
        assert_true(Y[8 + k] == want1[k]);
    }
}

static void test_backward_accumulates(void **state)
{
    (void)state;
    /* three rows, two with city 3: its row gets both gradients, in row order */
    const float X[3 * 5] = {0, 3, 0, 2, 0, /* */ 0, 1, 0, 2, 0, /* */ 0, 3, 0, 0, 0};
    float dY[3 * 8], dW[NW];
    for (int k = 0; k < 24; k++)
        dY[k] = (float)(k % 7) - 2.5f;
    tu_poison(dW, NW);
    hprt_catembed_backward(&GEOM, X, dY, 3, dW);
    float want[NW] = {0};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++) {
            int id = hprt_catembed_id(X[r * 5 + COLS[c].in_pos], COLS[c].n);
            for (int j = 0; j < COLS[c].dim; j++)
                want[COLS[c].w + id * COLS[c].dim + j] += dY[r * 8 + COLS[c].out_pos + j];
        }
    for (int k = 0; k < NW; k++)
        assert_true(dW[k] == want[k]);
    assert_true(dW[6] == dY[1] + dY[17]); /* city 3, value 0: rows 0 and 2 */
    assert_true(dW[2] == dY[9] && dW[3] == dY[10]); /* city 1: row 1 only */
    assert_true(dW[4] == 0 && dW[5] == 0);        /* city 2: no row */
}

/* L = Σ c·y + ½ Σ y² over the model's rows: dL/dy = c + y. */
typedef struct {
    const float *X;
    double *p;
    int rows;
    const float *c;
} fd_ctx;

static double objective(void *v)
{
    fd_ctx *x = v;
    float W[NW], Y[4 * 8];
    for (int k = 0; k < NW; k++)
        W[k] = (float)x->p[k];
    hprt_catembed_forward(&GEOM, W, x->X, x->rows, Y);
    double L = 0;
    for (int k = 0; k < x->rows * 8; k++)
        L += x->c[k] * Y[k] + 0.5 * (double)Y[k] * Y[k];
    return L;
}

static void test_finite_differences(void **state)
{
    (void)state;
    /* ids 0..n, duplicates, and an out-of-range id (row 0 of its table) */
    const float X[4 * 5] = {0.3f, 1, -1, 2, 2, /* */ 0.1f, 1, 0.5f, 0, 4, /* */ -0.7f, 3, 1.5f, 2, 0, /* */ 0, 0, 0, 9, 1};
    double p[NW];
    float W[NW], Y[4 * 8], dY[4 * 8], dW[NW], c[4 * 8];
    for (int k = 0; k < NW; k++)
        p[k] = W[k] = (float)sin(1.0 + k) * 0.008f; /* small: float round-off of p ± h stays below the tolerance */
    for (int k = 0; k < 32; k++)
        c[k] = (float)cos(0.3 * k);
    hprt_catembed_forward(&GEOM, W, X, 4, Y);
    for (int k = 0; k < 32; k++)
        dY[k] = c[k] + Y[k];
    hprt_catembed_backward(&GEOM, X, dY, 4, dW);
    fd_ctx ctx = {X, p, 4, c};
    tu_check_grad(objective, &ctx, p, NW, dW);
}

/* ---- the loader and the encoding ---- */

typedef struct {
    char *dir;
    char path[600], other[600];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/train.csv", f->dir);
    snprintf(f->other, sizeof f->other, "%s/test.csv", f->dir);
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

static void test_loader_writes_ids(void **state)
{
    fixture *f = *state;
    const char *train = "x,city,colour,shop,y\n"
                        "1,paris,red,s2,0\n"
                        "2,oslo,blue,s1,1\n"
                        "3,paris,red,s3,0\n"
                        "4,rome,green,s1,1\n";
    tu_write_file(f->path, train, strlen(train));
    hprt_csv_colref refs[3] = {{.name = "shop", .index = -1}, {.name = "city", .index = -1}, {.name = NULL, .index = 2}};
    int dims[3] = {5, 4, 0}; /* shop embedded in 5, city in 4, colour one-hot */
    hprt_csv_opts o = hprt_csv_defaults();
    o.categorical = refs;
    o.n_categorical = 3;
    o.categorical_dims = dims;
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(f->path, &o, &info, &err), HPRT_OK);
    const hprt_csv_encoding *en = &info.encoding;
    assert_int_equal(en->n_cats, 3);
    /* in column order, each with its own size */
    assert_int_equal(en->cats[0].column, 1);
    assert_int_equal(en->cats[0].dim, 4);
    assert_int_equal(en->cats[1].column, 2);
    assert_int_equal(en->cats[1].dim, 0);
    assert_int_equal(en->cats[2].column, 3);
    assert_int_equal(en->cats[2].dim, 5);
    /* stored: x, city id, blue green red, shop id = 6; the model: 1 + 4 + 3 + 5 = 13 */
    assert_int_equal(info.features, 6);
    assert_int_equal(hprt_csv_encoding_width(en, 4), 6);
    assert_int_equal(hprt_csv_encoding_model_width(en, 4), 13);
    int pos[4], mpos[4];
    assert_int_equal(hprt_csv_encoding_embedded(en, pos, mpos, 4), 2);
    assert_int_equal(pos[0], 1);
    assert_int_equal(mpos[0], 1);
    assert_int_equal(pos[1], 5);
    assert_int_equal(mpos[1], 8);

    hprt_dataset ds;
    hprt_csv_opts lo = hprt_csv_defaults();
    lo.encoding = en;
    assert_int_equal(hprt_csv_load(f->path, &lo, &ds, &err), HPRT_OK);
    assert_int_equal(ds.features, 6);
    /* cities oslo, paris, rome -> 1, 2, 3; shops s1, s2, s3 -> 1, 2, 3 */
    const float want[4 * 6] = {1, 2, 0, 0, 1, 2, /* */ 2, 1, 1, 0, 0, 1, /* */ 3, 2, 0, 0, 1, 3, /* */ 4, 3, 0, 1, 0, 1};
    for (int k = 0; k < 24; k++)
        assert_true(ds.x[k] == want[k]);
    hprt_dataset_free(&ds);

    /* another file with train's encoding: an unseen city and shop are id 0 (the unknown bucket) */
    const char *test = "x,city,colour,shop,y\n5,lima,red,s9,1\n6,rome,pink,s3,0\n";
    tu_write_file(f->other, test, strlen(test));
    assert_int_equal(hprt_csv_load(f->other, &lo, &ds, &err), HPRT_OK);
    const float want2[2 * 6] = {5, 0, 0, 0, 1, 0, /* */ 6, 3, 0, 0, 0, 3};
    for (int k = 0; k < 12; k++)
        assert_true(ds.x[k] == want2[k]);
    hprt_dataset_free(&ds);

    /* the text form keeps the sizes, and reads back to the same text */
    size_t len, len2;
    char *text = hprt_csv_encoding_save(en, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "embed 1 3 4\ncity\noslo\nparis\nrome\n"));
    assert_non_null(strstr(text, "column 2 3\ncolour\nblue\ngreen\nred\n"));
    assert_non_null(strstr(text, "embed 3 3 5\nshop\ns1\ns2\ns3\n"));
    hprt_csv_encoding back;
    assert_int_equal(hprt_csv_encoding_parse(text, len, &back, &err), HPRT_OK);
    assert_int_equal(back.cats[0].dim, 4);
    assert_int_equal(back.cats[1].dim, 0);
    assert_int_equal(back.cats[2].dim, 5);
    char *again = hprt_csv_encoding_save(&back, &len2);
    assert_non_null(again);
    assert_int_equal(len, len2);
    assert_memory_equal(text, again, len);
    free(again);
    hprt_csv_encoding_free(&back);
    free(text);
    hprt_data_info_free(&info);
}

/* min_count: categories seen fewer times in the training rows (those split
 * leaves) leave the encoding, so they load as id 0 (the unknown bucket). */
static void test_min_count(void **state)
{
    fixture *f = *state;
    /* rows 0-5 are the training rows: a 3 times, b 2 times, c once; row 6 (cut off) is another b */
    const char *train = "city,y\na,0\nb,1\na,0\nc,1\nb,0\na,1\nb,1\n";
    tu_write_file(f->path, train, strlen(train));
    hprt_csv_colref refs[1] = {{.name = "city", .index = -1}};
    int dims[1] = {2}, mins[1] = {3};
    hprt_csv_opts o = hprt_csv_defaults();
    o.categorical = refs;
    o.n_categorical = 1;
    o.categorical_dims = dims;
    o.categorical_min_counts = mins;
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(f->path, &o, &info, &err), HPRT_OK);
    assert_int_equal(info.encoding.cats[0].n, 3);
    assert_int_equal(info.encoding.cats[0].min_count, 3);
    assert_non_null(info.encoding.cats[0].row_cat);
    hprt_csv_encoding_restrict(&info.encoding, 6);
    assert_int_equal(info.encoding.cats[0].n, 1); /* b has 2 training rows (the third is cut off) */
    assert_string_equal(info.encoding.cats[0].names[0], "a");
    assert_null(info.encoding.cats[0].row_cat);
    hprt_dataset ds;
    hprt_csv_opts lo = hprt_csv_defaults();
    lo.encoding = &info.encoding;
    assert_int_equal(hprt_csv_load(f->path, &lo, &ds, &err), HPRT_OK);
    const float want[7] = {1, 0, 1, 0, 0, 1, 0};
    for (int k = 0; k < 7; k++)
        assert_true(ds.x[k] == want[k]);
    hprt_dataset_free(&ds);
    hprt_data_info_free(&info);
    /* all rows: b reaches 3 */
    assert_int_equal(hprt_csv_probe(f->path, &o, &info, &err), HPRT_OK);
    hprt_csv_encoding_restrict(&info.encoding, 7);
    assert_int_equal(info.encoding.cats[0].n, 2);
    hprt_data_info_free(&info);
}

static void test_encoding_text_refusals(void **state)
{
    (void)state;
    hprt_csv_encoding e;
    hprt_error err = {0};
    const char *bad[] = {"classes 0\nembed 1 2 0\nc\na\nb\n", "classes 0\nembed 1 2 1025\nc\na\nb\n",
                         "classes 0\nembed 1 2\nc\na\nb\n", "classes 0\nembed 1 2 3 4\nc\na\nb\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(hprt_csv_encoding_parse(bad[i], strlen(bad[i]), &e, &err), HPRT_E_DATA);
    const char *old = "classes 0\ncolumn 1 2\nc\na\nb\n"; /* a one-hot column, as version 4 checkpoints have it */
    assert_int_equal(hprt_csv_encoding_parse(old, strlen(old), &e, &err), HPRT_OK);
    assert_int_equal(e.cats[0].dim, 0);
    hprt_csv_encoding_free(&e);
}

static void test_scale_and_normalize_keep_ids(void **state)
{
    (void)state;
    hprt_dataset ds = {0};
    ds.kind = HPRT_DATA_CSV;
    ds.n = 3;
    ds.features = 3;
    ds.x = hprt_alloc(9 * sizeof(float));
    assert_non_null(ds.x);
    const float x[9] = {1, 3, 10, /* */ 2, 1, 20, /* */ 3, 2, 30};
    memcpy(ds.x, x, sizeof x);
    const int keep[1] = {1};
    hprt_data_scale_except(&ds, 0.5f, keep, 1);
    const float scaled[9] = {0.5f, 3, 5, 1, 1, 10, 1.5f, 2, 15};
    for (int k = 0; k < 9; k++)
        assert_true(ds.x[k] == scaled[k]);
    hprt_norm nm;
    hprt_error err = {0};
    assert_int_equal(hprt_norm_fit(&nm, &ds, &err), HPRT_OK);
    hprt_norm_keep(&nm, keep, 1);
    assert_true(nm.mean[1] == 0 && nm.std[1] == 1);
    assert_int_equal(hprt_norm_apply(&nm, &ds, &err), HPRT_OK);
    assert_true(ds.x[1] == 3 && ds.x[4] == 1 && ds.x[7] == 2); /* the ids unchanged */
    assert_close(ds.x[0], -1.2247449, 1e-6);                    /* the others standardised */
    hprt_norm_free(&nm);
    hprt_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_rule),
        cmocka_unit_test(test_forward_by_hand),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test_setup_teardown(test_loader_writes_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_count, setup, teardown),
        cmocka_unit_test(test_encoding_text_refusals),
        cmocka_unit_test(test_scale_and_normalize_keep_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
