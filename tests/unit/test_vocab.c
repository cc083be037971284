/* test_vocab.c - the vocabulary tables against docs/language.md.
 *
 * Every row of every table (optimizers, schedules, stop rules, metrics,
 * activations, initialisers, notes) has its entry in the docs, with its
 * parameters and their defaults, and the docs have no entry that a table
 * lacks.  Also: the checker binds every optimizer to its table's defaults, and
 * the printers write the parameters in the tables' order. */
#include "hpc_test.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "plan.h"

static char *docs;

static int setup(void **state)
{
    (void)state;
    docs = tu_read_file(HPC_SOURCE_DIR "/docs/language.md", NULL);
    return docs ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(docs);
    return 0;
}

/* The text of the section that starts with `head` (a "## N." heading), up to the next "\n## ". */
static char *section(const char *head)
{
    const char *s = strstr(docs, head);
    if (!s) {
        print_error("docs/language.md has no section '%s'\n", head);
        fail();
    }
    const char *e = strstr(s + 1, "\n## ");
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

/* The line of text that contains `at`, copied. */
static char *line_at(const char *text, const char *at)
{
    const char *b = at;
    while (b > text && b[-1] != '\n')
        b--;
    const char *e = strchr(at, '\n');
    size_t n = e ? (size_t)(e - b) : strlen(b);
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, b, n);
    out[n] = 0;
    return out;
}

static const char *bare(const char *name) { return name[0] == '!' ? name + 1 : name; }

/* ---- optimizers: a "### `name(p = d, ...)`" heading per row, in §10 ---- */

/* Parses "p1 = v1, p2, p3 = v3)" into names/values (value "" when none). */
static int parse_signature(const char *s, char names[][32], char values[][32], int max)
{
    int n = 0;
    while (*s && *s != ')' && n < max) {
        while (*s == ' ' || *s == ',')
            s++;
        int k = 0;
        while (isalnum((unsigned char)*s) || *s == '_')
            names[n][k < 31 ? k++ : k] = *s++;
        names[n][k] = 0;
        values[n][0] = 0;
        if (strncmp(s, " = ", 3) == 0) {
            s += 3;
            k = 0;
            while (*s && *s != ',' && *s != ')')
                values[n][k < 31 ? k++ : k] = *s++;
            values[n][k] = 0;
        }
        n++;
    }
    return n;
}

static void test_optimizers(void **state)
{
    (void)state;
    char *sec = section("## 10. Optimizers");
    for (int k = 0; k < HPRT_OPT__COUNT; k++) {
        const hprt_opt_desc *d = hprt_opt_info((hprt_opt_kind)k);
        assert_non_null(d);
        char head[64];
        snprintf(head, sizeof head, "### `%s(", d->name);
        const char *h = strstr(sec, head);
        if (!h) {
            print_error("docs/language.md §10 has no heading for optimizer '%s'\n", d->name);
            fail();
        }
        char names[16][32], values[16][32];
        int n = parse_signature(h + strlen(head), names, values, 16);
        print_message("%s: %d parameters\n", d->name, n);
        assert_int_equal(n, d->n_params);
        for (int i = 0; i < n; i++) {
            const hprt_opt_param *p = &d->params[i];
            assert_string_equal(names[i], bare(p->name));
            if (p->name[0] == '!') {
                assert_string_equal(values[i], ""); /* required: no default */
                continue;
            }
            if (p->type == HPRT_HP_BOOL) {
                assert_string_equal(values[i], p->def != 0 ? "true" : "false");
            } else {
                char *end;
                double v = strtod(values[i], &end);
                if (*end || v != p->def) {
                    print_error("%s: docs say %s = %s, the table %g\n", d->name, names[i], values[i], p->def);
                    fail();
                }
            }
        }
        /* its table of parameters (before the formulas) names each one */
        for (int i = 0; i < d->n_params; i++) {
            char cell[48];
            snprintf(cell, sizeof cell, "`%s`", bare(d->params[i].name)); /* in a row: "| `beta1`, `beta2` |" */
            const char *row = strstr(h, cell);
            const char *next = strstr(h, "\n```");
            if (!row || (next && row > next)) {
                print_error("docs §10 '%s': no row for parameter '%s'\n", d->name, bare(d->params[i].name));
                fail();
            }
        }
    }
    /* no heading without a row */
    for (const char *h = strstr(sec, "\n### `"); h; h = strstr(h + 1, "\n### `")) {
        char name[32];
        int k = 0;
        for (const char *p = h + 6; (isalnum((unsigned char)*p) || *p == '_') && k < 31; p++)
            name[k++] = *p;
        name[k] = 0;
        bool found = false;
        for (int o = 0; o < HPRT_OPT__COUNT; o++)
            found |= strcmp(hprt_opt_name((hprt_opt_kind)o), name) == 0;
        if (!found) {
            print_error("docs §10 documents optimizer '%s', which the table lacks\n", name);
            fail();
        }
    }
    free(sec);
}

