/* test_scan.c - the scanner (grammar/hp.l): every token kind, the newline
 * rule, durations, escapes, bad characters. */
#include "hpc_test.h"

#include "parse.h"
#include "hp.tab.h"
#include "hp.lex.h"

#define MAXTOK 64

typedef struct {
    int tok[MAXTOK];
    HP_YYSTYPE val[MAXTOK];
    HP_YYLTYPE loc[MAXTOK];
    int n;
    hp_diags d;
    hp_ast ast;
    char *diag_text;
} lexed;

static lexed *lex(const char *src)
{
    lexed *L = calloc(1, sizeof *L);
    assert_non_null(L);
    hp_diags_init(&L->d);
    int file = hp_diags_add_source(&L->d, "t.hp", strdup(src), strlen(src));
    hp_pstate ps = {.d = &L->d, .ast = &L->ast, .file = file, .line = 1, .col = 1};
    yyscan_t sc;
    assert_int_equal(hp_yylex_init_extra(&ps, &sc), 0);
    YY_BUFFER_STATE b = hp_yy_scan_bytes(src, (int)strlen(src), sc);
    int t;
    while (L->n < MAXTOK && (t = hp_yylex(&L->val[L->n], &L->loc[L->n], sc)) != END)
        L->tok[L->n++] = t;
    hp_yy_delete_buffer(b, sc);
    hp_yylex_destroy(sc);
    free(ps.strbuf);
    size_t len;
    FILE *f = open_memstream(&L->diag_text, &len);
    hp_diags_render(&L->d, f, false);
    fclose(f);
    return L;
}

static void lex_free(lexed *L)
{
    hp_arena_free(&L->ast.arena);
    hp_diags_free(&L->d);
    free(L->diag_text);
    free(L);
}

static void expect_tokens(const char *src, const int *want, int n)
{
    lexed *L = lex(src);
    if (L->n != n) {
        print_error("'%s': %d tokens, expected %d\n", src, L->n, n);
        for (int i = 0; i < L->n; i++)
            print_error("  [%d] %d\n", i, L->tok[i]);
    }
    assert_int_equal(L->n, n);
    for (int i = 0; i < n; i++) {
        if (L->tok[i] != want[i])
            print_error("'%s': token %d is %d, expected %d\n", src, i, L->tok[i], want[i]);
        assert_int_equal(L->tok[i], want[i]);
    }
    lex_free(L);
}
#define EXPECT(src, ...)                                                     \
    do {                                                                     \
        static const int want_[] = {__VA_ARGS__};                            \
        expect_tokens(src, want_, (int)(sizeof want_ / sizeof *want_));      \
    } while (0)

static void test_every_token(void **state)
{
    (void)state;
    EXPECT("import repeat vary in true false", IMPORT, REPEAT, VARY, IN, TRUE, FALSE, NEWLINE);
    EXPECT("data", DATA, NEWLINE);
    EXPECT("model", MODEL, NEWLINE);
    EXPECT("experiment", EXPERIMENT, NEWLINE);
    EXPECT("search", SEARCH, NEWLINE);
    EXPECT("x _y z9", IDENT, IDENT, IDENT, NEWLINE);
    EXPECT("42 0.5 .5 1e-3 6.0E+2", NUMBER, NUMBER, NUMBER, NUMBER, NUMBER, NEWLINE);
    EXPECT("\"s\"", STRING, NEWLINE);
    EXPECT("5 epochs", DURATION, NEWLINE);
    EXPECT("( ) [ ] { } , . = + - * / .. ;", '(', ')', '[', ']', '{', '}', ',', '.', '=', '+', '-', '*', '/', DOTDOT,
           ';');
    EXPECT("1..3", NUMBER, DOTDOT, NUMBER, NEWLINE);
}

static void test_number_values(void **state)
{
    (void)state;
    lexed *L = lex("42 0.5 .5 1e-3 6.0E+2");
    assert_int_equal(L->n, 6);
    assert_close(L->val[0].num, 42, 0);
    assert_close(L->val[1].num, 0.5, 0);
    assert_close(L->val[2].num, 0.5, 0);
    assert_close(L->val[3].num, 1e-3, 0);
    assert_close(L->val[4].num, 600, 0);
    lex_free(L);
}

static void test_durations(void **state)
{
    (void)state;
    lexed *L = lex("5 epochs 2000 steps 1 epoch 1 step 2.5\tepochs");
    assert_int_equal(L->n, 6);
    for (int i = 0; i < 5; i++)
        assert_int_equal(L->tok[i], DURATION);
    assert_close(L->val[0].dur.n, 5, 0);
    assert_int_equal(L->val[0].dur.unit, HPRT_EPOCHS);
    assert_close(L->val[1].dur.n, 2000, 0);
    assert_int_equal(L->val[1].dur.unit, HPRT_STEPS);
    assert_int_equal(L->val[2].dur.unit, HPRT_EPOCHS);
    assert_int_equal(L->val[3].dur.unit, HPRT_STEPS);
    assert_close(L->val[4].dur.n, 2.5, 0);
    /* the duration's span covers the number and the unit */
    assert_int_equal(L->loc[1].first_column, 10);
    assert_int_equal(L->loc[1].last_column, 19);
    lex_free(L);
    /* the unit words elsewhere are names */
    EXPECT("epochs = 10", IDENT, '=', NUMBER, NEWLINE);
    EXPECT("warmup(steps = 200)", IDENT, '(', IDENT, '=', NUMBER, ')', NEWLINE);
    /* a number before a longer name is not a duration */
    EXPECT("5 stepsize", NUMBER, IDENT, NEWLINE);
}

