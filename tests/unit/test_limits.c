/* test_limits.c - `hpc check` rejects what the back end would refuse: for each
 * limit, the largest accepted model plans and lays out; one step past it the
 * checker reports it at its line, and the back end (cg_layout_new, the
 * runtime's step count, the allocator) refuses the same step when handed the
 * plan directly.  Also the front end's limits: nesting and expansion. */
#include <stdint.h>
#include <unistd.h>

#include "codegen.h"
#include "hpc_test.h"
#include "hprt_train.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    char path[512], text[64];
    snprintf(path, sizeof path, "%s/d.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("a,b,label\n", f);
    for (int i = 0; i < 64; i++) {
        snprintf(text, sizeof text, "%d,%d,%d\n", i, i % 3, i % 2);
        fputs(text, f);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/t.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 600; i++)
        fputc("abcdefgh \n"[i % 10], f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    free(dir);
    return 0;
}

/* A CSV experiment with the model body given. */
static char *csv_src(const char *body, const char *settings)
{
    size_t n = strlen(body) + strlen(settings) + 1024;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n,
             "data d { train = csv(\"%s/d.csv\") }\n"
             "model m {\n%s\n}\n"
             "experiment e { data = d; model = m; threads = 1; batch = 16; %s }\n",
             dir, body, settings);
    return s;
}

static cg_layout *layout_of(const plan_experiment *e, char *msg, size_t n)
{
    int t[32], ev[32], n_eval;
    int n_train = hprt_train_batch_sizes(&e->batch, e->epochs, e->data.train.n, 0, 0, t, ev, &n_eval, 32);
    cg_error ce = {0};
    cg_layout *l = cg_layout_new(e, 1, t, n_train, ev, n_eval, &ce);
    snprintf(msg, n, "%s", ce.msg);
    return l;
}

static char *dropouts(int k)
{
    size_t n = (size_t)k * 16 + 64;
    char *s = malloc(n);
    assert_non_null(s);
    size_t off = (size_t)snprintf(s, n, "input features\n");
    for (int i = 0; i < k; i++)
        off += (size_t)snprintf(s + off, n - off, "dropout 0.1\n");
    snprintf(s + off, n - off, "dense classes, softmax");
    return s;
}

static void test_dropout_sites(void **state)
{
    (void)state;
    /* HPRT_MAX_DROPOUT sites: planned and laid out */
    char *body = dropouts(HPRT_MAX_DROPOUT), *src = csv_src(body, "");
    checked *c;
    plan *pl = plan_src(&c, src, NULL, NULL, 0);
    if (!pl)
        print_error("%s\n", c->text);
    assert_non_null(pl);
    char msg[1024];
    plan_experiment *e = pl->experiment;
    assert_true(e->memory_bytes > 0);
    cg_layout *l = layout_of(e, msg, sizeof msg);
    assert_non_null(l);
    assert_int_equal(l->n_dropout, HPRT_MAX_DROPOUT);
    cg_layout_free(l);

    /* the back end refuses one more site ... */
    plan_layer *more = calloc((size_t)e->n_layers + 1, sizeof *more);
    assert_non_null(more);
    memcpy(more, e->layers, sizeof *more * (size_t)(e->n_layers - 1));
    more[e->n_layers - 1] = e->layers[1]; /* another dropout */
    more[e->n_layers] = e->layers[e->n_layers - 1];
    plan_layer *orig = e->layers;
    e->layers = more;
    e->n_layers++;
    assert_null(layout_of(e, msg, sizeof msg));
    assert_non_null(strstr(msg, "dropout"));
    e->layers = orig;
    e->n_layers--;
    free(more);
    plan_free(pl);
    checked_free(c);
    free(src);
    free(body);

    /* ... and so does the checker, at the line of the site that crosses it */
    body = dropouts(HPRT_MAX_DROPOUT + 1);
    src = csv_src(body, "");
    assert_null(plan_src(&c, src, NULL, NULL, 0));
    assert_non_null(strstr(c->text, "t.hp:68:1: error: the model has more than 64 dropout sites"));
    checked_free(c);
    /* hpc check says the same */
    c = check_src(src);
    assert_non_null(strstr(c->text, "more than 64 dropout sites"));
    checked_free(c);
    free(src);
    free(body);
}

