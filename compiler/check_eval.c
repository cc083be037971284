/* check_eval.c - evaluating expressions into checked values, and typed reads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"

ck_val *ck_poison(ck *c, hp_span span)
{
    ck_val *v = hp_alloc(&c->p->arena, sizeof *v);
    v->k = V_POISON;
    v->span = span;
    return v;
}

static ck_val *mk(ck *c, ck_vkind k, hp_span span)
{
    ck_val *v = hp_alloc(&c->p->arena, sizeof *v);
    v->k = k;
    v->span = span;
    return v;
}

static const char *const data_names[] = {"classes", "vocab", "features"};

/* The value of a data-bound name, or -1 when the data has none. */
static int data_name_value(const plan_data *d, int which)
{
    switch (which) {
    case 0: return d->classes > 0 ? d->classes : -1;
    case 1: return d->is_text && d->vocab > 0 ? d->vocab : -1;
    default: return d->features > 0 ? d->features : -1;
    }
}

static ck_val *eval_name(ck *c, const hp_expr *e, const ck_scope *sc)
{
    const char *name = e->parts[0];
    if (sc) {
        for (int i = 0; i < sc->n_params; i++)
            if (strcmp(sc->param_names[i], name) == 0) {
                ck_val *v = hp_alloc(&c->p->arena, sizeof *v);
                *v = *sc->param_vals[i];
                /* errors about a default point at its use; about an override, at the override */
                if (!sc->param_pinned || !sc->param_pinned[i])
                    v->span = e->span;
                return v;
            }
        for (int w = 0; w < 3; w++) {
            if (strcmp(name, data_names[w]) != 0)
                continue;
            if (!sc->data)
                return ck_poison(c, e->span); /* a model on its own: unknown until used */
            int n = data_name_value(sc->data, w);
            if (n < 0) {
                if (sc->data_name_missing && !*sc->data_name_missing) {
                    *sc->data_name_missing = true;
                    *sc->missing_name = data_names[w];
                    *sc->missing_span = e->span;
                }
                return ck_poison(c, e->span);
            }
            ck_val *v = mk(c, V_NUM, e->span);
            v->num = n;
            return v;
        }
    }
    ck_val *v = mk(c, V_NAME, e->span);
    v->s = name;
    return v;
}

