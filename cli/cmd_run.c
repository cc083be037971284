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
#include "svg.h"
#include "hprt_ckpt.h"
#include "tboard.h"

/* The only global of hpc: what a signal handler may touch. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
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

static void tb_epoch(ui *u, const hprt_epoch_report *r)
{
    static const char *const tags[8] = {"epoch/epoch", "epoch/lr", "epoch/batch", "epoch/train_loss",
                                        "epoch/val_loss", "epoch/val_accuracy", "epoch/seconds",
                                        "epoch/samples_per_second"};
    double v[8] = {r->epoch, r->lr, r->batch, r->train_loss, r->has_valid ? r->val_loss : NAN,
                   r->has_valid ? r->val_accuracy : NAN, r->seconds, r->samples_per_second};
    u->tb_step = r->step;
    tb_scalars(u->tb, r->step, tags, v, 8);
    tb_flush(u->tb);
}

static void on_epoch(void *ctx, const hprt_epoch_report *r)
{
    ui *u = ctx;
    if (u->tb)
        tb_epoch(u, r);
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
    fprintf(f, "  \"weights\": \"%s\",\n", r->restored_best ? "best.hpw" : "last.hpw");
    json_num(f, "train_loss", true, r->train_loss, false);
    json_num(f, "val_loss", r->has_valid, r->val_loss, false);
    json_num(f, "val_accuracy", r->has_valid, r->val_accuracy, false);
    json_num(f, "test_loss", r->has_test, r->test_loss, false);
    json_num(f, "test_accuracy", r->has_test, r->test_accuracy, false);
    json_num(f, "seconds", true, r->seconds, false);
    json_num(f, "samples_per_second", true, r->samples_per_second, false);
    if (e->data.is_text) {
        /* a language model: its rows are tokens; bits per character = loss / ln 2 */
        json_num(f, "tokens_per_second", true, r->samples_per_second, false);
        json_num(f, "train_bpc", true, r->train_loss / M_LN2, false);
        json_num(f, "val_bpc", r->has_valid, r->val_loss / M_LN2, false);
        json_num(f, "test_bpc", r->has_test, r->test_loss / M_LN2, false);
    }
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
        else if (pl->kind == PLAN_EMBED)
            hprt_init_embedding(&rng, params + L->w, pl->vocab, pl->units, -1);
        for (int s = 0; s < L->n_rnn; s++) {
            /* W_ih, W_hh, b_ih, b_hh of each layer of the stack, in torch's order */
            const hprt_rnn_geom *g = &L->rnn[s].geom;
            size_t GH = (size_t)hprt_rnn_gates(g->cell) * (size_t)g->hidden;
            float *w = params + L->w + L->rnn[s].w;
            size_t sizes[4] = {GH * (size_t)g->in, GH * (size_t)g->hidden, GH, GH};
            for (int t = 0; t < 4; t++) {
                hprt_init_recurrent(&rng, w, sizes[t], g->hidden);
                w += sizes[t];
            }
        }
    }
}

static hprt_step_fn train_fn(void *ctx, int batch) { return cg_train_fn(ctx, batch); }
static hprt_step_fn eval_fn(void *ctx, int batch) { return cg_eval_fn(ctx, batch); }

/* Everything `run` and `lr-find` set up before training. */
typedef struct {
    const char *command;
    int epochs, threads;
    const char *out, *tensorboard;
    char **rest;
    cli_common o;
    hp_diags d;
    hp_program *p;
    plan *pl;
    plan_experiment *e;
    int T;
    hp_loaded_data data;
    cg_layout *layout;
    cg_program *prog, *sched_prog;
    cg_memory mem;
    hprt_optim_state *opt;
    hprt_error err;
    char dir[4096];
    ui u;
    hprt_train_config cfg;
    hprt_ckpt_id ckpt_id;
    char desc[512];
} session;

