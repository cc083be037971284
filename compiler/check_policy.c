/* check_policy.c - optimizers, schedules, batch, stop and regularisation
 * policies (docs/language.md §9-§15), bound to their parameter lists with every
 * default filled in.  The defaults are PyTorch's, Keras's or the paper's, as
 * docs/policies.md gives them; docs/language.md lists them.
 */
#include <math.h>
#include <string.h>

#include "check_int.h"

/* The kind of a policy value: a call `adam(...)` or a bare name `adam`. */
static const char *policy_kind(ck *c, const ck_val *v, const char *setting, hp_span *at)
{
    if (v->k == V_CALL) {
        *at = v->name_span;
        return v->s;
    }
    if (v->k == V_NAME) {
        *at = v->span;
        return v->s;
    }
    if (v->k != V_POISON)
        hp_report(c->d, HP_ERROR, NULL, v->span, "'%s' must be a name or a call such as `%s`, not %s", setting,
                  strcmp(setting, "optimizer") == 0 ? "adam(lr = 1e-3)"
                  : strcmp(setting, "schedule") == 0 ? "cosine()"
                  : strcmp(setting, "stop") == 0 ? "early(patience = 5)"
                  : strcmp(setting, "batch") == 0 ? "adaptive(start = 128, every = 5 epochs, max = 1024)"
                  : strcmp(setting, "loss") == 0  ? "cross_entropy(smoothing = 0.1)"
                                                  : "adaptive_dropout()",
                  ck_describe(c, v));
    return NULL;
}

static int kind_index(ck *c, const char *kind, hp_span at, const char *what, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(kind, names[i]) == 0)
            return i;
    const char *s = ck_suggest(kind, names, n);
    char list[512] = "";
    size_t off = 0;
    for (int i = 0; i < n && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    if (s)
        hp_report(c->d, HP_ERROR, NULL, at, "unknown %s '%s'; did you mean '%s'?", what, kind, s);
    else
        hp_report(c->d, HP_ERROR, NULL, at, "unknown %s '%s'; expected %s", what, kind, list);
    return -1;
}

void ck_lr_note(ck *c, double lr, hp_span span)
{
    if (lr < 1e-6 || lr > 10)
        hp_report(c->d, HP_NOTE, hp_note_name(HP_NOTE_LR_RANGE), span,
                  "learning rate %g is outside 1e-6-10, where training either stalls or diverges", lr);
}

/* A learning rate: a positive number, or `find_lr` / `find_lr(...)`. */
static bool read_lr(ck *c, const ck_val *v, const char *what, double *out, bool *find)
{
    if (ck_is_name(v, "find_lr") || (v->k == V_CALL && strcmp(v->s, "find_lr") == 0)) {
        /* find_lr(...) options are read by the experiment (lrfind); a call checks its arguments */
        if (v->k == V_CALL) {
            static const char *const p[] = {"start", "end", "steps", "suggest"};
            ck_val *slot[4];
            if (!ck_bind(c, v, "find_lr(...)", p, 4, slot))
                return false;
            hprt_lrfind f = {.start = 1e-7, .end = 10, .steps = 100, .suggest = HPRT_SUGGEST_VALLEY, .stop_div = true};
            long n;
            int k;
            if (slot[0] && !ck_num_range(c, slot[0], "start", 0, true, INFINITY, false, &f.start))
                return false;
            if (slot[1] && !ck_num_range(c, slot[1], "end", 0, true, INFINITY, false, &f.end))
                return false;
            if (slot[2] && !ck_int(c, slot[2], "steps", 6, 100000, &n))
                return false;
            if (slot[2])
                f.steps = (int)n;
            if (slot[3] && (k = ck_choice(c, slot[3], "suggestion", "valley|steep|minimum")) < 0)
                return false;
            if (slot[3])
                f.suggest = (hprt_suggest)k;
            if (!(f.start < f.end)) {
                hp_report(c->d, HP_ERROR, NULL, v->span, "find_lr needs start < end; they are %g and %g", f.start,
                          f.end);
                return false;
            }
            if (c->lrfind)
                *c->lrfind = f;
        }
        *find = true;
        *out = 0;
        return true;
    }
    if (!ck_num_range(c, v, what, 0, true, INFINITY, false, out))
        return false;
    ck_lr_note(c, *out, v->span);
    return true;
}

