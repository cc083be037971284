/* hpc_test.h - helpers for the tests of the front end (link with hpcc). */
#ifndef HPC_TEST_H
#define HPC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diag.h"
#include "plan.h"
#include "testutil.h"

/* The Fashion-MNIST files, as the examples name them. */
#define FMNIST_DATA                                                                   \
    "data fashion {\n"                                                                \
    "    train = idx(\"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\",\n" \
    "                \"/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz\")\n" \
    "    test  = idx(\"/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\",\n"  \
    "                \"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\")\n"  \
    "    valid = split(train, 0.1)\n"                                                 \
    "    scale = 1 / 255\n"                                                           \
    "}\n"

/* The result of checking a source text. */
typedef struct {
    hp_diags d;
    hp_program *p;
    char *text;      /* the rendered diagnostics (no colour) */
    int errors;
    plan *keep;      /* a plan freed with the checked struct */
} checked;

static inline void checked_render(checked *c)
{
    size_t len;
    FILE *f = open_memstream(&c->text, &len);
    assert_non_null(f);
    hp_diags_render(&c->d, f, false);
    fclose(f);
}

/* Checks src as the file "t.hp" (hpc check). */
static inline checked *check_src(const char *src)
{
    checked *c = calloc(1, sizeof *c);
    assert_non_null(c);
    hp_diags_init(&c->d);
    c->p = hp_program_load_text(&c->d, "t.hp", src, strlen(src));
    assert_non_null(c->p);
    hp_check_all(c->p);
    c->errors = c->d.n_errors;
    checked_render(c);
    return c;
}

/* Plans an experiment of src (hpc explain / run), with overrides. */
static inline plan *plan_src(checked **out, const char *src, const char *name, const hp_override *ov, int n)
{
    checked *c = calloc(1, sizeof *c);
    assert_non_null(c);
    hp_diags_init(&c->d);
    c->p = hp_program_load_text(&c->d, "t.hp", src, strlen(src));
    assert_non_null(c->p);
    plan *pl = hp_plan(c->p, name, ov, n);
    c->errors = c->d.n_errors;
    checked_render(c);
    *out = c;
    return pl;
}

static inline void checked_free(checked *c)
{
    if (!c)
        return;
    plan_free(c->keep);
    hp_program_free(c->p);
    hp_diags_free(&c->d);
    free(c->text);
    free(c);
}

/* Fails unless the rendered diagnostics contain needle. */
#define assert_diag(c, needle)                                                                 \
    do {                                                                                       \
        if (!strstr((c)->text, (needle))) {                                                    \
            print_error("expected the diagnostics to contain\n  %s\nbut they are:\n%s\n", (needle), (c)->text); \
            fail();                                                                            \
        }                                                                                      \
    } while (0)

#define assert_no_diag(c, needle)                                                              \
    do {                                                                                       \
        if (strstr((c)->text, (needle))) {                                                     \
            print_error("did not expect\n  %s\nin:\n%s\n", (needle), (c)->text);               \
            fail();                                                                            \
        }                                                                                      \
    } while (0)

#define assert_clean(c)                                                                        \
    do {                                                                                       \
        if ((c)->errors) {                                                                     \
            print_error("expected no errors, got:\n%s\n", (c)->text);                          \
            fail();                                                                            \
        }                                                                                      \
    } while (0)

#endif