static void session_close(session *s)
{
    if (s->u.tb) {
        char path[4400];
        snprintf(path, sizeof path, "%s", tb_path(s->u.tb));
        if (tb_close(s->u.tb) != 0)
            fprintf(stderr, "hpc %s: %s: cannot write the TensorBoard events: %s\n", s->command, path, strerror(errno));
    }
    cg_program_free(s->prog);
    cg_program_free(s->sched_prog);
    hprt_barrier_free(s->mem.barrier);
    hprt_free(s->mem.params);
    hprt_free(s->mem.grads);
    hprt_free(s->mem.acts);
    hprt_optim_state_free(s->opt);
    cg_layout_free(s->layout);
    hp_loaded_data_free(&s->data);
    plan_free(s->pl);
    hp_program_free(s->p);
    hp_diags_free(&s->d);
    cli_common_free(&s->o);
    free(s->rest);
}

/* Options, check, data, memory, compiled steps, the run directory.  Returns
 * -1 when all is set, else the exit status. */
static int session_open(session *s, int argc, char **argv, const char *command)
{
    memset(s, 0, sizeof *s);
    bool resume = strcmp(command, "resume") == 0;
    s->command = command;
    s->rest = calloc((size_t)argc + 1, sizeof *s->rest);
    if (!s->rest)
        return EXIT_RUN;
    int n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool takes = strcmp(a, "--epochs") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--out") == 0 ||
                     strcmp(a, "--tensorboard") == 0;
        if (takes && i + 1 >= argc) {
            cli_usage_error(command, "%s needs a value", a);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--epochs") == 0 || strcmp(a, "--threads") == 0) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            int hi = a[2] == 'e' ? 1000000 : HPRT_MAX_THREADS;
            if (*end || v < 1 || v > hi) {
                cli_usage_error(command, "%s takes a whole number from 1 to %d, not '%s'", a, hi, argv[i]);
                return EXIT_USAGE;
            }
            if (a[2] == 'e')
                s->epochs = (int)v;
            else
                s->threads = (int)v;
        } else if (strcmp(a, "--out") == 0) {
            s->out = argv[++i];
        } else if (strcmp(a, "--tensorboard") == 0) {
            s->tensorboard = argv[++i];
        } else {
            s->rest[n_rest++] = argv[i];
        }
    }
    if (s->tensorboard && strcmp(command, "lr-find") == 0) {
        cli_usage_error(command, "--tensorboard is for `hpc run`: the range test is in lr_find.csv and lr_find.svg");
        return EXIT_USAGE;
    }
    if (cli_parse_common(n_rest, s->rest, &s->o, command) < 0)
        return EXIT_USAGE;
    s->u = (ui){.tty = isatty(STDERR_FILENO), .quiet = s->o.quiet};
    hp_diags_init(&s->d);
    for (int i = 0; i < s->o.n_allow; i++)
        hp_diags_allow(&s->d, s->o.allow[i]);
    s->p = hp_program_load(&s->d, s->o.file);
    s->pl = s->p && s->d.n_errors == 0 ? hp_plan(s->p, s->o.target, s->o.sets, s->o.n_sets) : NULL;
    cli_print_diags(&s->d);
    if (!s->p)
        return EXIT_USAGE;
    if (!s->pl) /* a file that is fine but for its data files: bad data, not a bad file */
        return s->d.n_errors > 0 && s->d.data_errors == s->d.errors_seen ? EXIT_DATA : EXIT_ERRORS;
    if (!s->pl->experiment) {
        fprintf(stderr, "hpc %s: '%s' is a search; run it with `hpc search`\n", command, s->pl->search->name);
        return EXIT_USAGE;
    }
    plan_experiment *e = s->e = s->pl->experiment;
    if (s->epochs)
        e->epochs = s->epochs;
    if (s->threads)
        e->threads = s->threads;
    if (s->tensorboard)
        e->tensorboard = s->tensorboard;
    s->T = e->threads;
    if (s->T <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        s->T = cores < 1 ? 1 : cores > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : (int)cores;
    }

    if (hp_load_data(&e->data, &s->data, &s->err) != HPRT_OK) {
        fprintf(stderr, "hpc: error: %s\n", s->err.msg);
        return s->err.status == HPRT_E_DATA ? EXIT_DATA : EXIT_RUN;
    }
    int tsizes[32], esizes[32], n_eval;
    int n_train = hprt_train_batch_sizes(&e->batch, e->epochs, s->data.train.n, s->data.has_valid ? s->data.valid.n : 0,
                                         s->data.has_test ? s->data.test.n : 0, tsizes, esizes, &n_eval, 32);
    char msg[1024];
    s->layout = cg_layout_new(e, s->T, tsizes, n_train, esizes, n_eval, msg, sizeof msg);
    if (!s->layout) {
        fprintf(stderr, "hpc %s: %s\n", command, msg);
        return EXIT_USAGE;
    }
    cg_memory *m = &s->mem;
    size_t np = (size_t)s->layout->n_params;
    m->params = hprt_alloc(sizeof(float) * np);
    m->grads = hprt_alloc(sizeof(float) * np);
    m->acts = hprt_alloc(sizeof(float) * (size_t)s->layout->n_acts);
    s->opt = hprt_optim_state_new(&e->optimizer, np);
    m->barrier = hprt_barrier_new(s->T);
    if (!m->params || !m->grads || !m->acts || !s->opt || !m->barrier) {
        fprintf(stderr, "hpc %s: out of memory\n", command);
        return EXIT_RUN;
    }
    m->opt_buf = s->opt->buf;
    m->opt_m = s->opt->m;
    m->opt_v = s->opt->v;
    m->opt_vmax = s->opt->vmax;
    m->opt_sum = s->opt->sum;
    m->opt_ga = s->opt->ga;
    init_params(e, s->layout, m->params);
    /* with find_lr the schedule is compiled once the range test has spoken */
    hprt_sched_resolved sched;
    if (!e->uses_find_lr &&
        hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, s->data.train.n, e->data.is_text ? e->data.train.seq : 0, &sched, &s->err) != HPRT_OK) {
        fprintf(stderr, "hpc %s: %s\n", command, s->err.msg);
        return EXIT_RUN;
    }
    s->prog = cg_compile(e, s->layout, m, e->uses_find_lr ? NULL : &sched, msg, sizeof msg);
    if (!s->prog) {
        fprintf(stderr, "hpc %s: compiling the training step failed: %s\n", command, msg);
        return EXIT_RUN;
    }
    if (!resume && run_dir(s->dir, sizeof s->dir, s->out, e->name) != 0) {
        fprintf(stderr, "hpc %s: cannot create the run directory '%s': %s\n", command, s->out ? s->out : "runs/...",
                strerror(errno));
        return EXIT_RUN;
    }
    if (resume)
        snprintf(s->dir, sizeof s->dir, "%s", s->out);
    if (e->tensorboard && strcmp(command, "lr-find") != 0) {
        /* one TensorBoard run per run directory: DIR/<the run directory's name> */
        const char *base = strrchr(s->dir, '/');
        base = base && base[1] ? base + 1 : s->dir;
        char tbdir[4200];
        snprintf(tbdir, sizeof tbdir, "%s/%s", e->tensorboard, base);
        if (!(s->u.tb = tb_open(tbdir, msg, sizeof msg))) {
            fprintf(stderr, "hpc %s: tensorboard: %s\n", command, msg);
            return EXIT_RUN;
        }
    }
    plan_shape_desc(e, s->desc, sizeof s->desc);
    s->ckpt_id = (hprt_ckpt_id){plan_shape_hash(e), s->desc};
    long spe0 = (s->data.train.n + (e->batch.adaptive ? e->batch.start : e->batch.size) - 1) /
                (e->batch.adaptive ? e->batch.start : e->batch.size);
    long every = e->checkpoint.n <= 0 ? 0
                 : e->checkpoint.unit == HPRT_STEPS ? (long)e->checkpoint.n
                                                    : (long)(e->checkpoint.n * (double)spe0 + 0.5);
    s->cfg = (hprt_train_config){
        .train = &s->data.train,
        .valid = s->data.has_valid ? &s->data.valid : NULL,
        .test = s->data.has_test ? &s->data.test : NULL,
        .shuffle = e->data.shuffle,
        .params = m->params,
        .grads = m->grads,
        .n_params = np,
        .opt = s->opt,
        .train_fn = train_fn,
        .eval_fn = eval_fn,
        .fn_ctx = s->prog,
        .lr_fn = cg_lr_fn(s->prog),
        .momentum_fn = cg_momentum_fn(s->prog),
        .threads = s->T,
        .barrier = m->barrier,
        .n_dropout = s->layout->n_dropout,
        .optimizer = e->optimizer,
        .schedule = e->schedule,
        .batch = e->batch,
        .epochs = e->epochs,
        .stop = e->stop,
        .regularize = e->regularize,
        .seed = e->seed,
        .run_dir = s->dir,
        .cb = {&s->u, on_progress, on_epoch, on_event, on_step},
        .interrupt = &interrupted,
        .ckpt_id = &s->ckpt_id,
        .checkpoint_every = every,
    };
    s->u.epochs = e->epochs;
    s->u.text = e->data.is_text;
    for (int k = 0; k < s->layout->n_dropout; k++)
        s->cfg.dropout_p[k] = s->layout->site_p[k];
    /* the recurrent state carried between steps goes into checkpoints */
    const cg_layout *l = s->layout;
    bool carry_all = true;
    for (int i = 0; i < l->n_layers; i++)
        for (int k = 0; k < l->layers[i].n_rnn; k++) {
            const cg_rnn_layer *R = &l->layers[i].rnn[k];
            size_t n = (size_t)l->b_max * (size_t)R->geom.hidden;
            long at[2] = {R->h, R->c};
            for (int j = 0; j < 2; j++)
                if (at[j] >= 0 && s->cfg.n_carry < HPRT_MAX_CARRY) {
                    s->cfg.carry[s->cfg.n_carry].p = m->acts + at[j];
                    s->cfg.carry[s->cfg.n_carry++].n = n;
                } else if (at[j] >= 0) {
                    carry_all = false;
                }
        }
    if (!carry_all) /* too deep to carry through a checkpoint: a resumed epoch restarts its streams */
        s->cfg.n_carry = 0;
    /* the normalisation statistics (mean, then std, one block) go with the weights */
    if (e->data.normalize && s->data.norm.mean) {
        s->cfg.norm = s->data.norm.mean;
        s->cfg.n_norm = 2 * (size_t)s->data.norm.features;
    }
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