ck_val *ck_eval(ck *c, const hp_expr *e, const ck_scope *sc)
{
    ck_val *v;
    if (e->bad) /* nested past the limit: the parser reported it */
        return ck_poison(c, e->span);
    switch (e->kind) {
    case HP_EX_NUMBER:
        if (!isfinite(e->num)) /* `1e400`: the scanner reported it */
            return ck_poison(c, e->span);
        v = mk(c, V_NUM, e->span);
        v->num = e->num;
        return v;
    case HP_EX_DURATION:
        if (!isfinite(e->num))
            return ck_poison(c, e->span);
        v = mk(c, V_DUR, e->span);
        v->num = e->num;
        v->unit = e->unit;
        return v;
    case HP_EX_STRING:
        v = mk(c, V_STR, e->span);
        v->s = e->str;
        return v;
    case HP_EX_BOOL:
        v = mk(c, V_BOOL, e->span);
        v->b = e->boolean;
        return v;
    case HP_EX_PATH:
        if (e->n_parts == 1)
            return eval_name(c, e, sc);
        hp_report(c->d, HP_ERROR, NULL, e->span,
                  "a dotted path is only meaningful after 'vary' in a search or in --set");
        return ck_poison(c, e->span);
    case HP_EX_CALL:
        v = mk(c, V_CALL, e->span);
        v->s = e->callee;
        v->name_span = e->callee_span;
        v->n_args = e->n_args;
        v->args = hp_alloc(&c->p->arena, sizeof *v->args * (size_t)(e->n_args ? e->n_args : 1));
        for (int i = 0; i < e->n_args; i++) {
            v->args[i].name = e->args[i].name;
            v->args[i].name_span = e->args[i].name_span;
            v->args[i].v = ck_eval(c, e->args[i].value, sc);
        }
        return v;
    case HP_EX_LIST:
        v = mk(c, V_LIST, e->span);
        v->n_items = e->n_items;
        v->items = hp_alloc(&c->p->arena, sizeof *v->items * (size_t)(e->n_items ? e->n_items : 1));
        for (int i = 0; i < e->n_items; i++)
            v->items[i] = ck_eval(c, e->items[i], sc);
        return v;
    case HP_EX_NEG: {
        ck_val *a = ck_eval(c, e->lhs, sc);
        if (a->k == V_POISON)
            return ck_poison(c, e->span);
        if (a->k != V_NUM && a->k != V_DUR) {
            hp_report(c->d, HP_ERROR, NULL, e->span, "'-' needs a number, not %s", ck_describe(c, a));
            return ck_poison(c, e->span);
        }
        v = mk(c, a->k, e->span);
        v->num = -a->num;
        v->unit = a->unit;
        return v;
    }
    case HP_EX_BINARY: {
        ck_val *a = ck_eval(c, e->lhs, sc), *b = ck_eval(c, e->rhs, sc);
        if (a->k == V_POISON || b->k == V_POISON)
            return ck_poison(c, e->span);
        /* a duration may be scaled by a number: `2 * 5 epochs`, `10 epochs / 2` */
        bool a_dur = a->k == V_DUR, b_dur = b->k == V_DUR;
        bool ok = (a->k == V_NUM || a_dur) && (b->k == V_NUM || b_dur);
        if (ok && a_dur && b_dur)
            ok = (e->op == '+' || e->op == '-') && a->unit == b->unit;
        else if (ok && (a_dur || b_dur))
            ok = e->op == '*' || (e->op == '/' && a_dur);
        if (!ok) {
            const ck_val *bad = (a->k == V_NUM || a_dur) ? b : a;
            if ((a->k == V_NUM || a_dur) && (b->k == V_NUM || b_dur))
                hp_report(c->d, HP_ERROR, NULL, e->span, "cannot combine these durations with '%c'", e->op);
            else
                hp_report(c->d, HP_ERROR, NULL, bad->span, "'%c' needs numbers, not %s", e->op,
                          ck_describe(c, bad));
            return ck_poison(c, e->span);
        }
        double x = a->num, y = b->num, r;
        switch (e->op) {
        case '+': r = x + y; break;
        case '-': r = x - y; break;
        case '*': r = x * y; break;
        default:
            if (y == 0) {
                hp_report(c->d, HP_ERROR, NULL, e->rhs->span, "division by zero");
                return ck_poison(c, e->span);
            }
            r = x / y;
        }
        if (!isfinite(r)) {
            hp_report(c->d, HP_ERROR, NULL, e->span, "the result is too large");
            return ck_poison(c, e->span);
        }
        v = mk(c, a_dur || b_dur ? V_DUR : V_NUM, e->span);
        v->num = r;
        v->unit = a_dur ? a->unit : b->unit;
        return v;
    }
    }
    return ck_poison(c, e->span);
}

const char *ck_describe(ck *c, const ck_val *v)
{
    switch (v->k) {
    case V_NUM: return hp_sprintf(&c->p->arena, "the number %g", v->num);
    case V_DUR: return hp_sprintf(&c->p->arena, "the duration %g %s", v->num, v->unit == HPRT_STEPS ? "steps" : "epochs");
    case V_STR: return "a string";
    case V_BOOL: return v->b ? "'true'" : "'false'";
    case V_NAME: return hp_sprintf(&c->p->arena, "the name '%s'", v->s);
    case V_CALL: return hp_sprintf(&c->p->arena, "'%s(...)'", v->s);
    case V_LIST: return "a list";
    default: return "an invalid value";
    }
}

/* The shortest decimal that reads back as x (0.2, not 0.20000000000000001). */
static char *shortest(hp_arena *a, double x, const char *suffix)
{
    char buf[64];
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, sizeof buf, "%.0f", x); /* 100, not 1e+02 */
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, x);
            if (strtod(buf, NULL) == x)
                break;
        }
    }
    return hp_sprintf(a, "%s%s", buf, suffix);
}

/* .hp text of a value: used for experiment.hp, explain and search trials. */
char *ck_val_text(hp_arena *a, const ck_val *v)
{
    switch (v->k) {
    case V_NUM: return shortest(a, v->num, "");
    case V_DUR: return shortest(a, v->num, v->unit == HPRT_STEPS ? " steps" : " epochs");
    case V_STR: {
        size_t n = strlen(v->s);
        char *out = hp_alloc(a, n * 2 + 3), *o = out;
        *o++ = '"';
        for (const char *s = v->s; *s; s++) {
            if (*s == '"' || *s == '\\')
                *o++ = '\\', *o++ = *s;
            else if (*s == '\n')
                *o++ = '\\', *o++ = 'n';
            else if (*s == '\t')
                *o++ = '\\', *o++ = 't';
            else
                *o++ = *s;
        }
        *o++ = '"';
        return out;
    }
    case V_BOOL: return hp_strdup(a, v->b ? "true" : "false");
    case V_NAME: return hp_strdup(a, v->s);
    case V_CALL:
    case V_LIST: {
        int n = v->k == V_CALL ? v->n_args : v->n_items;
        char *s = v->k == V_CALL ? hp_sprintf(a, "%s(", v->s) : hp_strdup(a, "[");
        for (int i = 0; i < n; i++) {
            const char *item = v->k == V_CALL ? ck_val_text(a, v->args[i].v) : ck_val_text(a, v->items[i]);
            const char *name = v->k == V_CALL ? v->args[i].name : NULL;
            s = hp_sprintf(a, "%s%s%s%s%s", s, i ? ", " : "", name ? name : "", name ? " = " : "", item);
        }
        return hp_sprintf(a, "%s%s", s, v->k == V_CALL ? ")" : "]");
    }
    default: return hp_strdup(a, "?");
    }
}

