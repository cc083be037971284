/* study_out.h - a study's state and its directory (cmd_search.c runs it).
 *
 *   study.hp        the search and every file it imports, flattened into one
 *                   file (relative paths made absolute), as run
 *   study.args      the command line's --set, --trials and --parallel
 *   journal.jsonl   the truth (compiler/journal.h)
 *   trials/NNNN/    each trial's run directory
 *   results.csv, summary.json, best.hp, history.svg, parallel.svg: derived
 */
#ifndef HPC_STUDY_OUT_H
#define HPC_STUDY_OUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "journal.h"
#include "search.h"
#include "session.h"

typedef struct {
    cli_common o;                 /* FILE, SEARCH, --set, --quiet */
    bool quiet, tty;
    char dir[4096];
    char src[4200];               /* dir/study.hp */
    const char *base_name;
    hp_diags d;
    hp_program *prog;
    plan *pl;
    plan_search *s;
    int parallel, threads_per_trial;
    int trial_epochs;             /* 0: the base's; hyperband/asha: max_epochs */
    search_study st;
    bool st_ready;
    journal j;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hp_data_cache *data;
    cg_objects *objects;          /* each shape's compiled code, linked by every worker */
    hp_session_cache cache[64];   /* per worker */
    int compiles, compiles_before;
    double compile_ms, compile_ms_before;
    double t0;
    double *seconds;              /* per trial: training seconds */
    double *when;                 /* per trial: the study's training clock at its last epoch */
    double clock;                 /* training seconds of every epoch so far, in the journal's order */
    char **reason;                /* per trial: why it failed */
    bool *journaled, *resume_pending;
    int cap;
    int running, epochs_trained;
    bool io_error;
    double last_draw;
    char **set_args;              /* study.args' --set values (resume) */
    int n_set_args;
    bool ended;                   /* the journal has the study's end (a resume of a finished study adds nothing) */
    char tb_root[4400];           /* TensorBoard: DIR/<study name> (absolute), or "" (study_tb.c) */
    /* a study over MPI ranks (cmd_search.c, docs/distributed-search.md) */
    bool mpi;                     /* started by mpirun: the cores are the rank's own (study_cores) */
    bool member;                  /* a rank other than 0: trains the jobs rank 0 sends, writes no study file */
} study;

/* The monotonic clock, in seconds. */
double study_now(void);
study *study_new(void);
void study_free(study *S);
/* A new study from S->o: checks the file, makes the directory, writes
 * study.hp and study.args, starts the journal (and the TensorBoard logs
 * when --tensorboard or the base's `tensorboard` asks for them).  -1 when ready, else the exit status. */
int study_open_new(study *S, const char *out, int trials, int parallel, const char *tensorboard);
/* An existing study: study.hp and study.args read, the journal replayed
 * through f.  -1 when ready, else the exit status. */
int study_open_existing(study *S, const char *dir, bool (*f)(void *, const journal_event *, int));
/* A rank other than 0 of a study over MPI ranks: study.hp and study.args
 * read and planned as rank 0 did (quietly), no journal, no TensorBoard.  -1
 * when ready, else the exit status. */
int study_open_member(study *S, const char *dir);
/* The cores a study's workers may use: the machine's online cores; under
 * MPI (S->mpi) the node's cores divided among its ranks, at most those this
 * rank is bound to (sched_getaffinity); HPC_THREADS or OMP_NUM_THREADS, when
 * set, says how many (at most the node's cores). */
long study_cores(const study *S);
/* Room for n trials' bookkeeping. */
bool study_grow(study *S, int n);
void study_set_reason(study *S, int t, const char *why);
bool study_any_running(const study *S);
/* The live status line on a terminal (at most 5 a second unless force), or nothing. */
void study_progress(study *S, bool force);
/* A line of news, above the status line. */
void study_line(study *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* results.csv and summary.json (and, at the end, best.hp and the plots). */
int study_write_outputs(study *S, bool final);
/* The top 10 trials and the path of best.hp. */
void study_print_table(const study *S, FILE *out);
/* history.svg and parallel.svg (study_svg.c). */
int study_write_plots(const study *S);

#endif