/* The checker fills every default from the table: `optimizer = NAME` (SGD:
 * with its required lr) prints as the docs heading's values. */
static void test_optimizer_binding(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char csv[512];
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    const char rows[] = "a,b,c,d,y\n0,0,0,0,0\n1,1,1,1,1\n";
    tu_write_file(csv, rows, sizeof rows - 1);
    for (int k = 0; k < HPRT_OPT__COUNT; k++) {
        const char *name = hprt_opt_name((hprt_opt_kind)k);
        char src[1024];
        snprintf(src, sizeof src,
                 "data d { train = csv(\"%s\") }\n"
                 "model m { input 4\n dense 2 }\n"
                 "experiment e { data = d; model = m; optimizer = %s%s }\n",
                 csv, name, k == HPRT_OPT_SGD ? "(lr = 0.1)" : "");
        checked *ck;
        plan *p = plan_src(&ck, src, "e", NULL, 0);
        if (!p)
            print_error("%s\n", ck->text);
        assert_non_null(p);
        checked_free(ck);
        const hprt_optimizer *o = &p->experiment->optimizer;
        assert_int_equal(o->kind, k);
        const hprt_opt_desc *d = hprt_opt_info(o->kind);
        for (int i = 0; i < d->n_params; i++) {
            const char *f = (const char *)o + d->params[i].offset;
            if (d->params[i].name[0] == '!')
                continue;
            if (d->params[i].type == HPRT_HP_BOOL)
                assert_int_equal(*(const bool *)f, d->params[i].def != 0);
            else
                assert_true(*(const double *)f == d->params[i].def);
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        assert_non_null(out);
        plan_print_optimizer(o, out);
        fclose(out);
        print_message("%s\n", buf);
        /* the printed names, in the table's order */
        char names[16][32], values[16][32];
        assert_int_equal(strncmp(buf, name, strlen(name)), 0);
        int n = parse_signature(buf + strlen(name) + 1, names, values, 16);
        assert_int_equal(n, d->n_params);
        for (int i = 0; i < n; i++)
            assert_string_equal(names[i], bare(d->params[i].name));
        free(buf);
        plan_free(p);
    }
    tu_rmrf(dir);
    free(dir);
}

/* ---- schedules: a row "| `name` | parameters (defaults) | ... |" in §11 ---- */

static void check_param_cells(const char *what, const char *row, const plan_policy_params *t)
{
    for (int i = 0; i < t->n; i++) {
        char want[96];
        if (t->params[i].def)
            snprintf(want, sizeof want, "`%s = %s`", bare(t->params[i].name), t->params[i].def);
        else
            snprintf(want, sizeof want, "`%s", bare(t->params[i].name));
        if (!strstr(row, want)) {
            print_error("docs, %s: no %s in\n%s\n", what, want, row);
            fail();
        }
    }
    /* every "`p = " of the row is a parameter of the table */
    for (const char *s = strchr(row, '`'); s; s = strchr(s + 1, '`')) {
        char name[32];
        int k = 0;
        const char *p = s + 1;
        while ((isalnum((unsigned char)*p) || *p == '_') && k < 31)
            name[k++] = *p++;
        name[k] = 0;
        if (k == 0 || strncmp(p, " = ", 3) != 0)
            continue;
        bool found = false;
        for (int i = 0; i < t->n; i++)
            found |= strcmp(bare(t->params[i].name), name) == 0;
        if (!found) {
            print_error("docs, %s: parameter '%s' is not in the table\n", what, name);
            fail();
        }
    }
}

static void test_schedules(void **state)
{
    (void)state;
    char *sec = section("## 11. Learning-rate schedules");
    const char *table = strstr(sec, "| schedule | parameters (defaults) |");
    assert_non_null(table);
    for (int k = 0; k < HPRT_SCHED__COUNT; k++) {
        char cell[48];
        snprintf(cell, sizeof cell, "\n| `%s` |", hprt_sched_name((hprt_sched_kind)k));
        const char *at = strstr(table, cell);
        if (!at) {
            print_error("docs §11 has no row for schedule '%s'\n", hprt_sched_name((hprt_sched_kind)k));
            fail();
        }
        char *row = line_at(sec, at + 1);
        /* the parameters column only */
        char *cols = strstr(row + 2, " | ");
        assert_non_null(cols);
        char *end = strstr(cols + 3, " | ");
        if (end)
            *end = 0;
        check_param_cells(hprt_sched_name((hprt_sched_kind)k), cols, plan_sched_params((hprt_sched_kind)k));
        free(row);
    }
    /* every row of the table is a schedule */
    for (const char *r = strstr(table, "\n| `"); r && r[1] == '|'; r = strstr(r + 1, "\n| `")) {
        char name[32];
        int n = 0;
        for (const char *p = r + 4; *p != '`' && n < 31; p++)
            name[n++] = *p;
        name[n] = 0;
        bool found = false;
        for (int k = 0; k < HPRT_SCHED__COUNT; k++)
            found |= strcmp(hprt_sched_name((hprt_sched_kind)k), name) == 0;
        if (!found) {
            print_error("docs §11 documents schedule '%s', which the table lacks\n", name);
            fail();
        }
        const char *nl = strchr(r + 1, '\n');
        if (!nl || nl[1] != '|')
            break; /* the end of the table */
    }
    free(sec);
}

/* ---- stop rules: "`name(p = d, ...)`" in §14 ---- */

static void test_stops(void **state)
{
    (void)state;
    char *sec = section("## 14. Stopping rules");
    for (int k = 0; k < HPRT_STOP__COUNT; k++) {
        const plan_policy_params *t = plan_stop_params((hprt_stop_kind)k);
        char want[256];
        size_t off = (size_t)snprintf(want, sizeof want, "`%s", hprt_stop_name((hprt_stop_kind)k));
        if (t->n == 0) { /* `none`, or `stop = none` */
            char alt[64];
            snprintf(alt, sizeof alt, "= %s`", hprt_stop_name((hprt_stop_kind)k));
            snprintf(want + off, sizeof want - off, "`");
            if (!strstr(sec, want) && !strstr(sec, alt)) {
                print_error("docs §14 lacks %s\n", want);
                fail();
            }
            continue;
        } else {
            off += (size_t)snprintf(want + off, sizeof want - off, "(");
            for (int i = 0; i < t->n; i++)
                off += (size_t)snprintf(want + off, sizeof want - off, "%s%s%s%s", i ? ", " : "", bare(t->params[i].name),
                                        t->params[i].def ? " = " : "", t->params[i].def ? t->params[i].def : "");
            snprintf(want + off, sizeof want - off, ")`");
        }
        if (!strstr(sec, want)) {
            print_error("docs §14 lacks %s\n", want);
            fail();
        }
    }
    for (const char *s = strchr(sec, '`'); s; s = strchr(s + 1, '`')) {
        char name[32];
        int n = 0;
        const char *p = s + 1;
        while ((isalnum((unsigned char)*p) || *p == '_') && n < 31)
            name[n++] = *p++;
        name[n] = 0;
        if (n == 0 || *p != '(')
            continue;
        bool found = false;
        for (int k = 0; k < HPRT_STOP__COUNT; k++)
            found |= strcmp(hprt_stop_name((hprt_stop_kind)k), name) == 0;
        if (!found) {
            print_error("docs §14 documents stop rule '%s', which the table lacks\n", name);
            fail();
        }
    }
    free(sec);
}

/* The backticked words of a line from `from` on, each of which must be in
 * names[0..n) (or be `alias`), and every name must be among them. */
static void same_words(const char *what, const char *from, const char *const *names, int n, const char *alias)
{
    bool seen[64] = {false};
    assert_true(n <= 64);
    char *line = line_at(from, from);
    for (char *s = strchr(line, '`'); s; s = strchr(s + 1, '`')) {
        char *e = strchr(s + 1, '`');
        if (!e)
            break;
        *e = 0;
        /* a span may hold several words: `relu tanh ...` */
        for (char *w = strtok(s + 1, " "); w; w = strtok(NULL, " ")) {
            bool found = alias && strcmp(w, alias) == 0;
            for (int i = 0; i < n; i++)
                if (strcmp(names[i], w) == 0)
                    found = seen[i] = true;
            if (!found) {
                print_error("docs: %s '%s' is not in the table\n", what, w);
                fail();
            }
        }
        s = e;
    }
    for (int i = 0; i < n; i++)
        if (!seen[i]) {
            print_error("docs: %s '%s' is not listed in: %s\n", what, names[i], from);
            fail();
        }
    free(line);
}

/* The table under `header` in sec: a row "| `NAME` | ..." for each of
 * names[0..n), and no row for a name the table lacks. */
static void same_rows(const char *where, const char *what, const char *sec, const char *header,
                      const char *const *names, int n)
{
    const char *t = strstr(sec, header);
    assert_non_null(t);
    bool seen[64] = {false};
    assert_true(n <= 64);
    const char *r = strchr(t, '\n') + 1;
    r = strchr(r, '\n') + 1; /* past |---| */
    for (; *r == '|'; r = strchr(r, '\n') + 1) {
        char name[32];
        int k = 0;
        for (const char *p = r + 3; *p != '`' && k < 31; p++)
            name[k++] = *p;
        name[k] = 0;
        bool found = false;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], name) == 0)
                found = seen[i] = true;
        if (!found) {
            print_error("docs %s documents %s '%s', which the table lacks\n", where, what, name);
            fail();
        }
    }
    for (int i = 0; i < n; i++)
        if (!seen[i]) {
            print_error("docs %s has no row for %s '%s'\n", where, what, names[i]);
            fail();
        }
}

