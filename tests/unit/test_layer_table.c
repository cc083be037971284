/* test_layer_table.c - the table of layer kinds (compiler/layers.def) against
 * docs/language.md's layer table, and the checker reading arguments from it.
 *
 * Every kind must have exactly one row in the docs table whose first cell
 * names it and whose arguments cell is what plan_layer_args_doc() renders
 * from the table; every kind the docs table names must be in the table. */
#include "hpc_test.h"
#include "hprt_step.h"

#define MAX_ROWS 64

typedef struct {
    char names[8][32];
    int n_names;
    char args[512];
    int line;
} doc_row;

/* The cells of a markdown table row, split at '|' not escaped as "\|". */
static int split_cells(const char *line, char cells[][512], int max)
{
    int n = 0;
    const char *p = line;
    if (*p == '|')
        p++;
    while (*p && *p != '\n' && n < max) {
        size_t k = 0;
        while (*p && *p != '\n' && !(*p == '|' && p[-1] != '\\')) {
            if (k + 1 < 512)
                cells[n][k++] = *p;
            p++;
        }
        /* trim */
        while (k > 0 && cells[n][k - 1] == ' ')
            k--;
        cells[n][k] = 0;
        size_t lead = strspn(cells[n], " ");
        memmove(cells[n], cells[n] + lead, strlen(cells[n] + lead) + 1);
        n++;
        if (*p == '|')
            p++;
    }
    return n;
}

/* The rows of "### The table" in §8. */
static int read_doc_rows(doc_row *rows)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/language.md", HPC_SOURCE_DIR);
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    const char *sec = strstr(text, "## 8. Layers");
    assert_non_null(sec);
    sec = strstr(sec, "| layer | arguments (defaults) |");
    assert_non_null(sec);
    int line = 1;
    for (const char *q = text; q < sec; q++)
        line += *q == '\n';
    int n = 0;
    for (const char *p = sec; *p == '|' && n < MAX_ROWS; line++) {
        char cells[8][512];
        int nc = split_cells(p, cells, 8);
        if (nc >= 2 && cells[0][0] == '`') {
            doc_row *r = &rows[n++];
            memset(r, 0, sizeof *r);
            r->line = line;
            snprintf(r->args, sizeof r->args, "%s", cells[1]);
            for (const char *b = cells[0]; (b = strchr(b, '`')) && r->n_names < 8;) {
                const char *e = strchr(b + 1, '`');
                assert_non_null(e);
                snprintf(r->names[r->n_names++], 32, "%.*s", (int)(e - b - 1), b + 1);
                b = e + 1;
            }
        }
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    free(text);
    return n;
}

static void test_docs_table_agrees_with_the_table(void **state)
{
    (void)state;
    doc_row rows[MAX_ROWS];
    int n = read_doc_rows(rows);
    assert_true(n >= 10);
    int failures = 0;
    for (int k = 0; k < PLAN_LAYER__COUNT; k++) {
        const char *name = plan_layer_name((plan_layer_kind)k);
        char want[512];
        plan_layer_args_doc((plan_layer_kind)k, want, sizeof want);
        int found = 0;
        for (int r = 0; r < n; r++)
            for (int j = 0; j < rows[r].n_names; j++) {
                if (strcmp(rows[r].names[j], name) != 0)
                    continue;
                found++;
                if (strcmp(rows[r].args, want) != 0) {
                    print_error("docs/language.md:%d: `%s` documents the arguments\n  %s\nbut layers.def has\n  %s\n",
                                rows[r].line, name, rows[r].args, want);
                    failures++;
                }
            }
        if (found != 1) {
            print_error("docs/language.md: layer kind `%s` is in %d rows of the layer table, not 1\n", name, found);
            failures++;
        }
    }
    for (int r = 0; r < n; r++)
        for (int j = 0; j < rows[r].n_names; j++)
            if (plan_layer_find(rows[r].names[j]) < 0) {
                print_error("docs/language.md:%d: `%s` is not a layer kind of layers.def\n", rows[r].line,
                            rows[r].names[j]);
                failures++;
            }
    assert_int_equal(failures, 0);
}

