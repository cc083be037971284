/* test_parse.c - the parser (grammar/hp.y): one test per construct, spans,
 * and error recovery. */
#include "hpc_test.h"

#include "ast.h"

typedef struct {
    hp_diags d;
    hp_ast *ast;
    char *text;
} parsed;

static parsed *parse(const char *src)
{
    parsed *P = calloc(1, sizeof *P);
    assert_non_null(P);
    hp_diags_init(&P->d);
    int file = hp_diags_add_source(&P->d, "t.hp", strdup(src), strlen(src));
    P->ast = hp_parse(&P->d, file);
    assert_non_null(P->ast);
    size_t len;
    FILE *f = open_memstream(&P->text, &len);
    hp_diags_render(&P->d, f, false);
    fclose(f);
    return P;
}

static void parsed_free(parsed *P)
{
    hp_ast_free(P->ast);
    hp_diags_free(&P->d);
    free(P->text);
    free(P);
}

static void assert_span(hp_span s, int line, int col, int end_line, int end_col)
{
    if (s.line != line || s.col != col || s.end_line != end_line || s.end_col != end_col)
        print_error("span %d:%d-%d:%d, expected %d:%d-%d:%d\n", s.line, s.col, s.end_line, s.end_col, line, col,
                    end_line, end_col);
    assert_true(s.line == line && s.col == col && s.end_line == end_line && s.end_col == end_col);
}

static void test_data_declaration(void **state)
{
    (void)state;
    parsed *P = parse("data fashion {\n    train = idx(\"a\", \"b\")\n    valid = split(train, 0.1)\n}\n");
    assert_int_equal(P->d.n_errors, 0);
    assert_int_equal(P->ast->n_decls, 1);
    hp_decl *d = P->ast->decls[0];
    assert_int_equal(d->kind, HP_DECL_DATA);
    assert_string_equal(d->name, "fashion");
    assert_span(d->name_span, 1, 6, 1, 12);
    assert_int_equal(d->n_settings, 2);
    hp_setting *s = d->settings[0];
    assert_string_equal(s->name, "train");
    assert_span(s->name_span, 2, 5, 2, 9);
    assert_int_equal(s->value->kind, HP_EX_CALL);
    assert_string_equal(s->value->callee, "idx");
    assert_int_equal(s->value->n_args, 2);
    assert_string_equal(s->value->args[0].value->str, "a");
    assert_span(s->value->span, 2, 13, 2, 25);
    parsed_free(P);
}

static void test_model_with_params_and_repeat(void **state)
{
    (void)state;
    parsed *P = parse("model mlp(hidden = 256, p = 0.2, depth = 2) {\n"
                      "    input 784\n"
                      "    repeat depth {\n"
                      "        dense hidden, relu\n"
                      "        dropout p\n"
                      "    }\n"
                      "    dense classes, softmax, init = xavier\n"
                      "}\n");
    assert_int_equal(P->d.n_errors, 0);
    hp_decl *m = P->ast->decls[0];
    assert_int_equal(m->kind, HP_DECL_MODEL);
    assert_int_equal(m->n_settings, 3);
    assert_string_equal(m->settings[2]->name, "depth");
    assert_int_equal(m->n_layers, 3);
    hp_layer *r = m->layers[1];
    assert_true(r->is_repeat);
    assert_int_equal(r->count->kind, HP_EX_PATH);
    assert_int_equal(r->n_body, 2);
    assert_string_equal(r->body[0]->kind, "dense");
    assert_int_equal(r->body[0]->n_args, 2);
    hp_layer *last = m->layers[2];
    assert_int_equal(last->n_args, 3);
    assert_null(last->args[0].name);
    assert_string_equal(last->args[2].name, "init");
    assert_string_equal(last->args[2].value->parts[0], "xavier");
    assert_span(last->kind_span, 7, 5, 7, 9);
    parsed_free(P);
}

