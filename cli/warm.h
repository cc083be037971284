/* warm.h - `hpc run --from` (a warm start from trained weights) and `hpc
 * resume --epochs` (a run extended), for cmd_run.c; docs/cli.md. */
#ifndef HPC_WARM_H
#define HPC_WARM_H

#include <stdbool.h>
#include <stdio.h>

#include "hprt_ckpt.h"
#include "session.h"

/* Loads the weights of `from` (a run directory: its best.hpw, else its
 * last.hpw; or a .hpw file) into the compiled session s, layer by layer: the
 * i-th layer with parameters of the checkpoint's experiment (the run's
 * experiment.hp beside the file) goes to the i-th of s's when their kinds,
 * shapes and parameter counts agree.  A .hpw with no experiment.hp beside it
 * loads only into the same model (its checkpoint identity).  Any mismatch is
 * an error unless `partial`, which loads what matches (at least one layer).
 * What was loaded and skipped is written to `log` (one line each, also for
 * events.log) and to stdout unless quiet.  The optimizer state is untouched
 * (fresh).  Returns -1 on success, else the exit status, the reason printed. */
int cli_warm_start(hp_session *s, const char *from, bool partial, bool quiet, FILE *log);

/* `hpc resume RUN --epochs N`: checks N against the checkpoint's state (more
 * than the epochs done), resets a stop rule that ended the run (its counters
 * start again; the best epoch so far is kept), and describes the change of
 * length and schedule in `line` (for events.log).  old_epochs: the run's
 * length before; s is compiled for N = s->e->epochs.  Returns -1 when the
 * run can be extended, else the exit status, the reason printed. */
int cli_extend_run(hp_session *s, const char *dir, int old_epochs, hprt_train_state *state, char *line, size_t n);

/* Appends `line` to dir/events.log at the checkpoint's length (what a resume
 * keeps), and moves the state's length past it.  0, or -1 with errno. */
int cli_events_append_at(const char *dir, hprt_train_state *state, const char *line);

#endif