static void test_table_is_consistent(void **state)
{
    (void)state;
    for (int k = 0; k < PLAN_LAYER__COUNT; k++) {
        const plan_layer_info *info = plan_layer_info_of((plan_layer_kind)k);
        assert_non_null(info);
        assert_non_null(info->name);
        assert_int_equal(plan_layer_find(info->name), k);
        assert_true(info->n_args >= 0 && info->n_args <= 8);
        for (int i = 0; i < info->n_args; i++) {
            const plan_layer_arg *a = &info->args[i];
            /* required arguments first (they are positional), "!name" exactly when required */
            assert_true((a->bind[0] == '!') == (a->def == NULL));
            if (a->type == PLAN_ARG_CHOICE)
                assert_true(strncmp(a->choices, a->def, strlen(a->def)) == 0);
            assert_string_equal(a->bind + (a->bind[0] == '!'), a->name);
            if (i > 0 && a->bind[0] == '!')
                assert_true(info->args[i - 1].bind[0] == '!');
            assert_non_null(a->what);
        }
        /* an activation kind has no parameters; a recurrent one has */
        if (info->traits & PLAN_LK_ACTIVATION)
            assert_false(info->traits & PLAN_LK_PARAMS);
        if (info->traits & PLAN_LK_RECURRENT)
            assert_true(info->traits & PLAN_LK_PARAMS);
    }
    assert_null(plan_layer_info_of((plan_layer_kind)PLAN_LAYER__COUNT));
    assert_int_equal(plan_layer_find("no-such-layer"), -1);
    char buf[256];
    plan_layer_args_doc(PLAN_CONV, buf, sizeof buf);
    assert_string_equal(buf, "`filters`, `activation = none`, `kernel = 3` (1–1000), `stride = 1` (1–1000), "
                             "`pad = same` \\| `valid`, `init = default`");
    plan_layer_args_doc(PLAN_RELU, buf, sizeof buf);
    assert_string_equal(buf, "—");
    /* a short buffer is cut, not overrun */
    char small[8];
    plan_layer_args_doc(PLAN_CONV, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

/* ---- layernorm through the checker ---- */

static const char *with_model(const char *model_body)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, FMNIST_DATA "model m {\n%s}\nexperiment e { data = fashion; model = m }\n", model_body);
    return buf;
}

static void test_layernorm_shapes_and_arguments(void **state)
{
    (void)state;
    checked *c;
    plan *p = plan_src(&c, with_model("input [1, 28, 28]\nlayernorm\nflatten\ndense 16\nlayernorm eps = 0.001\n"
                                      "dense classes\n"),
                       NULL, NULL, 0);
    if (!p)
        print_error("%s\n", c->text);
    assert_non_null(p);
    const plan_experiment *e = p->experiment;
    assert_int_equal(e->layers[1].kind, PLAN_LAYERNORM);
    assert_true(plan_shape_eq(e->layers[1].out, e->layers[1].in));
    assert_int_equal(e->layers[1].params, 2 * 28 * 28);
    assert_true(e->layers[1].eps == 1e-5);
    assert_int_equal(e->layers[4].params, 32);
    assert_true(e->layers[4].eps == 0.001);
    char desc[128];
    plan_layer_desc(&e->layers[4], desc, sizeof desc);
    assert_string_equal(desc, "layernorm (eps 0.001)");
    plan_free(p);
    checked_free(c);

    c = check_src(with_model("input 784\nlayernorm eps = 0\ndense classes\n"));
    assert_diag(c, "t.hp:11:17: error: eps must be greater than 0; it is 0");
    checked_free(c);
    c = check_src(with_model("input 784\nlayernorm 1e-3, 2\ndense classes\n"));
    assert_diag(c, "too many arguments to layernorm: it takes 1");
    checked_free(c);
    c = check_src(with_model("input 784\nlayernorm epsilon = 1e-3\ndense classes\n"));
    assert_diag(c, "eps");
    checked_free(c);
    c = check_src(with_model("input 784\nlayrnorm\ndense classes\n"));
    assert_diag(c, "unknown layer kind 'layrnorm'; did you mean 'layernorm'?");
    checked_free(c);
}

/* What the code generator cannot compile, `hpc check` reports at its line. */
static void test_dropout_sites_limit(void **state)
{
    (void)state;
    char body[256];
    snprintf(body, sizeof body, "input 784\nrepeat %d { dropout 0.1 }\ndense classes\n", HPRT_MAX_DROPOUT);
    checked *c = check_src(with_model(body));
    assert_int_equal(c->errors, 0);
    checked_free(c);
    snprintf(body, sizeof body, "input 784\nrepeat %d { dropout 0.1 }\ndense classes\n", HPRT_MAX_DROPOUT + 1);
    c = check_src(with_model(body));
    assert_diag(c, "t.hp:11:13: error: the model has more than 64 dropout sites");
    assert_int_equal(c->errors, 1);
    checked_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_table_agrees_with_the_table),
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_layernorm_shapes_and_arguments),
        cmocka_unit_test(test_dropout_sites_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