static void test_metrics(void **state)
{
    (void)state;
    char *sec = section("## 14. Stopping rules");
    const char *row = strstr(sec, "| `monitor` | ");
    assert_non_null(row);
    /* the values column: from the second cell to the third */
    char *line = line_at(sec, row);
    char *vals = strstr(line + 2, " | ");
    char *end = strstr(vals + 3, " | ");
    *end = 0;
    const char *names[HPRT_METRIC__COUNT];
    for (int m = 0; m < HPRT_METRIC__COUNT; m++)
        names[m] = hprt_metric_name((hprt_metric)m);
    same_words("metric", vals, names, HPRT_METRIC__COUNT, NULL);
    free(line);
    free(sec);
}

/* ---- losses (compiler/losses.def): §9's table, a row "| `SIGNATURE` | `TORCH` | TARGET |" each, both ways ---- */

static void test_losses(void **state)
{
    (void)state;
    char *sec = section("## 9. Experiments");
    const char *table = strstr(sec, "### Losses");
    assert_non_null(table);
    for (int k = 0; k < PLAN_LOSS__COUNT; k++) {
        char want[256];
        snprintf(want, sizeof want, "\n| `%s` | `%s` | ", plan_loss_signature((plan_loss)k), plan_loss_torch((plan_loss)k));
        const char *row = strstr(table, want);
        if (!row) {
            print_error("docs/language.md §9 has no loss row starting '%s'\n", want + 1);
            fail();
        }
        if (plan_loss_alias((plan_loss)k)) { /* the alias is named in its row */
            char *line = line_at(table, row + 1), alias[64];
            snprintf(alias, sizeof alias, "`%s`", plan_loss_alias((plan_loss)k));
            assert_non_null(strstr(line, alias));
            free(line);
        }
    }
    /* every row of the docs' table is a loss of the table */
    const char *end = strstr(table, "\n\n```");
    assert_non_null(end);
    int rows = 0;
    for (const char *r = strstr(table, "\n| `"); r && r < end; r = strstr(r + 1, "\n| `"))
        rows++;
    assert_int_equal(rows, PLAN_LOSS__COUNT);
    /* the settings table's values cell names each loss and alias */
    const char *cell = strstr(sec, "| `loss` | ");
    assert_non_null(cell);
    char *line = line_at(sec, cell);
    for (int k = 0; k < PLAN_LOSS__COUNT; k++) {
        char w[64];
        snprintf(w, sizeof w, "`%s`", plan_loss_name((plan_loss)k));
        if (!strstr(line, w)) {
            print_error("docs/language.md §9: the `loss` setting does not list %s\n", w);
            fail();
        }
    }
    free(line);
    free(sec);
}