static void test_strings_and_escapes(void **state)
{
    (void)state;
    lexed *L = lex("\"a\\\"b\\\\c\\nd\\te\"");
    assert_int_equal(L->tok[0], STRING);
    assert_string_equal(L->val[0].str, "a\"b\\c\nd\te");
    lex_free(L);

    L = lex("\"bad \\q escape\"");
    assert_int_equal(L->tok[0], STRING);
    assert_non_null(strstr(L->diag_text, "t.hp:1:6: error: unknown escape sequence '\\q'"));
    lex_free(L);

    /* a string left open at the end of its line: reported at its opening quote */
    L = lex("x = \"open\ny = 2");
    assert_non_null(strstr(L->diag_text, "t.hp:1:5: error: string is not closed on its line"));
    assert_int_equal(L->tok[2], STRING);
    assert_int_equal(L->tok[3], NEWLINE);
    assert_int_equal(L->tok[4], IDENT);
    lex_free(L);
}

static void test_newline_rule(void **state)
{
    (void)state;
    /* a newline after a token that can end a statement is a separator */
    EXPECT("x = 1\ny = 2", IDENT, '=', NUMBER, NEWLINE, IDENT, '=', NUMBER, NEWLINE);
    /* after `,` or `(` it is not */
    EXPECT("f(a,\n  b)", IDENT, '(', IDENT, ',', IDENT, ')', NEWLINE);
    EXPECT("f(\n  a)", IDENT, '(', IDENT, ')', NEWLINE);
    EXPECT("dense 256,\n  relu", IDENT, NUMBER, ',', IDENT, NEWLINE);
    /* inside ( ) and [ ] newlines never end a statement */
    EXPECT("[1,\n 2\n]", '[', NUMBER, ',', NUMBER, ']', NEWLINE);
    /* two statements on one line with ; */
    EXPECT("x = 1; y = 2", IDENT, '=', NUMBER, ';', IDENT, '=', NUMBER, NEWLINE);
    /* blank lines and comments produce nothing */
    EXPECT("\n\n# comment\nx\n\n", IDENT, NEWLINE);
    /* a block's braces: the newline after `{` is nothing, after `}` a separator */
    EXPECT("data d {\n x = 1\n}\n", DATA, IDENT, '{', IDENT, '=', NUMBER, NEWLINE, '}', NEWLINE);
    /* a set after `in` spans lines freely */
    EXPECT("vary a in {1,\n 2\n}", VARY, IDENT, IN, '{', NUMBER, ',', NUMBER, '}', NEWLINE);
}

static void test_declaration_keywords_only_at_top_level(void **state)
{
    (void)state;
    EXPECT("experiment e {\n data = d\n model = m\n}", EXPERIMENT, IDENT, '{', IDENT, '=', IDENT, NEWLINE, IDENT, '=',
           IDENT, NEWLINE, '}', NEWLINE);
    EXPECT("vary model.depth in 1..3", VARY, IDENT, '.', IDENT, IN, NUMBER, DOTDOT, NUMBER, NEWLINE);
}

static void test_bad_characters(void **state)
{
    (void)state;
    lexed *L = lex("x = 1 @ 2");
    assert_int_equal(L->tok[3], INVALID);
    assert_non_null(strstr(L->diag_text, "t.hp:1:7: error: unexpected character '@'"));
    lex_free(L);

    L = lex("x = \xc3\xa9");
    assert_int_equal(L->tok[2], INVALID);
    assert_non_null(strstr(L->diag_text, "unexpected character '\xc3\xa9' outside a string or comment"));
    lex_free(L);

    L = lex("x = 2x");
    assert_int_equal(L->tok[2], INVALID);
    assert_non_null(strstr(L->diag_text, "malformed number '2x'"));
    lex_free(L);

    L = lex("x = \x01");
    assert_non_null(strstr(L->diag_text, "unexpected byte 0x01"));
    lex_free(L);
}

static void test_columns_count_characters(void **state)
{
    (void)state;
    /* a UTF-8 comment does not shift columns on the next line; é is one column */
    lexed *L = lex("\"é\" x");
    assert_int_equal(L->tok[1], IDENT);
    assert_int_equal(L->loc[1].first_column, 5);
    lex_free(L);
}

static void test_allow_comment(void **state)
{
    (void)state;
    lexed *L = lex("batch = 100  # hpc: allow(batch-pow2, lr-range)\n");
    assert_int_equal(L->d.allows.n, 2);
    hp_allow *a = L->d.allows.items[0];
    assert_string_equal(a->name, "batch-pow2");
    assert_int_equal(a->line, 1);
    assert_string_equal(((hp_allow *)L->d.allows.items[1])->name, "lr-range");
    lex_free(L);
}

static void test_unclosed_bracket_at_eof(void **state)
{
    (void)state;
    lexed *L = lex("model m {\n input 3\n");
    assert_non_null(strstr(L->diag_text, "t.hp:1:9: error: this '{' is never closed; add '}'"));
    lex_free(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_token),
        cmocka_unit_test(test_number_values),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_strings_and_escapes),
        cmocka_unit_test(test_newline_rule),
        cmocka_unit_test(test_declaration_keywords_only_at_top_level),
        cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_columns_count_characters),
        cmocka_unit_test(test_allow_comment),
        cmocka_unit_test(test_unclosed_bracket_at_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
