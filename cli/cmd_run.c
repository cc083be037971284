/* cmd_run.c - `hpc run FILE [EXPERIMENT]`: check, compile, train, evaluate. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "codegen.h"
#include "session.h"
#include "hprt.h"
#include "hprt_train.h"
#include "load.h"
#include "mpi_load.h"
#include "svg.h"
#include "hprt_ckpt.h"
#include "tboard.h"
#include "warm.h"

/* The only globals of hpc: what a signal handler may touch.  Before training
 * (loading, compiling, the LR range test) SIGINT and SIGTERM end the process
 * at once with 128 + the signal; during training they set `interrupted`, and
 * the driver stops after the current step with a checkpoint. */
static volatile sig_atomic_t interrupted, training;

static void on_signal(int sig)
{
    if (!training)
        _exit(128 + sig); /* nothing to save yet; async-signal-safe */
    interrupted = sig; /* SIGINT or SIGTERM: the exit status is 128 + sig */
}

/* From the start of a command: also when the shell started hpc with SIGINT
 * ignored (a background job), a signal stops it. */
static void catch_signals(void)
{
    cli_catch_stop(on_signal, NULL);
}

typedef struct {
    bool tty, quiet;
    bool text;  /* a language model: tokens, and bits per character beside the loss */
    int epochs;
    double last_draw;
    tb_writer *tb;  /* --tensorboard / tensorboard = "DIR": NULL when not asked for */
    long tb_step;   /* the last step seen, for events */
} ui;

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "--:--");
    else if (s >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* What a step's rows are: samples, or tokens of a language model. */
static const char *unit(const ui *u) { return u->text ? "tokens" : "samples"; }

static void on_progress(void *ctx, const hprt_progress *p)
{
    ui *u = ctx;
    tb_flush(u->tb); /* TensorBoard follows the file as it grows */
    if (!u->tty || u->quiet)
        return;
    int width = 28, done = (int)((double)width * (double)p->step_in_epoch / (double)p->steps_in_epoch);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '=' : i == done ? '>' : ' ';
    bar[width] = 0;
    char eta[32];
    fmt_duration(eta, sizeof eta, p->eta_seconds);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld  %.1fk %s/s  loss %.4f  ETA %s", p->epoch, p->epochs, bar,
            p->step_in_epoch, p->steps_in_epoch, p->samples_per_second / 1000, unit(u), p->loss, eta);
    fflush(stderr);
}

/* TensorBoard's scalars: every step's, every epoch's (metrics.csv's columns). */
static void on_step(void *ctx, const hprt_step_report *r)
{
    ui *u = ctx;
    static const char *const tags[4] = {"step/loss", "step/lr", "step/batch", "step/momentum"};
    double v[4] = {r->loss, r->lr, r->batch, r->momentum};
    if (!u->tb)
        return;
    u->tb_step = r->step;
    tb_scalars(u->tb, r->step, tags, v, 4);
}

static void tb_epoch_ui(ui *u, const hprt_epoch_report *r)
{
    u->tb_step = r->step;
    tb_epoch(u->tb, r);
    tb_flush(u->tb);
}

static void on_epoch(void *ctx, const hprt_epoch_report *r)
{
    ui *u = ctx;
    if (u->tb)
        tb_epoch_ui(u, r);
    if (u->tty && !u->quiet)
        fprintf(stderr, "\r\033[K");
    if (u->quiet)
        return;
    printf("epoch %*d/%d  train_loss %.4f", u->epochs >= 10 ? 2 : 1, r->epoch, r->epochs, r->train_loss);
    if (u->text)
        printf(" (%.3f bpc)", r->train_loss / M_LN2);
    if (r->has_valid && u->text)
        printf("  val_loss %.4f (%.3f bpc)  val_accuracy %.4f", r->val_loss, r->val_loss / M_LN2, r->val_accuracy);
    else if (r->has_valid)
        printf("  val_loss %.4f  val_accuracy %.4f", r->val_loss, r->val_accuracy);
    printf("  lr %.3g  %.1fs  %.1fk %s/s\n", r->lr, r->seconds, r->samples_per_second / 1000, unit(u));
    fflush(stdout);
}

static void on_event(void *ctx, const char *text)
{
    ui *u = ctx;
    if (u->tb)
        tb_text(u->tb, u->tb_step, "events", text);
    if (u->quiet)
        return;
    if (u->tty)
        fprintf(stderr, "\r\033[K");
    printf("  %s\n", text);
    fflush(stdout);
}

/* The files a run writes: with --force into an existing directory, those of
 * an earlier run go first (a stale best.hpw must not pass for this run's). */
