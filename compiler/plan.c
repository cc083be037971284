/* plan.c - the Plan's helpers and `hpc explain`. */
#include "plan.h"
#include "search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hprt_sched.h"
#include "hprt_train.h"


const char *plan_act_name(plan_act a)
{
    static const char *const n[] = {
#define X(e, name) [PLAN_ACT_##e] = name,
#include "activations.def"
#undef X
    };
    return (unsigned)a < PLAN_ACT__COUNT ? n[a] : "?";
}

const char *plan_init_name(plan_init i)
{
    static const char *const n[] = {
#define X(e, name) [PLAN_INIT_##e] = name,
#include "inits.def"
#undef X
    };
    return (unsigned)i < PLAN_INIT__COUNT ? n[i] : "?";
}

static const struct {
    const char *name, *alias, *torch, *signature;
} loss_rows[] = {
#define X(e, name, alias, torch, sig, target) [PLAN_LOSS_##e] = {name, alias, torch, sig},
#include "losses.def"
#undef X
};
const char *plan_loss_name(plan_loss k) { return (unsigned)k < PLAN_LOSS__COUNT ? loss_rows[k].name : "?"; }
const char *plan_loss_alias(plan_loss k) { return (unsigned)k < PLAN_LOSS__COUNT ? loss_rows[k].alias : NULL; }
const char *plan_loss_signature(plan_loss k) { return (unsigned)k < PLAN_LOSS__COUNT ? loss_rows[k].signature : "?"; }
const char *plan_loss_torch(plan_loss k) { return (unsigned)k < PLAN_LOSS__COUNT ? loss_rows[k].torch : "?"; }

const char *plan_opt_name(hprt_opt_kind k) { return hprt_opt_name(k); }
const char *plan_sched_name(hprt_sched_kind k) { return hprt_sched_name(k); }
const char *plan_stop_name(hprt_stop_kind k) { return hprt_stop_name(k); }

long plan_shape_size(plan_shape s)
{
    switch (s.kind) {
    case PLAN_VEC: return s.d[0];
    case PLAN_SEQ: return (long)s.d[0] * s.d[1];
    case PLAN_IMG: return (long)s.d[0] * s.d[1] * s.d[2];
    default: return s.d[0];
    }
}

bool plan_shape_eq(plan_shape a, plan_shape b)
{
    return a.kind == b.kind && a.d[0] == b.d[0] && a.d[1] == b.d[1] && a.d[2] == b.d[2];
}

char *plan_shape_str(plan_shape s, char *buf, size_t n)
{
    switch (s.kind) {
    case PLAN_VEC: snprintf(buf, n, "[%d]", s.d[0]); break;
    case PLAN_SEQ: snprintf(buf, n, "[%d, %d]", s.d[0], s.d[1]); break;
    case PLAN_IMG: snprintf(buf, n, "[%d, %d, %d]", s.d[0], s.d[1], s.d[2]); break;
    default: snprintf(buf, n, "tokens[%d]", s.d[0]); break;
    }
    return buf;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t plan_shape_hash(const plan_experiment *e)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, &e->n_layers, sizeof e->n_layers);
    for (int i = 0; i < e->n_layers; i++) {
        const plan_layer *l = &e->layers[i];
        int v[12] = {l->kind, l->in.kind, l->in.d[0], l->in.d[1], l->in.d[2], l->out.kind, l->out.d[0], l->out.d[1],
                     l->out.d[2], l->units, l->stack, l->kernel};
        h = fnv(h, v, sizeof v);
        h = fnv(h, &l->params, sizeof l->params);
    }
    int opt = e->optimizer.kind;
    h = fnv(h, &opt, sizeof opt);
    return h;
}

void plan_shape_desc(const plan_experiment *e, char *buf, size_t n)
{
    size_t off = 0;
    char s[64];
    for (int i = 0; i < e->n_layers && off < n; i++) {
        const plan_layer *l = &e->layers[i];
        if (i > 0 && !plan_layer_has(l->kind, PLAN_LK_PARAMS))
            continue;
        off += (size_t)snprintf(buf + off, n - off, "%s%s%s", i ? " -> " : "", i ? plan_layer_name(l->kind) : "",
                                i ? " " : "");
        if (off < n)
            off += (size_t)snprintf(buf + off, n - off, "%s", plan_shape_str(l->out, s, sizeof s));
    }
    if (off < n)
        snprintf(buf + off, n - off, "; %ld parameters; %s", e->total_params, plan_opt_name(e->optimizer.kind));
}

void plan_free(plan *p)
{
    if (!p)
        return;
    hp_arena_free(&p->arena);
    free(p);
}

/* ---- explain ---- */

/* The shortest decimal that reads back as x, without an exponent for whole numbers. */
static const char *num(char *buf, size_t n, double x)
{
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, n, "%.0f", x);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

/* Several numbers in one printf: each call gets its own buffer. */
#define N(x) num((char[40]){0}, 40, (x))