/* find_lr's value goes where the file asks for it: the optimizer's rate, a
 * cyclic schedule's max (its base a tenth of it when that is find_lr too), a
 * one_cycle's max; inside a warm-up too. */
static void apply_found_rate(plan_experiment *e, double lr, char *where, size_t n)
{
    where[0] = 0;
    size_t off = 0;
    if (e->optimizer.lr_find) {
        e->optimizer.lr = lr;
        e->optimizer.lr_find = false;
        off += (size_t)snprintf(where + off, n - off, "optimizer.lr");
    }
    for (hprt_schedule *sc = &e->schedule; sc; sc = sc->kind == HPRT_SCHED_WARMUP ? sc->then : NULL) {
        if (sc->max_find) {
            sc->max = lr;
            sc->max_find = false;
            off += (size_t)snprintf(where + off, n - off, "%sschedule max", off ? ", " : "");
        }
        if (sc->base_find) {
            sc->base = sc->kind == HPRT_SCHED_CYCLIC && sc->max == lr ? lr / 10 : lr;
            sc->base_find = false;
            off += (size_t)snprintf(where + off, n - off, "%sschedule base", off ? ", " : "");
        }
    }
    e->uses_find_lr = false;
}

static int write_experiment(const session *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/experiment.hp", s->dir);
    FILE *xf = fopen(path, "w");
    if (!xf)
        return -1;
    plan_write_hp(s->e, s->T, xf); /* the thread count too: a resume must use the same */
    if (fclose(xf) != 0)
        return -1;
    if (!s->e->data.is_text)
        return 0;
    /* a language model's token ids: `hpc sample` maps them back to bytes */
    const hprt_vocab *v = &s->data.train.vocab;
    snprintf(path, sizeof path, "%s/vocab.json", s->dir);
    FILE *vf = fopen(path, "w");
    if (!vf)
        return -1;
    fprintf(vf, "{\n  \"size\": %d,\n  \"bytes\": [", v->size);
    for (int i = 0; i < v->size; i++)
        fprintf(vf, "%s%d", i ? ", " : "", v->byte[i]);
    fprintf(vf, "]\n}\n");
    return fclose(vf) == 0 ? 0 : -1;
}