/* The names of a schedule's or stop rule's parameters, from its table row. */
static int param_names(const plan_policy_params *t, const char **p)
{
    for (int i = 0; i < t->n; i++)
        p[i] = t->params[i].name;
    return t->n;
}

static bool num_or(ck *c, ck_val *v, const char *what, double lo, bool lo_open, double hi, bool hi_open, double *out)
{
    return !v || ck_num_range(c, v, what, lo, lo_open, hi, hi_open, out);
}

/* ---- optimizers: bound through their table (hprt_optimizers.def) ---- */

static const char *const opt_kinds[] = {
#define X(e, name, ...) [HPRT_OPT_##e] = name,
#include "hprt_optimizers.def"
#undef X
};

bool ck_optimizer(ck *c, const ck_val *v, hprt_optimizer *o, bool *find_lr)
{
    hp_span at;
    const char *kind = policy_kind(c, v, "optimizer", &at);
    if (!kind)
        return false;
    int k = kind_index(c, kind, at, "optimizer", opt_kinds, HPRT_OPT__COUNT);
    if (k < 0)
        return false;
    const hprt_opt_desc *d = hprt_opt_info((hprt_opt_kind)k);
    *o = (hprt_optimizer){.kind = (hprt_opt_kind)k};
    const char *names[HPRT_OPT_MAX_PARAMS];
    ck_val *s[HPRT_OPT_MAX_PARAMS];
    for (int i = 0; i < d->n_params; i++) {
        names[i] = d->params[i].name;
        char *field = (char *)o + d->params[i].offset;
        if (d->params[i].type == HPRT_HP_BOOL)
            *(bool *)field = d->params[i].def != 0;
        else
            *(double *)field = d->params[i].def;
    }
    if (!ck_bind(c, v, hp_sprintf(&c->p->arena, "%s(...)", d->name), names, d->n_params, s))
        return false;
    bool ok = true;
    for (int i = 0; i < d->n_params; i++) {
        const hprt_opt_param *p = &d->params[i];
        const char *name = p->name[0] == '!' ? p->name + 1 : p->name;
        char *field = (char *)o + p->offset;
        if (!s[i])
            continue;
        switch (p->type) {
        case HPRT_HP_LR: ok &= read_lr(c, s[i], name, (double *)field, &o->lr_find); break;
        case HPRT_HP_NUM:
            ok &= ck_num_range(c, s[i], name, p->lo, p->lo_open, p->hi, p->hi_open, (double *)field);
            break;
        case HPRT_HP_BOOL: ok &= ck_bool(c, s[i], name, (bool *)field); break;
        }
    }
    /* what one parameter alone cannot say */
    switch (o->kind) {
    case HPRT_OPT_SGD:
        if (ok && o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
            int n = 0;
            while (strcmp(d->params[n].name, "nesterov") != 0)
                n++;
            hp_report(c->d, HP_ERROR, NULL, s[n]->span, "Nesterov momentum needs momentum > 0 and dampening = 0");
            ok = false;
        }
        break;
    case HPRT_OPT_ADAM: case HPRT_OPT_ADAMW: case HPRT_OPT_ADAGRAD: case HPRT_OPT_RMSPROP: case HPRT_OPT_ADAMAX:
    case HPRT_OPT__COUNT:
        break;
    }
    *find_lr = o->lr_find;
    return ok;
}

/* ---- metrics ---- */

