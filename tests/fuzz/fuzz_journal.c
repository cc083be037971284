/* fuzz_journal.c - libFuzzer over a search study's journal: journal_read of
 * the input as journal.jsonl, every event replayed into an ASHA study as
 * `hpc resume` does (search_add, search_start, search_report, search_done),
 * then the strategy asked for jobs until it has none.  Input: the file.
 * Corpus: tests/fuzz/corpus/journal.  Any input must be read or refused with
 * a line number, never crash, leak, hang or trip a sanitizer. */
#include "fuzz_file.h"

#include <math.h>
#include <string.h>

#include "journal.h"
#include "search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *sets[] = {"16", "32"};

static bool replay(void *ctx, const journal_event *e, int line)
{
    (void)line;
    search_study *st = ctx;
    switch (e->kind) {
    case JOURNAL_STUDY: return e->n_paths == st->s->n_varies;
    case JOURNAL_TRIAL:
        return e->trial == st->n_trials && e->n_x == st->s->n_varies && e->x[0] >= 0 && e->x[0] < 2 &&
               e->x[0] == floor(e->x[0]) && e->x[1] >= 1e-4 && e->x[1] <= 1e-2 && st->n_trials < 1000 &&
               search_add(st, e->x);
    case JOURNAL_START:
        if (e->trial >= st->n_trials)
            return false;
        search_start(st, e->trial, e->to);
        return true;
    case JOURNAL_EPOCH: return search_report(st, e->trial, e->epoch, e->value);
    case JOURNAL_DONE:
    case JOURNAL_FAILED:
        if (e->trial >= st->n_trials)
            return false;
        search_done(st, e->trial, e->stopped, e->kind == JOURNAL_FAILED);
        return true;
    case JOURNAL_COMPILE:
    case JOURNAL_END: return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    if (!fuzz_file_open(&f, data, size, false))
        return 0;
    plan_vary v[2] = {{.path = "model.hidden", .kind = PLAN_SPACE_SET, .values = sets, .n_values = 2},
                      {.path = "optimizer.lr", .kind = PLAN_SPACE_LOG, .lo = 1e-4, .hi = 1e-2}};
    plan_search s = {.name = "s", .varies = v, .n_varies = 2, .strategy = PLAN_STRATEGY_ASHA, .trials = 9,
                     .max_epochs = 9, .eta = 3, .startup = 3, .sample_tpe = (size & 1) != 0,
                     .objective_mode = HPRT_MODE_MAX};
    search_study st;
    if (search_study_init(&st, &s, 0, 1)) {
        long end;
        char err[256];
        journal_read(f.path, replay, &st, &end, err, sizeof err);
        /* what resume does next: the running jobs, then the strategy's */
        for (int guard = 0; guard < 200; guard++) {
            search_job j = search_next(&st);
            if (j.trial < 0)
                break;
            search_start(&st, j.trial, j.epochs);
            for (int e = st.trials[j.trial].epochs + 1; e <= j.epochs; e++)
                search_report(&st, j.trial, e, 0.5 + 0.01 * (j.trial % 7) + 0.001 * e);
            search_done(&st, j.trial, false, false);
        }
        search_finish(&st);
        search_best(&st);
        search_study_free(&st);
    }
    fuzz_file_close(&f);
    return 0;
}