static const char *const run_files[] = {"experiment.hp", "metrics.csv", "steps.csv", "events.log", "summary.json",
                                        "last.hpw", "best.hpw", "lr_find.csv", "lr_find.svg", "vocab.json",
                                        "classes.txt", "categories.txt"};

/* runs/EXPERIMENT-YYYYmmdd-HHMMSS, with -2, -3... when it exists */
static int run_dir(char *out, size_t n, const char *given, const char *name, bool force)
{
    if (given) {
        snprintf(out, n, "%s", given);
        if (force)
            for (size_t i = 0; i < sizeof run_files / sizeof *run_files; i++) {
                char path[4200];
                snprintf(path, sizeof path, "%s/%s", out, run_files[i]);
                if (unlink(path) != 0 && errno != ENOENT)
                    return -1;
            }
        return cli_make_dirs(out);
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    if (cli_make_dirs("runs") != 0)
        return -1;
    for (int k = 1; k < 100; k++) {
        if (k == 1)
            snprintf(out, n, "runs/%s-%s", name, stamp);
        else
            snprintf(out, n, "runs/%s-%s-%d", name, stamp, k);
        if (mkdir(out, 0777) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* Everything `run`, `lr-find` and `resume` set up before training: the
 * compiled experiment (an hp_session) and what the terminal and the run
 * directory need. */
typedef struct {
    const char *command;
    const char *out, *tensorboard;
    bool force;      /* --force: an existing --out directory may be written into */
    const char *from;    /* run: --from RUN_DIR|FILE.hpw (a warm start) */
    bool from_partial;   /* run: --from-partial: load the layers that match */
    char *from_log;      /* ... what it loaded and skipped, for events.log (malloc'd) */
    size_t from_log_n;
    char **rest;
    cli_common o;
    hp_session hs;
    plan_experiment *e;  /* hs.e */
    int T;               /* hs.threads */
    hprt_error err;
    char dir[4096];
    ui u;
    hprt_train_config cfg;
    hprt_comm *comm;     /* run, resume under mpirun/srun: data-parallel over its ranks (NULL: one process) */
    int rank;            /* comm's rank (0 without one): only rank 0 writes and prints */
} session;

static void session_close(session *s)
{
    if (s->u.tb) {
        char path[4400];
        snprintf(path, sizeof path, "%s", tb_path(s->u.tb));
        if (tb_close(s->u.tb) != 0)
            fprintf(stderr, "hpc %s: %s: cannot write the TensorBoard events: %s\n", s->command, path, strerror(errno));
    }
    hp_session_free(&s->hs);
    cli_common_free(&s->o);
    free(s->rest);
    free(s->from_log);
    cli_mpi_close(s->comm);
    s->comm = NULL;
}

/* A rank's threads when --threads does not say: HPC_THREADS or
 * OMP_NUM_THREADS when set, else the cores the launcher bound it to
 * (sched_getaffinity), and never more than the node's cores over the ranks
 * on the node (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS, SLURM_NTASKS_PER_NODE). */
static int rank_threads(void)
{
    long t = cli_mpi_rank_cores();
    return (int)(t < HPRT_MAX_THREADS ? t : HPRT_MAX_THREADS);
}

/* --from: the weights loaded into the compiled model before the run
 * directory exists (a refused --from leaves nothing behind); what was loaded
 * and skipped goes to the terminal and, kept in s->from_log, to events.log
 * once the directory is made.  -1 on success, else the exit status. */
static int warm_start(session *s)
{
    FILE *log = open_memstream(&s->from_log, &s->from_log_n);
    if (!log) {
        fprintf(stderr, "hpc run: out of memory\n");
        return EXIT_RUN;
    }
    int status = cli_warm_start(&s->hs, s->from, s->from_partial, s->o.quiet, log);
    if (fclose(log) != 0 && status < 0) {
        fprintf(stderr, "hpc run: out of memory\n");
        return EXIT_RUN;
    }
    return status;
}

/* The warm start's lines first in events.log (the driver appends the run's). */
static int warm_start_log(session *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/events.log", s->dir);
    FILE *ev = fopen(path, "w");
    if (!ev || fwrite(s->from_log, 1, s->from_log_n, ev) != s->from_log_n || fclose(ev) != 0) {
        fprintf(stderr, "hpc run: %s: %s\n", path, strerror(errno));
        if (ev)
            fclose(ev);
        return EXIT_RUN;
    }
    s->cfg.events_append = true;
    return -1;
}

/* Options, then the session's passes up to the compiled step, then the run
 * directory.  Returns -1 when all is set, else the exit status. */
static int session_open(session *s, int argc, char **argv, const char *command)
{
    memset(s, 0, sizeof *s);
    catch_signals();
    bool resume = strcmp(command, "resume") == 0;
    s->command = command;
    s->rest = calloc((size_t)argc + 1, sizeof *s->rest);
    if (!s->rest)
        return EXIT_RUN;
    int n_rest = 0, epochs = 0, threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool run = strcmp(command, "run") == 0;
        bool takes = strcmp(a, "--epochs") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--out") == 0 ||
                     strcmp(a, "--tensorboard") == 0 || (run && strcmp(a, "--from") == 0);
        if (takes && i + 1 >= argc) {
            cli_usage_error(command, "%s needs a value", a);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--epochs") == 0 || strcmp(a, "--threads") == 0) {
            long v;
            if (!cli_int_option(command, a, argv[++i], 1, a[2] == 'e' ? 1000000 : HPRT_MAX_THREADS, &v))
                return EXIT_USAGE;
            if (a[2] == 'e')
                epochs = (int)v;
            else
                threads = (int)v;
        } else if (strcmp(a, "--out") == 0) {
            s->out = argv[++i];
        } else if (strcmp(a, "--force") == 0 && !resume) {
            s->force = true;
        } else if (strcmp(a, "--tensorboard") == 0) {
            s->tensorboard = argv[++i];
        } else if (run && strcmp(a, "--from") == 0) {
            s->from = argv[++i];
        } else if (run && strcmp(a, "--from-partial") == 0) {
            s->from_partial = true;
        } else {
            s->rest[n_rest++] = argv[i];
        }
    }
    if (s->from_partial && !s->from) {
        cli_usage_error(command, "--from-partial goes with --from RUN_DIR|FILE.hpw");
        return EXIT_USAGE;
    }
    if (s->tensorboard && strcmp(command, "lr-find") == 0) {
        cli_usage_error(command, "--tensorboard is for `hpc run`: the range test is in lr_find.csv and lr_find.svg");
        return EXIT_USAGE;
    }
    if (cli_parse_common(n_rest, s->rest, &s->o, command) < 0)
        return EXIT_USAGE;
    if (strcmp(command, "lr-find") != 0) { /* under mpirun/srun: data-parallel (nothing at all otherwise) */
        char msg[512];
        if (cli_mpi_open(&s->comm, msg, sizeof msg) != 0) {
            fprintf(stderr, "hpc %s: %s\n", command, msg);
            return EXIT_RUN;
        }
        if (s->comm && s->comm->size > 1)
            s->rank = s->comm->rank;
    }
    bool dp = s->comm && s->comm->size > 1;
    /* an existing run is never overwritten without being asked (rank 0 decides:
     * it makes the directory, maybe before another rank gets here) */
    struct stat sb;
    if (s->rank == 0 && s->out && !resume && !s->force && stat(s->out, &sb) == 0) {
        cli_usage_error(command, "'%s' exists; give another --out, or --force to replace the run files in it", s->out);
        return EXIT_USAGE;
    }
    if (s->rank != 0) /* the other ranks print nothing but their own failures */
        s->o.quiet = true;
    s->u = (ui){.tty = isatty(STDERR_FILENO) && s->rank == 0, .quiet = s->o.quiet || s->rank != 0};
    hp_session_opts so = {.file = s->o.file, .target = s->o.target, .sets = s->o.sets, .n_sets = s->o.n_sets,
                          .allow = s->o.allow, .n_allow = s->o.n_allow, .quiet_notes = s->rank != 0,
                          .use = HP_USE_TRAIN, .threads = threads, .epochs = epochs,
                          .ranks = dp ? s->comm->size : 0, .rank = s->rank,
                          .rank_threads = dp && threads == 0 ? rank_threads() : 0};
    hp_session_init(&s->hs, &so);
    hp_error he;
    hp_err_class c = hp_session_run(&s->hs, HP_PASS_PLAN, &he);
    if (s->rank == 0) /* every rank reads the same file: rank 0 says what it found */
        cli_print_diags(&s->hs.diags);
    if (c == HP_ERR_NONE)
        c = hp_session_run(&s->hs, HP_PASS_COMPILE, &he);
    if (c != HP_ERR_NONE) {
        if (s->rank != 0)
            fprintf(stderr, "rank %d: ", s->rank);
        return cli_session_error(command, &he);
    }
    plan_experiment *e = s->e = s->hs.e;
    s->T = s->hs.threads;
    if (s->tensorboard)
        e->tensorboard = s->tensorboard;
    int st;
    if (s->from && (st = warm_start(s)) >= 0)
        return st;
    if (dp) { /* every rank needs a row of every batch: each decides alike, rank 0 says why */
        int tsz[32], esz[32], n_eval;
        const hp_loaded_data *d = &s->hs.data;
        int n_tr = hprt_train_batch_sizes(&e->batch, e->epochs, d->train.tokens ? 0 : d->train.n, 0, 0, tsz, esz,
                                          &n_eval, 32);
        for (int i = 0; i < n_tr; i++)
            if (tsz[i] < s->comm->size) {
                if (s->rank == 0)
                    fprintf(stderr, "%s:%d: a batch of %d %s is less than one for each of the %d ranks; use fewer "
                            "ranks or a larger batch%s\n", e->file, e->line, tsz[i], d->train.tokens ? "streams" : "rows",
                            s->comm->size, d->train.tokens ? "" : " (the last batch of an epoch has the rows left over)");
                return EXIT_USAGE;
            }
    }
    if (dp && (e->loss_opts.weights || e->loss_opts.balanced)) {
        /* the weighted mean divides by the batch's sum of weights, which no rank has alone */
        if (s->rank == 0)
            fprintf(stderr, "%s:%d: class weights are not data-parallel yet (each rank would divide by its own rows' "
                    "weights); run this experiment without mpirun\n", e->file,
                    e->loss_opts.line ? e->loss_opts.line : e->line);
        return EXIT_USAGE;
    }
    if (dp && e->uses_find_lr) {
        if (s->rank == 0)
            fprintf(stderr, "hpc %s: find_lr runs in one process: run `hpc lr-find %s` without mpirun and put the rate "
                    "it suggests in the file\n", command, s->o.file);
        return EXIT_USAGE;
    }
    if (s->rank == 0 && !resume && run_dir(s->dir, sizeof s->dir, s->out, e->name, s->force) != 0) {
        fprintf(stderr, "hpc %s: cannot create the run directory '%s': %s\n", command, s->out ? s->out : "runs/...",
                strerror(errno));
        return EXIT_RUN;
    }
    if (resume)
        snprintf(s->dir, sizeof s->dir, "%s", s->out);
    if (e->tensorboard && strcmp(command, "lr-find") != 0 && s->rank == 0) {
        /* one TensorBoard run per run directory: DIR/<the run directory's name> */
        const char *base = strrchr(s->dir, '/');
        base = base && base[1] ? base + 1 : s->dir;
        char tbdir[4200];
        snprintf(tbdir, sizeof tbdir, "%s/%s", e->tensorboard, base);
        char msg[512];
        if (!(s->u.tb = tb_open(tbdir, msg, sizeof msg))) {
            fprintf(stderr, "hpc %s: tensorboard: %s\n", command, msg);
            return EXIT_RUN;
        }
    }
    hp_session_train_config(&s->hs, &s->cfg);
    s->cfg.run_dir = s->rank == 0 ? s->dir : NULL; /* rank 0 alone writes the run directory */
    if (dp) {
        s->cfg.comm = s->comm;
        /* the carried recurrent state: each rank holds its share of the streams,
         * checkpoints the one-process arrays (the largest global batch's rows) */
        const hp_loaded_data *d = &s->hs.data;
        int tsz[32], esz[32], n_eval;
        int n_tr = hprt_train_batch_sizes(&e->batch, e->epochs, d->train.n, d->has_valid ? d->valid.n : 0,
                                          d->has_test ? d->test.n : 0, tsz, esz, &n_eval, 32);
        s->cfg.carry_rows = s->hs.layout->b_max;
        for (int i = 0; i < n_tr + n_eval; i++)
            if ((i < n_tr ? tsz[i] : esz[i - n_tr]) > s->cfg.carry_rows_all)
                s->cfg.carry_rows_all = i < n_tr ? tsz[i] : esz[i - n_tr];
        const char *k = getenv("HPC_TEST_PERTURB_RANK"); /* tests: the weight check (docs/distributed.md) */
        if (k && *k)
            s->cfg.dp_perturb = atoi(k) + 1;
    }
    s->cfg.cb = (hprt_callbacks){&s->u, on_progress, on_epoch, on_event, on_step};
    s->cfg.interrupt = &interrupted;
    s->u.epochs = e->epochs;
    s->u.text = e->data.is_text;
    return -1;
}

/* Data-parallel: after session_open, every rank learns whether every rank is
 * ready to train (one that failed has said why); the status to go on with:
 * -1, or the highest exit status a rank failed with, the same on every rank
 * (rank 0 refusing an existing --out makes every rank exit 2). */
static int dp_agree(session *s, int status)
{
    if (!s->comm || s->comm->size < 2)
        return status;
    double failed[EXIT_RUN + 1] = {0}; /* one slot per exit status: the sum counts the ranks that chose it */
    if (status >= 0)
        failed[status <= EXIT_RUN ? status : EXIT_RUN] = 1;
    if (s->comm->allreduce_f64(s->comm, failed, EXIT_RUN + 1) != 0) {
        fprintf(stderr, "rank %d: hpc %s: %s\n", s->rank, s->command, s->comm->error);
        s->comm->abort(s->comm, EXIT_RUN);
    }
    for (int k = EXIT_RUN; k >= 0; k--)
        if (failed[k] > 0)
            return k;
    return -1;
}

static const char *suggest_name(hprt_suggest s)
{
    return s == HPRT_SUGGEST_VALLEY ? "valley" : s == HPRT_SUGGEST_STEEP ? "steep" : "minimum";
}

/* Writes lr_find.csv and lr_find.svg into the run directory. */
static int write_lr_find(const session *s, const hprt_lrfind_result *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lr_find.csv", s->dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "step,lr,loss,smoothed_loss\n");
    for (int i = 0; i < r->n; i++)
        fprintf(f, "%d,%.9g,%.9g,%.9g\n", i, r->lr[i], r->loss[i], r->smooth[i]);
    if (fclose(f) != 0)
        return -1;
    char label[64];
    snprintf(label, sizeof label, "suggestion %.3g (%s)", r->suggestion, suggest_name(s->e->lrfind.suggest));
    svg_series series[2] = {{"loss", r->lr, r->loss, r->n, "#bbb"}, {"smoothed loss", r->lr, r->smooth, r->n, "#1f77b4"}};
    svg_mark mark = {r->suggestion, label};
    char title[256];
    snprintf(title, sizeof title, "LR range test: %s", s->e->name);
    /* as fastai's plot: up to where the loss has clearly diverged */
    svg_panel p = {title, "learning rate (log scale)", "training loss", true, false, series, 2, &mark, 1,
                   r->n ? 1.5 * r->smooth[0] : 0, 0, 0};
    snprintf(path, sizeof path, "%s/lr_find.svg", s->dir);
    return svg_write(path, &p, 1);
}

/* Runs the LR range test and, for `run`, puts its suggestion where the file
 * says find_lr and compiles the schedule.  Returns -1 on success. */
static int session_find_lr(session *s, hprt_lrfind_result *r)
{
    plan_experiment *e = s->e;
    if (!s->o.quiet)
        printf("LR range test: %g to %g over %d steps...\n", e->lrfind.start, e->lrfind.end, e->lrfind.steps);
    if (hprt_lr_find(&s->cfg, &e->lrfind, r, &s->err) != HPRT_OK) {
        fprintf(stderr, "hpc %s: %s\n", s->command, s->err.msg);
        return EXIT_RUN;
    }
    if (write_lr_find(s, r) != 0) {
        fprintf(stderr, "hpc %s: cannot write the LR range test to %s: %s\n", s->command, s->dir, strerror(errno));
        return EXIT_RUN;
    }
    return -1;
}

/* The first layer, in forward order, whose output holds a NaN or an infinity
 * (the activations of the last step run, whose update was skipped). */
static void diagnose_nan(const session *s, char *buf, size_t n)
{
    const plan_experiment *e = s->e;
    const cg_layout *l = s->hs.layout;
    snprintf(buf, n, "no layer's output is non-finite: the loss itself overflowed");
    for (int i = 1; i < e->n_layers; i++) {
        const cg_layer_layout *L = &l->layers[i];
        if (L->out < 0 || e->layers[i].kind == PLAN_FLATTEN || L->skip)
            continue;
        const float *o = s->hs.mem.acts + L->out;
        long count = (long)l->b_max * L->out_size;
        for (long k = 0; k < count; k++)
            if (!isfinite(o[k])) {
                char what[128];
                plan_layer_desc(&e->layers[i], what, sizeof what);
                snprintf(buf, n, "the first layer whose output is not finite: layer %d, `%s` (line %d)", i, what,
                         e->layers[i].line);
                return;
            }
    }
}

/* TensorBoard's text tab: the run's experiment.hp, as a code block. */
static void tb_experiment(session *s, long step)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.hp", s->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    if (m) {
        fputs("```\n", m);
        char buf[4096];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, k, m);
        fputs("```\n", m);
        if (fclose(m) == 0)
            tb_text(s->u.tb, step, "experiment", text);
    }
    free(text);
    fclose(f);
}