bool ck_metric(ck *c, const ck_val *v, hprt_metric *m, bool has_valid)
{
    static const char *const choices = ""
#define X(e, name, mode) "|" name
#include "hprt_metrics.def"
#undef X
        ;
    int k = ck_choice(c, v, "metric", choices + 1);
    if (k < 0)
        return false;
    *m = (hprt_metric)k;
    if (*m == HPRT_METRIC_VAL_BPC && c->data && !c->data->is_text) {
        hp_report(c->d, HP_ERROR, NULL, v->span,
                  "val_bpc (bits per character) is measured on text data; data '%s' is not text", c->data->name);
        return false;
    }
    if (!has_valid && *m != HPRT_METRIC_TRAIN_LOSS) {
        hp_report(c->d, HP_ERROR, NULL, v->span,
                  "'%s' needs validation data, but the data has none; add `valid = split(train, 0.1)` or monitor "
                  "train_loss",
                  v->s);
        return false;
    }
    return true;
}

static hprt_mode default_mode(hprt_metric m) { return hprt_metric_mode(m); }

/* ---- schedules ---- */

static bool sched_lr(ck *c, ck_val *v, const char *what, double *out, bool *find, bool required_positive)
{
    (void)required_positive;
    return read_lr(c, v, what, out, find);
}

