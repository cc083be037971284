/* test_golden.c - the golden suite: every tests/cases/NAME.hp is checked (as
 * `hpc check` does) and its diagnostics must equal NAME.err exactly (an
 * empty .err: the file checks clean).  A file without errors also has the
 * Plan of each of its experiments and searches in NAME.plan (`hpc emit
 * --dump=plan`) and each experiment's layout for 2 threads in NAME.layout
 * (`--dump=layout --threads 2`; the back end's refusal, when it refuses),
 * compared exactly.  HPC_UPDATE_GOLDEN=1 rewrites the .err, .plan and .layout
 * files from the current output; review the diff before committing it. */
#include <dirent.h>
#include <unistd.h>

#include "codegen.h"
#include "hpc_test.h"
#include "hprt_train.h"

#define LAYOUT_THREADS 2 /* fixed: the layout depends on the thread count, not on the machine */

/* Compares got with the file NAME.ext (or rewrites it); returns the failures (0 or 1). */
static int golden(const char *name, const char *ext, const char *what, const char *got, bool update)
{
    char path[512];
    snprintf(path, sizeof path, "%.*s.%s", (int)strlen(name) - 3, name, ext);
    if (update) {
        tu_write_file(path, got, strlen(got));
        return 0;
    }
    char *want = tu_read_file(path, NULL);
    int failures = 0;
    if (!want) {
        print_error("%s: no %s (run with HPC_UPDATE_GOLDEN=1 to create it)\n", name, path);
        failures++;
    } else if (strcmp(want, got) != 0) {
        print_error("%s: the %s differ from %s\n--- expected\n%s--- got\n%s", name, what, path, want, got);
        failures++;
    }
    free(want);
    return failures;
}

/* Every target's Plan into plan_out, every experiment's layout into layout_out. */
static void plans_and_layouts(hp_program *p, FILE *plan_out, FILE *layout_out)
{
    const char **names;
    int n = hp_program_targets(p, &names);
    for (int t = 0; t < n; t++) {
        plan *pl = hp_plan(p, names[t], NULL, 0);
        assert_non_null(pl);
        fprintf(plan_out, "== %s\n", names[t]);
        if (!pl->experiment) {
            plan_explain_search(pl->search, plan_out);
            plan_free(pl);
            continue;
        }
        plan_experiment *e = pl->experiment;
        plan_explain(e, plan_out);
        int ts[32], es[32], n_eval;
        int n_train = hprt_train_batch_sizes(&e->batch, e->epochs, e->data.train.n, e->data.valid.n, e->data.test.n,
                                             ts, es, &n_eval, 32);
        cg_error err;
        cg_layout *l = cg_layout_new(e, LAYOUT_THREADS, ts, n_train, es, n_eval, &err);
        fprintf(layout_out, "== %s\n", names[t]);
        if (l)
            cg_layout_dump(l, layout_out);
        else
            fprintf(layout_out, "refused (%s): %s\n", cg_err_class_name(err.cls), err.msg);
        cg_layout_free(l);
        plan_free(pl);
    }
}

#define CASES HPC_SOURCE_DIR "/tests/cases"

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_cases(void **state)
{
    (void)state;
    assert_int_equal(chdir(CASES), 0);
    DIR *dir = opendir(".");
    assert_non_null(dir);
    char *names[1024];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && n < 1024) {
        size_t len = strlen(de->d_name);
        if (len > 3 && strcmp(de->d_name + len - 3, ".hp") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n, sizeof *names, by_name);
    assert_true(n >= 10);
    bool update = getenv("HPC_UPDATE_GOLDEN") && *getenv("HPC_UPDATE_GOLDEN") == '1';
    int failures = 0;
    for (int i = 0; i < n; i++) {
        hp_diags d;
        hp_diags_init(&d);
        hp_program *p = hp_program_load(&d, names[i]);
        if (p)
            hp_check_all(p);
        char *got;
        size_t len;
        FILE *f = open_memstream(&got, &len);
        hp_diags_render(&d, f, false);
        fclose(f);
        char err_path[512];
        snprintf(err_path, sizeof err_path, "%.*s.err", (int)strlen(names[i]) - 3, names[i]);
        if (p && d.n_errors == 0) {
            char *plans, *layouts;
            size_t plen, llen;
            FILE *pf = open_memstream(&plans, &plen), *lf = open_memstream(&layouts, &llen);
            assert_true(pf && lf);
            plans_and_layouts(p, pf, lf);
            fclose(pf);
            fclose(lf);
            failures += golden(names[i], "plan", "Plans", plans, update);
            failures += golden(names[i], "layout", "layouts", layouts, update);
            free(plans);
            free(layouts);
        }
        if (update) {
            tu_write_file(err_path, got, strlen(got));
        } else {
            char *want = tu_read_file(err_path, NULL);
            if (!want) {
                print_error("%s: no %s (run with HPC_UPDATE_GOLDEN=1 to create it)\n", names[i], err_path);
                failures++;
            } else if (strcmp(want, got) != 0) {
                print_error("%s: the diagnostics differ from %s\n--- expected\n%s--- got\n%s", names[i], err_path, want, got);
                failures++;
            }
            free(want);
        }
        free(got);
        hp_program_free(p);
        hp_diags_free(&d);
        free(names[i]);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
