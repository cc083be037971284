/* test_rt_csv_cat.c - categorical CSV data: class names for labels that are
 * not numbers, one-hot categorical columns, the training set's encoding
 * applied to other files (unknown categories: all zeros; unknown classes: an
 * error at the line), the limits, and the encoding's text form. */
#include "testutil.h"

#include "hprt_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *dir;
    char path[600];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_tmpdir();
    snprintf(f->path, sizeof f->path, "%s/d.csv", f->dir);
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

static const char *put(fixture *f, const char *text)
{
    tu_write_file(f->path, text, strlen(text));
    return f->path;
}

#define assert_msg_has(err, s)                                                                  \
    do {                                                                                        \
        if (!strstr((err).msg, (s)))                                                            \
            fail_msg("message \"%s\" lacks \"%s\"", (err).msg, (s));                            \
    } while (0)

/* Labels that are words become classes numbered in byte order (LabelEncoder). */
static void test_class_names(void **state)
{
    fixture *f = *state;
    const char *p = put(f, "a,species\n1,dog\n2,cat\n3,\"dog\"\n4,\"a, \"\"quoted\"\" one\"\n5,1\n");
    hprt_csv_opts o = hprt_csv_defaults();
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_OK);
    assert_int_equal(info.classes, 4);
    assert_int_equal(info.features, 1);
    assert_int_equal(info.encoding.n_classes, 4);
    assert_string_equal(info.encoding.classes[0], "1");
    assert_string_equal(info.encoding.classes[1], "a, \"quoted\" one");
    assert_string_equal(info.encoding.classes[2], "cat");
    assert_string_equal(info.encoding.classes[3], "dog");

    hprt_dataset ds;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.classes, 4);
    const int32_t want[5] = {3, 2, 3, 1, 0};
    assert_memory_equal(ds.y, want, sizeof want);
    hprt_dataset_free(&ds);

    /* another file read with these classes: the same numbers; a new name is an error at its line */
    o.encoding = &info.encoding;
    p = put(f, "a,species\n7,cat\n8,dog\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.y[0], 2);
    assert_int_equal(ds.y[1], 3);
    hprt_dataset_free(&ds);
    p = put(f, "a,species\n7,cat\n\n8,wolf\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 4, field 2 ('wolf'): not one of the 4 classes of the training data");
    hprt_data_info other;
    assert_int_equal(hprt_csv_probe(p, &o, &other, &err), HPRT_E_DATA); /* check sees it too */
    assert_msg_has(err, "line 4");
    /* an empty label is an error, not a class */
    o.encoding = NULL;
    p = put(f, "a,species\n1,dog\n2,\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 3, field 2");
    hprt_data_info_free(&info);
}

/* A categorical column becomes k one-hot features in place, in byte order. */
static void test_one_hot(void **state)
{
    fixture *f = *state;
    const char *p = put(f, "x,color,y\n1,red,0\n2,blue,1\n3,\"green, light\",0\n4,red,1\n");
    hprt_csv_colref cols[] = {{.name = "color"}};
    hprt_csv_opts o = hprt_csv_defaults();
    o.categorical = cols;
    o.n_categorical = 1;
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_OK);
    assert_int_equal(info.features, 4);
    assert_int_equal(info.dims[0], 4);
    assert_int_equal(info.classes, 2); /* numeric labels stay numbers */
    assert_int_equal(info.encoding.n_classes, 0);
    assert_int_equal(info.encoding.n_cats, 1);
    const hprt_csv_category *c = &info.encoding.cats[0];
    assert_int_equal(c->column, 1);
    assert_string_equal(c->name, "color");
    assert_int_equal(c->n, 3);
    assert_string_equal(c->names[0], "blue");
    assert_string_equal(c->names[1], "green, light");
    assert_string_equal(c->names[2], "red");
    assert_int_equal(c->first_row[0], 1);
    assert_int_equal(c->first_row[2], 0);

    hprt_dataset ds;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.features, 4);
    const float want[16] = {1, 0, 0, 1, 2, 1, 0, 0, 3, 0, 1, 0, 4, 0, 0, 1};
    assert_memory_equal(ds.x, want, sizeof want);
    hprt_dataset_free(&ds);

    /* with the training encoding: an unknown category is all zeros, and a
     * file without the label column (predict input) lays out the same */
    o.encoding = &info.encoding;
    o.label = HPRT_LABEL_NONE;
    p = put(f, "x,color\n5,purple\n6,blue\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    const float want2[8] = {5, 0, 0, 0, 6, 1, 0, 0};
    assert_int_equal(ds.features, 4);
    assert_memory_equal(ds.x, want2, sizeof want2);
    hprt_dataset_free(&ds);

    /* the training part of a split: categories first seen later are dropped */
    hprt_csv_encoding_restrict(&info.encoding, 1);
    assert_int_equal(info.encoding.cats[0].n, 1);
    assert_string_equal(info.encoding.cats[0].names[0], "red");
    assert_int_equal(hprt_csv_encoding_width(&info.encoding, 2), 2);
    hprt_data_info_free(&info);
}