bool ck_schedule(ck *c, const ck_val *v, hprt_schedule *s, bool *find_lr, bool has_valid, hp_span *monitor_span)
{
    (void)monitor_span;
    hp_span at;
    const char *kind = policy_kind(c, v, "schedule", &at);
    if (!kind)
        return false;
    static const char *const kinds[] = {
#define X(e, name) [HPRT_SCHED_##e] = name,
#include "hprt_schedules.def"
#undef X
    };
    int k = kind_index(c, kind, at, "schedule", kinds, HPRT_SCHED__COUNT);
    if (k < 0)
        return false;
    memset(s, 0, sizeof *s);
    s->kind = (hprt_sched_kind)k;
    s->gamma = 0.1;
    ck_val *a[PLAN_MAX_POLICY_PARAMS];
    const char *p[PLAN_MAX_POLICY_PARAMS];
    int np = param_names(plan_sched_params(s->kind), p);
    bool ok = true;
    double x;
    long n;
    const char *what = hp_sprintf(&c->p->arena, "%s(...)", kinds[k]);
    switch (s->kind) {
    case HPRT_SCHED_CONSTANT:
        ok = ck_bind(c, v, what, p, np, a);
        break;
    case HPRT_SCHED_STEP: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= ck_duration(c, a[0], "every", &s->every);
        ok &= num_or(c, a[1], "gamma", 0, true, INFINITY, false, &s->gamma);
        break;
    }
    case HPRT_SCHED_MULTISTEP: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= num_or(c, a[1], "gamma", 0, true, INFINITY, false, &s->gamma);
        if (a[0]->k != V_LIST) {
            if (a[0]->k != V_POISON)
                hp_report(c->d, HP_ERROR, NULL, a[0]->span, "'at' must be a list such as `[30 epochs, 60 epochs]`");
            return false;
        }
        if (a[0]->n_items == 0 || a[0]->n_items > HPRT_MAX_MILESTONES) {
            hp_report(c->d, HP_ERROR, NULL, a[0]->span, "'at' needs 1 to %d milestones", HPRT_MAX_MILESTONES);
            return false;
        }
        for (int i = 0; i < a[0]->n_items; i++) {
            if (!ck_duration(c, a[0]->items[i], "a milestone", &s->at[i])) {
                ok = false;
                continue;
            }
            if (i > 0 && s->at[i].unit == s->at[i - 1].unit && s->at[i].n <= s->at[i - 1].n) {
                hp_report(c->d, HP_ERROR, NULL, a[0]->items[i]->span, "milestones must increase");
                ok = false;
            }
        }
        s->n_at = a[0]->n_items;
        break;
    }
    case HPRT_SCHED_EXP: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= ck_num_range(c, a[0], "gamma", 0, true, INFINITY, false, &s->gamma);
        break;
    }
    case HPRT_SCHED_COSINE: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= num_or(c, a[0], "min", 0, false, INFINITY, false, &s->min);
        if (a[1])
            ok &= ck_duration(c, a[1], "period", &s->period);
        break;
    }
    case HPRT_SCHED_SGDR: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= ck_duration(c, a[0], "period", &s->period);
        s->mult = 1;
        if (a[1] && ck_int(c, a[1], "mult", 1, 1000, &n))
            s->mult = (double)n;
        else if (a[1])
            ok = false;
        ok &= num_or(c, a[2], "min", 0, false, INFINITY, false, &s->min);
        break;
    }
    case HPRT_SCHED_CYCLIC: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= sched_lr(c, a[0], "base", &s->base, &s->base_find, true);
        ok &= sched_lr(c, a[1], "max", &s->max, &s->max_find, true);
        s->step_size = (hprt_duration){2000, HPRT_STEPS};
        if (a[2])
            ok &= ck_duration(c, a[2], "step", &s->step_size);
        if (a[3]) {
            int m = ck_choice(c, a[3], "cyclic mode", "triangular|triangular2|exp_range");
            if (m < 0)
                ok = false;
            else
                s->mode = (hprt_cyclic_mode)m;
        }
        s->gamma = 1;
        ok &= num_or(c, a[4], "gamma", 0, true, 1, false, &s->gamma);
        s->cycle_momentum = true;
        s->cycle_momentum_explicit = a[5] != NULL;
        if (a[5])
            ok &= ck_bool(c, a[5], "cycle_momentum", &s->cycle_momentum);
        s->base_momentum = 0.8;
        s->max_momentum = 0.9;
        ok &= num_or(c, a[6], "base_momentum", 0, false, 1, true, &s->base_momentum);
        ok &= num_or(c, a[7], "max_momentum", 0, false, 1, true, &s->max_momentum);
        if (ok && !s->base_find && !s->max_find && s->base > s->max) {
            hp_report(c->d, HP_ERROR, NULL, v->span, "cyclic needs base <= max; they are %g and %g", s->base, s->max);
            ok = false;
        }
        if (ok && a[4] && s->mode != HPRT_CYCLIC_EXP_RANGE && s->gamma != 1)
            hp_report(c->d, HP_WARNING, NULL, a[4]->span, "gamma only applies to mode = exp_range");
        break;
    }
    case HPRT_SCHED_ONE_CYCLE: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= sched_lr(c, a[0], "max", &s->max, &s->max_find, true);
        s->pct = 0.3;
        s->div = 25;
        s->final_div = 1e4;
        ok &= num_or(c, a[1], "pct", 0, true, 1, true, &s->pct);
        ok &= num_or(c, a[2], "div", 0, true, INFINITY, false, &s->div);
        ok &= num_or(c, a[3], "final_div", 0, true, INFINITY, false, &s->final_div);
        if (a[4]) {
            int m = ck_choice(c, a[4], "anneal strategy", "cos|linear");
            if (m < 0)
                ok = false;
            else
                s->anneal = (hprt_anneal)m;
        }
        if (a[5])
            ok &= ck_bool(c, a[5], "three_phase", &s->three_phase);
        if (ok && s->three_phase && s->pct >= 0.5) {
            hp_report(c->d, HP_ERROR, NULL, a[1] ? a[1]->span : v->span, "three_phase needs pct < 0.5");
            ok = false;
        }
        s->cycle_momentum = true;
        s->cycle_momentum_explicit = a[6] != NULL;
        if (a[6])
            ok &= ck_bool(c, a[6], "cycle_momentum", &s->cycle_momentum);
        s->base_momentum = 0.85;
        s->max_momentum = 0.95;
        ok &= num_or(c, a[7], "base_momentum", 0, false, 1, true, &s->base_momentum);
        ok &= num_or(c, a[8], "max_momentum", 0, false, 1, true, &s->max_momentum);
        break;
    }
    case HPRT_SCHED_WARMUP: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        ok &= ck_duration(c, a[0], "the warm-up length", &s->warmup);
        s->then = hp_alloc(c->out, sizeof *s->then);
        s->then->kind = HPRT_SCHED_CONSTANT;
        if (a[1]) {
            hp_span ia;
            const char *inner = a[1]->k == V_CALL || a[1]->k == V_NAME ? a[1]->s : NULL;
            (void)ia;
            if (inner && strcmp(inner, "warmup") == 0) {
                hp_report(c->d, HP_ERROR, NULL, a[1]->span, "warmup(then = ...) takes a schedule other than %s", inner);
                ok = false;
            } else {
                ok &= ck_schedule(c, a[1], s->then, find_lr, has_valid, NULL);
            }
        }
        break;
    }
    case HPRT_SCHED_PLATEAU: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        s->factor = 0.1;
        s->patience = 10;
        s->monitor = HPRT_METRIC_VAL_LOSS;
        s->threshold = 1e-4;
        ok &= num_or(c, a[0], "factor", 0, true, 1, true, &s->factor);
        if (a[1] && ck_int(c, a[1], "patience", 0, 1000000, &n))
            s->patience = (int)n;
        else if (a[1])
            ok = false;
        if (a[2])
            ok &= ck_metric(c, a[2], &s->monitor, has_valid);
        else if (!has_valid) {
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "plateau monitors val_loss, but the data has no validation set; add `valid = split(train, 0.1)` "
                      "or `monitor = train_loss`");
            ok = false;
        }
        s->monitor_mode = default_mode(s->monitor);
        ok &= num_or(c, a[3], "min", 0, false, INFINITY, false, &s->min);
        ok &= num_or(c, a[4], "threshold", 0, false, INFINITY, false, &s->threshold);
        if (a[5] && ck_int(c, a[5], "cooldown", 0, 1000000, &n))
            s->cooldown = (int)n;
        else if (a[5])
            ok = false;
        if (a[6]) {
            int m = ck_choice(c, a[6], "mode", "min|max");
            if (m >= 0)
                s->monitor_mode = (hprt_mode)m;
            else
                ok = false;
        }
        break;
    }
    case HPRT_SCHED__COUNT:
        break;
    }
    (void)x;
    *find_lr |= s->base_find || s->max_find;
    return ok;
}