static void test_memory(void **state)
{
    (void)state;
    /* 4e12 parameters: the layout is exact, the machine has not 16 TB */
    char *src = csv_src("input features\ndense 2000000, relu\ndense 2000000, relu\ndense classes, softmax", "");
    checked *c;
    assert_null(plan_src(&c, src, NULL, NULL, 0));
    assert_non_null(strstr(c->text, "t.hp:8:"));
    assert_non_null(strstr(c->text, "this run needs about"));
    assert_non_null(strstr(c->text, "this machine has"));
    checked_free(c);
    free(src);
#ifndef __SANITIZE_ADDRESS__ /* ASan aborts on such a request instead of returning NULL */
    /* what the runtime would meet: an allocation of that size fails */
    void *p = hprt_alloc((size_t)4 * 2000000 * 2000000);
    assert_null(p);
#endif
}

static void test_text_steps(void **state)
{
    (void)state;
    char src[2048];
    snprintf(src, sizeof src,
             "data d { train = text(\"%s/t.txt\", seq = 7) }\n"
             "model m { input tokens; embed 16; gru 8; dense vocab, softmax }\n"
             "experiment e { data = d; model = m; batch = %%d }\n",
             dir);
    char text[2048];
    /* 600 tokens: batch 64 gives 9-token streams, one window of 7 + 1 */
    snprintf(text, sizeof text, src, 64);
    checked *c;
    plan *pl = plan_src(&c, text, NULL, NULL, 0);
    if (!pl)
        print_error("%s\n", c->text);
    assert_non_null(pl);
    assert_int_equal(hprt_train_steps_per_epoch(pl->experiment->data.train.n, 64, 7), 1);
    plan_free(pl);
    checked_free(c);
    /* batch 128: 4-token streams, no window: the runtime's count is 0, check says so */
    assert_int_equal(hprt_train_steps_per_epoch(600, 128, 7), 0);
    snprintf(text, sizeof text, src, 128);
    assert_null(plan_src(&c, text, NULL, NULL, 0));
    assert_non_null(strstr(c->text, "t.hp:3:"));
    assert_non_null(strstr(c->text, "0 steps per epoch"));
    checked_free(c);
}

/* HPRT_MAX_CARRY arrays of recurrent state go into a checkpoint: an LSTM
 * carries h and c per stacked layer, so 32 fit and 33 get the warning */
static void test_carry(void **state)
{
    (void)state;
    char src[2048];
    const char *fmt = "data d { train = text(\"%s/t.txt\", seq = 7) }\n"
                      "model m { input tokens; embed 16; lstm 8, stack = %d; dense vocab, softmax }\n"
                      "experiment e { data = d; model = m; batch = 8 }\n";
    snprintf(src, sizeof src, fmt, dir, HPRT_MAX_CARRY / 2);
    checked *c = check_src(src);
    assert_int_equal(c->errors, 0);
    assert_null(strstr(c->text, "warning"));
    checked_free(c);
    snprintf(src, sizeof src, fmt, dir, HPRT_MAX_CARRY / 2 + 1);
    c = check_src(src);
    assert_int_equal(c->errors, 0);
    assert_non_null(strstr(c->text, "t.hp:2:1: warning: this layer brings the recurrent state to 66 arrays, more than "
                                    "a checkpoint carries (64)"));
    checked_free(c);
}

