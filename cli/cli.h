/* cli.h - shared by the subcommands: loading, diagnostics, exit statuses. */
#ifndef HPC_CLI_H
#define HPC_CLI_H

#include <stdbool.h>

#include "cg_error.h"
#include "check.h"
#include "diag.h"
#include "files.h"
#include "hprt_ckpt.h"
#include "hprt_data.h"
#include "load.h"
#include "plan.h"
#include "session.h"

/* Exit statuses (docs/cli.md). */
enum { EXIT_OK = 0, EXIT_ERRORS = 1, EXIT_USAGE = 2, EXIT_DATA = 3, EXIT_RUN = 4 };

typedef struct {
    const char *file;
    const char *target;           /* EXPERIMENT or SEARCH, or NULL */
    hp_override *sets;            /* --set PATH=VALUE */
    int n_sets;
    const char **allow;           /* --allow NAME */
    int n_allow;
    bool quiet;
} cli_common;

/* Colour on stderr when it is a terminal and NO_COLOR is not set. */
bool cli_colour(void);
/* Writes the diagnostics to stderr, then a one-line summary when there are errors. */
void cli_print_diags(const hp_diags *d);

/* Parses the options shared by run/check/explain/...; unknown options are an
 * error (exit 2).  allowed_flags: the extra options this command takes
 * (handled by the caller through *extra): returns the index of the first
 * unparsed argument in argv or -1 on a usage error. */
int cli_parse_common(int argc, char **argv, cli_common *c, const char *command);
void cli_common_free(cli_common *c);

int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_lr_find(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_sample(int argc, char **argv);
/* Reads dir/vocab.json (written by a run of a text model) into v; false with
 * the reason in err when it is missing, malformed or not `classes` bytes. */
bool cli_read_vocab(const char *dir, int classes, hprt_vocab *v, char *err, size_t n);
/* A session (initialised here, for `use`) over a run directory's
 * experiment.hp, whose notes were shown when the run was made, planned (its
 * diagnostics printed), and the checkpoint to read into ckpt: best.hpw or
 * last.hpw as `weights` ("best"/"last") says, else those the run ended with.
 * -1 when planned, else the exit status with the reason printed ("hpc
 * COMMAND: ..."); the session must be freed either way. */
int cli_open_run(const char *dir, const char *weights, hp_use use, hp_session *s, char *ckpt, size_t n,
                 const char *command);
/* FILE of the options loaded into d (initialised here), with their --allow. */
hp_program *cli_load(const cli_common *o, hp_diags *d);
/* normalize = standard: the training statistics in nm, borrowed from the
 * checkpoint's state when it holds them (format 3), else recomputed from the
 * run's training data into data (older checkpoints).  False: err says why
 * (the data could not be read). */
bool cli_norm_stats(const plan_experiment *e, const hprt_train_state *st, hp_loaded_data *data, hprt_norm *nm,
                    hprt_error *err);
/* "best.hpw" when the run in dir ended on its best epoch's weights, else "last.hpw". */
const char *cli_final_weights(const char *dir);
/* Prints a session's failure (its diagnostics are printed by the caller) and
 * returns the exit status of its class. */
int cli_session_error(const char *command, const hp_error *err);
/* A run's summary.json (dir/summary.json); -1 with errno on failure. */
int cli_write_summary(const char *dir, const plan_experiment *e, int threads, const hprt_train_result *r,
                      double compile_ms);
/* dir/experiment.hp (the experiment as run, with its thread count) and, for a
 * language model, dir/vocab.json; -1 with errno on failure. */
int cli_write_experiment(const char *dir, const plan_experiment *e, int threads, const hp_loaded_data *data);
int cmd_search(int argc, char **argv);
/* `hpc resume STUDY_DIR` */
int cmd_search_resume(const char *dir, bool quiet);
int cmd_plot(int argc, char **argv);
int cmd_emit(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_emit_llvm(int argc, char **argv);
/* The exit status for a back-end error, from its class: EXIT_USAGE for a
 * model, target or option the back end refuses, EXIT_RUN for the rest. */
int cli_cg_status(const cg_error *err);

/* A whole-number option's value in lo..hi into *out; else a usage error
 * ("OPT takes a whole number from LO to HI, not 'VALUE'") and false. */
bool cli_int_option(const char *command, const char *opt, const char *value, long lo, long hi, long *out);
void cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* SIGINT and SIGTERM to handler (the actions they had in old[0], old[1]
 * unless old is NULL); cli_restore_stop puts them back. */
struct sigaction;
void cli_catch_stop(void (*handler)(int), struct sigaction old[2]);
void cli_restore_stop(const struct sigaction old[2]);

#endif