/* The label column first: feature positions do not count it. */
static void test_one_hot_label_first(void **state)
{
    fixture *f = *state;
    const char *p = put(f, "kind,size,w\nb,S,1.5\na,L,2.5\n");
    hprt_csv_colref cols[] = {{.name = NULL, .index = 1}};
    hprt_csv_opts o = hprt_csv_defaults();
    o.label = HPRT_LABEL_FIRST;
    o.categorical = cols;
    o.n_categorical = 1;
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_OK);
    assert_int_equal(info.encoding.cats[0].column, 0);
    assert_int_equal(info.features, 3);
    hprt_dataset ds;
    o.encoding = &info.encoding;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    const float want[6] = {0, 1, 1.5f, 1, 0, 2.5f};
    assert_memory_equal(ds.x, want, sizeof want);
    assert_int_equal(ds.y[0], 1);
    assert_int_equal(ds.y[1], 0);
    hprt_dataset_free(&ds);
    hprt_data_info_free(&info);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    hprt_error err = {0};
    hprt_dataset ds;
    hprt_csv_opts o = hprt_csv_defaults();
    /* a word in a numeric column: its line, and the hint to declare it */
    const char *p = put(f, "x,color,y\n1,2,0\n3,blue,1\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 3, field 2 ('blue'): not a number (column 'color')");
    assert_msg_has(err, "categories = [\"color\"]");

    hprt_csv_colref bad[] = {{.name = "colour"}};
    o.categorical = bad;
    o.n_categorical = 1;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "categorical column: no column named 'colour'");
    hprt_csv_colref label[] = {{.index = 2}};
    o.categorical = label;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "is the label column");
    hprt_csv_colref twice[] = {{.index = 1}, {.name = "color"}};
    o.categorical = twice;
    o.n_categorical = 2;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "declared twice");
    hprt_csv_colref far[] = {{.index = 9}};
    o.categorical = far;
    o.n_categorical = 1;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "categorical column 9 does not exist");

    /* an empty category */
    hprt_csv_colref color[] = {{.name = "color"}};
    o.categorical = color;
    p = put(f, "x,color,y\n1,red,0\n3,,1\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 3, field 2 (''): empty field; a category needs a value");

    /* more distinct categories than the limit: at the line of the first too many */
    size_t cap = 64 + (size_t)(HPRT_MAX_CATEGORIES + 2) * 16, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "x,color,y\n");
    for (int i = 0; i <= HPRT_MAX_CATEGORIES; i++)
        n += (size_t)snprintf(text + n, cap - n, "1,c%d,0\n", i);
    p = put(f, text);
    free(text);
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    char want[96];
    snprintf(want, sizeof want, "line %d, field 2 (column 'color'): more than %d distinct", HPRT_MAX_CATEGORIES + 2,
             HPRT_MAX_CATEGORIES);
    assert_msg_has(err, want);
}

/* The text form checkpoints keep: a round trip, and malformed text refused. */
static void test_encoding_text(void **state)
{
    fixture *f = *state;
    const char *p = put(f, "x,color,y\n1,red,b\n2,blue,a\n");
    hprt_csv_colref cols[] = {{.name = "color"}};
    hprt_csv_opts o = hprt_csv_defaults();
    o.categorical = cols;
    o.n_categorical = 1;
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_OK);
    size_t len;
    char *t = hprt_csv_encoding_save(&info.encoding, &len);
    assert_non_null(t);
    assert_string_equal(t, "classes 2\na\nb\ncolumn 1 2\ncolor\nblue\nred\n");
    hprt_csv_encoding e;
    assert_int_equal(hprt_csv_encoding_parse(t, len, &e, &err), HPRT_OK);
    size_t len2;
    char *t2 = hprt_csv_encoding_save(&e, &len2);
    assert_non_null(t2);
    assert_string_equal(t, t2);
    hprt_csv_encoding copy;
    assert_int_equal(hprt_csv_encoding_copy(&copy, &e, &err), HPRT_OK);
    assert_string_equal(copy.cats[0].names[1], "red");
    hprt_csv_encoding_free(&copy);
    hprt_csv_encoding_free(&e);
    free(t2);
    /* every truncation is refused or a shorter valid encoding, never a crash */
    for (size_t k = 0; k < len; k++) {
        hprt_status s = hprt_csv_encoding_parse(t, k, &e, &err);
        if (s == HPRT_OK)
            hprt_csv_encoding_free(&e);
    }
    static const char *const bad[] = {"classes -1\n", "classes 2\na\n", "classes 0\ncolumn 1 0\nx\n",
                                      "classes 0\ncolumn 1 1\n", "nonsense\n", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(hprt_csv_encoding_parse(bad[i], strlen(bad[i]), &e, &err), HPRT_E_DATA);
        assert_msg_has(err, "malformed");
    }
    free(t);
    hprt_data_info_free(&info);
}

