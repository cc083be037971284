/* test_journal.c - the study journal: every event written and read back
 * exactly (doubles to the bit), a torn last line ignored wherever the write
 * was cut, a damaged line before the last refused with its number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hpc_test.h"
#include "journal.h"

typedef struct {
    journal_event ev[16];
    int n;
} got;

static bool collect(void *ctx, const journal_event *e, int line)
{
    (void)line;
    got *g = ctx;
    if (g->n >= 16)
        return false;
    g->ev[g->n++] = *e;
    return true;
}

static const char *paths[] = {"model.hidden", "optimizer.lr"};
static const char *values[] = {"256", "0.0012 \"q\""};

static int write_all(const char *path)
{
    journal j;
    assert_true(journal_open(&j, path));
    journal_event e = {.kind = JOURNAL_STUDY, .seed = 18446744073709551000ull, .n_paths = 2};
    snprintf(e.search, sizeof e.search, "mlp_sweep");
    snprintf(e.strategy, sizeof e.strategy, "asha");
    assert_true(journal_event_write(&j, &e, paths, values));
    e = (journal_event){.kind = JOURNAL_TRIAL, .trial = 0, .n_x = 2, .x = {2, 0.1 + 0.2}};
    assert_true(journal_event_write(&j, &e, paths, values));
    e = (journal_event){.kind = JOURNAL_START, .trial = 0, .to = 3};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_EPOCH, .trial = 0, .epoch = 1, .value = 1.0 / 3, .seconds = 2.5};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_EPOCH, .trial = 0, .epoch = 2, .value = NAN, .seconds = 1};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_FAILED, .trial = 0};
    snprintf(e.reason, sizeof e.reason, "the loss is not finite at step 3 (\"nan\")");
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_DONE, .trial = 1, .stopped = true};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_COMPILE, .seconds = 212.5};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_END};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    journal_close(&j);
    return 9;
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    int n = write_all(path);
    got g = {0};
    long end;
    char err[256];
    bool ok = journal_read(path, collect, &g, &end, err, sizeof err);
    if (!ok)
        print_error("%s\n", err);
    assert_true(ok);
    assert_int_equal(g.n, n);
    assert_true(g.ev[0].seed == 18446744073709551000ull);
    assert_int_equal(g.ev[0].kind, JOURNAL_STUDY);
    assert_string_equal(g.ev[0].search, "mlp_sweep");
    assert_string_equal(g.ev[0].strategy, "asha");
    assert_int_equal(g.ev[0].n_paths, 2);
    assert_int_equal(g.ev[1].kind, JOURNAL_TRIAL);
    assert_int_equal(g.ev[1].n_x, 2);
    assert_true(g.ev[1].x[1] == 0.1 + 0.2); /* to the bit */
    assert_int_equal(g.ev[2].to, 3);
    assert_true(g.ev[3].value == 1.0 / 3);
    assert_true(isnan(g.ev[4].value));
    assert_string_equal(g.ev[5].reason, "the loss is not finite at step 3 (\"nan\")");
    assert_true(g.ev[6].stopped);
    assert_true(g.ev[7].seconds == 212.5);
    assert_int_equal(g.ev[8].kind, JOURNAL_END);
    tu_rmrf(dir);
    free(dir);
}

/* A job trained by another MPI rank names it; rank 0's jobs (and every job
 * of a study without MPI) write the line they always wrote. */
static void test_start_rank(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    journal j;
    assert_true(journal_open(&j, path));
    journal_event e = {.kind = JOURNAL_START, .trial = 4, .to = 9, .rank = 2};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    e = (journal_event){.kind = JOURNAL_START, .trial = 5, .to = 1};
    assert_true(journal_event_write(&j, &e, NULL, NULL));
    journal_close(&j);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char a[256] = "", b[256] = "";
    assert_non_null(fgets(a, sizeof a, f));
    assert_non_null(fgets(b, sizeof b, f));
    fclose(f);
    assert_string_equal(a, "{\"event\": \"start\", \"trial\": 4, \"to\": 9, \"rank\": 2}\n");
    assert_string_equal(b, "{\"event\": \"start\", \"trial\": 5, \"to\": 1}\n");
    journal_event g;
    assert_true(journal_parse(a, strlen(a) - 1, &g));
    assert_int_equal(g.kind, JOURNAL_START);
    assert_int_equal(g.trial, 4);
    assert_int_equal(g.to, 9);
    assert_int_equal(g.rank, 2);
    assert_true(journal_parse(b, strlen(b) - 1, &g));
    assert_int_equal(g.rank, 0);
    const char *bad[] = {"{\"event\": \"start\", \"trial\": 4, \"to\": 9, \"rank\": -1}",
                         "{\"event\": \"start\", \"trial\": 4, \"to\": 9, \"rank\": 1.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(journal_parse(bad[i], strlen(bad[i]), &g));
    tu_rmrf(dir);
    free(dir);
}

/* Cut the file at every byte of its last line: the reader keeps the events before it. */
static void test_torn_tail(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    write_all(path);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t last = len - 1;
    while (last > 0 && buf[last - 1] != '\n')
        last--;
    for (size_t cut = last; cut < len; cut++) {
        assert_int_equal(truncate(path, (off_t)cut), 0);
        got g = {0};
        long end;
        char err[256];
        assert_true(journal_read(path, collect, &g, &end, err, sizeof err));
        assert_int_equal(g.n, 8);
        assert_int_equal(end, (long)last);
    }
    tu_rmrf(dir);
    free(dir);
}

static void test_damaged_middle(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"event\": \"start\", \"trial\": 0, \"to\": 1}\n{\"event\": \"epoch\", \"trial\": 0, \"epo\n"
               "{\"event\": \"end\"}\n");
    fclose(f);
    got g = {0};
    long end;
    char err[256];
    assert_false(journal_read(path, collect, &g, &end, err, sizeof err));
    assert_non_null(strstr(err, "journal.jsonl:2: not a journal event"));
    const char *bad[] = {"{\"event\": \"epoch\", \"trial\": -1, \"epoch\": 1, \"value\": 1}",
                         "{\"event\": \"start\", \"trial\": 0}", "{\"event\": \"nope\"}", "[]", "{\"event\": \"end\"} x",
                         "{\"event\": \"trial\", \"trial\": 1, \"x\": [1, \"a\"}"};
    journal_event e;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(journal_parse(bad[i], strlen(bad[i]), &e));
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_start_rank),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_damaged_middle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
