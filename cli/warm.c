/* warm.c - warm starts (`hpc run --from`) and extended runs (`hpc resume
 * --epochs`); warm.h. */
#include "warm.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hprt_sched.h"
#include "hprt_train.h"

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A layer with parameters: "layer 3 `dense 10, softmax` [256] -> [10] (2,570 parameters)". */
static void describe(const plan_layer *l, int index, char *buf, size_t n)
{
    char what[128], in[64], out[64];
    plan_layer_desc(l, what, sizeof what);
    snprintf(buf, n, "layer %d `%s` %s -> %s (%ld parameters)", index, what, plan_shape_str(l->in, in, sizeof in),
             plan_shape_str(l->out, out, sizeof out), l->params);
}

/* The same kind, shapes and parameter layout: the weights mean the same. */
static bool same_layer(const plan_layer *a, const cg_layer_layout *La, const plan_layer *b, const cg_layer_layout *Lb)
{
    return a->kind == b->kind && plan_shape_eq(a->in, b->in) && plan_shape_eq(a->out, b->out) &&
           a->params == b->params && a->units == b->units && a->stack == b->stack && a->kernel == b->kernel &&
           a->stride == b->stride && a->pad_same == b->pad_same && La->w_size == Lb->w_size &&
           La->b_size == Lb->b_size && (La->w < 0) == (Lb->w < 0) && (La->b < 0) == (Lb->b < 0);
}

/* embed_columns: the same categories in each embedded column (the same id means the same category). */
static bool same_tables(const plan_experiment *ea, const plan_layer *a, const plan_experiment *eb)
{
    if (a->kind != PLAN_EMBED_COLUMNS)
        return true;
    const hprt_csv_encoding *x = &ea->data.csv, *y = &eb->data.csv;
    if (x->n_cats != y->n_cats)
        return false;
    for (int i = 0; i < x->n_cats; i++) {
        const hprt_csv_category *p = &x->cats[i], *q = &y->cats[i];
        if (p->dim != q->dim || p->n != q->n || p->column != q->column)
            return false;
        for (int k = 0; p->dim > 0 && k < p->n; k++)
            if (strcmp(p->names[k], q->names[k]) != 0)
                return false;
    }
    return true;
}

/* The indices of the layers with parameters, in order (idx has room for
 * every layer); their count. */
static int param_layers(const plan_experiment *e, int *idx)
{
    int n = 0;
    for (int i = 0; i < e->n_layers; i++)
        if (plan_layer_has(e->layers[i].kind, PLAN_LK_PARAMS) && e->layers[i].params > 0)
            idx[n++] = i;
    return n;
}

static void say(FILE *log, bool quiet, const char *line)
{
    if (log)
        fprintf(log, "%s\n", line);
    if (!quiet)
        printf("  %s\n", line);
}

/* The checkpoint `from` names: a run directory's best.hpw (else last.hpw), or the file. */
static int resolve_from(const char *from, char *ckpt, size_t n, char *exp, size_t m)
{
    if (is_dir(from)) {
        snprintf(ckpt, n, "%s/best.hpw", from);
        if (!is_file(ckpt))
            snprintf(ckpt, n, "%s/last.hpw", from);
        if (!is_file(ckpt)) {
            fprintf(stderr, "hpc run: --from %s: the directory holds no best.hpw or last.hpw\n", from);
            return EXIT_USAGE;
        }
        snprintf(exp, m, "%s/experiment.hp", from);
        return -1;
    }
    struct stat sb;
    if (stat(from, &sb) != 0) {
        fprintf(stderr, "hpc run: --from %s: %s\n", from, strerror(errno));
        return EXIT_USAGE;
    }
    if (!S_ISREG(sb.st_mode)) {
        fprintf(stderr, "hpc run: --from %s: not a checkpoint file (.hpw) or a run directory\n", from);
        return EXIT_USAGE;
    }
    snprintf(ckpt, n, "%s", from);
    char copy[4200];
    snprintf(copy, sizeof copy, "%s", from);
    snprintf(exp, m, "%s/experiment.hp", dirname(copy));
    return -1;
}

/* Without the run's experiment.hp: the checkpoint loads only into this very model. */
static int load_same_model(hp_session *s, const char *ckpt, bool quiet, FILE *log)
{
    hprt_error re = {0};
    if (hprt_ckpt_read(ckpt, &s->ckpt_id, s->mem.params, (size_t)s->layout->n_params, NULL, NULL, &re) != HPRT_OK) {
        fprintf(stderr, "hpc run: --from %s: %s\nhpc run: (with no experiment.hp beside it, a checkpoint loads only "
                "into the model it was written for; layer by layer loading needs the run directory's experiment.hp)\n",
                ckpt, re.msg);
        return EXIT_USAGE;
    }
    char line[4400];
    snprintf(line, sizeof line, "from %s: loaded every layer (%ld parameters); the optimizer state starts fresh", ckpt,
             s->e->total_params);
    say(log, quiet, line);
    return -1;
}

