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
#include "hprt.h"
#include "hprt_train.h"
#include "load.h"

/* The only global of hpc: what a signal handler may touch. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct {
    bool tty, quiet;
    int epochs;
    double last_draw;
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

static void on_progress(void *ctx, const hprt_progress *p)
{
    ui *u = ctx;
    if (!u->tty || u->quiet)
        return;
    int width = 28, done = (int)((double)width * (double)p->step_in_epoch / (double)p->steps_in_epoch);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '=' : i == done ? '>' : ' ';
    bar[width] = 0;
    char eta[32];
    fmt_duration(eta, sizeof eta, p->eta_seconds);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld  %.1fk samples/s  loss %.4f  ETA %s", p->epoch, p->epochs, bar,
            p->step_in_epoch, p->steps_in_epoch, p->samples_per_second / 1000, p->loss, eta);
    fflush(stderr);
}

static void on_epoch(void *ctx, const hprt_epoch_report *r)
{
    ui *u = ctx;
    if (u->tty && !u->quiet)
        fprintf(stderr, "\r\033[K");
    if (u->quiet)
        return;
    printf("epoch %*d/%d  train_loss %.4f", u->epochs >= 10 ? 2 : 1, r->epoch, r->epochs, r->train_loss);
    if (r->has_valid)
        printf("  val_loss %.4f  val_accuracy %.4f", r->val_loss, r->val_accuracy);
    printf("  lr %.3g  %.1fs  %.1fk samples/s\n", r->lr, r->seconds, r->samples_per_second / 1000);
    fflush(stdout);
}

static void on_event(void *ctx, const char *text)
{
    ui *u = ctx;
    if (u->quiet)
        return;
    if (u->tty)
        fprintf(stderr, "\r\033[K");
    printf("  %s\n", text);
    fflush(stdout);
}

static int make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* runs/EXPERIMENT-YYYYmmdd-HHMMSS, with -2, -3... when it exists */
static int run_dir(char *out, size_t n, const char *given, const char *name)
{
    if (given) {
        snprintf(out, n, "%s", given);
        return make_dirs(out);
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    if (make_dirs("runs") != 0)
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

static void json_num(FILE *f, const char *key, bool present, double v, bool last)
{
    if (present && isfinite(v))
        fprintf(f, "  \"%s\": %.9g%s\n", key, v, last ? "" : ",");
    else
        fprintf(f, "  \"%s\": null%s\n", key, last ? "" : ",");
}

static int write_summary(const char *dir, const plan_experiment *e, int threads, const hprt_train_result *r,
                         double compile_ms)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\n  \"experiment\": \"%s\",\n  \"seed\": %llu,\n  \"threads\": %d,\n  \"epochs\": %d,\n  \"steps\": %ld,\n",
            e->name, (unsigned long long)e->seed, threads, r->epochs, r->steps);
    if (r->best_epoch > 0)
        fprintf(f, "  \"best_epoch\": %d,\n", r->best_epoch);
    else
        fprintf(f, "  \"best_epoch\": null,\n");
    fprintf(f, "  \"stopped\": \"%s\",\n", r->stopped);
    json_num(f, "train_loss", true, r->train_loss, false);
    json_num(f, "val_loss", r->has_valid, r->val_loss, false);
    json_num(f, "val_accuracy", r->has_valid, r->val_accuracy, false);
    json_num(f, "test_loss", r->has_test, r->test_loss, false);
    json_num(f, "test_accuracy", r->has_test, r->test_accuracy, false);
    json_num(f, "seconds", true, r->seconds, false);
    json_num(f, "samples_per_second", true, r->samples_per_second, false);
    json_num(f, "compile_ms", true, compile_ms, true);
    fprintf(f, "}\n");
    return fclose(f) == 0 ? 0 : -1;
}

static void init_params(const plan_experiment *e, const cg_layout *l, float *params)
{
    hprt_rng rng;
    hprt_rng_seed(&rng, e->seed);
    for (int i = 0; i < l->n_layers; i++) {
        const cg_layer_layout *L = &l->layers[i];
        const plan_layer *pl = &e->layers[i];
        if (pl->kind == PLAN_DENSE)
            hprt_init_dense(&rng, L->init, params + L->w, params + L->b, L->fan_in, pl->units);
        else if (pl->kind == PLAN_CONV)
            hprt_init_conv(&rng, L->init, params + L->w, params + L->b, pl->in.d[0], pl->units, pl->kernel);
    }
}

static hprt_step_fn train_fn(void *ctx, int batch) { return cg_train_fn(ctx, batch); }
static hprt_step_fn eval_fn(void *ctx, int batch) { return cg_eval_fn(ctx, batch); }