/* ---- batch ---- */

bool ck_batch(ck *c, const ck_val *v, hprt_batch *b)
{
    long n;
    if (v->k == V_NUM) {
        if (!ck_int(c, v, "batch", 1, 1 << 24, &n))
            return false;
        *b = (hprt_batch){.size = (int)n, .start = (int)n, .factor = 1, .max = (int)n};
        return true;
    }
    if (v->k != V_CALL || strcmp(v->s, "adaptive") != 0) {
        if (v->k == V_CALL || v->k == V_NAME) {
            static const char *const k[] = {"adaptive"};
            kind_index(c, v->s, v->k == V_CALL ? v->name_span : v->span, "batch policy", k, 1);
        } else if (v->k != V_POISON)
            hp_report(c->d, HP_ERROR, NULL, v->span, "batch must be a size or `adaptive(...)`, not %s", ck_describe(c, v));
        return false;
    }
    static const char *const p[] = {"!start", "factor", "!every", "!max", "scale_lr"};
    ck_val *a[5];
    if (!ck_bind(c, v, "adaptive(...)", p, 5, a))
        return false;
    hprt_batch r = {.adaptive = true, .factor = 2, .scale_lr = true};
    bool ok = true;
    if (ck_int(c, a[0], "start", 1, 1 << 24, &n))
        r.start = (int)n;
    else
        ok = false;
    if (a[1] && ck_int(c, a[1], "factor", 2, 64, &n))
        r.factor = (int)n;
    else if (a[1])
        ok = false;
    ok &= ck_duration(c, a[2], "every", &r.every);
    if (ck_int(c, a[3], "max", 1, 1 << 24, &n))
        r.max = (int)n;
    else
        ok = false;
    if (a[4])
        ok &= ck_bool(c, a[4], "scale_lr", &r.scale_lr);
    if (ok && r.max < r.start) {
        hp_report(c->d, HP_ERROR, NULL, a[3]->span, "max (%d) is below start (%d)", r.max, r.start);
        ok = false;
    }
    r.size = r.start;
    if (ok)
        *b = r;
    return ok;
}

