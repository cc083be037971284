/* test_golden.c - the golden suite: every tests/cases/NAME.hp is checked (as
 * `hpc check` does) and its diagnostics must equal NAME.err exactly (an
 * empty .err: the file checks clean).  HPC_UPDATE_GOLDEN=1 rewrites the .err
 * files from the current output; review the diff before committing it. */
#include <dirent.h>
#include <unistd.h>

#include "hpc_test.h"

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