/* Trains (from the start, or from a checkpoint) and reports; the exit status. */
static int train(session *s, const hprt_train_state *resume, const float *best)
{
    plan_experiment *e = s->e;
    if (s->u.tb) {
        s->u.tb_step = resume ? (long)resume->step : 0;
        tb_experiment(s, s->u.tb_step);
    }
    struct sigaction old[2];
    cli_catch_stop(on_signal, old);
    hprt_train_result res;
    training = 1; /* from here a signal stops after the current step, with a checkpoint */
    hprt_status st = hprt_train(&s->cfg, resume, best, &res, &s->err);
    /* HPC_PROFILE: the steps' time per layer and pass (docs/cli.md) */
    cg_profile_report(e, s->hs.layout, s->hs.mem.acts, (long)(res.steps - (resume ? resume->step : 0)), stderr);
    cli_restore_stop(old);
    if (s->u.tb && res.has_test) {
        static const char *const tags[2] = {"test/loss", "test/accuracy"};
        double v[2] = {res.test_loss, res.test_accuracy};
        tb_scalars(s->u.tb, res.steps, tags, v, 2);
    }
    if (s->rank == 0 && cli_write_summary(s->dir, e, s->T, &res, cg_compile_ms(s->hs.prog)) != 0)
        fprintf(stderr, "hpc %s: cannot write %s/summary.json: %s\n", s->command, s->dir, strerror(errno));
    if (st != HPRT_OK && s->rank != 0) {
        /* a NaN loss and differing weights every rank sees alike: rank 0 reports them; any other failure is
         * this rank's own, and the others would wait for it forever: MPI ends them all */
        bool alike = strcmp(res.stopped, "nan") == 0 || strcmp(res.stopped, "diverged") == 0;
        if (!alike) {
            fprintf(stderr, "rank %d: hpc %s: %s\n", s->rank, s->command, s->err.msg);
            s->comm->abort(s->comm, EXIT_RUN);
        }
        return EXIT_RUN;
    }
    if (st != HPRT_OK) {
        fprintf(stderr, "hpc %s: %s\n", s->command, s->err.msg);
        if (strcmp(res.stopped, "nan") == 0) {
            char why[256];
            diagnose_nan(s, why, sizeof why);
            fprintf(stderr, "hpc %s: %s\n", s->command, why);
            fprintf(stderr, "hpc %s: last.hpw holds the last good state\n", s->command);
        }
        fprintf(stderr, "hpc %s: the run's files are in %s\n", s->command, s->dir);
        if (s->cfg.comm && strcmp(res.stopped, "nan") != 0 && strcmp(res.stopped, "diverged") != 0)
            s->comm->abort(s->comm, EXIT_RUN); /* rank 0's own failure: the others must not wait for it */
        return s->err.status == HPRT_E_DATA ? EXIT_DATA : EXIT_RUN;
    }
    if (strcmp(res.stopped, "interrupted") == 0) {
        if (s->rank != 0)
            return 128 + (interrupted == SIGTERM ? SIGTERM : SIGINT);
        if (s->u.tty && !s->o.quiet)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "interrupted after step %ld; a checkpoint is in %s/last.hpw\nresume with: hpc resume %s\n",
                res.steps, s->dir, s->dir);
        return 128 + (interrupted == SIGTERM ? SIGTERM : SIGINT);
    }
    if (!s->o.quiet) {
        if (res.has_test)
            printf("test: loss %.4f, accuracy %.4f\n", res.test_loss, res.test_accuracy);
        printf("%s after %d epoch%s (%ld steps) in %.1fs, %.1fk %s/s; the run is in %s\n",
               strcmp(res.stopped, "completed") == 0 ? "done" : res.stopped, res.epochs, res.epochs == 1 ? "" : "s",
               res.steps, res.seconds, res.samples_per_second / 1000, unit(&s->u), s->dir);
    }
    return EXIT_OK;
}