static void test_model_without_params(void **state)
{
    (void)state;
    parsed *P = parse("model m {\n input [1, 28, 28]\n flatten\n}\nmodel n() { input tokens }\n");
    assert_int_equal(P->d.n_errors, 0);
    assert_int_equal(P->ast->n_decls, 2);
    hp_layer *in = P->ast->decls[0]->layers[0];
    assert_int_equal(in->args[0].value->kind, HP_EX_LIST);
    assert_int_equal(in->args[0].value->n_items, 3);
    assert_int_equal(P->ast->decls[0]->layers[1]->n_args, 0);
    parsed_free(P);
}

static void test_experiment_and_import(void **state)
{
    (void)state;
    parsed *P = parse("import \"lib.hp\"\n"
                      "experiment e {\n"
                      "    data = fashion; model = mlp(hidden = 512)\n"
                      "    schedule = cyclic(base = 1e-4, max = find_lr, step = 2 epochs)\n"
                      "}\n");
    assert_int_equal(P->d.n_errors, 0);
    assert_int_equal(P->ast->n_decls, 2);
    assert_int_equal(P->ast->decls[0]->kind, HP_DECL_IMPORT);
    assert_string_equal(P->ast->decls[0]->import_path, "lib.hp");
    hp_decl *e = P->ast->decls[1];
    assert_int_equal(e->n_settings, 3);
    assert_string_equal(e->settings[1]->name, "model");
    hp_expr *step = e->settings[2]->value->args[2].value;
    assert_int_equal(step->kind, HP_EX_DURATION);
    assert_int_equal(step->unit, HPRT_EPOCHS);
    parsed_free(P);
}

static void test_search_spaces(void **state)
{
    (void)state;
    parsed *P = parse("search s {\n"
                      "    base = e\n"
                      "    vary model.cell in {gru, lstm}\n"
                      "    vary model.depth in 1..3\n"
                      "    vary optimizer.lr in log(1e-4, 1e-2)\n"
                      "    vary model.p in uniform(0.1, 0.5)\n"
                      "    strategy = hyperband(max_epochs = 27, eta = 3)\n"
                      "}\n");
    assert_int_equal(P->d.n_errors, 0);
    hp_decl *s = P->ast->decls[0];
    assert_int_equal(s->n_settings, 2);
    assert_int_equal(s->n_varies, 4);
    assert_int_equal(s->varies[0]->space, HP_SPACE_SET);
    assert_int_equal(s->varies[0]->n_items, 2);
    assert_int_equal(s->varies[0]->n_path, 2);
    assert_string_equal(s->varies[0]->path[1], "cell");
    assert_int_equal(s->varies[1]->space, HP_SPACE_RANGE);
    assert_close(s->varies[1]->hi->num, 3, 0);
    assert_int_equal(s->varies[2]->space, HP_SPACE_CALL);
    assert_string_equal(s->varies[2]->call->callee, "log");
    assert_string_equal(s->varies[3]->call->callee, "uniform");
    parsed_free(P);
}

static void test_expression_precedence(void **state)
{
    (void)state;
    parsed *P = parse("data d {\n x = 1 + 2 * 3\n y = (1 + 2) * 3\n z = -2 - -3 / 4\n w = [1, \"a\", true, false, f(x, k = 2)]\n}");
    assert_int_equal(P->d.n_errors, 0);
    hp_decl *d = P->ast->decls[0];
    hp_expr *x = d->settings[0]->value;
    assert_int_equal(x->kind, HP_EX_BINARY);
    assert_int_equal(x->op, '+');
    assert_int_equal(x->rhs->kind, HP_EX_BINARY);
    assert_int_equal(x->rhs->op, '*');
    hp_expr *y = d->settings[1]->value;
    assert_int_equal(y->op, '*');
    assert_int_equal(y->lhs->op, '+');
    hp_expr *z = d->settings[2]->value;
    assert_int_equal(z->op, '-');
    assert_int_equal(z->lhs->kind, HP_EX_NEG);
    assert_int_equal(z->rhs->op, '/');
    assert_int_equal(z->rhs->lhs->kind, HP_EX_NEG);
    hp_expr *w = d->settings[3]->value;
    assert_int_equal(w->kind, HP_EX_LIST);
    assert_int_equal(w->n_items, 5);
    assert_int_equal(w->items[2]->kind, HP_EX_BOOL);
    assert_true(w->items[2]->boolean);
    assert_int_equal(w->items[4]->kind, HP_EX_CALL);
    assert_string_equal(w->items[4]->args[1].name, "k");
    parsed_free(P);
}