/* Several 0/1 label columns (multi-label): each row's label is their bit set,
 * label i in bit i in the order given; the other columns are the features
 * (categorical ones encoded past the labels); bad values are errors at the line. */
static void test_multi_label(void **state)
{
    fixture *f = *state;
    const char *p = put(f, "x,red,color,big,y\n1.5,1,blue,0,2\n2.5,0,green,1,-1\n3.5,1.0,blue,1,0\n");
    hprt_csv_colref labels[2] = {{.name = "big", .index = -1}, {.name = NULL, .index = 1}};
    hprt_csv_colref cats[1] = {{.name = "color", .index = -1}};
    hprt_csv_opts o = hprt_csv_defaults();
    o.labels = labels;
    o.n_labels = 2;
    o.categorical = cats;
    o.n_categorical = 1;
    hprt_data_info info;
    hprt_error err = {0};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_OK);
    assert_int_equal(info.labels, 2);
    assert_int_equal(info.classes, 2);
    assert_int_equal(info.label_columns[0], 3);
    assert_int_equal(info.label_columns[1], 1);
    assert_int_equal(info.label_column, -1);
    assert_int_equal(info.features, 4); /* x, blue, green, y */
    assert_int_equal(info.encoding.n_cats, 1);
    assert_int_equal(info.encoding.cats[0].column, 1); /* feature position: after x */
    hprt_dataset ds;
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_OK);
    assert_int_equal(ds.labels, 2);
    assert_int_equal(ds.classes, 2);
    const int32_t want[3] = {2, 1, 3}; /* bit 0: big, bit 1: red */
    assert_memory_equal(ds.y, want, sizeof want);
    const float x[12] = {1.5f, 1, 0, 2, 2.5f, 0, 1, -1, 3.5f, 1, 0, 0};
    assert_memory_equal(ds.x, x, sizeof x);
    assert_int_equal(hprt_data_check_labels(&ds, 2, &err), HPRT_OK);
    assert_int_equal(hprt_data_check_labels(&ds, 3, &err), HPRT_E_DATA);
    assert_msg_has(err, "2 label columns, but the model has 3");
    /* split keeps classes = the label columns */
    hprt_dataset valid;
    assert_int_equal(hprt_data_split(&ds, 0.34, &valid, &err), HPRT_OK);
    assert_int_equal(ds.classes, 2);
    assert_int_equal(valid.classes, 2);
    assert_int_equal(valid.labels, 2);
    hprt_dataset_free(&valid);
    hprt_dataset_free(&ds);
    hprt_data_info_free(&info);

    /* a value other than 0 or 1, at its line and column */
    p = put(f, "x,red,color,big,y\n1.5,1,blue,0,2\n\n2.5,0,green,yes,-1\n");
    assert_int_equal(hprt_csv_load(p, &o, &ds, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 4, field 4 ('yes'): a label column of a multi-label set holds 0 or 1 (column 'big')");
    p = put(f, "x,red,color,big,y\n1.5,2,blue,0,2\n");
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "line 2, field 2 ('2')");
    /* a column named twice, a label that is also categorical, a missing name */
    labels[1] = (hprt_csv_colref){.name = NULL, .index = 3};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "label column 3 is named twice");
    labels[1] = (hprt_csv_colref){.name = "red", .index = -1};
    p = put(f, "x,red,color,big,y\n1.5,1,blue,0,2\n");
    cats[0] = (hprt_csv_colref){.name = "red", .index = -1};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "categorical column 1 is a label column");
    cats[0] = (hprt_csv_colref){.name = "color", .index = -1};
    labels[1] = (hprt_csv_colref){.name = "blue", .index = -1};
    assert_int_equal(hprt_csv_probe(p, &o, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "no column named 'blue'");
    /* every column a label */
    p = put(f, "a,b\n1,0\n");
    hprt_csv_colref all[2] = {{.name = "a", .index = -1}, {.name = "b", .index = -1}};
    hprt_csv_opts o2 = hprt_csv_defaults();
    o2.labels = all;
    o2.n_labels = 2;
    assert_int_equal(hprt_csv_probe(p, &o2, &info, &err), HPRT_E_DATA);
    assert_msg_has(err, "all of them labels");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_class_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_hot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_hot_label_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encoding_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_label, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