bool ck_is_name(const ck_val *v, const char *name) { return v->k == V_NAME && strcmp(v->s, name) == 0; }

/* Edit distance with transpositions (optimal string alignment): `mpl` is one
 * edit from `mlp`, as a user would count it. */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return 99;
    int d[65][65];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *ck_suggest(const char *word, const char *const *candidates, int n)
{
    const char *best = NULL;
    int best_d = 99;
    /* an abbreviation (`val_acc`) means the name it begins */
    size_t wl = strlen(word);
    if (wl >= 3)
        for (int i = 0; i < n; i++)
            if (strncmp(candidates[i], word, wl) == 0 && strlen(candidates[i]) > wl)
                return candidates[i];
    int limit = (int)strlen(word) <= 3 ? 1 : (int)strlen(word) <= 6 ? 2 : 3;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < best_d && d <= limit && d < (int)strlen(candidates[i])) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}

bool ck_num(ck *c, const ck_val *v, const char *what, double *out)
{
    if (v->k == V_POISON)
        return false;
    if (v->k != V_NUM) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be a number, not %s", what, ck_describe(c, v));
        return false;
    }
    *out = v->num;
    return true;
}

static const char *fmt_bound(char *buf, size_t n, double x)
{
    snprintf(buf, n, "%g", x);
    return buf;
}

bool ck_num_range(ck *c, const ck_val *v, const char *what, double lo, bool lo_open, double hi, bool hi_open,
                  double *out)
{
    double x;
    if (!ck_num(c, v, what, &x))
        return false;
    bool ok = (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
    if (!ok) {
        char a[32], b[32];
        if (isinf(hi))
            hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be %s %s; it is %g", what,
                      lo_open ? "greater than" : "at least", fmt_bound(a, sizeof a, lo), x);
        else
            hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be in %c%s, %s%c; it is %g", what, lo_open ? '(' : '[',
                      fmt_bound(a, sizeof a, lo), fmt_bound(b, sizeof b, hi), hi_open ? ')' : ']', x);
        return false;
    }
    *out = x;
    return true;
}

bool ck_int(ck *c, const ck_val *v, const char *what, long lo, long hi, long *out)
{
    double x;
    if (!ck_num(c, v, what, &x))
        return false;
    if (x != floor(x)) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be a whole number; it is %g", what, x);
        return false;
    }
    if (x < (double)lo || x > (double)hi || x >= 0x1p63 || x < -0x1p63) { /* and what a long cannot hold */
        if (x > (double)hi && hi >= 100000000L)
            hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be at most %ld; it is %g", what, hi, x);
        else if (hi >= 100000000L)
            hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be at least %ld; it is %g", what, lo, x);
        else
            hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be between %ld and %ld; it is %g", what, lo, hi, x);
        return false;
    }
    *out = (long)x;
    return true;
}

bool ck_bool(ck *c, const ck_val *v, const char *what, bool *out)
{
    if (v->k == V_POISON)
        return false;
    if (v->k != V_BOOL) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be true or false, not %s", what, ck_describe(c, v));
        return false;
    }
    *out = v->b;
    return true;
}

bool ck_duration(ck *c, const ck_val *v, const char *what, hprt_duration *out)
{
    if (v->k == V_POISON)
        return false;
    if (v->k != V_NUM && v->k != V_DUR) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be a duration such as `5 epochs` or `2000 steps`, not %s",
                  what, ck_describe(c, v));
        return false;
    }
    if (!(v->num > 0)) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be longer than zero", what);
        return false;
    }
    if (v->k == V_NUM || v->unit == HPRT_STEPS) {
        if (v->num != floor(v->num)) {
            hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be a whole number of steps; it is %g", what, v->num);
            return false;
        }
    }
    out->n = v->num;
    out->unit = v->k == V_NUM ? HPRT_STEPS : v->unit;
    return true;
}

