/* journal.h - a study's journal: the truth of a search, one JSON object per
 * line, appended and fsync'd at every event.
 *
 *   {"event": "study", "version": 1, "search": "mlp_sweep", "strategy": "asha", "seed": 1, "paths": ["model.hidden", ...]}
 *   {"event": "trial", "trial": 0, "x": [1, 2, 0.31], "values": {"model.hidden": "256", ...}}
 *   {"event": "start", "trial": 0, "to": 1}                 a job: train trial 0 up to epoch 1
 *   {"event": "start", "trial": 3, "to": 3, "rank": 1}      ... trained by MPI rank 1 (absent: rank 0)
 *   {"event": "epoch", "trial": 0, "epoch": 1, "value": 0.85, "seconds": 1.25}
 *   {"event": "done", "trial": 0, "stopped": false}         the job ended (stopped: by its own stop rule)
 *   {"event": "failed", "trial": 0, "reason": "..."}
 *   {"event": "compile", "ms": 212.5}                       a step module compiled (for summary.json)
 *   {"event": "end"}                                        the study is over
 *
 * Everything else in a study directory is derived from it.  The reader
 * accepts a torn last line (kill -9 in the middle of a write) by ignoring
 * it, and refuses, naming the line, a damaged line before the last.
 */
#ifndef HP_JOURNAL_H
#define HP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plan.h"

typedef enum {
    JOURNAL_STUDY = 0,
    JOURNAL_TRIAL,
    JOURNAL_START,
    JOURNAL_EPOCH,
    JOURNAL_DONE,
    JOURNAL_FAILED,
    JOURNAL_COMPILE,
    JOURNAL_END
} journal_kind;

#define JOURNAL_MAX_PATHS PLAN_MAX_VARIES

typedef struct {
    journal_kind kind;
    int trial;
    int to;                   /* start */
    int rank;                 /* start: the MPI rank that trains the job (0: rank 0, or no MPI) */
    int epoch;                /* epoch */
    double value, seconds;    /* epoch (value NaN: not a number); compile: ms in seconds */
    bool stopped;             /* done */
    char reason[512];         /* failed */
    int n_x;                  /* trial: its point */
    double x[JOURNAL_MAX_PATHS];
    /* study */
    char search[128], strategy[32];
    uint64_t seed;
    int n_paths;
} journal_event;

typedef struct {
    int fd;
    char path[4096];
} journal;

/* Opens (creating, or appending to) path.  false with errno set. */
bool journal_open(journal *j, const char *path);
void journal_close(journal *j);
/* Appends one line and fsyncs it; false with errno set. */
bool journal_write(journal *j, const char *line);
/* Appends an event as its JSON line (values: the trial's .hp text per path). */
bool journal_event_write(journal *j, const journal_event *e, const char *const *paths, const char *const *values);

/* Reads a journal: calls f for each event in order.  A torn last line is
 * ignored; its byte offset is in *valid_end so the writer can cut it off
 * before appending.  false with a message in err (the line number) for a
 * damaged line before the last, an unknown event, or an I/O error, or when f
 * returns false. */
bool journal_read(const char *path, bool (*f)(void *ctx, const journal_event *e, int line), void *ctx, long *valid_end,
                  char *err, size_t errlen);
/* Parses one line (without its newline); false when it is not a journal event. */
bool journal_parse(const char *line, size_t len, journal_event *e);

#endif