int cmd_run(int argc, char **argv)
{
    session s;
    int status = dp_agree(&s, session_open(&s, argc, argv, "run"));
    if (status >= 0)
        goto done;
    plan_experiment *e = s.e;
    if (s.from && s.rank == 0 && (status = warm_start_log(&s)) >= 0)
        goto done;
    if (e->uses_find_lr) {
        hprt_lrfind_result r;
        status = session_find_lr(&s, &r);
        if (status >= 0) {
            hprt_lrfind_result_free(&r);
            goto done;
        }
        char where[128];
        plan_apply_found_rate(e, r.suggestion, where, sizeof where);
        char text[256];
        snprintf(text, sizeof text, "find_lr: the LR range test suggests %.17g (%s, %d steps); used for %s", r.suggestion,
                 suggest_name(e->lrfind.suggest), r.n, where);
        hprt_lrfind_result_free(&r);
        on_event(&s.u, text);
        char path[4200];
        snprintf(path, sizeof path, "%s/events.log", s.dir);
        FILE *ev = fopen(path, s.cfg.events_append ? "a" : "w"); /* the driver appends the run's events after this one */
        if (ev) {
            fprintf(ev, "%s\n", text);
            fclose(ev);
        }
        hp_error he;
        if (hp_session_recompile_schedule(&s.hs, &s.cfg, &he) != HP_ERR_NONE) {
            fprintf(stderr, "hpc run: %s\n", he.msg);
            status = EXIT_RUN;
            goto done;
        }
        s.cfg.events_append = true;
    }
    if (e->loss_opts.balanced && e->loss_opts.weights) { /* the weights the run computed, in events.log */
        int K = e->loss_opts.n_weights;
        size_t n = 160 + 24 * (size_t)K, off;
        char *text = malloc(n);
        if (!text) {
            fprintf(stderr, "hpc run: out of memory\n");
            status = EXIT_RUN;
            goto done;
        }
        off = (size_t)snprintf(text, n, "loss: weights = balanced, n / (classes * count) over the %ld training labels:",
                               s.hs.data.train.n);
        for (int k = 0; k < K && off < n; k++)
            off += (size_t)snprintf(text + off, n - off, " %.9g", e->loss_opts.weights[k]);
        on_event(&s.u, text);
        char path[4200];
        snprintf(path, sizeof path, "%s/events.log", s.dir);
        FILE *ev = s.rank == 0 ? fopen(path, s.cfg.events_append ? "a" : "w") : NULL; /* the driver appends the run's events */
        if (ev) {
            fprintf(ev, "%s\n", text);
            fclose(ev);
        }
        free(text);
        s.cfg.events_append = true;
    }
    if (s.rank == 0 && cli_write_experiment(s.dir, s.e, s.T, &s.hs.data) != 0) {
        fprintf(stderr, "hpc run: %s/experiment.hp: %s\n", s.dir, strerror(errno));
        if (s.comm)
            s.comm->abort(s.comm, EXIT_RUN);
        status = EXIT_RUN;
        goto done;
    }
    if (!s.o.quiet && s.cfg.comm)
        printf("%s: %ld parameters, %d ranks x %d threads, compiled in %.0f ms; training on %ld %s (%d epochs at most)\n",
               e->name, e->total_params, s.comm->size, s.T, cg_compile_ms(s.hs.prog), s.hs.data.train.n, unit(&s.u),
               e->epochs);
    else if (!s.o.quiet)
        printf("%s: %ld parameters, %d threads, compiled in %.0f ms; training on %ld %s (%d epochs at most)\n",
               e->name, e->total_params, s.T, cg_compile_ms(s.hs.prog), s.hs.data.train.n, unit(&s.u), e->epochs);
    status = train(&s, NULL, NULL);
done:
    session_close(&s);
    return status;
}