bool ck_string(ck *c, const ck_val *v, const char *what, const char **out)
{
    if (v->k == V_POISON)
        return false;
    if (v->k != V_STR) {
        hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be a string, not %s", what, ck_describe(c, v));
        return false;
    }
    *out = v->s;
    return true;
}

/* Splits "a|b|c" into at most 16 names. */
static int split_choices(const char *choices, char names[16][32])
{
    int n = 0;
    const char *p = choices;
    while (*p && n < 16) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 31)
            len = 31;
        memcpy(names[n], p, len);
        names[n][len] = 0;
        n++;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

int ck_choice(ck *c, const ck_val *v, const char *what, const char *choices)
{
    if (v->k == V_POISON)
        return -1;
    char names[16][32];
    int n = split_choices(choices, names);
    const char *ptrs[16];
    for (int i = 0; i < n; i++)
        ptrs[i] = names[i];
    char list[512] = "";
    size_t off = 0;
    for (int i = 0; i < n && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    if (v->k == V_NAME) {
        for (int i = 0; i < n; i++)
            if (strcmp(v->s, names[i]) == 0)
                return i;
        const char *s = ck_suggest(v->s, ptrs, n);
        if (s)
            hp_report(c->d, HP_ERROR, NULL, v->span, "unknown %s '%s'; did you mean '%s'?", what, v->s, s);
        else
            hp_report(c->d, HP_ERROR, NULL, v->span, "unknown %s '%s'; expected %s", what, v->s, list);
        return -1;
    }
    hp_report(c->d, HP_ERROR, NULL, v->span, "%s must be %s, not %s", what, list, ck_describe(c, v));
    return -1;
}

bool ck_bind(ck *c, const ck_val *call, const char *what, const char *const *params, int n, ck_val **slots)
{
    for (int i = 0; i < n; i++)
        slots[i] = NULL;
    if (call->k == V_NAME)
        goto required;
    if (call->k != V_CALL)
        return false;
    bool ok = true;
    bool seen_named = false;
    int pos = 0;
    const char *names[32];
    for (int i = 0; i < n && i < 32; i++)
        names[i] = params[i][0] == '!' ? params[i] + 1 : params[i];
    for (int a = 0; a < call->n_args; a++) {
        const ck_arg *arg = &call->args[a];
        int slot = -1;
        if (!arg->name) {
            if (seen_named) {
                hp_report(c->d, HP_ERROR, NULL, arg->v->span, "a positional argument cannot follow named ones in %s",
                          what);
                ok = false;
                continue;
            }
            if (pos >= n) {
                if (n == 0)
                    hp_report(c->d, HP_ERROR, NULL, arg->v->span, "%s takes no arguments", what);
                else
                    hp_report(c->d, HP_ERROR, NULL, arg->v->span, "too many arguments to %s: it takes %d", what, n);
                ok = false;
                continue;
            }
            slot = pos++;
        } else {
            seen_named = true;
            for (int i = 0; i < n; i++)
                if (strcmp(arg->name, names[i]) == 0)
                    slot = i;
            if (slot < 0) {
                const char *s = ck_suggest(arg->name, names, n);
                if (s)
                    hp_report(c->d, HP_ERROR, NULL, arg->name_span, "%s has no parameter '%s'; did you mean '%s'?",
                              what, arg->name, s);
                else if (n == 0)
                    hp_report(c->d, HP_ERROR, NULL, arg->name_span, "%s takes no arguments", what);
                else {
                    char list[512] = "";
                    size_t off = 0;
                    for (int i = 0; i < n && off < sizeof list; i++)
                        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", names[i]);
                    hp_report(c->d, HP_ERROR, NULL, arg->name_span, "%s has no parameter '%s'; its parameters are %s",
                              what, arg->name, list);
                }
                ok = false;
                continue;
            }
        }
        if (slots[slot]) {
            hp_diag *g = hp_report(c->d, HP_ERROR, NULL, arg->name ? arg->name_span : arg->v->span,
                                   "'%s' is given twice to %s", names[slot], what);
            hp_attach_note(c->d, g, slots[slot]->span, "first given here");
            ok = false;
            continue;
        }
        slots[slot] = arg->v;
    }
    /* a wrong argument (reported above) does not hide the errors of the others:
     * the call binds what it can and the caller checks those values too (the
     * errors already reported keep the plan from being made) */
    (void)ok;
required:
    for (int i = 0; i < n; i++)
        if (params[i][0] == '!' && !slots[i]) {
            hp_report(c->d, HP_ERROR, NULL, call->span, "%s needs '%s'", what, params[i] + 1);
            return false;
        }
    return true;
}