static void test_statements_broken_across_lines(void **state)
{
    (void)state;
    parsed *P = parse("data d {\n"
                      "    train = text([\"a\",\n"
                      "                  \"b\"], seq = 64)\n"
                      "    valid = split(\n"
                      "        train,\n"
                      "        0.1)\n"
                      "}\n");
    assert_int_equal(P->d.n_errors, 0);
    assert_int_equal(P->ast->decls[0]->n_settings, 2);
    parsed_free(P);
}

static void test_three_syntax_errors_three_diagnostics(void **state)
{
    (void)state;
    parsed *P = parse("model m {\n"
                      "    input 784\n"
                      "    dense 256 relu\n"        /* missing comma */
                      "    dropout 0.5\n"
                      "}\n"
                      "experiment e {\n"
                      "    data = \n"               /* missing value */
                      "    epochs = 3\n"
                      "}\n"
                      "data d {\n"
                      "    train = idx(\"a\" \"b\")\n" /* missing comma */
                      "}\n");
    assert_int_equal(P->d.n_errors, 3);
    assert_non_null(strstr(P->text, "t.hp:3:15: error: unexpected name 'relu'"));
    /* a newline after '=' does not end the statement: the error shows at the next '=' */
    assert_non_null(strstr(P->text, "t.hp:8:12: error: unexpected '='; expected end of line, ';' or '}' (is a value missing"));
    assert_non_null(strstr(P->text, "t.hp:11:21: error: unexpected string '\"b\"'"));
    /* recovery keeps the good statements */
    assert_int_equal(P->ast->n_decls, 3);
    assert_int_equal(P->ast->decls[0]->n_layers, 3) /* `dense 256` parsed before the error */;
    assert_int_equal(P->ast->decls[1]->n_settings, 1);
    parsed_free(P);
}

static void test_errors_sorted_and_caret(void **state)
{
    (void)state;
    parsed *P = parse("data d {\n  x = = 1\n}\n");
    assert_string_equal(P->text, "t.hp:2:7: error: unexpected '='; expected a value\n"
                                 "  x = = 1\n"
                                 "      ^\n");
    parsed_free(P);
}

static void test_keywords_are_names_inside_bodies(void **state)
{
    (void)state;
    parsed *P = parse("experiment e {\n data = d\n model = m\n search = 1\n experiment = 2\n}\n");
    assert_int_equal(P->d.n_errors, 0);
    assert_int_equal(P->ast->decls[0]->n_settings, 4);
    parsed_free(P);
}

static void test_empty_file(void **state)
{
    (void)state;
    parsed *P = parse("");
    assert_int_equal(P->d.n_errors, 0);
    assert_int_equal(P->ast->n_decls, 0);
    parsed_free(P);
    P = parse("# only a comment\n\n");
    assert_int_equal(P->d.n_errors, 0);
    parsed_free(P);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_declaration),
        cmocka_unit_test(test_model_with_params_and_repeat),
        cmocka_unit_test(test_model_without_params),
        cmocka_unit_test(test_experiment_and_import),
        cmocka_unit_test(test_search_spaces),
        cmocka_unit_test(test_expression_precedence),
        cmocka_unit_test(test_statements_broken_across_lines),
        cmocka_unit_test(test_three_syntax_errors_three_diagnostics),
        cmocka_unit_test(test_errors_sorted_and_caret),
        cmocka_unit_test(test_keywords_are_names_inside_bodies),
        cmocka_unit_test(test_empty_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