int cmd_run(int argc, char **argv)
{
    /* run's own options first; the rest are the common ones */
    int epochs = 0, threads = 0;
    const char *out = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    if (!rest)
        return EXIT_RUN;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--epochs") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--out") == 0) && i + 1 >= argc) {
            cli_usage_error("run", "%s needs a value", a);
            free(rest);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--epochs") == 0 || strcmp(a, "--threads") == 0) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > (a[2] == 'e' ? 1000000 : HPRT_MAX_THREADS)) {
                cli_usage_error("run", "%s takes a whole number from 1 to %d, not '%s'", a,
                                a[2] == 'e' ? 1000000 : HPRT_MAX_THREADS, argv[i]);
                free(rest);
                return EXIT_USAGE;
            }
            if (a[2] == 'e')
                epochs = (int)v;
            else
                threads = (int)v;
        } else if (strcmp(a, "--out") == 0) {
            out = argv[++i];
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    cli_common o;
    if (cli_parse_common(n_rest, rest, &o, "run") < 0) {
        cli_common_free(&o);
        free(rest);
        return EXIT_USAGE;
    }
    ui u = {.tty = isatty(STDERR_FILENO), .quiet = o.quiet};
    hp_diags d;
    hp_diags_init(&d);
    for (int i = 0; i < o.n_allow; i++)
        hp_diags_allow(&d, o.allow[i]);
    int status = EXIT_ERRORS;
    hp_program *p = hp_program_load(&d, o.file);
    plan *pl = p && d.n_errors == 0 ? hp_plan(p, o.target, o.sets, o.n_sets) : NULL;
    cli_print_diags(&d);
    hp_loaded_data data = {0};
    cg_layout *layout = NULL;
    cg_program *prog = NULL;
    cg_memory mem = {0};
    hprt_optim_state *opt = NULL;
    hprt_error err = {0};
    char dir[4096] = "";
    if (!p) {
        status = EXIT_USAGE;
        goto done;
    }
    if (!pl) {
        /* a file that is fine but for its data files: bad data, not a bad file */
        if (d.n_errors > 0 && d.data_errors == d.errors_seen)
            status = EXIT_DATA;
        goto done;
    }
    if (!pl->experiment) {
        fprintf(stderr, "hpc run: '%s' is a search; run it with `hpc search`\n", pl->search->name);
        status = EXIT_USAGE;
        goto done;
    }
    plan_experiment *e = pl->experiment;
    if (epochs)
        e->epochs = epochs;
    if (threads)
        e->threads = threads;
    int T = e->threads;
    if (T <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        T = cores < 1 ? 1 : cores > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : (int)cores;
    }
    if (e->uses_find_lr) {
        fprintf(stderr, "hpc run: find_lr (the LR range test) is not in this version yet; give the rate by hand\n");
        status = EXIT_USAGE;
        goto done;
    }

    /* data */
    if (hp_load_data(&e->data, &data, &err) != HPRT_OK) {
        fprintf(stderr, "hpc: error: %s\n", err.msg);
        status = err.status == HPRT_E_DATA ? EXIT_DATA : EXIT_RUN;
        goto done;
    }

    /* memory and code */
    int tsizes[32], esizes[32], n_eval;
    int n_train = hprt_train_batch_sizes(&e->batch, e->epochs, data.train.n, data.has_valid ? data.valid.n : 0,
                                         data.has_test ? data.test.n : 0, tsizes, esizes, &n_eval, 32);
    char msg[1024];
    layout = cg_layout_new(e, T, tsizes, n_train, esizes, n_eval, msg, sizeof msg);
    if (!layout) {
        fprintf(stderr, "hpc run: %s\n", msg);
        status = EXIT_USAGE;
        goto done;
    }
    mem.params = hprt_alloc(sizeof(float) * (size_t)layout->n_params);
    mem.grads = hprt_alloc(sizeof(float) * (size_t)layout->n_params);
    mem.acts = hprt_alloc(sizeof(float) * (size_t)layout->n_acts);
    opt = hprt_optim_state_new(&e->optimizer, (size_t)layout->n_params);
    mem.barrier = hprt_barrier_new(T);
    if (!mem.params || !mem.grads || !mem.acts || !opt || !mem.barrier) {
        fprintf(stderr, "hpc run: out of memory\n");
        status = EXIT_RUN;
        goto done;
    }
    mem.opt_buf = opt->buf;
    mem.opt_m = opt->m;
    mem.opt_v = opt->v;
    mem.opt_vmax = opt->vmax;
    mem.opt_sum = opt->sum;
    mem.opt_ga = opt->ga;
    init_params(e, layout, mem.params);
    hprt_sched_resolved sched;
    if (hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, data.train.n, &sched, &err) != HPRT_OK) {
        fprintf(stderr, "hpc run: %s\n", err.msg);
        status = EXIT_RUN;
        goto done;
    }
    prog = cg_compile(e, layout, &mem, &sched, msg, sizeof msg);
    if (!prog) {
        fprintf(stderr, "hpc run: compiling the training step failed: %s\n", msg);
        status = EXIT_RUN;
        goto done;
    }

    /* the run directory */
    if (run_dir(dir, sizeof dir, out, e->name) != 0) {
        fprintf(stderr, "hpc run: cannot create the run directory '%s': %s\n", out ? out : "runs/...", strerror(errno));
        status = EXIT_RUN;
        goto done;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.hp", dir);
    FILE *xf = fopen(path, "w");
    if (!xf) {
        fprintf(stderr, "hpc run: %s: %s\n", path, strerror(errno));
        status = EXIT_RUN;
        goto done;
    }
    plan_write_hp(e, e->threads, xf);
    if (fclose(xf) != 0) {
        fprintf(stderr, "hpc run: %s: %s\n", path, strerror(errno));
        status = EXIT_RUN;
        goto done;
    }

    if (!o.quiet)
        printf("%s: %ld parameters, %d threads, compiled in %.0f ms; training on %ld samples (%d epochs at most)\n",
               e->name, e->total_params, T, cg_compile_ms(prog), data.train.n, e->epochs);

    hprt_train_config cfg = {
        .train = &data.train,
        .valid = data.has_valid ? &data.valid : NULL,
        .test = data.has_test ? &data.test : NULL,
        .shuffle = e->data.shuffle,
        .params = mem.params,
        .grads = mem.grads,
        .n_params = (size_t)layout->n_params,
        .opt = opt,
        .train_fn = train_fn,
        .eval_fn = eval_fn,
        .fn_ctx = prog,
        .lr_fn = cg_lr_fn(prog),
        .momentum_fn = cg_momentum_fn(prog),
        .threads = T,
        .barrier = mem.barrier,
        .n_dropout = layout->n_dropout,
        .optimizer = e->optimizer,
        .schedule = e->schedule,
        .batch = e->batch,
        .epochs = e->epochs,
        .stop = e->stop,
        .regularize = e->regularize,
        .seed = e->seed,
        .run_dir = dir,
        .cb = {&u, on_progress, on_epoch, on_event},
        .interrupt = &interrupted,
    };
    u.epochs = e->epochs;
    for (int i = 0, s = 0; i < e->n_layers; i++)
        if (e->layers[i].kind == PLAN_DROPOUT)
            cfg.dropout_p[s++] = (float)e->layers[i].p;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    hprt_train_result res;
    hprt_status st = hprt_train(&cfg, &res, &err);
    sigaction(SIGINT, &old, NULL);
    if (write_summary(dir, e, T, &res, cg_compile_ms(prog)) != 0)
        fprintf(stderr, "hpc run: cannot write %s/summary.json: %s\n", dir, strerror(errno));
    if (st != HPRT_OK) {
        fprintf(stderr, "hpc run: %s\n", err.msg);
        fprintf(stderr, "hpc run: the run's files are in %s\n", dir);
        status = err.status == HPRT_E_DATA ? EXIT_DATA : EXIT_RUN;
        goto done;
    }
    if (!o.quiet) {
        if (res.has_test)
            printf("test: loss %.4f, accuracy %.4f\n", res.test_loss, res.test_accuracy);
        printf("%s after %d epoch%s (%ld steps) in %.1fs, %.1fk samples/s; the run is in %s\n",
               strcmp(res.stopped, "completed") == 0 ? "done" : res.stopped, res.epochs, res.epochs == 1 ? "" : "s",
               res.steps, res.seconds, res.samples_per_second / 1000, dir);
    }
    status = strcmp(res.stopped, "interrupted") == 0 ? 130 : EXIT_OK;
done:
    cg_program_free(prog);
    hprt_barrier_free(mem.barrier);
    hprt_free(mem.params);
    hprt_free(mem.grads);
    hprt_free(mem.acts);
    hprt_optim_state_free(opt);
    cg_layout_free(layout);
    hp_loaded_data_free(&data);
    plan_free(pl);
    hp_program_free(p);
    hp_diags_free(&d);
    cli_common_free(&o);
    free(rest);
    return status;
}
