/* test_diag.c - diagnostics: format, sorting, carets, colour, silencing. */
#include "hpc_test.h"

static char *render(hp_diags *d, bool colour)
{
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    hp_diags_render(d, f, colour);
    fclose(f);
    return text;
}

static hp_span sp(int file, int l, int c, int el, int ec)
{
    hp_span s = {file, l, c, el, ec};
    return s;
}

static void test_format_and_caret(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int f = hp_diags_add_source(&d, "fashion.hp", strdup("model m {\n    dens 256, relu\n}\n"), 32);
    hp_report(&d, HP_ERROR, NULL, sp(f, 2, 5, 2, 8), "unknown layer kind '%s'; did you mean '%s'?", "dens", "dense");
    char *t = render(&d, false);
    assert_string_equal(t, "fashion.hp:2:5: error: unknown layer kind 'dens'; did you mean 'dense'?\n"
                           "    dens 256, relu\n"
                           "    ^~~~\n");
    free(t);
    hp_diags_free(&d);
}

static void test_sorted_by_position_with_attached_notes(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int a = hp_diags_add_source(&d, "a.hp", strdup("x\ny\nz\n"), 6);
    int b = hp_diags_add_source(&d, "b.hp", strdup("q\n"), 2);
    hp_report(&d, HP_ERROR, NULL, sp(b, 1, 1, 1, 1), "third");
    hp_diag *g = hp_report(&d, HP_ERROR, NULL, sp(a, 3, 1, 3, 1), "second");
    hp_attach_note(&d, g, sp(a, 1, 1, 1, 1), "its note");
    hp_report(&d, HP_WARNING, NULL, sp(a, 2, 1, 2, 1), "first");
    hp_report_nospan(&d, HP_ERROR, "no place");
    char *t = render(&d, false);
    assert_string_equal(t, "hpc: error: no place\n"
                           "a.hp:2:1: warning: first\ny\n^\n"
                           "a.hp:3:1: error: second\nz\n^\n"
                           "a.hp:1:1: note: its note\nx\n^\n"
                           "b.hp:1:1: error: third\nq\n^\n");
    assert_int_equal(d.n_errors, 3);
    assert_int_equal(d.n_warnings, 1);
    free(t);
    hp_diags_free(&d);
}

static void test_multiline_span_and_tabs(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int f = hp_diags_add_source(&d, "t.hp", strdup("\tx = f(a,\n\t      b)\n"), 21);
    hp_report(&d, HP_ERROR, NULL, sp(f, 1, 6, 2, 9), "spans two lines");
    char *t = render(&d, false);
    /* the caret keeps the line's tab and runs to the end of the first line */
    assert_string_equal(t, "t.hp:1:6: error: spans two lines\n\tx = f(a,\n\t    ^~~~\n");
    free(t);
    hp_diags_free(&d);
}

static void test_caret_past_end_of_line(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int f = hp_diags_add_source(&d, "t.hp", strdup("x ="), 3);
    hp_report(&d, HP_ERROR, NULL, sp(f, 1, 4, 1, 4), "unexpected end of file");
    char *t = render(&d, false);
    assert_string_equal(t, "t.hp:1:4: error: unexpected end of file\nx =\n   ^\n");
    free(t);
    hp_diags_free(&d);
}

static void test_colour(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int f = hp_diags_add_source(&d, "t.hp", strdup("x\n"), 2);
    hp_report(&d, HP_ERROR, NULL, sp(f, 1, 1, 1, 1), "bad");
    char *t = render(&d, true);
    assert_non_null(strstr(t, "\033[1;31merror:"));
    assert_non_null(strstr(t, "\033[0m"));
    free(t);
    t = render(&d, false);
    assert_null(strchr(t, '\033'));
    free(t);
    hp_diags_free(&d);
}

static void test_named_notes_and_silencing(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int f = hp_diags_add_source(&d, "t.hp", strdup("a\nb\nc\n"), 6);
    hp_diags_allow_line(&d, f, 2, "batch-pow2");
    assert_null(hp_report(&d, HP_NOTE, "batch-pow2", sp(f, 2, 1, 2, 1), "silenced on its line"));
    assert_non_null(hp_report(&d, HP_NOTE, "batch-pow2", sp(f, 3, 1, 3, 1), "not silenced here"));
    /* a span over several lines: an allow on any of them */
    assert_null(hp_report(&d, HP_NOTE, "batch-pow2", sp(f, 1, 1, 3, 1), "silenced by line 2"));
    hp_diags_allow(&d, "lr-range");
    assert_null(hp_report(&d, HP_NOTE, "lr-range", sp(f, 1, 1, 1, 1), "silenced everywhere"));
    char *t = render(&d, false);
    assert_string_equal(t, "t.hp:3:1: note: not silenced here [batch-pow2]\nc\n^\n");
    free(t);
    hp_diags_free(&d);
}

static void test_duplicates_reported_once(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    int f = hp_diags_add_source(&d, "t.hp", strdup("x\n"), 2);
    assert_non_null(hp_report(&d, HP_ERROR, NULL, sp(f, 1, 1, 1, 1), "same"));
    assert_null(hp_report(&d, HP_ERROR, NULL, sp(f, 1, 1, 1, 1), "same"));
    assert_int_equal(d.diags.n, 1);
    hp_diags_free(&d);
}

static void test_error_limit(void **state)
{
    (void)state;
    hp_diags d;
    hp_diags_init(&d);
    d.max_errors = 3;
    int f = hp_diags_add_source(&d, "t.hp", strdup("x\n"), 2);
    for (int i = 0; i < 5; i++)
        hp_report(&d, HP_ERROR, NULL, sp(f, 1, 1, 1, 1), "error %d", i);
    char *t = render(&d, false);
    assert_non_null(strstr(t, "hpc: 2 more errors not shown"));
    assert_int_equal(d.n_errors, 5);
    free(t);
    hp_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_caret),
        cmocka_unit_test(test_sorted_by_position_with_attached_notes),
        cmocka_unit_test(test_multiline_span_and_tabs),
        cmocka_unit_test(test_caret_past_end_of_line),
        cmocka_unit_test(test_colour),
        cmocka_unit_test(test_named_notes_and_silencing),
        cmocka_unit_test(test_duplicates_reported_once),
        cmocka_unit_test(test_error_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