static void test_activations_inits(void **state)
{
    (void)state;
    char *sec = section("## 8. Layers");
    const char *a = strstr(sec, "- `activation` is one of `");
    assert_non_null(a);
    a = strchr(a + 3, '`') + 1;
    a = strchr(a, '`'); /* the list, after "`activation`" */
    const char *acts[PLAN_ACT__COUNT];
    for (int i = 0; i < PLAN_ACT__COUNT; i++)
        acts[i] = plan_act_name((plan_act)i);
    same_words("activation", a, acts, PLAN_ACT__COUNT, "linear" /* the checker's other spelling of none */);

    const char *inits[PLAN_INIT__COUNT];
    for (int i = 0; i < PLAN_INIT__COUNT; i++)
        inits[i] = plan_init_name((plan_init)i);
    same_rows("§8", "init", sec, "| `init` | weights | bias |", inits, PLAN_INIT__COUNT);
    free(sec);
}

static void test_notes(void **state)
{
    (void)state;
    char *sec = section("## 18. Diagnostics and notes");
    const char *notes[HP_NOTE__COUNT];
    for (int i = 0; i < HP_NOTE__COUNT; i++) {
        notes[i] = hp_note_name((hp_note)i);
        assert_true(hp_is_note_name(notes[i]));
    }
    same_rows("§18", "note", sec, "| name | fires when | reported at |", notes, HP_NOTE__COUNT);
    assert_null(hp_note_names[HP_NOTE__COUNT]);
    free(sec);
}