/* ---- stop rules ---- */

bool ck_stop(ck *c, const ck_val *v, hprt_stop *s, bool has_valid)
{
    hp_span at;
    const char *kind = policy_kind(c, v, "stop", &at);
    if (!kind)
        return false;
    static const char *const kinds[] = {
#define X(e, name) [HPRT_STOP_##e] = name,
#include "hprt_stops.def"
#undef X
    };
    int k = kind_index(c, kind, at, "stop rule", kinds, HPRT_STOP__COUNT);
    if (k < 0)
        return false;
    memset(s, 0, sizeof *s);
    s->kind = (hprt_stop_kind)k;
    ck_val *a[PLAN_MAX_POLICY_PARAMS];
    const char *p[PLAN_MAX_POLICY_PARAMS];
    int np = param_names(plan_stop_params(s->kind), p);
    bool ok = true;
    long n;
    const char *what = hp_sprintf(&c->p->arena, "%s(...)", kinds[k]);
    switch (s->kind) {
    case HPRT_STOP_NONE:
        return ck_bind(c, v, what, p, np, a);
    case HPRT_STOP_EARLY: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        s->monitor = HPRT_METRIC_VAL_LOSS;
        s->window = 1;
        s->patience = 5;
        s->restore_best = true;
        if (a[0])
            ok &= ck_metric(c, a[0], &s->monitor, has_valid);
        else if (!has_valid) {
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "early stopping monitors val_loss, but the data has no validation set; add `valid = "
                      "split(train, 0.1)` or `monitor = train_loss`");
            ok = false;
        }
        s->mode = default_mode(s->monitor);
        if (a[1] && ck_int(c, a[1], "window", 1, 64, &n))
            s->window = (int)n;
        else if (a[1])
            ok = false;
        if (a[2] && ck_int(c, a[2], "patience", 0, 1000000, &n))
            s->patience = (int)n;
        else if (a[2])
            ok = false;
        if (a[3] && ck_num(c, a[3], "min_delta", &s->min_delta))
            s->min_delta = fabs(s->min_delta);
        else if (a[3])
            ok = false;
        if (a[4]) {
            int m = ck_choice(c, a[4], "mode", "min|max");
            if (m >= 0)
                s->mode = (hprt_mode)m;
            else
                ok = false;
        }
        if (a[5])
            ok &= ck_bool(c, a[5], "restore_best", &s->restore_best);
        break;
    }
    case HPRT_STOP_GL:
    case HPRT_STOP_PQ:
    case HPRT_STOP_UP: {
        if (!ck_bind(c, v, what, p, np, a))
            return false;
        s->monitor = HPRT_METRIC_VAL_LOSS;
        s->mode = HPRT_MODE_MIN;
        s->alpha = s->kind == HPRT_STOP_GL ? 5 : 0.5;
        s->strip = 5;
        s->s = 3;
        if (s->kind != HPRT_STOP_UP)
            ok &= num_or(c, a[0], "alpha", 0, true, INFINITY, false, &s->alpha);
        else if (a[0] && ck_int(c, a[0], "s", 1, 1000, &n))
            s->s = (int)n;
        else if (a[0])
            ok = false;
        if (s->kind != HPRT_STOP_GL && a[1] && ck_int(c, a[1], "strip", 1, 1000, &n))
            s->strip = (int)n;
        else if (s->kind != HPRT_STOP_GL && a[1])
            ok = false;
        if (!has_valid) {
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "Prechelt's criteria compare validation and training error, but the data has no validation set; "
                      "add `valid = split(train, 0.1)`");
            ok = false;
        }
        break;
    }
    }
    return ok;
}