int cli_warm_start(hp_session *s, const char *from, bool partial, bool quiet, FILE *log)
{
    char ckpt[4200], exp[4200];
    int status = resolve_from(from, ckpt, sizeof ckpt, exp, sizeof exp);
    if (status >= 0)
        return status;
    if (!is_file(exp))
        return load_same_model(s, ckpt, quiet, log);

    /* the checkpoint's own model, through the experiment that wrote it */
    int *ia = NULL, *ib = NULL;
    hp_session src;
    hp_session_opts o = {.file = exp, .quiet_notes = true, .use = HP_USE_EVAL};
    hp_session_init(&src, &o);
    hp_error he;
    hp_err_class c = hp_session_run(&src, HP_PASS_MEMORY, &he);
    if (c != HP_ERR_NONE) {
        cli_print_diags(&src.diags);
        fprintf(stderr, "hpc run: --from %s: cannot read the model of %s\n", from, exp);
        status = cli_session_error("run", &he);
        goto done;
    }
    if (hp_session_read_checkpoint(&src, ckpt, NULL, &he) != HP_ERR_NONE) {
        fprintf(stderr, "hpc run: --from: %s\n", he.msg);
        status = EXIT_RUN;
        goto done;
    }
    const plan_experiment *a = src.e, *b = s->e;
    ia = malloc(sizeof *ia * (size_t)(a->n_layers + 1));
    ib = malloc(sizeof *ib * (size_t)(b->n_layers + 1));
    if (!ia || !ib) {
        fprintf(stderr, "hpc run: out of memory\n");
        status = EXIT_RUN;
        goto done;
    }
    int na = param_layers(a, ia), nb = param_layers(b, ib);
    /* first the verdicts, then (all matching, or --from-partial) the copy */
    int loaded = 0, skipped = 0;
    long loaded_params = 0;
    for (int k = 0; k < nb; k++) {
        const plan_layer *lb = &b->layers[ib[k]];
        const cg_layer_layout *Lb = &s->layout->layers[ib[k]];
        bool ok = k < na && same_layer(&a->layers[ia[k]], &src.layout->layers[ia[k]], lb, Lb) &&
                  same_tables(a, &a->layers[ia[k]], b);
        if (ok) {
            loaded++;
            loaded_params += lb->params;
        } else {
            skipped++;
        }
    }
    int unused = na > nb ? na - nb : 0;
    if ((skipped > 0 || unused > 0) && !partial) {
        fprintf(stderr, "hpc run: --from %s: the checkpoint's model does not match this one layer by layer:\n", ckpt);
        for (int k = 0; k < nb || k < na; k++) {
            char here[512], there[512];
            if (k < nb && k < na && same_layer(&a->layers[ia[k]], &src.layout->layers[ia[k]], &b->layers[ib[k]],
                                               &s->layout->layers[ib[k]]) && same_tables(a, &a->layers[ia[k]], b))
                continue;
            if (k < nb)
                describe(&b->layers[ib[k]], ib[k], here, sizeof here);
            if (k < na)
                describe(&a->layers[ia[k]], ia[k], there, sizeof there);
            if (k < nb && k < na && !same_tables(a, &a->layers[ia[k]], b))
                fprintf(stderr, "  %s:%d: %s; the checkpoint's embedded columns have other categories\n", s->o.file,
                        b->layers[ib[k]].line, here);
            else if (k < nb && k < na)
                fprintf(stderr, "  %s:%d: %s; the checkpoint's is %s\n", s->o.file, b->layers[ib[k]].line, here,
                        there);
            else if (k < nb)
                fprintf(stderr, "  %s:%d: %s; the checkpoint has no such layer\n", s->o.file, b->layers[ib[k]].line,
                        here);
            else
                fprintf(stderr, "  %s:%d: the checkpoint's %s has no counterpart here\n", exp,
                        a->layers[ia[k]].line, there);
        }
        fprintf(stderr, "hpc run: --from-partial loads the layers that match and leaves the others as initialised\n");
        status = EXIT_USAGE;
        goto done;
    }
    if (loaded == 0) {
        fprintf(stderr, "hpc run: --from %s: no layer of the checkpoint's model matches one of this model\n", ckpt);
        status = EXIT_USAGE;
        goto done;
    }
    char line[4800];
    snprintf(line, sizeof line,
             "from %s: loaded %d of %d layers with parameters (%ld of %ld parameters); the optimizer state starts fresh",
             ckpt, loaded, nb, loaded_params, b->total_params);
    say(log, quiet, line);
    for (int k = 0; k < nb; k++) {
        const plan_layer *lb = &b->layers[ib[k]];
        const cg_layer_layout *Lb = &s->layout->layers[ib[k]];
        char here[512], there[512];
        describe(lb, ib[k], here, sizeof here);
        if (k < na && same_layer(&a->layers[ia[k]], &src.layout->layers[ia[k]], lb, Lb) &&
            same_tables(a, &a->layers[ia[k]], b)) {
            const cg_layer_layout *La = &src.layout->layers[ia[k]];
            if (La->w >= 0)
                memcpy(s->mem.params + Lb->w, src.mem.params + La->w, sizeof(float) * (size_t)La->w_size);
            if (La->b >= 0)
                memcpy(s->mem.params + Lb->b, src.mem.params + La->b, sizeof(float) * (size_t)La->b_size);
            if (La->running >= 0 && Lb->running >= 0) /* batchnorm: its running statistics too */
                memcpy(s->mem.params + Lb->running, src.mem.params + La->running, sizeof(float) * 2 * (size_t)La->width);
            snprintf(line, sizeof line, "from: loaded %s (line %d)", here, lb->line);
        } else if (k < na) {
            describe(&a->layers[ia[k]], ia[k], there, sizeof there);
            snprintf(line, sizeof line, "from: skipped %s (line %d): the checkpoint's is %s; initialised from the seed",
                     here, lb->line, there);
        } else {
            snprintf(line, sizeof line, "from: skipped %s (line %d): not in the checkpoint; initialised from the seed",
                     here, lb->line);
        }
        say(log, quiet, line);
    }
    for (int k = nb; k < na; k++) {
        char there[512];
        describe(&a->layers[ia[k]], ia[k], there, sizeof there);
        snprintf(line, sizeof line, "from: not used: the checkpoint's %s", there);
        say(log, quiet, line);
    }
    status = -1;
done:
    free(ia);
    free(ib);
    hp_session_free(&src);
    return status;
}

