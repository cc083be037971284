/* check.c - the checker's driver: files and imports, names, experiments,
 * searches, overrides.
 *
 * How it works.  hp_program_load() parses the root file and, recursively, the
 * files it imports (relative to the importing file; a cycle is an error).  The
 * root's namespace holds its own declarations and everything it imports, in
 * textual order, so a duplicate is reported at its second place with a note at
 * the first.  hp_plan() then resolves one experiment: its settings are read
 * through the override list (`--set`, search trials), the data declaration is
 * probed once and cached, the model is expanded against the data
 * (check_model.c), and every policy is bound to its parameter list with the
 * defaults filled in (check_policy.c).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_int.h"
#include "search.h"
#include "hprt_step.h"

/* ---- files and imports ---- */

/* .hp files are small; anything larger (or not a regular file: /dev/zero, a
 * directory) is refused rather than read without end. */
#define MAX_SOURCE (16L << 20)

static char *read_file(const char *path, size_t *len, int *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *err = errno;
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    if (st.st_size > MAX_SOURCE) {
        *err = EFBIG;
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = errno;
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        *err = failed ? EIO : ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static char *dir_of(hp_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return hp_strdup(a, ".");
    if (slash == path)
        return hp_strdup(a, "/");
    return hp_strndup(a, path, (size_t)(slash - path));
}

static char *join_path(hp_arena *a, const char *dir, const char *rel)
{
    if (rel[0] == '/' || strcmp(dir, ".") == 0)
        return hp_strdup(a, rel);
    return hp_sprintf(a, "%s/%s", dir, rel);
}

typedef struct {
    char *real[64];
    int n;
} load_stack;

static ck_unit *load_unit(hp_program *p, const char *path, char *text, size_t len, load_stack *st);

static void load_imports(hp_program *p, ck_unit *u, load_stack *st)
{
    hp_vec imports = {0};
    for (int i = 0; i < u->ast->n_decls; i++) {
        hp_decl *d = u->ast->decls[i];
        if (d->kind != HP_DECL_IMPORT)
            continue;
        char *path = join_path(&p->arena, u->dir, d->import_path);
        char *real = realpath(path, NULL);
        if (!real) {
            hp_report(p->d, HP_ERROR, NULL, d->name_span, "cannot import '%s': %s", path, strerror(errno));
            hp_vec_push(&p->arena, &imports, NULL);
            continue;
        }
        bool cycle = false;
        for (int k = 0; k < st->n; k++)
            cycle |= strcmp(st->real[k], real) == 0;
        if (cycle) {
            hp_report(p->d, HP_ERROR, NULL, d->name_span, "import cycle: '%s' imports itself through this import",
                      path);
            free(real);
            hp_vec_push(&p->arena, &imports, NULL);
            continue;
        }
        /* a file imported twice (a diamond) is loaded once */
        ck_unit *found = NULL;
        for (int k = 0; k < p->n_units && !found; k++) {
            char *r = realpath(hp_diags_source(p->d, p->units[k]->file)->path, NULL);
            if (r && strcmp(r, real) == 0)
                found = p->units[k];
            free(r);
        }
        if (!found && st->n < 64) {
            size_t len;
            int err;
            char *text = read_file(path, &len, &err);
            if (!text) {
                hp_report(p->d, HP_ERROR, NULL, d->name_span, "cannot import '%s': %s", path, strerror(err));
                free(real);
                hp_vec_push(&p->arena, &imports, NULL);
                continue;
            }
            st->real[st->n++] = real;
            found = load_unit(p, path, text, len, st);
            st->n--;
        } else if (!found) {
            hp_report(p->d, HP_ERROR, NULL, d->name_span, "imports are nested too deeply");
        }
        free(real);
        hp_vec_push(&p->arena, &imports, found);
    }
    u->imports = (ck_unit **)imports.items;
    u->n_imports = imports.n;
}

static ck_unit *load_unit(hp_program *p, const char *path, char *text, size_t len, load_stack *st)
{
    ck_unit *u = hp_alloc(&p->arena, sizeof *u);
    u->file = hp_diags_add_source(p->d, path, text, len);
    u->dir = dir_of(&p->arena, path);
    u->ast = hp_parse(p->d, u->file);
    if (!u->ast) {
        fputs("hpc: out of memory\n", stderr);
        abort();
    }
    ck_unit **units = hp_alloc(&p->arena, sizeof *units * (size_t)(p->n_units + 1));
    if (p->n_units)
        memcpy(units, p->units, sizeof *units * (size_t)p->n_units);
    units[p->n_units++] = u;
    p->units = units;
    load_imports(p, u, st);
    return u;
}

/* The namespace: declarations in textual order, imports expanded in place. */
static void collect_names(hp_program *p, ck_unit *u, hp_vec *out, ck_unit **visited, int *n_visited)
{
    for (int k = 0; k < *n_visited; k++)
        if (visited[k] == u)
            return;
    if (*n_visited < 256)
        visited[(*n_visited)++] = u;
    int imp = 0;
    for (int i = 0; i < u->ast->n_decls; i++) {
        hp_decl *d = u->ast->decls[i];
        if (d->kind == HP_DECL_IMPORT) {
            /* imports that failed to load have no unit; the others are in order */
            ck_unit *imported = imp < u->n_imports ? u->imports[imp] : NULL;
            imp++;
            if (imported)
                collect_names(p, imported, out, visited, n_visited);
            continue;
        }
        hp_vec_push(&p->arena, out, d);
    }
}

static unsigned long name_hash(const char *s)
{
    unsigned long h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot of name in the namespace's hash: holds its index + 1, or 0. */
static int *name_slot(const hp_program *p, const char *name)
{
    unsigned long mask = (unsigned long)p->name_cap - 1;
    unsigned long k = name_hash(name) & mask;
    while (p->name_index[k] && strcmp(p->names[p->name_index[k] - 1].name, name) != 0)
        k = (k + 1) & mask;
    return &p->name_index[k];
}

/* The declaration called name in the root's namespace, or NULL (constant time:
 * `check` stays linear in the number of declarations). */
static hp_decl *find_name(const hp_program *p, const char *name)
{
    if (!p->name_cap)
        return NULL;
    int i = *name_slot(p, name);
    return i ? p->names[i - 1].decl : NULL;
}

static void build_namespace(hp_program *p)
{
    hp_vec decls = {0};
    ck_unit *visited[256];
    int n_visited = 0;
    collect_names(p, p->root, &decls, visited, &n_visited);
    p->names = hp_alloc(&p->arena, sizeof *p->names * (size_t)(decls.n ? decls.n : 1));
    p->name_cap = 16;
    while (p->name_cap < 2 * decls.n + 2)
        p->name_cap *= 2;
    p->name_index = hp_alloc(&p->arena, sizeof *p->name_index * (size_t)p->name_cap);
    hp_vec targets = {0};
    for (int i = 0; i < decls.n; i++) {
        hp_decl *d = decls.items[i];
        hp_decl *prev = find_name(p, d->name);
        if (prev) {
            hp_diag *g = hp_report(p->d, HP_ERROR, NULL, d->name_span, "'%s' is already declared (as %s %s)",
                                   d->name, hp_decl_kind_name(prev->kind) == NULL ? "" : hp_decl_kind_name(prev->kind),
                                   prev->name);
            hp_attach_note(p->d, g, prev->name_span, "'%s' is first declared here", d->name);
            continue;
        }
        p->names[p->n_names].name = d->name;
        p->names[p->n_names].decl = d;
        p->n_names++;
        *name_slot(p, d->name) = p->n_names;
        if ((d->kind == HP_DECL_EXPERIMENT || d->kind == HP_DECL_SEARCH) && d->file == p->root->file)
            hp_vec_push(&p->arena, &targets, (void *)d->name);
    }
    p->targets = (const char **)targets.items;
    p->n_targets = targets.n;
}

static hp_program *program_new(hp_diags *d)
{
    hp_program *p = calloc(1, sizeof *p);
    if (!p) {
        fputs("hpc: out of memory\n", stderr);
        abort();
    }
    p->d = d;
    return p;
}

hp_program *hp_program_load_text(hp_diags *d, const char *name, const char *text, size_t len)
{
    hp_program *p = program_new(d);
    char *copy = malloc(len + 1);
    if (!copy) {
        free(p);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    load_stack st = {.n = 0};
    p->root = load_unit(p, name, copy, len, &st);
    build_namespace(p);
    return p;
}

hp_program *hp_program_load(hp_diags *d, const char *path)
{
    size_t len;
    int err;
    char *text = read_file(path, &len, &err);
    if (!text) {
        hp_report_nospan(d, HP_ERROR, "cannot read '%s': %s", path, strerror(err));
        return NULL;
    }
    hp_program *p = program_new(d);
    load_stack st = {.n = 0};
    char *real = realpath(path, NULL);
    if (real)
        st.real[st.n++] = real;
    p->root = load_unit(p, path, text, len, &st);
    free(real);
    build_namespace(p);
    return p;
}

void hp_program_free(hp_program *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_units; i++)
        hp_ast_free(p->units[i]->ast);
    free(p->data);
    hp_arena_free(&p->arena);
    free(p);
}

int hp_program_targets(const hp_program *p, const char ***names)
{
    *names = p->targets;
    return p->n_targets;
}

const char *ck_file_dir(ck *c, int file)
{
    for (int i = 0; i < c->p->n_units; i++)
        if (c->p->units[i]->file == file)
            return c->p->units[i]->dir;
    return ".";
}

hp_decl *ck_lookup(ck *c, const char *name, hp_span use, hp_decl_kind want, const char *what)
{
    hp_decl *d = find_name(c->p, name);
    if (d) {
        if (d->kind != want) {
            static const char *const as[] = {"an import", "data", "a model", "an experiment", "a search"};
            const char *want_as = as[want];
            hp_diag *g = hp_report(c->d, HP_ERROR, NULL, use, "'%s' is %s, not %s", name, as[d->kind], want_as);
            hp_attach_note(c->d, g, d->name_span, "'%s' is declared here", name);
            return NULL;
        }
        return d;
    }
    const char *cands[256] = {0};
    int n = 0;
    for (int i = 0; i < c->p->n_names && n < 256; i++)
        if (c->p->names[i].decl->kind == want)
            cands[n++] = c->p->names[i].name;
    const char *s = ck_suggest(name, cands, n);
    if (s)
        hp_report(c->d, HP_ERROR, NULL, use, "unknown %s '%s'; did you mean '%s'?", what, name, s);
    else if (n == 0)
        hp_report(c->d, HP_ERROR, NULL, use, "unknown %s '%s'; the file declares no %s", what, name, what);
    else
        hp_report(c->d, HP_ERROR, NULL, use, "unknown %s '%s'", what, name);
    return NULL;
}

/* ---- settings ---- */

/* Finds the settings of a body by name; reports duplicates and unknown names. */
void ck_index_settings(ck *c, hp_decl *d, const char *const *known, int n_known, hp_setting **slots, const char *what)
{
    for (int i = 0; i < n_known; i++)
        slots[i] = NULL;
    for (int i = 0; i < d->n_settings; i++) {
        hp_setting *s = d->settings[i];
        if (s->broken)
            continue;
        int k = -1;
        for (int j = 0; j < n_known; j++)
            if (strcmp(known[j], s->name) == 0)
                k = j;
        if (k < 0) {
            const char *sug = ck_suggest(s->name, known, n_known);
            if (sug)
                hp_report(c->d, HP_ERROR, NULL, s->name_span, "unknown setting '%s' in %s; did you mean '%s'?", s->name,
                          what, sug);
            else {
                char list[512] = "";
                size_t off = 0;
                for (int j = 0; j < n_known && off < sizeof list; j++)
                    off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", j ? ", " : "", known[j]);
                hp_report(c->d, HP_ERROR, NULL, s->name_span, "unknown setting '%s' in %s; the settings are %s",
                          s->name, what, list);
            }
            continue;
        }
        if (slots[k]) {
            hp_diag *g = hp_report(c->d, HP_ERROR, NULL, s->name_span, "'%s' is set twice", s->name);
            hp_attach_note(c->d, g, slots[k]->name_span, "first set here");
            continue;
        }
        slots[k] = s;
    }
}

static ck_override *find_override(ck *c, const char *first, const char *second)
{
    for (int i = 0; i < c->n_ov; i++) {
        ck_override *o = &c->ov[i];
        if (strcmp(o->parts[0], first) != 0)
            continue;
        if ((second == NULL) != (o->n_parts == 1))
            continue;
        if (second && strcmp(o->parts[1], second) != 0)
            continue;
        return o;
    }
    return NULL;
}

/* The value of setting `name`: the override, the setting, or NULL. */
static ck_val *setting_value(ck *c, hp_setting *s, const char *name)
{
    ck_override *o = find_override(c, name, NULL);
    if (o) {
        o->used = true;
        return o->v;
    }
    return s ? ck_eval(c, s->value, NULL) : NULL;
}

/* `optimizer.lr = 0.1` and the like: replaces or adds a named argument. */
static ck_val *apply_arg_overrides(ck *c, ck_val *v, const char *setting, const char *default_kind)
{
    if (!v) {
        /* `--set optimizer.lr=...` on an experiment that relies on the default optimizer */
        for (int i = 0; i < c->n_ov && !v; i++) {
            ck_override *o = &c->ov[i];
            if (o->n_parts != 2 || strcmp(o->parts[0], setting) != 0)
                continue;
            if (!default_kind) {
                o->used = true;
                hp_report(c->d, HP_ERROR, NULL, o->span,
                          "the experiment sets no %s, so there is no '%s' to change; set the whole `%s` instead",
                          setting, o->parts[1], setting);
                return NULL;
            }
            v = hp_alloc(&c->p->arena, sizeof *v);
            v->k = V_NAME;
            v->s = default_kind;
            v->span = o->span;
        }
    }
    if (v && v->k != V_CALL && v->k != V_NAME && v->k != V_POISON) {
        /* `batch.max` on `batch = 128`: there is no such part */
        for (int i = 0; i < c->n_ov; i++) {
            ck_override *o = &c->ov[i];
            if (o->n_parts == 2 && strcmp(o->parts[0], setting) == 0) {
                o->used = true;
                hp_report(c->d, HP_ERROR, NULL, o->span, "'%s' is %s here, which has no '%s'; set the whole `%s` instead",
                          setting, ck_describe(c, v), o->parts[1], setting);
            }
        }
        return v;
    }
    if (!v || (v->k != V_CALL && v->k != V_NAME))
        return v;
    for (int i = 0; i < c->n_ov; i++) {
        ck_override *o = &c->ov[i];
        if (o->n_parts != 2 || strcmp(o->parts[0], setting) != 0)
            continue;
        o->used = true;
        ck_val *nv = hp_alloc(&c->p->arena, sizeof *nv);
        *nv = *v;
        nv->k = V_CALL;
        if (v->k == V_NAME)
            nv->name_span = v->span;
        nv->args = hp_alloc(&c->p->arena, sizeof *nv->args * (size_t)(v->n_args + 1));
        nv->n_args = 0;
        bool replaced = false;
        for (int a = 0; a < (v->k == V_CALL ? v->n_args : 0); a++) {
            ck_arg arg = v->args[a];
            if (arg.name && strcmp(arg.name, o->parts[1]) == 0) {
                arg.v = o->v;
                replaced = true;
            }
            nv->args[nv->n_args++] = arg;
        }
        if (!replaced) {
            ck_arg arg = {o->parts[1], o->span, o->v};
            nv->args[nv->n_args++] = arg;
        }
        v = nv;
    }
    return v;
}

/* ---- experiments ---- */

enum {
    S_DATA, S_MODEL, S_LOSS, S_OPTIMIZER, S_CLIP, S_SCHEDULE, S_BATCH, S_EPOCHS, S_STOP, S_REGULARIZE, S_SEED,
    S_THREADS, S_CHECKPOINT, S_TENSORBOARD, S__COUNT
};
static const char *const experiment_settings[S__COUNT] = {
    "data", "model", "loss", "optimizer", "clip", "schedule", "batch", "epochs", "stop", "regularize", "seed",
    "threads", "checkpoint", "tensorboard",
};

static bool is_pow2(long x) { return x > 0 && (x & (x - 1)) == 0; }

static void batch_note(ck *c, long b, hp_span span)
{
    if (!is_pow2(b) || b < 64 || b > 2048)
        hp_report(c->d, HP_NOTE, "batch-pow2", span,
                  "batch size %ld is %s; powers of two from 64 to 2048 use the vector units and caches best", b,
                  !is_pow2(b) ? "not a power of two" : "outside 64-2048");
}

static plan_experiment *check_experiment(ck *c, hp_decl *d)
{
    plan_experiment *e = hp_alloc(c->out, sizeof *e);
    e->name = hp_strdup(c->out, d->name);
    e->file = hp_strdup(c->out, hp_diags_source(c->d, d->file)->path);
    e->line = d->name_span.line;
    int errors_before = c->d->errors_seen;

    hp_setting *s[S__COUNT];
    ck_index_settings(c, d, experiment_settings, S__COUNT, s, "an experiment");
    ck_val *v[S__COUNT];
    for (int i = 0; i < S__COUNT; i++)
        v[i] = setting_value(c, s[i], experiment_settings[i]);
    v[S_OPTIMIZER] = apply_arg_overrides(c, v[S_OPTIMIZER], "optimizer", "adam");
    v[S_SCHEDULE] = apply_arg_overrides(c, v[S_SCHEDULE], "schedule", NULL);
    v[S_STOP] = apply_arg_overrides(c, v[S_STOP], "stop", NULL);
    v[S_BATCH] = apply_arg_overrides(c, v[S_BATCH], "batch", NULL);
    v[S_REGULARIZE] = apply_arg_overrides(c, v[S_REGULARIZE], "regularize", NULL);
    v[S_LOSS] = apply_arg_overrides(c, v[S_LOSS], "loss", "cross_entropy");

    /* data */
    const ck_data_entry *data = NULL;
    if (!v[S_DATA]) {
        if (!d->broken)
            hp_report(c->d, HP_ERROR, NULL, d->name_span, "experiment '%s' needs 'data = ...'", d->name);
    } else if (v[S_DATA]->k == V_NAME) {
        hp_decl *dd = ck_lookup(c, v[S_DATA]->s, v[S_DATA]->span, HP_DECL_DATA, "data");
        if (dd)
            data = ck_data(c, dd);
    } else if (v[S_DATA]->k != V_POISON)
        hp_report(c->d, HP_ERROR, NULL, v[S_DATA]->span, "'data' must name a data declaration, not %s",
                  ck_describe(c, v[S_DATA]));
    bool data_ok = data && data->ok;
    if (data_ok)
        e->data = data->data;
    bool has_valid = !data_ok || e->data.valid.kind != PLAN_SRC_NONE;

    /* model */
    bool model_ok = false;
    hp_decl *md = NULL;
    if (!v[S_MODEL]) {
        if (!d->broken)
            hp_report(c->d, HP_ERROR, NULL, d->name_span, "experiment '%s' needs 'model = ...'", d->name);
    } else if (v[S_MODEL]->k == V_NAME || v[S_MODEL]->k == V_CALL) {
        hp_span use = v[S_MODEL]->k == V_CALL ? v[S_MODEL]->name_span : v[S_MODEL]->span;
        md = ck_lookup(c, v[S_MODEL]->s, use, HP_DECL_MODEL, "model");
        if (md && data_ok)
            model_ok = ck_model(c, md, v[S_MODEL], &e->data, e, v[S_MODEL]->span);
        else if (md)
            ck_model(c, md, v[S_MODEL], NULL, e, v[S_MODEL]->span);
    } else if (v[S_MODEL]->k != V_POISON)
        hp_report(c->d, HP_ERROR, NULL, v[S_MODEL]->span, "'model' must name a model, not %s",
                  ck_describe(c, v[S_MODEL]));

    /* loss */
    e->loss = PLAN_LOSS_CROSS_ENTROPY;
    e->loss_opts = (plan_loss_opts){.delta = 1};
    c->data = data_ok ? &e->data : NULL;
    if (v[S_LOSS])
        ck_loss(c, v[S_LOSS], e);
    if (model_ok && e->n_layers > 0) {
        plan_layer *last = &e->layers[e->n_layers - 1];
        bool ends_softmax = (last->kind == PLAN_SOFTMAX) || (last->kind == PLAN_DENSE && last->act == PLAN_ACT_SOFTMAX) ||
                            (last->kind == PLAN_CONV && last->act == PLAN_ACT_SOFTMAX);
        e->fused_softmax = e->loss == PLAN_LOSS_CROSS_ENTROPY && ends_softmax;
        /* the output must have one unit per class (per token for text); bce also takes one unit for two classes */
        plan_shape out = last->out;
        int width = out.kind == PLAN_VEC ? out.d[0] : out.kind == PLAN_SEQ ? out.d[1] : -1;
        int want = e->data.is_text ? e->data.vocab : e->data.classes;
        hp_span at = v[S_MODEL] ? v[S_MODEL]->span : d->name_span;
        hp_span loss_at = v[S_LOSS] ? v[S_LOSS]->span : at;
        char buf[64];
        if (data_ok && e->data.labels > 0 && e->loss != PLAN_LOSS_BCE) {
            hp_report(c->d, HP_ERROR, NULL, loss_at,
                      "data '%s' has %d label columns (multi-label targets, each 0 or 1): use loss = bce, which scores "
                      "each output against its own label",
                      e->data.name, e->data.labels);
        } else if (data_ok && e->data.labels > 0 && !ends_softmax && width != e->data.labels) {
            if (width < 0)
                hp_report(c->d, HP_ERROR, NULL, at,
                          "the model's output %s is not a vector of scores; end it with `dense %d` (one output per "
                          "label column of data '%s')",
                          plan_shape_str(out, buf, sizeof buf), e->data.labels, e->data.name);
            else
                hp_report(c->d, HP_ERROR, NULL, at,
                          "the model's output has %d units, but data '%s' has %d label columns: multi-label bce needs "
                          "one output per label (end the model with `dense %d`)",
                          width, e->data.name, e->data.labels, e->data.labels);
        } else if (e->loss == PLAN_LOSS_BCE && data_ok && e->data.is_text) {
            hp_report(c->d, HP_ERROR, NULL, loss_at,
                      "bce scores labelled data; a language model predicts one token of many: use cross_entropy");
        } else if (e->loss == PLAN_LOSS_BCE && ends_softmax) {
            hp_report(c->d, HP_ERROR, NULL, loss_at,
                      "bce applies a sigmoid to each output, but the model ends in softmax: end it with `dense %s` "
                      "and no activation (or use cross_entropy)",
                      data_ok && e->data.labels > 0 ? hp_sprintf(&c->p->arena, "%d", e->data.labels)
                      : width == 1                  ? "1"
                                                    : "classes");
        } else if (e->loss == PLAN_LOSS_BCE && data_ok && width == 1 && want > 0) {
            e->loss_opts.binary = true;
            if (want != 2)
                hp_report(c->d, HP_ERROR, NULL, at,
                          "bce with one output scores two classes (labels 0 and 1), but data '%s' has %d classes: end "
                          "the model with `dense classes`",
                          e->data.name, want);
        } else if (data_ok && width < 0) {
            hp_report(c->d, HP_ERROR, NULL, at, "the model's output %s is not a vector of scores; end it with `dense %s`",
                      plan_shape_str(out, buf, sizeof buf), e->data.is_text ? "vocab" : "classes");
        } else if (data_ok && want > 0 && width != want) {
            hp_diag *g = hp_report(c->d, HP_ERROR, NULL, at,
                                   "the model's output has %d units, but data '%s' has %d %s", width, e->data.name,
                                   want, e->data.is_text ? "token ids (vocab)" : "classes");
            (void)g;
        } else if (data_ok && e->data.is_text && out.kind != PLAN_SEQ) {
            hp_report(c->d, HP_ERROR, NULL, at,
                      "a language model predicts the next token at every step: its output must be a sequence "
                      "[T, vocab], not %s (remove `last`)",
                      plan_shape_str(out, buf, sizeof buf));
        }
    }

    e->lrfind = (hprt_lrfind){.start = 1e-7, .end = 10, .steps = 100, .suggest = HPRT_SUGGEST_VALLEY, .stop_div = true};
    c->lrfind = &e->lrfind;
    c->data = data_ok ? &e->data : NULL;

    /* optimizer */
    e->optimizer = (hprt_optimizer){.kind = HPRT_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    bool find = false;
    if (v[S_OPTIMIZER])
        ck_optimizer(c, v[S_OPTIMIZER], &e->optimizer, &find);
    e->uses_find_lr |= find;

    /* clip */
    if (v[S_CLIP] && !ck_is_name(v[S_CLIP], "none"))
        ck_num_range(c, v[S_CLIP], "clip", 0, true, INFINITY, false, &e->clip);

    /* schedule */
    e->schedule.kind = HPRT_SCHED_CONSTANT;
    if (v[S_SCHEDULE]) {
        find = false;
        ck_schedule(c, v[S_SCHEDULE], &e->schedule, &find, has_valid, NULL);
        e->uses_find_lr |= find;
    }
    /* momentum cycling needs something to cycle: SGD or RMSprop with momentum, Adam's beta1 */
    for (hprt_schedule *sc = &e->schedule; sc; sc = sc->kind == HPRT_SCHED_WARMUP ? sc->then : NULL) {
        if (sc->kind != HPRT_SCHED_CYCLIC && sc->kind != HPRT_SCHED_ONE_CYCLE)
            continue;
        hprt_opt_kind k = e->optimizer.kind;
        bool can = hprt_opt_can_cycle(&e->optimizer);
        if (!can && sc->cycle_momentum && sc->cycle_momentum_explicit)
            hp_report(c->d, HP_WARNING, NULL, v[S_SCHEDULE]->span,
                      "cycle_momentum = true has nothing to cycle: %s has no momentum (give it momentum > 0, or use "
                      "adam)",
                      plan_opt_name(k));
        if (!can)
            sc->cycle_momentum = false;
    }

    /* batch */
    e->batch = (hprt_batch){.size = 128, .start = 128, .factor = 2, .max = 128};
    if (v[S_BATCH]) {
        if (ck_batch(c, v[S_BATCH], &e->batch)) {
            if (e->batch.adaptive) {
                batch_note(c, e->batch.start, v[S_BATCH]->span);
                if (is_pow2(e->batch.start) && e->batch.start >= 64)
                    batch_note(c, e->batch.max, v[S_BATCH]->span);
            } else {
                batch_note(c, e->batch.size, v[S_BATCH]->span);
            }
        }
    }

    /* epochs */
    e->epochs = 10;
    long n;
    if (v[S_EPOCHS] && ck_int(c, v[S_EPOCHS], "epochs", 1, 1000000, &n))
        e->epochs = (int)n;

    /* stop, regularize */
    e->stop.kind = HPRT_STOP_NONE;
    if (v[S_STOP])
        ck_stop(c, v[S_STOP], &e->stop, has_valid);
    if (v[S_REGULARIZE]) {
        ck_regularize(c, v[S_REGULARIZE], &e->regularize, has_valid);
        if (e->regularize.adaptive_dropout && e->n_layers > 0) {
            bool any = false;
            for (int i = 0; i < e->n_layers; i++)
                any |= e->layers[i].kind == PLAN_DROPOUT || e->layers[i].dropout > 0;
            if (!any)
                hp_report(c->d, HP_WARNING, NULL, v[S_REGULARIZE]->span,
                          "adaptive_dropout has no dropout layer to adjust");
        }
    }

    /* seed, threads */
    if (v[S_SEED] && ck_int(c, v[S_SEED], "seed", 0, LONG_MAX, &n))
        e->seed = (uint64_t)n;
    if (v[S_THREADS] && ck_int(c, v[S_THREADS], "threads", 1, HPRT_MAX_THREADS, &n))
        e->threads = (int)n;
    /* checkpoint = N steps | N epochs: last.hpw that often too (always at epoch ends) */
    if (v[S_CHECKPOINT] && !ck_is_name(v[S_CHECKPOINT], "epoch"))
        ck_duration(c, v[S_CHECKPOINT], "checkpoint", &e->checkpoint);
    /* tensorboard = "DIR": event files for TensorBoard there too */
    const char *tb;
    if (v[S_TENSORBOARD] && ck_string(c, v[S_TENSORBOARD], "tensorboard", &tb)) {
        if (!*tb)
            hp_report(c->d, HP_ERROR, NULL, v[S_TENSORBOARD]->span, "tensorboard must name a directory, not \"\"");
        else
            e->tensorboard = hp_strdup(c->out, tb);
    }

    c->lrfind = NULL;
    c->data = NULL;

    /* what `hpc run` would refuse before its first step (check_limits.c) */
    if (model_ok && md && c->d->errors_seen == errors_before)
        ck_experiment_limits(c, e, md, v[S_MODEL]->span, v[S_BATCH] ? v[S_BATCH]->span : d->name_span);

    if (data_ok && e->data.valid.kind == PLAN_SRC_NONE)
        hp_report(c->d, HP_NOTE, "no-valid", v[S_DATA] ? v[S_DATA]->span : d->name_span,
                  "data '%s' has no validation split, so over-fitting cannot be seen; add `valid = split(train, 0.1)`",
                  e->data.name);

    return c->d->errors_seen == errors_before ? e : NULL;
}

/* ---- searches ---- */

enum { Q_BASE, Q_STRATEGY, Q_OBJECTIVE, Q_PARALLEL, Q__COUNT };
static const char *const search_settings[Q__COUNT] = {"base", "strategy", "objective", "parallel"};

const char *const *hp_check_settings(hp_decl_kind k, int *n)
{
    switch (k) {
    case HP_DECL_DATA: return ck_data_settings(n);
    case HP_DECL_EXPERIMENT: *n = S__COUNT; return experiment_settings;
    case HP_DECL_SEARCH: *n = Q__COUNT; return search_settings;
    case HP_DECL_IMPORT:
    case HP_DECL_MODEL: break;
    }
    *n = 0;
    return NULL;
}

/* What planning the base with one value of a vary showed: whether it
 * checks, the compiled shapes it needs, and the seed's rules it breaks. */
enum { LINT_BATCH, LINT_DENSE, LINT_RNN, LINT_EMBED, LINT__COUNT };
static const char *const lint_names[LINT__COUNT] = {"batch-pow2", "dense-depth", "vanilla-rnn", "embed-dim"};
typedef struct {
    bool ok;
    uint64_t shape;
    bool lint[LINT__COUNT];
} vary_try;

/* Checks one value of a vary by planning the base experiment with it. */
static vary_try try_vary_value(ck *c, hp_decl *base, const hp_vary *vy, ck_val *value)
{
    ck sub = *c;
    ck_override o = {.parts = vy->path, .n_parts = vy->n_path, .span = value->span, .v = value};
    sub.ov = &o;
    sub.n_ov = 1;
    hp_arena scratch = {0};
    sub.out = &scratch;
    int before = c->d->errors_seen;
    c->d->quiet_notes++; /* notes belong to the base, not to each value tried */
    plan_experiment *e = check_experiment(&sub, base);
    c->d->quiet_notes--;
    vary_try r = {.ok = c->d->errors_seen == before};
    if (e && r.ok) {
        r.shape = plan_shape_hash(e);
        int b = e->batch.adaptive ? e->batch.start : e->batch.size, dense = 0;
        r.lint[LINT_BATCH] = b > 0 && (b & (b - 1)) != 0;
        for (int i = 0; i < e->n_layers; i++) {
            const plan_layer *l = &e->layers[i];
            dense += l->kind == PLAN_DENSE;
            r.lint[LINT_RNN] |= l->kind == PLAN_RNN;
            r.lint[LINT_EMBED] |= l->kind == PLAN_EMBED && (l->units < 50 || l->units > 200);
        }
        r.lint[LINT_DENSE] = dense > 3;
    }
    hp_arena_free(&scratch);
    return r;
}

/* The seed's rules over a space: one warning per rule, at the vary line,
 * with the values that break it. */
static void vary_lints(ck *c, const hp_vary *vy, const vary_try *tries, const char *const *texts, int n)
{
    static const char *const what[LINT__COUNT] = {
        "batch sizes that are not powers of two",
        "more than three dense layers (rarely better than three)",
        "a vanilla RNN (GRU or LSTM learn longer dependencies)",
        "embedding sizes outside 50-200",
    };
    for (int r = 0; r < LINT__COUNT; r++) {
        char list[512] = "";
        size_t off = 0;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (tries[i].lint[r] && off < sizeof list)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", k++ ? ", " : "", texts[i]);
        if (k)
            hp_report(c->d, HP_WARNING, lint_names[r], vy->path_span, "this space includes %s: %s", what[r], list);
    }
}

static const char *const vary_settings[] = {"data", "model", "loss", "optimizer", "clip", "schedule", "batch",
                                            "epochs", "stop", "regularize", "seed", "threads", "checkpoint"};

static bool check_vary_path(ck *c, hp_decl *base, const hp_vary *vy)
{
    const char *first = vy->path[0];
    int n = (int)(sizeof vary_settings / sizeof *vary_settings);
    int k = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(vary_settings[i], first) == 0)
            k = i;
    if (k < 0) {
        const char *s = ck_suggest(first, vary_settings, n);
        hp_report(c->d, HP_ERROR, NULL, vy->path_spans[0], "cannot vary '%s'%s%s%s", first,
                  s ? "; did you mean '" : ": it is not an experiment setting", s ? s : "", s ? "'?" : "");
        return false;
    }
    if (vy->n_path > 2) {
        hp_report(c->d, HP_ERROR, NULL, vy->path_span, "a vary path has at most two parts (`model.depth`)");
        return false;
    }
    if (vy->n_path == 2) {
        static const char *const nested[] = {"model", "optimizer", "schedule", "stop", "batch", "regularize", "loss"};
        bool ok = false;
        for (size_t i = 0; i < sizeof nested / sizeof *nested; i++)
            ok |= strcmp(nested[i], first) == 0;
        if (!ok) {
            hp_report(c->d, HP_ERROR, NULL, vy->path_span, "'%s' has no parameters to vary", first);
            return false;
        }
        if (strcmp(first, "model") == 0) {
            /* the parameter must exist in the base's model */
            for (int i = 0; i < base->n_settings; i++) {
                hp_setting *s = base->settings[i];
                if (strcmp(s->name, "model") != 0)
                    continue;
                const hp_expr *m = s->value;
                const char *mname = m->kind == HP_EX_CALL ? m->callee : m->kind == HP_EX_PATH ? m->parts[0] : NULL;
                hp_decl *md = NULL;
                for (int j = 0; mname && j < c->p->n_names; j++)
                    if (strcmp(c->p->names[j].name, mname) == 0 && c->p->names[j].decl->kind == HP_DECL_MODEL)
                        md = c->p->names[j].decl;
                if (!md)
                    return true; /* reported by the base */
                const char *params[64];
                int np = 0;
                for (int j = 0; j < md->n_settings && np < 64; j++) {
                    if (strcmp(md->settings[j]->name, vy->path[1]) == 0)
                        return true;
                    params[np++] = md->settings[j]->name;
                }
                const char *sg = ck_suggest(vy->path[1], params, np);
                hp_diag *g = hp_report(c->d, HP_ERROR, NULL, vy->path_spans[1], "model '%s' has no parameter '%s'%s%s%s",
                                       md->name, vy->path[1], sg ? "; did you mean '" : "", sg ? sg : "", sg ? "'?" : "");
                hp_attach_note(c->d, g, md->name_span, "model '%s' is declared here", md->name);
                return false;
            }
        }
    }
    return true;
}

static plan_search *check_search(ck *c, hp_decl *d)
{
    plan_search *s = hp_alloc(c->out, sizeof *s);
    s->name = hp_strdup(c->out, d->name);
    s->file = hp_strdup(c->out, hp_diags_source(c->d, d->file)->path);
    s->line = d->name_span.line;
    int errors_before = c->d->errors_seen;
    hp_setting *st[Q__COUNT];
    ck_index_settings(c, d, search_settings, Q__COUNT, st, "a search");
    ck_val *v[Q__COUNT];
    for (int i = 0; i < Q__COUNT; i++)
        v[i] = st[i] ? ck_eval(c, st[i]->value, NULL) : NULL;

    hp_decl *base = NULL;
    if (!v[Q_BASE]) {
        if (!d->broken)
            hp_report(c->d, HP_ERROR, NULL, d->name_span, "search '%s' needs 'base = EXPERIMENT'", d->name);
    } else if (v[Q_BASE]->k == V_NAME)
        base = ck_lookup(c, v[Q_BASE]->s, v[Q_BASE]->span, HP_DECL_EXPERIMENT, "experiment");
    else if (v[Q_BASE]->k != V_POISON)
        hp_report(c->d, HP_ERROR, NULL, v[Q_BASE]->span, "'base' must name an experiment, not %s",
                  ck_describe(c, v[Q_BASE]));
    if (base)
        s->base = check_experiment(c, base); /* with the --set overrides, if any */

    /* strategy */
    s->strategy = PLAN_STRATEGY_GRID;
    s->eta = 3;
    s->parallel = 0; /* one trial per core (hpc search resolves it) */
    bool all_finite = true;
    for (int i = 0; i < d->n_varies; i++)
        all_finite &= d->varies[i]->space != HP_SPACE_CALL;
    if (v[Q_STRATEGY]) {
        const char *choices = "grid|random|tpe|hyperband|asha";
        const char *name = v[Q_STRATEGY]->k == V_NAME || v[Q_STRATEGY]->k == V_CALL ? v[Q_STRATEGY]->s : NULL;
        int k = -1;
        for (int i = 0; name && i < PLAN_STRATEGY__COUNT; i++)
            if (strcmp(name, plan_strategy_name((plan_strategy)i)) == 0)
                k = i;
        if (k < 0 && v[Q_STRATEGY]->k != V_POISON) {
            ck_val tmp = *v[Q_STRATEGY];
            tmp.k = V_NAME;
            if (v[Q_STRATEGY]->k == V_CALL)
                tmp.span = v[Q_STRATEGY]->name_span;
            if (name)
                ck_choice(c, &tmp, "strategy", choices);
            else
                ck_choice(c, v[Q_STRATEGY], "strategy", choices);
        } else if (k >= 0) {
            s->strategy = (plan_strategy)k;
            /* every parameter of every strategy, in one list; each strategy takes its own */
            enum { A_TRIALS, A_MAX_EPOCHS, A_ETA, A_SAMPLE, A_STARTUP, A_SEED, A__COUNT };
            static const char *const p_grid[] = {""};
            static const char *const p_random[] = {"!trials", "seed"};
            static const char *const p_hyper[] = {"!max_epochs", "eta", "sample", "startup", "seed"};
            static const char *const p_asha[] = {"!max_epochs", "eta", "!trials", "sample", "startup", "seed"};
            static const char *const p_tpe[] = {"!trials", "startup", "seed"};
            static const int at_random[] = {A_TRIALS, A_SEED};
            static const int at_hyper[] = {A_MAX_EPOCHS, A_ETA, A_SAMPLE, A_STARTUP, A_SEED};
            static const int at_asha[] = {A_MAX_EPOCHS, A_ETA, A_TRIALS, A_SAMPLE, A_STARTUP, A_SEED};
            static const int at_tpe[] = {A_TRIALS, A_STARTUP, A_SEED};
            const char *const *params[] = {p_grid, p_random, p_hyper, p_asha, p_tpe};
            const int *where[] = {NULL, at_random, at_hyper, at_asha, at_tpe};
            int counts[] = {0, 2, 5, 6, 3};
            ck_val *slot[6], *arg[A__COUNT] = {0};
            const char *what = hp_sprintf(&c->p->arena, "%s(...)", plan_strategy_name((plan_strategy)k));
            s->startup = 10;
            if (ck_bind(c, v[Q_STRATEGY], what, params[k], counts[k], slot)) {
                for (int i = 0; i < counts[k]; i++)
                    arg[where[k][i]] = slot[i];
                long x;
                double y;
                if (arg[A_TRIALS] && ck_int(c, arg[A_TRIALS], "trials", 1, 1000000, &x))
                    s->trials = (int)x;
                if (arg[A_MAX_EPOCHS] && ck_int(c, arg[A_MAX_EPOCHS], "max_epochs", 1, 1000000, &x))
                    s->max_epochs = (int)x;
                if (arg[A_ETA] && ck_num_range(c, arg[A_ETA], "eta", 1, true, INFINITY, false, &y))
                    s->eta = y;
                if (arg[A_STARTUP] && ck_int(c, arg[A_STARTUP], "startup", 0, 1000000, &x))
                    s->startup = (int)x;
                if (arg[A_SEED] && ck_int(c, arg[A_SEED], "seed", 0, 2147483647L, &x))
                    s->seed = (uint64_t)x;
                if (arg[A_SAMPLE])
                    s->sample_tpe = ck_choice(c, arg[A_SAMPLE], "sample", "random|tpe") == 1;
            }
            if (k == 0 && !all_finite)
                hp_report(c->d, HP_ERROR, NULL, v[Q_STRATEGY]->span,
                          "grid search needs finite spaces, but a `log(...)` or `uniform(...)` space is infinite; use "
                          "`random(trials = N)`");
        }
    } else if (!all_finite) {
        hp_report(c->d, HP_ERROR, NULL, d->name_span,
                  "search '%s' has an infinite space (log or uniform) and no strategy; grid search needs finite "
                  "spaces: set `strategy = random(trials = N)`",
                  d->name);
    }

    /* objective */
    s->objective = HPRT_METRIC_VAL_LOSS;
    s->objective_mode = HPRT_MODE_MIN;
    if (!v[Q_OBJECTIVE] && s->base && s->base->data.valid.kind == PLAN_SRC_NONE)
        hp_report(c->d, HP_ERROR, NULL, d->name_span,
                  "search '%s' minimizes val_loss (the default objective), but its base has no validation data; add "
                  "`valid = split(train, 0.1)` to the data or set `objective = minimize(train_loss)`",
                  d->name);
    if (v[Q_OBJECTIVE]) {
        ck_val *o = v[Q_OBJECTIVE];
        if (o->k == V_CALL && (strcmp(o->s, "minimize") == 0 || strcmp(o->s, "maximize") == 0)) {
            static const char *const p[] = {"!metric"};
            ck_val *slot[1];
            if (ck_bind(c, o, hp_sprintf(&c->p->arena, "%s(...)", o->s), p, 1, slot))
                ck_metric(c, slot[0], &s->objective, !s->base || s->base->data.valid.kind != PLAN_SRC_NONE);
            s->objective_mode = o->s[1] == 'a' ? HPRT_MODE_MAX : HPRT_MODE_MIN;
        } else if (o->k != V_POISON) {
            hp_report(c->d, HP_ERROR, NULL, o->span,
                      "objective must be `minimize(METRIC)` or `maximize(METRIC)`, not %s", ck_describe(c, o));
        }
    }
    long x;
    if (v[Q_PARALLEL] && ck_int(c, v[Q_PARALLEL], "parallel", 1, 1024, &x))
        s->parallel = (int)x;

    /* varies */
    if (d->n_varies > PLAN_MAX_VARIES)
        hp_report(c->d, HP_ERROR, NULL, d->varies[PLAN_MAX_VARIES]->span,
                  "search '%s' varies more than %d paths, the most a study journals", d->name, PLAN_MAX_VARIES);
    s->varies = hp_alloc(c->out, sizeof *s->varies * (size_t)(d->n_varies ? d->n_varies : 1));
    for (int i = 0; i < d->n_varies; i++) {
        const hp_vary *vy = d->varies[i];
        if (vy->broken)
            continue;
        plan_vary *pv = &s->varies[s->n_varies];
        for (int j = 0; j < i; j++) {
            const hp_vary *o = d->varies[j];
            bool same = o->n_path == vy->n_path;
            for (int k = 0; same && k < vy->n_path; k++)
                same = strcmp(o->path[k], vy->path[k]) == 0;
            if (same) {
                hp_diag *g = hp_report(c->d, HP_ERROR, NULL, vy->path_span, "this path is varied twice");
                hp_attach_note(c->d, g, o->path_span, "first varied here");
            }
        }
        char *path = hp_strdup(c->out, vy->path[0]);
        for (int k = 1; k < vy->n_path; k++)
            path = hp_sprintf(c->out, "%s.%s", path, vy->path[k]);
        pv->path = path;
        pv->line = vy->span.line;
        if (!base || !check_vary_path(c, base, vy))
            continue;
        int n_tries = 0, cap = vy->space == HP_SPACE_SET && vy->n_items > 2 ? vy->n_items : 2;
        vary_try *tries = hp_alloc(c->out, sizeof *tries * (size_t)cap);
        const char **texts = hp_alloc(c->out, sizeof *texts * (size_t)cap);
        if (vy->space == HP_SPACE_SET) {
            pv->kind = PLAN_SPACE_SET;
            pv->values = hp_alloc(c->out, sizeof *pv->values * (size_t)vy->n_items);
            for (int k = 0; k < vy->n_items; k++) {
                ck_val *val = ck_eval(c, vy->items[k], NULL);
                if (val->k == V_POISON)
                    continue;
                tries[pv->n_values] = try_vary_value(c, base, vy, val);
                pv->values[pv->n_values++] = ck_val_text(c->out, val);
            }
        } else {
            ck_val *lo, *hi;
            if (vy->space == HP_SPACE_RANGE) {
                pv->kind = PLAN_SPACE_RANGE;
                lo = ck_eval(c, vy->lo, NULL);
                hi = ck_eval(c, vy->hi, NULL);
                long a, b;
                if (!ck_int(c, lo, "the range's start", LONG_MIN / 2, LONG_MAX / 2, &a) ||
                    !ck_int(c, hi, "the range's end", LONG_MIN / 2, LONG_MAX / 2, &b))
                    continue;
                if (a > b) {
                    hp_report(c->d, HP_ERROR, NULL, vy->space_span, "the range %ld..%ld is empty", a, b);
                    continue;
                }
            } else {
                const ck_val *call = ck_eval(c, vy->call, NULL);
                if (call->k == V_POISON)
                    continue;
                if (call->k != V_CALL || (strcmp(call->s, "log") != 0 && strcmp(call->s, "uniform") != 0)) {
                    hp_report(c->d, HP_ERROR, NULL, vy->space_span,
                              "a search space is `{a, b, ...}`, `lo..hi`, `log(lo, hi)` or `uniform(lo, hi)`");
                    continue;
                }
                pv->kind = call->s[0] == 'l' ? PLAN_SPACE_LOG : PLAN_SPACE_UNIFORM;
                static const char *const p[] = {"!lo", "!hi"};
                ck_val *slot[2];
                if (!ck_bind(c, call, hp_sprintf(&c->p->arena, "%s(...)", call->s), p, 2, slot))
                    continue;
                lo = slot[0];
                hi = slot[1];
                double a, b;
                if (!ck_num(c, lo, "the space's low end", &a) || !ck_num(c, hi, "the space's high end", &b))
                    continue;
                if (pv->kind == PLAN_SPACE_LOG && !(a > 0)) {
                    hp_report(c->d, HP_ERROR, NULL, lo->span, "log(lo, hi) needs lo > 0; it is %g", a);
                    continue;
                }
                if (!(a < b)) {
                    hp_report(c->d, HP_ERROR, NULL, vy->space_span, "the low end %g is not below the high end %g", a, b);
                    continue;
                }
            }
            pv->lo = lo->num;
            pv->hi = hi->num;
            tries[0] = try_vary_value(c, base, vy, lo);
            if (tries[0].ok)
                tries[1] = try_vary_value(c, base, vy, hi);
            texts[0] = ck_val_text(c->out, lo);
            texts[1] = ck_val_text(c->out, hi);
            n_tries = tries[0].ok ? 2 : 1;
        }
        if (pv->kind == PLAN_SPACE_SET) {
            n_tries = pv->n_values;
            for (int k = 0; k < n_tries; k++)
                texts[k] = pv->values[k];
        }
        vary_lints(c, vy, tries, texts, n_tries);
        /* does it change the compiled shapes? */
        pv->shapes = 1;
        for (int k = 1; k < n_tries; k++)
            if (tries[k].ok && tries[0].ok && tries[k].shape != tries[0].shape)
                pv->changes_shape = true;
        if (pv->changes_shape) {
            if (pv->kind == PLAN_SPACE_SET) {
                pv->shapes = 0;
                for (int k = 0; k < n_tries; k++) {
                    bool seen = false;
                    for (int j = 0; j < k; j++)
                        seen |= tries[j].shape == tries[k].shape;
                    pv->shapes += !seen;
                }
            } else {
                pv->shapes = pv->kind == PLAN_SPACE_RANGE ? (long)(pv->hi - pv->lo) + 1 : -1; /* -1: one per trial */
            }
        }
        s->n_varies++;
    }
    if (s->strategy == PLAN_STRATEGY_GRID && s->n_varies == d->n_varies && search_grid_size(s) < 0)
        hp_report(c->d, HP_ERROR, NULL, v[Q_STRATEGY] ? v[Q_STRATEGY]->span : d->name_span,
                  "search '%s' has more than 1,000,000 grid configurations, the most a grid runs; use "
                  "`random(trials = N)` or `tpe(trials = N)`",
                  d->name);
    if (d->n_varies == 0 && base)
        hp_report(c->d, HP_WARNING, NULL, d->name_span, "search '%s' varies nothing: it runs its base once", d->name);
    return c->d->errors_seen == errors_before ? s : NULL;
}

/* ---- models and data on their own (hpc check) ---- */

static void check_unused_model(ck *c, hp_decl *m)
{
    plan_experiment scratch_e;
    memset(&scratch_e, 0, sizeof scratch_e);
    hp_arena scratch = {0};
    ck sub = *c;
    sub.out = &scratch;
    ck_model(&sub, m, NULL, NULL, &scratch_e, m->name_span);
    hp_arena_free(&scratch);
}

/* Marks the models that experiments' `model = ...` name (one pass: linear). */
static void mark_used_models(hp_program *p)
{
    for (int i = 0; i < p->n_names; i++) {
        hp_decl *d = p->names[i].decl;
        if (d->kind != HP_DECL_EXPERIMENT)
            continue;
        for (int j = 0; j < d->n_settings; j++) {
            hp_setting *s = d->settings[j];
            if (strcmp(s->name, "model") != 0)
                continue;
            const hp_expr *x = s->value;
            const char *n = x->bad ? NULL : x->kind == HP_EX_PATH ? x->parts[0] : x->kind == HP_EX_CALL ? x->callee : NULL;
            hp_decl *m = n ? find_name(p, n) : NULL;
            if (m && m->kind == HP_DECL_MODEL)
                m->used = true;
        }
    }
}

int hp_check_all(hp_program *p)
{
    ck c = {.p = p, .d = p->d};
    plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return ++p->d->errors_seen;
    c.out = &pl->arena;
    mark_used_models(p);
    for (int i = 0; i < p->n_names; i++) {
        hp_decl *d = p->names[i].decl;
        switch (d->kind) {
        case HP_DECL_DATA:
            ck_data(&c, d);
            break;
        case HP_DECL_MODEL:
            if (!d->used)
                check_unused_model(&c, d);
            break;
        case HP_DECL_EXPERIMENT:
            check_experiment(&c, d);
            break;
        case HP_DECL_SEARCH:
            check_search(&c, d);
            break;
        default:
            break;
        }
    }
    plan_free(pl);
    return p->d->errors_seen;
}

/* ---- overrides ---- */

static void parse_override_parts(ck *c, const char *path, ck_override *o)
{
    int n = 1;
    for (const char *s = path; *s; s++)
        n += *s == '.';
    o->parts = hp_alloc(&c->p->arena, sizeof *o->parts * (size_t)n);
    o->n_parts = 0;
    const char *s = path;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        o->parts[o->n_parts++] = hp_strndup(&c->p->arena, s, len);
        if (!dot)
            break;
        s = dot + 1;
    }
}

/* Parses `--set PATH=VALUE` values as .hp expressions (errors point into a
 * pseudo-file named after the option). */
static bool load_overrides(ck *c, const hp_override *ov, int n)
{
    c->ov = hp_alloc(&c->p->arena, sizeof *c->ov * (size_t)(n ? n : 1));
    c->n_ov = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const char *text = hp_sprintf(&c->p->arena, "experiment _ {\n    x = %s\n}\n", ov[i].value);
        size_t len = strlen(text);
        char *copy = malloc(len + 1);
        if (!copy)
            return false;
        memcpy(copy, text, len + 1);
        int file = hp_diags_add_source(c->d, hp_sprintf(&c->p->arena, "--set %s", ov[i].path), copy, len);
        int before = c->d->errors_seen;
        hp_ast *ast = hp_parse(c->d, file);
        if (!ast)
            return false;
        /* keep the AST alive with the program */
        ck_unit *u = hp_alloc(&c->p->arena, sizeof *u);
        u->file = file;
        u->dir = ".";
        u->ast = ast;
        ck_unit **units = hp_alloc(&c->p->arena, sizeof *units * (size_t)(c->p->n_units + 1));
        memcpy(units, c->p->units, sizeof *units * (size_t)c->p->n_units);
        units[c->p->n_units++] = u;
        c->p->units = units;
        if (c->d->errors_seen != before || ast->n_decls != 1 || ast->decls[0]->n_settings != 1) {
            if (c->d->errors_seen == before)
                hp_report_nospan(c->d, HP_ERROR, "--set %s=%s: the value is not one expression", ov[i].path,
                                 ov[i].value);
            ok = false;
            continue;
        }
        ck_override fresh = {0};
        parse_override_parts(c, ov[i].path, &fresh);
        /* the same path given twice: the later value wins, as with most command lines */
        ck_override *o = NULL;
        for (int k = 0; k < c->n_ov && !o; k++) {
            bool same = c->ov[k].n_parts == fresh.n_parts;
            for (int q = 0; same && q < fresh.n_parts; q++)
                same = strcmp(c->ov[k].parts[q], fresh.parts[q]) == 0;
            if (same)
                o = &c->ov[k];
        }
        if (!o)
            o = &c->ov[c->n_ov++];
        *o = fresh;
        o->v = ck_eval(c, ast->decls[0]->settings[0]->value, NULL);
        o->span = o->v->span;
    }
    return ok;
}

const char *hp_program_first_search(const hp_program *p)
{
    for (int i = 0; i < p->n_names; i++)
        if (p->names[i].decl->kind == HP_DECL_SEARCH && p->names[i].decl->file == p->root->file)
            return p->names[i].decl->name;
    return NULL;
}

plan *hp_plan(hp_program *p, const char *name, const hp_override *ov, int n_ov)
{
    ck c = {.p = p, .d = p->d};
    hp_decl *target = NULL;
    for (int i = 0; i < p->n_names && !target; i++) {
        hp_decl *d = p->names[i].decl;
        if (d->kind != HP_DECL_EXPERIMENT && d->kind != HP_DECL_SEARCH)
            continue;
        if (name ? strcmp(d->name, name) == 0 : d->kind == HP_DECL_EXPERIMENT && d->file == p->root->file)
            target = d;
    }
    /* no name and no experiment: the file's first search */
    for (int i = 0; i < p->n_names && !target && !name; i++)
        if (p->names[i].decl->kind == HP_DECL_SEARCH && p->names[i].decl->file == p->root->file)
            target = p->names[i].decl;
    if (!target) {
        if (name)
            hp_report_nospan(p->d, HP_ERROR, "'%s' declares no experiment or search called '%s'",
                             hp_diags_source(p->d, p->root->file)->path, name);
        else
            hp_report_nospan(p->d, HP_ERROR, "'%s' declares no experiment or search", hp_diags_source(p->d, p->root->file)->path);
        return NULL;
    }
    if (!load_overrides(&c, ov, n_ov))
        return NULL;
    plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    c.out = &pl->arena;
    int before = p->d->errors_seen;
    if (target->kind == HP_DECL_EXPERIMENT)
        pl->experiment = check_experiment(&c, target);
    else
        pl->search = check_search(&c, target);
    for (int i = 0; i < c.n_ov; i++) {
        const ck_override *o = &c.ov[i];
        if (o->used)
            continue;
        /* model.P is consumed by check_model; anything else unused is unknown */
        if (strcmp(o->parts[0], "model") == 0 && o->n_parts == 2)
            continue;
        bool known = false;
        for (int k = 0; k < S__COUNT; k++)
            known |= strcmp(experiment_settings[k], o->parts[0]) == 0;
        if (known) {
            hp_report_nospan(p->d, HP_ERROR, "--set: '%s' has no parts to set one by one; set the whole `%s`",
                             o->parts[0], o->parts[0]);
            continue;
        }
        const char *s = ck_suggest(o->parts[0], experiment_settings, S__COUNT);
        hp_report_nospan(p->d, HP_ERROR, "--set: '%s' is not a setting of experiment '%s'%s%s%s", o->parts[0],
                         target->name, s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    }
    if (p->d->errors_seen != before) {
        plan_free(pl);
        return NULL;
    }
    return pl;
}