/* The schedule and stop printers write the parameters in their tables' order. */
static void test_policy_printers(void **state)
{
    (void)state;
    hprt_schedule then = {.kind = HPRT_SCHED_CONSTANT};
    for (int k = 0; k < HPRT_SCHED__COUNT; k++) {
        hprt_schedule s = {.kind = (hprt_sched_kind)k, .n_at = 1, .period = {1, HPRT_EPOCHS}, .then = &then};
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        assert_non_null(out);
        plan_print_schedule(&s, out);
        fclose(out);
        const plan_policy_params *t = plan_sched_params(s.kind);
        const char *name = hprt_sched_name(s.kind);
        assert_int_equal(strncmp(buf, name, strlen(name)), 0);
        print_message("%s\n", buf);
        /* names at depth 1 only (warmup's `then` prints a nested schedule) */
        const char *p = buf + strlen(name);
        int i = 0;
        if (*p == '(')
            for (int depth = 0; *p; p++) {
                if (*p == '(' || *p == '[')
                    depth++;
                else if (*p == ')' || *p == ']')
                    depth--;
                if (depth == 1 && (*p == '(' || *p == ',')) {
                    const char *w = p + 1 + (p[1] == ' ');
                    size_t n = strcspn(w, " =");
                    assert_true(i < t->n);
                    assert_int_equal(strncmp(w, bare(t->params[i].name), n), 0);
                    assert_int_equal(strlen(bare(t->params[i].name)), n);
                    i++;
                }
            }
        assert_int_equal(i, t->n);
        free(buf);
    }
    for (int k = 0; k < HPRT_STOP__COUNT; k++) {
        hprt_stop s = {.kind = (hprt_stop_kind)k};
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        assert_non_null(out);
        plan_print_stop(&s, out);
        fclose(out);
        const plan_policy_params *t = plan_stop_params(s.kind);
        char names[16][32], values[16][32];
        const char *open = strchr(buf, '(');
        int n = open ? parse_signature(open + 1, names, values, 16) : 0;
        assert_int_equal(n, t->n);
        for (int i = 0; i < n; i++)
            assert_string_equal(names[i], bare(t->params[i].name));
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_optimizer_binding),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_stops),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_activations_inits),
        cmocka_unit_test(test_notes),
        cmocka_unit_test(test_policy_printers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