/* 269322 -> "269,322" */
static const char *grouped(char *buf, size_t n, long v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%ld", v < 0 ? -v : v);
    size_t len = strlen(tmp), o = 0;
    if (v < 0 && o + 1 < n)
        buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

static const char *human_bytes(char *buf, size_t n, double bytes)
{
    if (bytes >= 1 << 30)
        snprintf(buf, n, "%.1f GiB", bytes / (1 << 30));
    else if (bytes >= 1 << 20)
        snprintf(buf, n, "%.1f MiB", bytes / (1 << 20));
    else
        snprintf(buf, n, "%.1f KiB", bytes / 1024);
    return buf;
}

void plan_layer_desc(const plan_layer *l, char *buf, size_t n)
{
    char s[64];
    const char *name = plan_layer_name(l->kind);
    switch (l->kind) {
    case PLAN_INPUT:
        if (l->out.kind == PLAN_TOKENS)
            snprintf(buf, n, "input tokens");
        else if (l->out.kind == PLAN_VEC)
            snprintf(buf, n, "input %d", l->out.d[0]);
        else
            snprintf(buf, n, "input %s", plan_shape_str(l->out, s, sizeof s));
        break;
    case PLAN_DENSE:
        snprintf(buf, n, "dense %d%s%s", l->units, l->act ? ", " : "", l->act ? plan_act_name(l->act) : "");
        break;
    case PLAN_DROPOUT: snprintf(buf, n, "dropout %g", l->p); break;
    case PLAN_EMBED: snprintf(buf, n, "embed %d", l->units); break;
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
        if (l->stack > 1 && l->dropout > 0)
            snprintf(buf, n, "%s %d, stack = %d, dropout = %g", name, l->units, l->stack, l->dropout);
        else if (l->stack > 1)
            snprintf(buf, n, "%s %d, stack = %d", name, l->units, l->stack);
        else
            snprintf(buf, n, "%s %d", name, l->units);
        break;
    case PLAN_CONV:
        snprintf(buf, n, "conv %d%s%s (%dx%d/%d %s)", l->units, l->act ? ", " : "", l->act ? plan_act_name(l->act) : "",
                 l->kernel, l->kernel, l->stride, l->pad_same ? "same" : "valid");
        break;
    case PLAN_MAXPOOL: case PLAN_AVGPOOL:
        snprintf(buf, n, "%s %d (stride %d)", name, l->kernel, l->stride);
        break;
    case PLAN_LAYERNORM: snprintf(buf, n, "layernorm (eps %g)", l->eps); break;
    case PLAN_BATCHNORM: /* eps when not torch's default, to fit the column */
        if (l->eps == 1e-5)
            snprintf(buf, n, "batchnorm (momentum %g)", l->momentum);
        else
            snprintf(buf, n, "batchnorm (momentum %g, eps %g)", l->momentum, l->eps);
        break;
    case PLAN_EMBED_COLUMNS: /* the data's embedded categorical columns */
        snprintf(buf, n, "embed_columns %s", l->columns ? l->columns : "");
        break;
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX: case PLAN_LAST:
    case PLAN_FLATTEN:
        snprintf(buf, n, "%s", name);
        break;
    }
    /* embed's and the recurrent layers' initialiser when not the default
     * (dense's and conv's are in experiment.hp, not here: the golden Plans) */
    size_t len = strlen(buf);
    bool shown = l->kind == PLAN_EMBED || plan_layer_has(l->kind, PLAN_LK_RECURRENT);
    if (shown && l->init != PLAN_INIT_DEFAULT && len < n)
        snprintf(buf + len, n - len, ", init = %s", plan_init_name(l->init));
}

static void duration_str(hprt_duration d, char *buf, size_t n)
{
    snprintf(buf, n, "%s %s", N(d.n), d.unit == HPRT_EPOCHS ? (d.n == 1 ? "epoch" : "epochs") : (d.n == 1 ? "step" : "steps"));
}

static const char *lr_str(char *buf, size_t n, double lr, bool find)
{
    if (find)
        snprintf(buf, n, "find_lr");
    else
        num(buf, n, lr);
    return buf;
}

static const char *tf(bool b) { return b ? "true" : "false"; }

/* The optimizer as .hp text, every parameter written out, from its table row. */
void plan_print_optimizer(const hprt_optimizer *o, FILE *out)
{
    const hprt_opt_desc *d = hprt_opt_info(o->kind);
    if (!d) {
        fputs("?", out);
        return;
    }
    fprintf(out, "%s(", d->name);
    for (int i = 0; i < d->n_params; i++) {
        const hprt_opt_param *p = &d->params[i];
        const char *field = (const char *)o + p->offset;
        char lr[40];
        fprintf(out, "%s%s = ", i ? ", " : "", p->name[0] == '!' ? p->name + 1 : p->name);
        switch (p->type) {
        case HPRT_HP_LR: fputs(lr_str(lr, sizeof lr, o->lr, o->lr_find), out); break;
        case HPRT_HP_NUM: fputs(N(*(const double *)field), out); break;
        case HPRT_HP_BOOL: fputs(tf(*(const bool *)field), out); break;
        }
    }
    fputc(')', out);
}

static void print_cycle_momentum(const hprt_schedule *s, FILE *out)
{
    fprintf(out, ", cycle_momentum = %s, base_momentum = %s, max_momentum = %s)", tf(s->cycle_momentum),
            N(s->base_momentum), N(s->max_momentum));
}

/* The schedule as .hp text, every parameter written out. */
void plan_print_schedule(const hprt_schedule *s, FILE *out)
{
    char a[64];
    switch (s->kind) {
    case HPRT_SCHED_CONSTANT: fprintf(out, "constant"); break;
    case HPRT_SCHED_STEP:
        duration_str(s->every, a, sizeof a);
        fprintf(out, "step(every = %s, gamma = %s)", a, N(s->gamma));
        break;
    case HPRT_SCHED_MULTISTEP:
        fprintf(out, "multistep(at = [");
        for (int i = 0; i < s->n_at; i++) {
            duration_str(s->at[i], a, sizeof a);
            fprintf(out, "%s%s", i ? ", " : "", a);
        }
        fprintf(out, "], gamma = %s)", N(s->gamma));
        break;
    case HPRT_SCHED_EXP: fprintf(out, "exp(gamma = %s)", N(s->gamma)); break;
    case HPRT_SCHED_COSINE:
        if (s->period.n > 0) {
            duration_str(s->period, a, sizeof a);
            fprintf(out, "cosine(min = %s, period = %s)", N(s->min), a);
        } else {
            fprintf(out, "cosine(min = %s)", N(s->min)); /* the period is the whole run */
        }
        break;
    case HPRT_SCHED_SGDR:
        duration_str(s->period, a, sizeof a);
        fprintf(out, "sgdr(period = %s, mult = %s, min = %s)", a, N(s->mult), N(s->min));
        break;
    case HPRT_SCHED_CYCLIC: {
        static const char *const modes[] = {"triangular", "triangular2", "exp_range"};
        duration_str(s->step_size, a, sizeof a);
        char lo[40], hi[40];
        fprintf(out, "cyclic(base = %s, max = %s, step = %s, mode = %s, gamma = %s", lr_str(lo, sizeof lo, s->base, s->base_find),
                lr_str(hi, sizeof hi, s->max, s->max_find), a, modes[s->mode], N(s->gamma));
        print_cycle_momentum(s, out);
        break;
    }
    case HPRT_SCHED_ONE_CYCLE: {
        char hi[40];
        fprintf(out, "one_cycle(max = %s, pct = %s, div = %s, final_div = %s, anneal = %s, three_phase = %s",
                lr_str(hi, sizeof hi, s->max, s->max_find), N(s->pct), N(s->div), N(s->final_div),
                s->anneal == HPRT_ANNEAL_COS ? "cos" : "linear", tf(s->three_phase));
        print_cycle_momentum(s, out);
        break;
    }
    case HPRT_SCHED_WARMUP:
        duration_str(s->warmup, a, sizeof a);
        fprintf(out, "warmup(steps = %s, then = ", a);
        if (s->then)
            plan_print_schedule(s->then, out);
        fputc(')', out);
        break;
    case HPRT_SCHED_PLATEAU:
        fprintf(out, "plateau(factor = %s, patience = %d, monitor = %s, min = %s, threshold = %s, cooldown = %d, mode = %s)",
                N(s->factor), s->patience, hprt_metric_name(s->monitor), N(s->min), N(s->threshold), s->cooldown,
                s->monitor_mode == HPRT_MODE_MAX ? "max" : "min");
        break;
    case HPRT_SCHED__COUNT:
        break;
    }
}

/* The stop rule as .hp text. */
void plan_print_stop(const hprt_stop *s, FILE *out)
{
    switch (s->kind) {
    case HPRT_STOP_NONE: fprintf(out, "none"); break;
    case HPRT_STOP_EARLY:
        fprintf(out, "early(monitor = %s, window = %d, patience = %d, min_delta = %s, mode = %s, restore_best = %s)",
                hprt_metric_name(s->monitor), s->window, s->patience, N(s->min_delta),
                s->mode == HPRT_MODE_MAX ? "max" : "min", tf(s->restore_best));
        break;
    case HPRT_STOP_GL: fprintf(out, "gl(alpha = %s)", N(s->alpha)); break;
    case HPRT_STOP_PQ: fprintf(out, "pq(alpha = %s, strip = %d)", N(s->alpha), s->strip); break;
    case HPRT_STOP_UP: fprintf(out, "up(s = %d, strip = %d)", s->s, s->strip); break;
    }
}

void plan_print_batch(const hprt_batch *b, FILE *out)
{
    char a[64];
    if (b->adaptive) {
        duration_str(b->every, a, sizeof a);
        fprintf(out, "adaptive(start = %d, factor = %d, every = %s, max = %d, scale_lr = %s)", b->start, b->factor, a,
                b->max, tf(b->scale_lr));
    } else {
        fprintf(out, "%d", b->size);
    }
}

void plan_print_regularize(const hprt_regularize *r, FILE *out)
{
    bool both = r->l1 > 0 && r->adaptive_dropout;
    if (both)
        fputc('[', out);
    if (r->l1 > 0)
        fprintf(out, "l1(lambda = %s)%s", N(r->l1), both ? ", " : "");
    if (r->adaptive_dropout)
        fprintf(out, "adaptive_dropout(gap = %s, step = %s, max = %s, patience = %d)", N(r->gap), N(r->step), N(r->max),
                r->patience);
    else if (!(r->l1 > 0))
        fprintf(out, "none");
    if (both)
        fputc(']', out);
}

/* A float in the fewest digits that read back as the same float (class weights). */
static const char *fnum(char *buf, size_t n, float x)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)x);
        if ((float)strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

void plan_print_loss(const plan_experiment *e, FILE *out)
{
    const plan_loss_opts *o = &e->loss_opts;
    fputs(plan_loss_name(e->loss), out);
    switch (e->loss) {
    case PLAN_LOSS_CROSS_ENTROPY: {
        /* the defaults print as the bare name, as before the options existed */
        const char *sep = "(";
        if (o->smoothing != 0) {
            fprintf(out, "%ssmoothing = %s", sep, N(o->smoothing));
            sep = ", ";
        }
        if (o->balanced) {
            fprintf(out, "%sweights = balanced", sep);
            sep = ", ";
        } else if (o->weights) {
            fprintf(out, "%sweights = [", sep);
            for (int i = 0; i < o->n_weights; i++)
                fprintf(out, "%s%s", i ? ", " : "", fnum((char[24]){0}, 24, o->weights[i]));
            fputc(']', out);
            sep = ", ";
        }
        if (sep[0] == ',')
            fputc(')', out);
        break;
    }
    case PLAN_LOSS_HUBER:
        fprintf(out, "(delta = %s)", N(o->delta));
        break;
    case PLAN_LOSS_MSE: case PLAN_LOSS_MAE: case PLAN_LOSS_BCE: case PLAN_LOSS__COUNT:
        break;
    }
}

long plan_steps_per_epoch(const plan_experiment *e, int batch)
{
    if (batch <= 0)
        return 0;
    return hprt_train_steps_per_epoch(e->data.train.n, batch, e->data.is_text ? (e->data.train.seq > 0 ? e->data.train.seq : 1) : 0);
}

static const char *spark = " ▁▂▃▄▅▆▇█";

/* The learning rate at the start of each epoch, as a table and a sparkline. */
static void print_schedule_preview(const plan_experiment *e, FILE *out)
{
    if (e->uses_find_lr) {
        fprintf(out, "\n  (the rates come from the LR range test, run before training: `hpc lr-find`)\n");
        return;
    }
    long spe = plan_steps_per_epoch(e, e->batch.start);
    if (spe <= 0)
        return;
    long total = 0;
    for (int ep = 0; ep < e->epochs; ep++)
        total += plan_steps_per_epoch(e, hprt_adabatch_at(&e->batch, ep, total).batch);
    hprt_sched_resolved r;
    hprt_error err;
    if (hprt_sched_resolve(&e->schedule, spe, total, &r, &err) != HPRT_OK) {
        fprintf(out, "\n  (no preview: %s)\n", err.msg);
        return;
    }
    bool plateau = e->schedule.kind == HPRT_SCHED_PLATEAU ||
                   (e->schedule.kind == HPRT_SCHED_WARMUP && e->schedule.then && e->schedule.then->kind == HPRT_SCHED_PLATEAU);
    fprintf(out, "\n  epoch   first step   learning rate%s%s\n", e->batch.adaptive ? "   batch" : "",
            r.cycle_momentum ? "   momentum" : "");
    int n = e->epochs;
    double lrs[64];
    int shown = 0;
    long step = 0;
    for (int ep = 0; ep < n; ep++) {
        hprt_batch_stage st = hprt_adabatch_at(&e->batch, ep, step);
        double lr = hprt_sched_lr(&r, e->optimizer.lr, step) * st.lr_scale;
        bool show = n <= 24 || ep < 10 || ep >= n - 5 || ep % (n / 10) == 0;
        if (show) {
            fprintf(out, "  %5d   %10ld   %13.6g", ep + 1, step, lr);
            if (e->batch.adaptive)
                fprintf(out, "   %5d", st.batch);
            if (r.cycle_momentum)
                fprintf(out, "   %8.4g", hprt_sched_momentum(&r, step));
            fputc('\n', out);
        } else if (ep == 10) {
            fprintf(out, "  %5s\n", "...");
        }
        if (shown < 64)
            lrs[shown++] = lr;
        step += plan_steps_per_epoch(e, st.batch);
    }
    /* the schedule's own boundaries: warm-up end, cycle and phase ends, restarts, milestones */
    long bounds[16];
    int nb = 0;
    long w = r.warmup;
    if (w > 0 && nb < 16)
        bounds[nb++] = w;
    switch (r.kind) {
    case HPRT_SCHED_CYCLIC:
        for (long k = 1; nb < 12 && w + (long)(k * r.up) <= total; k++)
            bounds[nb++] = w + (long)(k * r.up);
        break;
    case HPRT_SCHED_ONE_CYCLE:
        for (int k = 0; k < r.n_phases && nb < 16; k++)
            bounds[nb++] = w + (long)ceil(r.ph_end[k]);
        break;
    case HPRT_SCHED_SGDR: {
        long at = w, len = r.period;
        while (nb < 12 && at + len <= total && len > 0) {
            at += len;
            bounds[nb++] = at;
            len *= r.mult;
        }
        break;
    }
    case HPRT_SCHED_STEP:
        for (long k = 1; nb < 12 && w + k * r.every <= total; k++)
            bounds[nb++] = w + k * r.every;
        break;
    case HPRT_SCHED_MULTISTEP:
        for (int k = 0; k < r.n_at && nb < 16; k++)
            bounds[nb++] = w + r.at[k];
        break;
    case HPRT_SCHED_CONSTANT: case HPRT_SCHED_EXP: case HPRT_SCHED_COSINE: case HPRT_SCHED_WARMUP:
    case HPRT_SCHED_PLATEAU: case HPRT_SCHED__COUNT:
        break; /* no step changes to list */
    }
    if (nb > 0) {
        fprintf(out, "  boundaries:");
        for (int k = 0; k < nb; k++) {
            long t = bounds[k];
            double lr = hprt_sched_lr(&r, e->optimizer.lr, t) * hprt_adabatch_at(&e->batch, spe ? t / spe : 0, t).lr_scale;
            fprintf(out, "%s step %ld: %.4g", k ? "," : "", t, lr);
        }
        fputc('\n', out);
    }
    if (plateau)
        fprintf(out, "  (plateau lowers the rate when %s stops improving; the table shows the starting rate)\n",
                hprt_metric_name(e->schedule.kind == HPRT_SCHED_PLATEAU ? e->schedule.monitor : e->schedule.then->monitor));
    /* the sparkline samples the whole run, 60 points */
    double lo = INFINITY, hi = -INFINITY, pts[60];
    for (int i = 0; i < 60; i++) {
        long t = total > 1 ? (long)((double)i * (double)(total - 1) / 59.0) : 0;
        pts[i] = hprt_sched_lr(&r, e->optimizer.lr, t) * hprt_adabatch_at(&e->batch, spe ? t / spe : 0, t).lr_scale;
        lo = fmin(lo, pts[i]);
        hi = fmax(hi, pts[i]);
    }
    fprintf(out, "  rate over the run: ");
    for (int i = 0; i < 60; i++) {
        int level = hi > lo ? 1 + (int)((pts[i] - lo) / (hi - lo) * 7.999) : 4;
        /* each block character is 3 bytes of UTF-8; level 0 is a space */
        const char *p = spark + 1 + (level - 1) * 3;
        fwrite(p, 1, 3, out);
    }
    fprintf(out, "  %g .. %g\n", lo, hi);
    (void)lrs;
}

/* The CSV's encoding: "  labels      3 class names: setosa, versicolor, virginica" and a
 * line per one-hot column (at most 8 names shown each). */
static void plan_explain_csv(const hprt_csv_encoding *en, FILE *out)
{
    if (en->n_classes > 0) {
        fprintf(out, "  labels      %d class names (class i is the i-th in byte order):", en->n_classes);
        for (int i = 0; i < en->n_classes && i < 8; i++)
            fprintf(out, "%s %s", i ? "," : "", en->classes[i]);
        fprintf(out, "%s\n", en->n_classes > 8 ? ", ..." : "");
    }
    for (int i = 0; i < en->n_cats; i++) {
        const hprt_csv_category *c = &en->cats[i];
        char bucket[96] = "id 0, zeros";
        if (c->dim > 0 && c->min_count > 1)
            snprintf(bucket, sizeof bucket, "id 0, also the categories seen fewer than %d times", c->min_count);
        if (c->dim > 0)
            fprintf(out, "  feature column %d%s%s%s  embedded, %d values per category; %d categories (ids 1-%d) and "
                    "the unknown bucket (%s): %ld parameters:", c->column, c->name ? " '" : "",
                    c->name ? c->name : "", c->name ? "'" : "", c->dim, c->n, c->n, bucket, (long)(c->n + 1) * c->dim);
        else
            fprintf(out, "  feature column %d%s%s%s  one-hot, %d features (an unknown category: all 0):", c->column,
                    c->name ? " '" : "", c->name ? c->name : "", c->name ? "'" : "", c->n);
        for (int k = 0; k < c->n && k < 8; k++)
            fprintf(out, "%s %s", k ? "," : "", c->names[k]);
        fprintf(out, "%s\n", c->n > 8 ? ", ..." : "");
    }
}

void plan_explain(const plan_experiment *e, FILE *out)
{
    char a[64], b[64], c[64], d[64];
    fprintf(out, "experiment %s  (%s:%d)\n", e->name, e->file, e->line);
    const plan_data *dt = &e->data;
    if (dt->is_text)
        fprintf(out, "data %s: text, %ld tokens for training, %ld for validation, %ld for test; vocab %d; windows of %d\n",
                dt->name, dt->train.n, dt->valid.n, dt->test.n, dt->vocab, dt->train.seq);
    else
        fprintf(out, "data %s: %ld training, %ld validation, %ld test samples of %s; %d %s%s%s\n", dt->name,
                dt->train.n, dt->valid.n, dt->test.n, plan_shape_str(dt->input, a, sizeof a), dt->classes,
                dt->labels > 0 ? "labels" : "classes",
                dt->normalize ? "; normalized" : "", dt->scale != 1 ? "; scaled" : "");
    plan_explain_csv(&dt->csv, out);
    if (dt->labels > 0) {
        fprintf(out, "  labels      multi-label: %d label columns, each 0 or 1 (one bce output per label; accuracy is the "
                "mean over labels of (sigmoid > 0.5) == label):", dt->labels);
        for (int i = 0; i < dt->labels; i++) {
            if (dt->label_names && dt->label_names[i])
                fprintf(out, "%s %s", i ? "," : "", dt->label_names[i]);
            else
                fprintf(out, "%s column %d", i ? "," : "", dt->train.label_columns[i]);
        }
        fputc('\n', out);
    }
    if (!dt->is_text && e->n_layers > 0 && e->layers[0].out.kind == PLAN_SEQ)
        fprintf(out, "  each sample is a sequence of %d steps of %d features (step-major); the recurrent state starts "
                "at zero in every sample and gradients flow through all %d steps\n",
                e->layers[0].out.d[0], e->layers[0].out.d[1], e->layers[0].out.d[0]);
    fprintf(out, "model %s(", e->model);
    for (int i = 0; i < e->n_params; i++)
        fprintf(out, "%s%s = %s", i ? ", " : "", e->params[i].name, e->params[i].value);
    fprintf(out, ")\n\n");

    fprintf(out, "  %3s  %-34s %-14s %12s %14s\n", "#", "layer", "output", "parameters", "FLOPs/sample");
    long act_floats = 0;
    for (int i = 0; i < e->n_layers; i++) {
        const plan_layer *l = &e->layers[i];
        char desc[128];
        plan_layer_desc(l, desc, sizeof desc);
        fprintf(out, "  %3d  %-34s %-14s %12s %14s\n", i, desc, plan_shape_str(l->out, a, sizeof a),
                grouped(b, sizeof b, l->params), grouped(c, sizeof c, l->flops));
        act_floats += plan_shape_size(l->out) * (l->kind == PLAN_LSTM ? 6L * l->stack : l->kind == PLAN_GRU ? 4L * l->stack : 1);
    }
    fprintf(out, "  %3s  %-34s %-14s %12s %14s\n", "", "total", "", grouped(b, sizeof b, e->total_params),
            grouped(c, sizeof c, e->total_flops));

    fprintf(out, "\n");
    fprintf(out, "  loss        ");
    plan_print_loss(e, out);
    fprintf(out, "%s%s\n", e->fused_softmax ? " (fused with the final softmax)" : "",
            e->loss_opts.binary ? " (one output: the probability of class 1)" : "");
    if (e->loss_opts.balanced && !e->loss_opts.weights)
        fprintf(out, "              balanced class weights: n / (classes * count) over the training split's labels, "
                     "computed when the run loads the data (events.log lists them)\n");
    if (e->loss_opts.balanced && e->loss_opts.weights) {
        fprintf(out, "              balanced class weights n / (classes * count), from the training split:");
        for (int i = 0; i < e->loss_opts.n_weights; i++)
            fprintf(out, " %s", fnum((char[24]){0}, 24, e->loss_opts.weights[i]));
        fputc('\n', out);
    }
    fprintf(out, "  optimizer   ");
    plan_print_optimizer(&e->optimizer, out);
    fputc('\n', out);
    if (e->clip > 0)
        fprintf(out, "  clip        global L2 norm %g\n", e->clip);
    else
        fprintf(out, "  clip        none\n");
    fprintf(out, "  schedule    ");
    plan_print_schedule(&e->schedule, out);
    fputc('\n', out);
    long spe = plan_steps_per_epoch(e, e->batch.start);
    if (e->batch.adaptive) {
        duration_str(e->batch.every, a, sizeof a);
        fprintf(out, "  batch       adaptive(start = %d, factor = %d, every = %s, max = %d, scale_lr = %s); %ld steps in the first epoch\n",
                e->batch.start, e->batch.factor, a, e->batch.max, e->batch.scale_lr ? "true" : "false", spe);
    } else {
        fprintf(out, "  batch       %d (%ld step%s per epoch)\n", e->batch.size, spe, spe == 1 ? "" : "s");
    }
    fprintf(out, "  epochs      %d%s\n", e->epochs, e->stop.kind != HPRT_STOP_NONE ? " (at most)" : "");
    fprintf(out, "  stop        ");
    plan_print_stop(&e->stop, out);
    fputc('\n', out);
    fprintf(out, "  regularize  ");
    plan_print_regularize(&e->regularize, out);
    fputc('\n', out);
    fprintf(out, "  seed        %llu\n", (unsigned long long)e->seed);
    if (e->threads)
        fprintf(out, "  threads     %d\n", e->threads);
    else
        fprintf(out, "  threads     all cores\n");
    if (e->tensorboard)
        fprintf(out, "  tensorboard %s\n", e->tensorboard);
    if (e->uses_find_lr)
        fprintf(out, "  lr finder   %g to %g over %d steps, suggestion %s\n", e->lrfind.start, e->lrfind.end,
                e->lrfind.steps,
                e->lrfind.suggest == HPRT_SUGGEST_VALLEY ? "valley" : e->lrfind.suggest == HPRT_SUGGEST_STEEP ? "steep" : "minimum");

    /* parameters, gradients and optimizer state; activations and their gradients at the largest batch */
    int states = 0; /* the state arrays the optimizer's table row keeps */
    for (int a = 0; a < HPRT_STATE__COUNT; a++)
        states += hprt_opt_has_state(&e->optimizer, (hprt_state_array)a);
    double pbytes = 4.0 * (double)e->total_params * (2 + states);
    int maxb = e->batch.adaptive ? e->batch.max : e->batch.size;
    double abytes = 4.0 * 2 * (double)act_floats * maxb;
    fprintf(out, "  memory      %s for parameters, gradients and optimizer state; %s for activations at batch %d\n",
            human_bytes(a, sizeof a, pbytes), human_bytes(d, sizeof d, abytes), maxb);
    if (e->memory_bytes > 0) /* check_limits.c: the code generator's layout for this run, and the data */
        fprintf(out, "              %s in all for `hpc run` on this machine (its layout, optimizer state and data)\n",
                human_bytes(a, sizeof a, e->memory_bytes));
    print_schedule_preview(e, out);
}

const char *plan_strategy_name(plan_strategy k)
{
    switch (k) {
    case PLAN_STRATEGY_GRID: return "grid";
    case PLAN_STRATEGY_RANDOM: return "random";
    case PLAN_STRATEGY_HYPERBAND: return "hyperband";
    case PLAN_STRATEGY_ASHA: return "asha";
    case PLAN_STRATEGY_TPE: return "tpe";
    case PLAN_STRATEGY__COUNT: break;
    }
    return "?";
}

void plan_explain_search(const plan_search *s, FILE *out)
{
    static const char *const spaces[] = {"set", "range", "log", "uniform"};
    fprintf(out, "search %s  (%s:%d)\n", s->name, s->file, s->line);
    fprintf(out, "  base        %s\n", s->base ? s->base->name : "?");
    fprintf(out, "  strategy    %s", plan_strategy_name(s->strategy));
    const char *sample = s->sample_tpe ? ", sample = tpe" : ""; /* random: the default, not shown */
    switch (s->strategy) {
    case PLAN_STRATEGY_GRID: break;
    case PLAN_STRATEGY_RANDOM: fprintf(out, "(trials = %d)", s->trials); break;
    case PLAN_STRATEGY_TPE: fprintf(out, "(trials = %d, startup = %d)", s->trials, s->startup); break;
    case PLAN_STRATEGY_HYPERBAND:
        fprintf(out, "(max_epochs = %d, eta = %g%s)", s->max_epochs, s->eta, sample);
        break;
    case PLAN_STRATEGY_ASHA:
        fprintf(out, "(max_epochs = %d, eta = %g, trials = %d%s)", s->max_epochs, s->eta, s->trials, sample);
        break;
    case PLAN_STRATEGY__COUNT: break;
    }
    fprintf(out, "\n  objective   %s(%s)\n", s->objective_mode == HPRT_MODE_MAX ? "maximize" : "minimize",
            hprt_metric_name(s->objective));
    if (s->parallel > 0)
        fprintf(out, "  parallel    %d\n\n", s->parallel);
    else
        fprintf(out, "  parallel    one trial per core (the default)\n\n");
    fprintf(out, "  %-20s %-8s %-40s %s\n", "vary", "space", "values", "compiled shapes");
    long grid = 1, shapes = 1;
    for (int i = 0; i < s->n_varies; i++) {
        const plan_vary *v = &s->varies[i];
        char vals[512];
        size_t off = 0;
        vals[0] = 0;
        if (v->kind == PLAN_SPACE_SET) {
            off += (size_t)snprintf(vals + off, sizeof vals - off, "{");
            for (int k = 0; k < v->n_values && off < sizeof vals; k++)
                off += (size_t)snprintf(vals + off, sizeof vals - off, "%s%s", k ? ", " : "", v->values[k]);
            if (off < sizeof vals)
                snprintf(vals + off, sizeof vals - off, "}");
            grid *= v->n_values;
        } else if (v->kind == PLAN_SPACE_RANGE) {
            snprintf(vals, sizeof vals, "%g..%g", v->lo, v->hi);
            grid *= (long)(v->hi - v->lo + 1);
        } else {
            snprintf(vals, sizeof vals, "%s(%g, %g)", v->kind == PLAN_SPACE_LOG ? "log" : "uniform", v->lo, v->hi);
            grid = -1;
        }
        fprintf(out, "  %-20s %-8s %-40s ", v->path, spaces[v->kind], vals);
        if (!v->changes_shape)
            fprintf(out, "same (a run-time setting)\n");
        else if (v->shapes < 0)
            fprintf(out, "one per value\n");
        else
            fprintf(out, "%ld\n", v->shapes);
        if (v->changes_shape)
            shapes = v->shapes < 0 || shapes < 0 ? -1 : shapes * v->shapes;
    }
    if (grid > 0)
        fprintf(out, "\n  %ld configurations in the grid\n", grid);
    else
        fputc('\n', out);
    if (shapes > 0)
        fprintf(out, "  %ld distinct compiled shape%s at most (trials that differ only in run-time settings share one)\n",
                shapes, shapes == 1 ? "" : "s");
    else
        fprintf(out, "  a compiled shape per value of a continuous shape-changing path\n");
    int base_epochs = s->base ? s->base->epochs : 0;
    switch (s->strategy) {
    case PLAN_STRATEGY_GRID:
        if (grid > 0)
            fprintf(out, "  at most %ld epochs in all (%ld trials x %d)\n", grid * base_epochs, grid, base_epochs);
        break;
    case PLAN_STRATEGY_RANDOM:
    case PLAN_STRATEGY_TPE:
        fprintf(out, "  at most %ld epochs in all (%d trials x %d)\n", (long)s->trials * base_epochs, s->trials,
                base_epochs);
        break;
    case PLAN_STRATEGY_HYPERBAND: {
        search_rungs b[32];
        int nb = search_hyperband(s->max_epochs, s->eta, b, 32);
        long total = 0;
        int trials = 0;
        fprintf(out, "\n  bracket  rungs (trials x epochs)\n");
        for (int k = 0; k < nb; k++) {
            fprintf(out, "  %7d  ", k);
            for (int r = 0; r < b[k].n_rungs; r++) {
                fprintf(out, "%s%d x %d", r ? ", " : "", b[k].trials[r], b[k].epochs[r]);
                int prev = r ? b[k].epochs[r - 1] : 0;
                total += (long)b[k].trials[r] * (b[k].epochs[r] - prev);
            }
            trials += b[k].trials[0];
            fputc('\n', out);
        }
        fprintf(out, "  %d trials; at most %ld epochs in all (a promoted trial continues from its checkpoint)\n",
                trials, total);
        break;
    }
    case PLAN_STRATEGY__COUNT: break;
    case PLAN_STRATEGY_ASHA: {
        search_rungs r = search_asha_rungs(s->max_epochs, s->eta, s->trials);
        long total = 0;
        fprintf(out, "\n  rung  epochs  trials (at most)\n");
        for (int k = 0; k < r.n_rungs; k++) {
            fprintf(out, "  %4d  %6d  %d\n", k, r.epochs[k], k ? r.trials[k] : s->trials);
            total += (long)(k ? r.trials[k] : s->trials) * (r.epochs[k] - (k ? r.epochs[k - 1] : 0));
        }
        fprintf(out, "  at most %ld epochs in all (a promoted trial continues from its checkpoint)\n", total);
        break;
    }
    }
    if (s->base) {
        fputc('\n', out);
        plan_explain(s->base, out);
    }
}

static void shape_steps(plan_shape *s, int T)
{
    if (s->kind == PLAN_TOKENS || s->kind == PLAN_SEQ)
        s->d[0] = T;
}

void plan_set_steps(plan_experiment *e, int T)
{
    e->data.train.seq = T;
    shape_steps(&e->data.input, T);
    for (int i = 0; i < e->n_layers; i++) {
        plan_layer *l = &e->layers[i];
        int old = l->in.kind == PLAN_TOKENS || l->in.kind == PLAN_SEQ ? l->in.d[0]
                  : l->out.kind == PLAN_TOKENS || l->out.kind == PLAN_SEQ ? l->out.d[0] : 0;
        shape_steps(&l->in, T);
        shape_steps(&l->out, T);
        if (old > 0)
            l->flops = l->flops / old * T;
    }
}

const char *plan_sampling_refusal(const plan_experiment *e)
{
    if (!e->data.is_text)
        return "not a language model: its data is not text()";
    if (e->layers[e->n_layers - 1].out.kind != PLAN_SEQ)
        return "not a language model: it predicts one class per window, not the next token at every step";
    return NULL;
}

/* find_lr's value goes where the file asks for it: the optimizer's rate, a
 * cyclic schedule's max (its base a tenth of it when that is find_lr too), a
 * one_cycle's max; inside a warm-up too. */
void plan_apply_found_rate(plan_experiment *e, double lr, char *where, size_t n)
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


int plan_threads(const plan_experiment *e)
{
    if (e->threads > 0)
        return e->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > HPRT_MAX_THREADS ? HPRT_MAX_THREADS : (int)cores;
}
