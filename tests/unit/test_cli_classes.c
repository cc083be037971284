/* test_cli_classes.c - hpc predict's per-class results (cli/classes.c)
 * against a confusion matrix worked by hand, scikit-learn's conventions for
 * empty classes, and the text and JSON renderings. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classes.h"

/* Labels and predictions of 10 samples over 4 classes (class 3 never occurs):
 *
 *            predicted 0  1  2  3
 *   label 0            3  1  0  0     support 4
 *   label 1            0  2  2  0     support 4
 *   label 2            1  0  1  0     support 2
 *   label 3            0  0  0  0
 *   predicted          4  3  3  0
 */
static void fill(cli_confusion *c)
{
    static const int pairs[10][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {1, 2}, {1, 2}, {2, 0}, {2, 2}};
    assert_int_equal(cli_confusion_init(c, 4), 0);
    for (int i = 0; i < 10; i++)
        cli_confusion_add(c, pairs[i][0], pairs[i][1]);
    cli_confusion_add(c, 4, 0);  /* out of range: not counted */
    cli_confusion_add(c, 0, -1);
}

static void test_hand_worked(void **state)
{
    (void)state;
    cli_confusion c;
    fill(&c);
    assert_int_equal(c.n, 10);
    cli_class_score s0 = cli_class_score_of(&c, 0), s1 = cli_class_score_of(&c, 1), s2 = cli_class_score_of(&c, 2),
                    s3 = cli_class_score_of(&c, 3);
    assert_true(s0.precision == 0.75 && s0.recall == 0.75 && s0.f1 == 0.75 && s0.support == 4);
    assert_close(s1.precision, 2.0 / 3, 1e-15);
    assert_true(s1.recall == 0.5 && s1.support == 4 && s1.predicted == 3);
    assert_close(s1.f1, 4.0 / 7, 1e-15);
    assert_close(s2.precision, 1.0 / 3, 1e-15);
    assert_true(s2.recall == 0.5 && s2.support == 2);
    assert_close(s2.f1, 0.4, 1e-15);
    /* no label and no prediction: all 0, and not in the macro average */
    assert_true(s3.precision == 0 && s3.recall == 0 && s3.f1 == 0 && s3.support == 0);
    cli_class_score m;
    int n;
    double acc;
    cli_class_macro(&c, &m, &n, &acc);
    assert_int_equal(n, 3);
    assert_close(acc, 0.6, 1e-15);
    assert_close(m.precision, (0.75 + 2.0 / 3 + 1.0 / 3) / 3, 1e-15);
    assert_close(m.recall, (0.75 + 0.5 + 0.5) / 3, 1e-15);
    assert_close(m.f1, (0.75 + 4.0 / 7 + 0.4) / 3, 1e-15);
    assert_int_equal(m.support, 10);
    cli_confusion_free(&c);
}

/* A class that is predicted but never the label: precision 0, recall 0 (no
 * support), and it counts in the macro average (scikit-learn's unique_labels). */
static void test_predicted_only(void **state)
{
    (void)state;
    cli_confusion c;
    assert_int_equal(cli_confusion_init(&c, 2), 0);
    cli_confusion_add(&c, 0, 0);
    cli_confusion_add(&c, 0, 1);
    cli_class_score s1 = cli_class_score_of(&c, 1);
    assert_true(s1.precision == 0 && s1.recall == 0 && s1.f1 == 0 && s1.predicted == 1);
    cli_class_score m;
    int n;
    double acc;
    cli_class_macro(&c, &m, &n, &acc);
    assert_int_equal(n, 2);
    assert_close(m.precision, (1.0 + 0) / 2, 1e-15);
    assert_close(m.recall, (0.5 + 0) / 2, 1e-15);
    assert_close(m.f1, (2.0 / 3) / 2, 1e-15);
    cli_confusion_free(&c);
}

static char *render(const cli_confusion *c, bool json)
{
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    if (json)
        cli_class_report_json(f, c);
    else
        cli_class_report_text(f, c);
    fclose(f);
    return text;
}

static void test_renderings(void **state)
{
    (void)state;
    cli_confusion c;
    fill(&c);
    char *t = render(&c, false);
    assert_non_null(strstr(t, "class  precision  recall      f1  support\n"));
    assert_non_null(strstr(t, "    1     0.6667  0.5000  0.5714        4\n"));
    assert_non_null(strstr(t, "macro     0.5833  0.5833  0.5738       10\n"));
    assert_non_null(strstr(t, "confusion matrix (rows: label, columns: predicted)\n      0 1 2 3\n    0 3 1 0 0\n"
                              "    1 0 2 2 0\n    2 1 0 1 0\n    3 0 0 0 0\n"));
    free(t);
    char *j = render(&c, true);
    assert_non_null(strstr(j, "{\"accuracy\": 0.59999999999999998, \"samples\": 10, \"classes\": [{\"class\": 0, "
                              "\"precision\": 0.75, \"recall\": 0.75, \"f1\": 0.75, \"support\": 4}"));
    assert_non_null(strstr(j, "\"confusion\": [[3, 1, 0, 0], [0, 2, 2, 0], [1, 0, 1, 0], [0, 0, 0, 0]]}\n"));
    assert_non_null(strstr(j, "\"macro\": {\"precision\": 0.58333333333333326"));
    free(j);
    /* named classes: the table's rows and the JSON carry the names, escaped */
    char *names[4] = {"cat", "dog, big", "say \"hi\"\\", "bad\rname"};
    c.names = names;
    t = render(&c, false);
    assert_non_null(strstr(t, "class  precision  recall      f1  support  name\n"));
    assert_non_null(strstr(t, "    1     0.6667  0.5000  0.5714        4  dog, big\n"));
    assert_non_null(strstr(t, "  bad?name\n"));
    free(t);
    j = render(&c, true);
    assert_non_null(strstr(j, "{\"class\": 2, \"name\": \"say \\\"hi\\\"\\\\\", \"precision\""));
    assert_non_null(strstr(j, "\"name\": \"bad\\u000dname\""));
    free(j);
    cli_confusion_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked),
        cmocka_unit_test(test_predicted_only),
        cmocka_unit_test(test_renderings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