int cli_events_append_at(const char *dir, hprt_train_state *state, const char *line)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/events.log", dir);
    if (truncate(path, (off_t)state->events_bytes) != 0)
        return -1;
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    fprintf(f, "%s\n", line);
    long end = ftell(f);
    if (fclose(f) != 0 || end < 0)
        return -1;
    state->events_bytes = end;
    return 0;
}

/* The schedule's rate at step t over a run of `epochs`. */
static bool rate_at(const hp_session *s, int epochs, long t, double *lr, long *total)
{
    const plan_experiment *e = s->e;
    hprt_sched_resolved r;
    hprt_error re = {0};
    if (hprt_train_resolve_schedule(&e->schedule, &e->batch, epochs, s->data.train.n,
                                    e->data.is_text ? e->data.train.seq : 0, &r, &re) != HPRT_OK)
        return false;
    *lr = hprt_sched_lr(&r, e->optimizer.lr, t);
    *total = r.total_steps;
    return true;
}

int cli_extend_run(hp_session *s, const char *dir, int old_epochs, hprt_train_state *state, char *line, size_t n)
{
    const plan_experiment *e = s->e;
    int N = e->epochs;
    if (N <= state->epochs_done) {
        fprintf(stderr, "hpc resume: %s has trained %d epoch%s: --epochs is the new total and must be more than %d\n",
                dir, state->epochs_done, state->epochs_done == 1 ? "" : "s", state->epochs_done);
        return EXIT_USAGE;
    }
    /* a stop rule that ended the run starts again: its counters fresh, the best epoch kept (best.hpw) */
    bool was_stopped = state->stopper.stopped;
    if (was_stopped) {
        hprt_stopper fresh;
        hprt_error re = {0};
        if (hprt_stop_init(&fresh, &e->stop, &re) != HPRT_OK) {
            fprintf(stderr, "hpc resume: %s\n", re.msg);
            return EXIT_RUN;
        }
        fresh.epoch = state->stopper.epoch;
        fresh.best_epoch = state->stopper.best_epoch;
        fresh.best = state->stopper.best;
        state->stopper = fresh;
    }
    /* the schedule over the new length, and how the next step's rate moves */
    double lr_old = 0, lr_new = 0;
    long total_old = 0, total_new = 0;
    char sched[256] = "";
    FILE *m = fmemopen(sched, sizeof sched - 1, "w");
    if (m) {
        plan_print_schedule(&e->schedule, m);
        fclose(m);
    }
    if (!rate_at(s, old_epochs, (long)state->step, &lr_old, &total_old) ||
        !rate_at(s, N, (long)state->step, &lr_new, &total_new)) {
        fprintf(stderr, "hpc resume: the schedule over %d epochs cannot be resolved\n", N);
        return EXIT_RUN;
    }
    snprintf(line, n,
             "resume: extended from %d to %d epochs (%d done; %ld to %ld steps); schedule %s recomputed over %ld "
             "steps: the rate of step %lld is %.6g (%.6g on the %d-epoch schedule)%s",
             old_epochs, N, state->epochs_done, total_old, total_new, sched, total_new, (long long)state->step + 1,
             lr_new, lr_old, old_epochs,
             was_stopped ? "; the stop rule that ended the run starts again (its best epoch kept)" : "");
    return -1;
}