/* ---- losses: their names from losses.def ---- */

static const char *const loss_names[] = {
#define X(e, name, ...) [PLAN_LOSS_##e] = name,
#include "losses.def"
#undef X
};

bool ck_loss(ck *c, const ck_val *v, plan_experiment *e)
{
    hp_span at;
    const char *kind = policy_kind(c, v, "loss", &at);
    if (!kind)
        return false;
    int k = -1;
    for (int i = 0; i < PLAN_LOSS__COUNT && k < 0; i++) /* an alias: `l1` is `mae` */
        if (plan_loss_alias((plan_loss)i) && strcmp(kind, plan_loss_alias((plan_loss)i)) == 0)
            k = i;
    if (k < 0)
        k = kind_index(c, kind, at, "loss", loss_names, PLAN_LOSS__COUNT);
    if (k < 0)
        return false;
    e->loss = (plan_loss)k;
    plan_loss_opts *o = &e->loss_opts;
    *o = (plan_loss_opts){.delta = 1, .line = v->span.line};
    char what[64];
    snprintf(what, sizeof what, "%s(...)", kind);
    ck_val *a[2];
    switch (e->loss) {
    case PLAN_LOSS_CROSS_ENTROPY: {
        static const char *const p[] = {"smoothing", "weights"};
        if (!ck_bind(c, v, what, p, 2, a))
            return false;
        bool ok = num_or(c, a[0], "smoothing", 0, false, 1, false, &o->smoothing);
        if (a[1] && ck_is_name(a[1], "balanced")) {
            o->balanced = true;
        } else if (a[1] && !ck_is_name(a[1], "none")) {
            if (a[1]->k != V_LIST) {
                if (a[1]->k != V_POISON)
                    hp_report(c->d, HP_ERROR, NULL, a[1]->span,
                              "weights must be a list of one number per class in class order, such as [1, 2.5], or "
                              "`balanced`, not %s",
                              ck_describe(c, a[1]));
                return false;
            }
            int n = a[1]->n_items;
            float *w = hp_alloc(c->out, sizeof *w * (size_t)(n > 0 ? n : 1));
            double any = 0;
            for (int i = 0; i < n; i++) {
                double x = 0;
                ok &= ck_num_range(c, a[1]->items[i], "a class weight", 0, false, INFINITY, false, &x);
                w[i] = (float)x;
                any += x;
            }
            if (ok && any <= 0) {
                hp_report(c->d, HP_ERROR, NULL, a[1]->span, "the class weights are all zero: no sample would count");
                ok = false;
            }
            const plan_data *data = c->data;
            if (ok && data && !data->is_text && data->classes > 0 && n != data->classes) {
                hp_report(c->d, HP_ERROR, NULL, a[1]->span,
                          "weights has %d number%s, but data '%s' has %d classes: give one weight per class, in class "
                          "order",
                          n, n == 1 ? "" : "s", data->name, data->classes);
                ok = false;
            }
            o->weights = w;
            o->n_weights = n;
        }
        if ((o->balanced || o->weights) && c->data && c->data->is_text) {
            hp_report(c->d, HP_ERROR, NULL, a[1]->span,
                      "class weights are for labelled data; a language model's classes are its tokens");
            ok = false;
        }
        return ok;
    }
    case PLAN_LOSS_HUBER: {
        static const char *const p[] = {"delta"};
        if (!ck_bind(c, v, what, p, 1, a))
            return false;
        return num_or(c, a[0], "delta", 0, true, INFINITY, false, &o->delta);
    }
    case PLAN_LOSS_MSE: case PLAN_LOSS_MAE: case PLAN_LOSS_BCE:
        if (v->k == V_CALL && v->n_args > 0) {
            const ck_arg *x = &v->args[0];
            hp_report(c->d, HP_ERROR, NULL, x->name ? x->name_span : x->v->span,
                      "%s takes no options (smoothing and weights belong to cross_entropy, delta to huber)", kind);
            return false;
        }
        return true;
    case PLAN_LOSS__COUNT:
        break;
    }
    return false;
}