int cmd_lr_find(int argc, char **argv)
{
    session s;
    int status = session_open(&s, argc, argv, "lr-find");
    if (status >= 0)
        goto done;
    hprt_lrfind_result r;
    status = session_find_lr(&s, &r);
    if (status >= 0)
        goto done;
    printf("suggested learning rate: %.4g (%s; %d steps from %g to %g)\n", r.suggestion, suggest_name(s.e->lrfind.suggest),
           r.n, r.lr[0], r.lr[r.n - 1]);
    printf("the curve is in %s/lr_find.csv and %s/lr_find.svg\n", s.dir, s.dir);
    hprt_lrfind_result_free(&r);
    status = EXIT_OK;
done:
    session_close(&s);
    return status;
}

/* The epochs a run directory's experiment.hp trains (its plan), or 0 with
 * the reason printed. */
static int run_epochs(const char *file)
{
    hp_session hs;
    hp_session_opts o = {.file = file, .quiet_notes = true, .use = HP_USE_TRAIN};
    hp_session_init(&hs, &o);
    hp_error he;
    hp_err_class c = hp_session_run(&hs, HP_PASS_PLAN, &he);
    int epochs = c == HP_ERR_NONE ? hs.e->epochs : 0;
    if (c != HP_ERR_NONE) {
        cli_print_diags(&hs.diags);
        cli_session_error("resume", &he);
    }
    hp_session_free(&hs);
    return epochs;
}