static void test_threads(void **state)
{
    (void)state;
    char *src = csv_src("input features\ndense classes, softmax", "");
    char *s65 = malloc(strlen(src) + 32);
    assert_non_null(s65);
    strcpy(s65, src);
    strcpy(strstr(s65, "threads = 1"), "threads = 65; batch = 16; }\n");
    checked *c;
    assert_null(plan_src(&c, s65, NULL, NULL, 0));
    assert_non_null(strstr(c->text, "threads must be between 1 and 64; it is 65"));
    checked_free(c);
    hp_override ov = {"threads", "65"};
    assert_null(plan_src(&c, src, NULL, &ov, 1));
    assert_non_null(strstr(c->text, "between 1 and 64"));
    checked_free(c);
    hp_override ok = {"threads", "64"};
    plan *pl = plan_src(&c, src, NULL, &ok, 1);
    assert_non_null(pl);
    assert_int_equal(pl->experiment->threads, HPRT_MAX_THREADS);
    plan_free(pl);
    checked_free(c);
    free(s65);
    free(src);
}

static void test_nesting(void **state)
{
    (void)state;
    /* 100,000 terms: one error at the node that crosses the depth, no stack overflow */
    size_t n = 100000;
    char *src = malloc(4 * n + 64);
    assert_non_null(src);
    size_t off = (size_t)sprintf(src, "experiment e {\n  epochs = 1");
    for (size_t i = 1; i < n; i++)
        off += (size_t)sprintf(src + off, "+1");
    strcpy(src + off, "\n}\n");
    checked *c = check_src(src);
    assert_non_null(strstr(c->text, "t.hp:2:12: error: this expression is nested more than 256 deep"));
    assert_null(strstr(c->text, "epochs must"));
    checked_free(c);
    /* 256 levels are fine */
    off = (size_t)sprintf(src, "experiment e {\n  epochs = 1");
    for (int i = 1; i < HP_MAX_EXPR_DEPTH; i++)
        off += (size_t)sprintf(src + off, "+0");
    strcpy(src + off, "\n}\n");
    c = check_src(src);
    assert_null(strstr(c->text, "nested"));
    checked_free(c);
    /* brackets (with the experiment's brace): the 256th '(' is the 257th level,
     * reported, and the parse stops there */
    off = (size_t)sprintf(src, "experiment e {\n  epochs = ");
    for (int i = 0; i < 10000; i++)
        src[off++] = '(';
    strcpy(src + off, "1\n}\n");
    c = check_src(src);
    assert_non_null(strstr(c->text, "t.hp:2:267: error: brackets are nested more than 256 deep"));
    assert_int_equal(c->errors, 1);
    checked_free(c);
    free(src);
}

static void test_repeat_expansion(void **state)
{
    (void)state;
    /* 34 nested `repeat 2`: 2^34 layers are refused before any is made */
    char src[4096];
    size_t off = (size_t)sprintf(src, "model m {\ninput 4\n");
    for (int i = 0; i < 34; i++)
        off += (size_t)sprintf(src + off, "repeat 2 {\n");
    off += (size_t)sprintf(src + off, "dense 2\n");
    for (int i = 0; i < 34; i++)
        off += (size_t)sprintf(src + off, "}\n");
    strcpy(src + off, "}\n");
    checked *c = check_src(src);
    /* the innermost repeat whose expansion passes 10,000: 2 x 8192 at line 22 */
    assert_non_null(strstr(c->text, "t.hp:22:1: error: this repeat expands to more than 10000 layers"));
    assert_int_equal(c->errors, 1);
    checked_free(c);
    /* empty bodies cost a round each: 10000^3 rounds are refused too */
    c = check_src("model m {\ninput 4\nrepeat 10000 { repeat 10000 { repeat 10000 { } } }\ndense 2\n}\n");
    assert_non_null(strstr(c->text, "expands to more than 10000 layers"));
    checked_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_sites), cmocka_unit_test(test_memory),  cmocka_unit_test(test_text_steps), cmocka_unit_test(test_carry),
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_nesting), cmocka_unit_test(test_repeat_expansion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