/* The first layer, in forward order, whose output holds a NaN or an infinity
 * (the activations of the last step run, whose update was skipped). */
static void diagnose_nan(const session *s, char *buf, size_t n)
{
    const plan_experiment *e = s->e;
    const cg_layout *l = s->layout;
    snprintf(buf, n, "no layer's output is non-finite: the loss itself overflowed");
    for (int i = 1; i < e->n_layers; i++) {
        const cg_layer_layout *L = &l->layers[i];
        if (L->out < 0 || e->layers[i].kind == PLAN_FLATTEN || L->skip)
            continue;
        const float *o = s->mem.acts + L->out;
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
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    hprt_train_result res;
    hprt_status st = hprt_train(&s->cfg, resume, best, &res, &s->err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (s->u.tb && res.has_test) {
        static const char *const tags[2] = {"test/loss", "test/accuracy"};
        double v[2] = {res.test_loss, res.test_accuracy};
        tb_scalars(s->u.tb, res.steps, tags, v, 2);
    }
    if (write_summary(s->dir, e, s->T, &res, cg_compile_ms(s->prog)) != 0)
        fprintf(stderr, "hpc %s: cannot write %s/summary.json: %s\n", s->command, s->dir, strerror(errno));
    if (st != HPRT_OK) {
        fprintf(stderr, "hpc %s: %s\n", s->command, s->err.msg);
        if (strcmp(res.stopped, "nan") == 0) {
            char why[256];
            diagnose_nan(s, why, sizeof why);
            fprintf(stderr, "hpc %s: %s\n", s->command, why);
            fprintf(stderr, "hpc %s: last.hpw holds the last good state\n", s->command);
        }
        fprintf(stderr, "hpc %s: the run's files are in %s\n", s->command, s->dir);
        return s->err.status == HPRT_E_DATA ? EXIT_DATA : EXIT_RUN;
    }
    if (strcmp(res.stopped, "interrupted") == 0) {
        if (s->u.tty && !s->o.quiet)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "interrupted after step %ld; a checkpoint is in %s/last.hpw\nresume with: hpc resume %s\n",
                res.steps, s->dir, s->dir);
        return 130;
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
    int status = session_open(&s, argc, argv, "run");
    if (status >= 0)
        goto done;
    plan_experiment *e = s.e;
    if (e->uses_find_lr) {
        hprt_lrfind_result r;
        status = session_find_lr(&s, &r);
        if (status >= 0) {
            hprt_lrfind_result_free(&r);
            goto done;
        }
        char where[128];
        apply_found_rate(e, r.suggestion, where, sizeof where);
        char text[256];
        snprintf(text, sizeof text, "find_lr: the LR range test suggests %.17g (%s, %d steps); used for %s", r.suggestion,
                 suggest_name(e->lrfind.suggest), r.n, where);
        hprt_lrfind_result_free(&r);
        on_event(&s.u, text);
        char path[4200];
        snprintf(path, sizeof path, "%s/events.log", s.dir);
        FILE *ev = fopen(path, "w"); /* the driver appends the run's events after this one */
        if (ev) {
            fprintf(ev, "%s\n", text);
            fclose(ev);
        }
        s.cfg.optimizer = e->optimizer;
        s.cfg.schedule = e->schedule;
        hprt_sched_resolved sched;
        char msg[512];
        if (hprt_train_resolve_schedule(&e->schedule, &e->batch, e->epochs, s.data.train.n, e->data.is_text ? e->data.train.seq : 0, &sched, &s.err) != HPRT_OK ||
            !(s.sched_prog = cg_compile_schedule(&sched, msg, sizeof msg))) {
            fprintf(stderr, "hpc run: the schedule: %s\n", s.sched_prog ? s.err.msg : msg);
            status = EXIT_RUN;
            goto done;
        }
        s.cfg.lr_fn = cg_lr_fn(s.sched_prog);
        s.cfg.momentum_fn = cg_momentum_fn(s.sched_prog);
        s.cfg.events_append = true;
    }
    if (write_experiment(&s) != 0) {
        fprintf(stderr, "hpc run: %s/experiment.hp: %s\n", s.dir, strerror(errno));
        status = EXIT_RUN;
        goto done;
    }
    if (!s.o.quiet)
        printf("%s: %ld parameters, %d threads, compiled in %.0f ms; training on %ld %s (%d epochs at most)\n",
               e->name, e->total_params, s.T, cg_compile_ms(s.prog), s.data.train.n, unit(&s.u), e->epochs);
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

int cmd_resume(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        cli_usage_error("resume", "which run? (hpc resume RUN_DIR)");
        return EXIT_USAGE;
    }
    const char *dir = argv[0];
    char file[4200];
    snprintf(file, sizeof file, "%s/experiment.hp", dir);
    struct stat sb;
    if (stat(file, &sb) != 0) {
        fprintf(stderr, "hpc resume: %s is not a run directory (no experiment.hp): %s\n", dir, strerror(errno));
        return EXIT_USAGE;
    }
    /* the run's own experiment, into its own directory */
    char *args[8];
    int n = 0;
    args[n++] = file;
    args[n++] = "--out";
    args[n++] = (char *)dir;
    for (int i = 1; i < argc && n < 7; i++) {
        if (strcmp(argv[i], "--quiet") != 0 && strcmp(argv[i], "-q") != 0) {
            cli_usage_error("resume", "unexpected argument '%s' (a run resumes as it was started)", argv[i]);
            return EXIT_USAGE;
        }
        args[n++] = argv[i];
    }
    session s;
    int status = session_open(&s, n, args, "resume");
    if (status >= 0)
        goto done;
    char path[4200];
    snprintf(path, sizeof path, "%s/last.hpw", dir);
    hprt_train_state state;
    if (hprt_ckpt_read(path, &s.ckpt_id, s.mem.params, (size_t)s.layout->n_params, s.opt, &state, &s.err) != HPRT_OK) {
        fprintf(stderr, "hpc resume: %s\n", s.err.msg);
        status = EXIT_RUN;
        goto done;
    }
    if (state.threads != s.T) {
        fprintf(stderr, "hpc resume: the run used %d threads and this resume %d: the results would differ\n",
                state.threads, s.T);
        hprt_train_state_free(&state);
        status = EXIT_USAGE;
        goto done;
    }
    if (state.epoch >= s.e->epochs) {
        printf("%s: the run is complete (%d epochs); nothing to resume\n", dir, state.epochs_done);
        hprt_train_state_free(&state);
        status = EXIT_OK;
        goto done;
    }
    float *best = NULL;
    if (state.has_best) {
        best = malloc(sizeof(float) * (size_t)s.layout->n_params);
        snprintf(path, sizeof path, "%s/best.hpw", dir);
        if (!best || hprt_ckpt_read(path, &s.ckpt_id, best, (size_t)s.layout->n_params, NULL, NULL, &s.err) != HPRT_OK) {
            fprintf(stderr, "hpc resume: %s\n", best ? s.err.msg : "out of memory");
            free(best);
            hprt_train_state_free(&state);
            status = EXIT_RUN;
            goto done;
        }
    }
    if (!s.o.quiet)
        printf("%s: resuming at step %lld (epoch %d, step %lld of it); compiled in %.0f ms\n", s.e->name,
               (long long)state.step, state.epoch + 1, (long long)state.pos, cg_compile_ms(s.prog));
    status = train(&s, &state, best);
    free(best);
    hprt_train_state_free(&state);
done:
    session_close(&s);
    return status;
}