int cmd_resume(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        cli_usage_error("resume", "which run? (hpc resume RUN_DIR)");
        return EXIT_USAGE;
    }
    const char *dir = argv[0];
    char file[4200];
    snprintf(file, sizeof file, "%s/journal.jsonl", dir);
    struct stat jb;
    if (stat(file, &jb) == 0) { /* a study */
        bool quiet = false;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--quiet") != 0 && strcmp(argv[i], "-q") != 0) {
                cli_usage_error("resume", "unexpected argument '%s' (a study resumes as it was started)", argv[i]);
                return EXIT_USAGE;
            }
            quiet = true;
        }
        return cmd_search_resume(dir, quiet);
    }
    snprintf(file, sizeof file, "%s/experiment.hp", dir);
    struct stat sb;
    if (stat(file, &sb) != 0) {
        fprintf(stderr, "hpc resume: %s is not a run directory (no experiment.hp): %s\n", dir, strerror(errno));
        return EXIT_USAGE;
    }
    /* the run's own experiment, into its own directory; --epochs N extends it */
    char *args[8], *extend = NULL;
    int n = 0, old_epochs = 0;
    args[n++] = file;
    args[n++] = "--out";
    args[n++] = (char *)dir;
    for (int i = 1; i < argc; i++) {
        if (n >= 6) {
            cli_usage_error("resume", "unexpected argument '%s'", argv[i]);
            return EXIT_USAGE;
        }
        if (strcmp(argv[i], "--epochs") == 0 && !extend) {
            if (i + 1 >= argc) {
                cli_usage_error("resume", "--epochs needs a value");
                return EXIT_USAGE;
            }
            args[n++] = argv[i];
            args[n++] = extend = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--quiet") != 0 && strcmp(argv[i], "-q") != 0) {
            cli_usage_error("resume", "unexpected argument '%s' (a run resumes as it was started, or longer with "
                            "--epochs N)", argv[i]);
            return EXIT_USAGE;
        }
        args[n++] = argv[i];
    }
    if (extend && (old_epochs = run_epochs(file)) <= 0)
        return EXIT_USAGE;
    session s;
    int status = dp_agree(&s, session_open(&s, n, args, "resume"));
    if (status >= 0)
        goto done;
    char path[4200];
    snprintf(path, sizeof path, "%s/last.hpw", dir);
    hprt_train_state state;
    if (hprt_ckpt_read(path, &s.hs.ckpt_id, s.hs.mem.params, (size_t)s.hs.layout->n_params, s.hs.opt, &state, &s.err) != HPRT_OK) {
        if (s.rank != 0)
            fprintf(stderr, "rank %d: ", s.rank);
        fprintf(stderr, "hpc resume: %s\n", s.err.msg);
        if (s.cfg.comm) /* the others would wait for this rank */
            s.comm->abort(s.comm, EXIT_RUN);
        status = EXIT_RUN;
        goto done;
    }
    if (state.threads != s.T && state.threads != 0 && !s.cfg.comm) { /* 0: a data-parallel run's (any may resume it) */
        fprintf(stderr, "hpc resume: the run used %d threads and this resume %d: the results would differ\n",
                state.threads, s.T);
        hprt_train_state_free(&state);
        status = EXIT_USAGE;
        goto done;
    }
    if (extend) {
        char line[1024];
        status = cli_extend_run(&s.hs, dir, old_epochs, &state, line, sizeof line);
        if (status < 0 && s.rank == 0 && (cli_events_append_at(dir, &state, line) != 0 ||
                           cli_write_experiment(dir, s.e, s.T, &s.hs.data) != 0)) {
            fprintf(stderr, "hpc resume: %s: %s\n", dir, strerror(errno));
            status = EXIT_RUN;
        }
        if (status >= 0) {
            hprt_train_state_free(&state);
            goto done;
        }
        on_event(&s.u, line);
    } else if (state.epoch >= s.e->epochs) {
        printf("%s: the run is complete (%d epochs); nothing to resume (--epochs N extends it to N)\n", dir,
               state.epochs_done);
        hprt_train_state_free(&state);
        status = EXIT_OK;
        goto done;
    }
    float *best = NULL;
    if (state.has_best) {
        best = malloc(sizeof(float) * (size_t)s.hs.layout->n_params);
        snprintf(path, sizeof path, "%s/best.hpw", dir);
        if (!best || hprt_ckpt_read(path, &s.hs.ckpt_id, best, (size_t)s.hs.layout->n_params, NULL, NULL, &s.err) != HPRT_OK) {
            fprintf(stderr, "hpc resume: %s\n", best ? s.err.msg : "out of memory");
            free(best);
            hprt_train_state_free(&state);
            status = EXIT_RUN;
            goto done;
        }
    }
    if (!s.o.quiet)
        printf("%s: resuming at step %lld (epoch %d, step %lld of it); compiled in %.0f ms\n", s.e->name,
               (long long)state.step, state.epoch + 1, (long long)state.pos, cg_compile_ms(s.hs.prog));
    status = train(&s, &state, best);
    free(best);
    hprt_train_state_free(&state);
done:
    session_close(&s);
    return status;
}