/* ---- regularisation ---- */

/* One policy of `regularize` into r (a list sets several; seen: the kinds so far). */
static bool regularize_one(ck *c, const ck_val *v, hprt_regularize *r, bool has_valid, bool *seen, bool in_list)
{
    hp_span at;
    const char *kind = policy_kind(c, v, "regularize", &at);
    if (!kind)
        return false;
    static const char *const kinds[] = {"none", "adaptive_dropout", "l1"};
    if (strcmp(kind, "l2") == 0) {
        hp_report(c->d, HP_ERROR, NULL, at,
                  "L2 regularisation is the optimizer's weight_decay, e.g. `adam(weight_decay = 1e-4)`; regularize "
                  "takes l1 and adaptive_dropout");
        return false;
    }
    int k = kind_index(c, kind, at, "regularisation policy", kinds, 3);
    if (k < 0)
        return false;
    if (in_list && k == 0) {
        hp_report(c->d, HP_ERROR, NULL, at, "`none` in a list of regularisation policies means nothing; remove it");
        return false;
    }
    if (seen[k]) {
        hp_report(c->d, HP_ERROR, NULL, at, "regularize lists %s twice", kinds[k]);
        return false;
    }
    seen[k] = true;
    ck_val *a[4];
    if (k == 0)
        return ck_bind(c, v, "none", NULL, 0, a);
    if (k == 2) { /* l1(lambda): lambda·sign(θ) added to the gradients */
        static const char *const p1[] = {"!lambda"};
        if (!ck_bind(c, v, "l1(...)", p1, 1, a))
            return false;
        return ck_num_range(c, a[0], "lambda", 0, false, INFINITY, false, &r->l1);
    }
    static const char *const p[] = {"gap", "step", "max", "patience"};
    if (!ck_bind(c, v, "adaptive_dropout(...)", p, 4, a))
        return false;
    r->adaptive_dropout = true;
    r->gap = 0.1, r->step = 0.05, r->max = 0.5, r->patience = 2;
    bool ok = true;
    long n;
    ok &= num_or(c, a[0], "gap", 0, false, INFINITY, false, &r->gap);
    ok &= num_or(c, a[1], "step", 0, true, 1, true, &r->step);
    ok &= num_or(c, a[2], "max", 0, true, 1, true, &r->max);
    if (a[3] && ck_int(c, a[3], "patience", 1, 1000000, &n))
        r->patience = (int)n;
    else if (a[3])
        ok = false;
    if (!has_valid) {
        hp_report(c->d, HP_ERROR, NULL, v->span,
                  "adaptive_dropout compares validation and training loss, but the data has no validation set; add "
                  "`valid = split(train, 0.1)`");
        ok = false;
    }
    return ok;
}

bool ck_regularize(ck *c, const ck_val *v, hprt_regularize *r, bool has_valid)
{
    memset(r, 0, sizeof *r);
    bool seen[3] = {false, false, false};
    if (v->k != V_LIST)
        return regularize_one(c, v, r, has_valid, seen, false);
    /* several policies together: [l1(1e-5), adaptive_dropout()] */
    bool ok = true;
    for (int i = 0; i < v->n_items; i++)
        ok &= regularize_one(c, v->items[i], r, has_valid, seen, true);
    return ok;
}
