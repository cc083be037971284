/* check_model.c - models: parameters, repeat expansion, layer arguments and
 * shape inference (language.md §4-§5), and the layer notes of §12.
 *
 * A model is checked against the data of the experiment that uses it: the
 * data binds `classes`, `vocab` and `features`, and gives the input shape.  A
 * model no experiment uses is checked on its own; then the data-bound names
 * are unknown, and shape inference stops quietly where it needs them.
 */
#include <math.h>
#include <string.h>

#include "check_int.h"

static const char *const layer_names[PLAN_LAYER__COUNT] = {
#define X(e, name, args) name,
#include "layers.def"
#undef X
};

#define MAX_LAYERS 10000

typedef struct {
    ck *c;
    ck_scope *sc;
    const plan_data *data;
    plan_experiment *e;
    hp_vec layers;       /* plan_layer* */
    bool known;          /* the current shape is known */
    plan_shape shape;
    bool seen_input;
    int dense_run;       /* consecutive dense layers (dropout/activations between them allowed) */
    bool dense_noted;
    int recurrent_depth; /* stacked recurrent layers so far */
    bool too_many;
} mk_state;

static int find_kind(const char *name)
{
    for (int i = 0; i < PLAN_LAYER__COUNT; i++)
        if (strcmp(layer_names[i], name) == 0)
            return i;
    return -1;
}

static plan_act act_of_kind(plan_layer_kind k)
{
    switch (k) {
    case PLAN_RELU: return PLAN_ACT_RELU;
    case PLAN_TANH: return PLAN_ACT_TANH;
    case PLAN_SIGMOID: return PLAN_ACT_SIGMOID;
    case PLAN_GELU: return PLAN_ACT_GELU;
    case PLAN_SOFTMAX: return PLAN_ACT_SOFTMAX;
    default: return PLAN_ACT_NONE;
    }
}

/* `relu`, `tanh`, ... as the second argument of dense/conv ("none"/"linear": no activation). */
static bool read_act(ck *c, const ck_val *v, plan_act *out)
{
    int k = ck_choice(c, v, "activation", "relu|tanh|sigmoid|gelu|softmax|linear|none");
    if (k < 0)
        return false;
    static const plan_act acts[] = {PLAN_ACT_RELU, PLAN_ACT_TANH, PLAN_ACT_SIGMOID, PLAN_ACT_GELU, PLAN_ACT_SOFTMAX,
                                    PLAN_ACT_NONE, PLAN_ACT_NONE};
    *out = acts[k];
    return true;
}

static bool read_init(ck *c, const ck_val *v, plan_init *out)
{
    int k = ck_choice(c, v, "init", "default|xavier|kaiming|zeros");
    if (k < 0)
        return false;
    *out = (plan_init)k;
    return true;
}

static bool posint(ck *c, const ck_val *v, const char *what, int *out)
{
    long x;
    if (!ck_int(c, v, what, 1, 100000000, &x))
        return false;
    *out = (int)x;
    return true;
}

static bool mismatch(mk_state *m, const hp_layer *l, const char *needs, const char *hint)
{
    char buf[64];
    hp_report(m->c->d, HP_ERROR, NULL, l->kind_span, "%s needs %s, but its input is %s%s", l->kind, needs,
              plan_shape_str(m->shape, buf, sizeof buf), hint);
    m->known = false;
    return false;
}

/* The input layer: its shape, checked against the data. */
static void layer_input(mk_state *m, const hp_layer *l, ck_val **a, plan_layer *pl)
{
    ck *c = m->c;
    const ck_val *v = a[0];
    char x[64], y[64];
    if (m->seen_input) {
        hp_report(c->d, HP_ERROR, NULL, l->kind_span, "a model has exactly one `input`, as its first layer");
        return;
    }
    m->seen_input = true;
    plan_shape s = {PLAN_VEC, {0, 0, 0}};
    if (ck_is_name(v, "tokens")) {
        if (m->data && !m->data->is_text) {
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "`input tokens` needs text data, but data '%s' has samples of shape %s", m->data->name,
                      plan_shape_str(m->data->input, x, sizeof x));
            return;
        }
        if (!m->data)
            return; /* the sequence length comes from the data */
        s = m->data->input;
    } else if (v->k == V_NUM) {
        if (!posint(c, v, "the input size", &s.d[0]))
            return;
    } else if (v->k == V_LIST && (v->n_items == 1 || v->n_items == 3)) {
        for (int i = 0; i < v->n_items; i++)
            if (!posint(c, v->items[i], "an input dimension", &s.d[i]))
                return;
        s.kind = v->n_items == 3 ? PLAN_IMG : PLAN_VEC;
    } else {
        if (v->k != V_POISON)
            hp_report(c->d, HP_ERROR, NULL, v->span, "input must be a size N, a shape [C, H, W], or `tokens`; not %s",
                      ck_describe(c, v));
        return;
    }
    if (m->data && s.kind != PLAN_TOKENS) {
        const plan_data *d = m->data;
        if (d->is_text) {
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "data '%s' is text: its samples are token ids, so the model needs `input tokens`", d->name);
            return;
        }
        bool ok = plan_shape_size(s) == plan_shape_size(d->input);
        if (ok && s.kind == PLAN_IMG && d->input.kind == PLAN_IMG)
            ok = plan_shape_eq(s, d->input);
        if (!ok) {
            hp_report(c->d, HP_ERROR, NULL, v->span, "input %s does not match data '%s', whose samples are %s (%ld values)",
                      plan_shape_str(s, x, sizeof x), d->name, plan_shape_str(d->input, y, sizeof y),
                      plan_shape_size(d->input));
            return;
        }
    }
    pl->out = s;
    m->shape = s;
    m->known = true;
}

static void note_embed(ck *c, const ck_val *v, int dim)
{
    if (dim < 50 || dim > 200)
        hp_report(c->d, HP_NOTE, "embed-dim", v->span,
                  "embedding dimension %d is outside 50-200, the range that works well for most vocabularies", dim);
}

/* One layer statement with its kind resolved. */
static void one_layer(mk_state *m, const hp_layer *l, plan_layer_kind kind)
{
    ck *c = m->c;
    static const char *const p_input[] = {"!shape"};
    static const char *const p_dense[] = {"!units", "activation", "init"};
    static const char *const p_dropout[] = {"!p"};
    static const char *const p_embed[] = {"!dim"};
    static const char *const p_rnn[] = {"!units", "stack", "dropout"};
    static const char *const p_conv[] = {"!filters", "activation", "kernel", "stride", "pad", "init"};
    static const char *const p_pool[] = {"size", "stride"};
    const char *const *params = NULL;
    int n = 0;
    switch (kind) {
    case PLAN_INPUT: params = p_input, n = 1; break;
    case PLAN_DENSE: params = p_dense, n = 3; break;
    case PLAN_DROPOUT: params = p_dropout, n = 1; break;
    case PLAN_EMBED: params = p_embed, n = 1; break;
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: params = p_rnn, n = 3; break;
    case PLAN_CONV: params = p_conv, n = 6; break;
    case PLAN_MAXPOOL: case PLAN_AVGPOOL: params = p_pool, n = 2; break;
    default: break;
    }
    /* evaluate the arguments in the model's scope and bind them */
    ck_val call = {.k = V_CALL, .span = l->span, .s = l->kind, .name_span = l->kind_span, .n_args = l->n_args};
    call.args = hp_alloc(&c->p->arena, sizeof *call.args * (size_t)(l->n_args ? l->n_args : 1));
    for (int i = 0; i < l->n_args; i++) {
        call.args[i].name = l->args[i].name;
        call.args[i].name_span = l->args[i].name_span;
        call.args[i].v = ck_eval(c, l->args[i].value, m->sc);
    }
    ck_val *a[6] = {0};
    const char *what = layer_names[kind];
    if (!ck_bind(c, &call, what, params, n, a)) {
        if (kind != PLAN_INPUT)
            m->known = false;
        return;
    }

    if (kind != PLAN_INPUT && !m->seen_input) {
        hp_report(c->d, HP_ERROR, NULL, l->kind_span, "the first layer of a model must be `input`");
        m->seen_input = true; /* once */
        m->known = false;
    }
    if (m->layers.n >= MAX_LAYERS) {
        if (!m->too_many)
            hp_report(c->d, HP_ERROR, NULL, l->span, "the model has more than %d layers", MAX_LAYERS);
        m->too_many = true;
        return;
    }

    plan_layer *pl = hp_alloc(c->out, sizeof *pl);
    pl->kind = kind;
    pl->line = l->span.line;
    pl->in = m->shape;
    char buf[64];

    /* notes that do not depend on shapes */
    if (kind == PLAN_DENSE) {
        if (++m->dense_run == 4 && !m->dense_noted) {
            hp_report(c->d, HP_NOTE, "dense-depth", l->span,
                      "this is the 4th dense layer in a row: past three, returns usually decay; try fewer, wider "
                      "layers or a skip connection");
            m->dense_noted = true;
        }
    } else if (kind != PLAN_DROPOUT && act_of_kind(kind) == PLAN_ACT_NONE) {
        m->dense_run = 0;
    }
    if (kind == PLAN_RNN)
        hp_report(c->d, HP_NOTE, "vanilla-rnn", l->kind_span,
                  "a plain `rnn` forgets quickly; `gru` and `lstm` both do better in most settings");

    bool in_known = m->known;
    plan_shape in = m->shape;
    switch (kind) {
    case PLAN_INPUT:
        layer_input(m, l, a, pl);
        break;

    case PLAN_DENSE: {
        pl->act = PLAN_ACT_NONE;
        bool ok = posint(c, a[0], "units", &pl->units);
        if (a[1] && !read_act(c, a[1], &pl->act))
            ok = false;
        if (a[2] && !read_init(c, a[2], &pl->init))
            ok = false;
        if (!ok || !in_known) {
            m->known = false;
            break;
        }
        if (in.kind == PLAN_TOKENS) {
            mismatch(m, l, "features", "; add `embed DIM` after `input tokens`");
            break;
        }
        long fan_in = in.kind == PLAN_SEQ ? in.d[1] : plan_shape_size(in); /* images are flattened */
        long steps = in.kind == PLAN_SEQ ? in.d[0] : 1;
        pl->params = fan_in * pl->units + pl->units;
        pl->flops = steps * (2 * fan_in * pl->units + pl->units);
        m->shape = in.kind == PLAN_SEQ ? (plan_shape){PLAN_SEQ, {in.d[0], pl->units, 0}}
                                       : (plan_shape){PLAN_VEC, {pl->units, 0, 0}};
        break;
    }

    case PLAN_DROPOUT:
        if (!ck_num_range(c, a[0], "the dropout rate p", 0, false, 1, true, &pl->p))
            break; /* the shape is unchanged either way */
        if (in_known && in.kind == PLAN_TOKENS)
            mismatch(m, l, "features", "; dropout applies after `embed`");
        break;

    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX:
        pl->act = act_of_kind(kind);
        if (in_known && in.kind == PLAN_TOKENS) {
            mismatch(m, l, "features", "; add `embed DIM` after `input tokens`");
            break;
        }
        if (in_known)
            pl->flops = plan_shape_size(in) * (kind == PLAN_SOFTMAX || kind == PLAN_GELU ? 5 : 1);
        break;

    case PLAN_EMBED:
        if (!posint(c, a[0], "the embedding dimension", &pl->units)) {
            m->known = false;
            break;
        }
        note_embed(c, a[0], pl->units);
        if (!in_known)
            break;
        if (in.kind != PLAN_TOKENS) {
            mismatch(m, l, "token ids (`input tokens`)", "");
            break;
        }
        pl->vocab = m->data ? m->data->vocab : 0;
        pl->params = (long)pl->vocab * pl->units;
        m->shape = (plan_shape){PLAN_SEQ, {in.d[0], pl->units, 0}};
        break;

    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: {
        long stack = 1;
        pl->stack = 1;
        bool ok = posint(c, a[0], "units", &pl->units);
        if (a[1] && ck_int(c, a[1], "stack", 1, 1000, &stack))
            pl->stack = (int)stack;
        else if (a[1])
            ok = false;
        if (a[2] && !ck_num_range(c, a[2], "the dropout between stacked layers", 0, false, 1, true, &pl->dropout))
            ok = false;
        if (ok && pl->dropout > 0 && pl->stack == 1)
            hp_report(c->d, HP_WARNING, NULL, a[2]->span,
                      "dropout applies between stacked layers, and this has one (stack = 1): it has no effect");
        m->recurrent_depth += pl->stack;
        if (m->data && m->data->is_text && m->recurrent_depth > 2 && m->recurrent_depth - pl->stack <= 2)
            hp_report(c->d, HP_NOTE, "stack-depth", l->span,
                      "%d recurrent layers are stacked in a character-level model; past two, they rarely help and "
                      "train slowly",
                      m->recurrent_depth);
        if (!ok || !in_known) {
            m->known = false;
            break;
        }
        if (in.kind != PLAN_SEQ) {
            mismatch(m, l, "a sequence [T, N]", in.kind == PLAN_TOKENS ? "; add `embed DIM` first" : "");
            break;
        }
        long gates = kind == PLAN_RNN ? 1 : kind == PLAN_GRU ? 3 : 4;
        long H = pl->units, T = in.d[0], params = 0, flops = 0, width = in.d[1];
        for (int i = 0; i < pl->stack; i++) {
            params += gates * H * (width + H) + 2 * gates * H;
            flops += T * (2 * gates * H * (width + H) + 10 * gates * H);
            width = H;
        }
        pl->params = params;
        pl->flops = flops;
        m->shape = (plan_shape){PLAN_SEQ, {(int)T, (int)H, 0}};
        break;
    }

    case PLAN_LAST:
        if (!in_known)
            break;
        if (in.kind != PLAN_SEQ) {
            mismatch(m, l, "a sequence [T, N]", "");
            break;
        }
        m->shape = (plan_shape){PLAN_VEC, {in.d[1], 0, 0}};
        break;

    case PLAN_FLATTEN:
        if (!in_known)
            break;
        if (in.kind == PLAN_TOKENS) {
            mismatch(m, l, "features", "");
            break;
        }
        m->shape = (plan_shape){PLAN_VEC, {(int)plan_shape_size(in), 0, 0}};
        break;

    case PLAN_CONV: {
        bool ok = posint(c, a[0], "filters", &pl->units);
        long k = 3, s = 1;
        if (a[1] && !read_act(c, a[1], &pl->act))
            ok = false;
        if (a[2] && !ck_int(c, a[2], "kernel", 1, 1000, &k))
            ok = false;
        if (a[3] && !ck_int(c, a[3], "stride", 1, 1000, &s))
            ok = false;
        pl->pad_same = true;
        if (a[4]) {
            int p = ck_choice(c, a[4], "padding", "same|valid");
            if (p < 0)
                ok = false;
            pl->pad_same = p == 0;
        }
        if (a[5] && !read_init(c, a[5], &pl->init))
            ok = false;
        pl->kernel = (int)k;
        pl->stride = (int)s;
        if (ok && pl->pad_same && k % 2 == 0) {
            hp_report(c->d, HP_ERROR, NULL, a[2]->span,
                      "pad = same needs an odd kernel (it pads kernel/2 on every side); use %ld or %ld, or pad = valid",
                      k - 1, k + 1);
            ok = false;
        }
        if (!ok || !in_known) {
            m->known = false;
            break;
        }
        if (in.kind != PLAN_IMG) {
            mismatch(m, l, "an image [C, H, W]", in.kind == PLAN_VEC ? "; write `input [C, H, W]`" : "");
            break;
        }
        pl->pad = pl->pad_same ? (int)(k / 2) : 0;
        long H = (in.d[1] + 2L * pl->pad - k) / s + 1, W = (in.d[2] + 2L * pl->pad - k) / s + 1;
        if (in.d[1] + 2L * pl->pad < k || in.d[2] + 2L * pl->pad < k) {
            hp_report(c->d, HP_ERROR, NULL, l->span, "a %ldx%ld kernel does not fit the %dx%d input %s", k, k, in.d[1],
                      in.d[2], plan_shape_str(in, buf, sizeof buf));
            m->known = false;
            break;
        }
        pl->params = (long)pl->units * in.d[0] * k * k + pl->units;
        pl->flops = H * W * pl->units * (2L * in.d[0] * k * k + 1);
        m->shape = (plan_shape){PLAN_IMG, {pl->units, (int)H, (int)W}};
        break;
    }

    case PLAN_MAXPOOL: case PLAN_AVGPOOL: {
        long size = 2, s;
        bool ok = true;
        if (a[0] && !ck_int(c, a[0], "size", 1, 1000, &size))
            ok = false;
        s = size;
        if (a[1] && !ck_int(c, a[1], "stride", 1, 1000, &s))
            ok = false;
        pl->kernel = (int)size;
        pl->stride = (int)s;
        if (!ok || !in_known) {
            m->known = false;
            break;
        }
        if (in.kind != PLAN_IMG) {
            mismatch(m, l, "an image [C, H, W]", "");
            break;
        }
        if (in.d[1] < size || in.d[2] < size) {
            hp_report(c->d, HP_ERROR, NULL, l->span, "a %ldx%ld pool does not fit the input %s", size, size,
                      plan_shape_str(in, buf, sizeof buf));
            m->known = false;
            break;
        }
        long H = (in.d[1] - size) / s + 1, W = (in.d[2] - size) / s + 1;
        pl->flops = H * W * in.d[0] * size * size;
        m->shape = (plan_shape){PLAN_IMG, {in.d[0], (int)H, (int)W}};
        break;
    }
    default:
        break;
    }
    pl->out = m->shape;
    if (kind != PLAN_INPUT || m->known)
        hp_vec_push(c->out, &m->layers, pl);
}

static void expand(mk_state *m, hp_layer **layers, int n, int depth)
{
    ck *c = m->c;
    for (int i = 0; i < n && !m->too_many; i++) {
        const hp_layer *l = layers[i];
        if (l->broken) {
            m->known = false; /* what it meant is unknown, and so is every shape after it */
            m->seen_input |= strcmp(l->kind, "input") == 0;
            continue;
        }
        if (l->is_repeat) {
            ck_val *v = ck_eval(c, l->count, m->sc);
            long times;
            if (!ck_int(c, v, "the repeat count", 0, MAX_LAYERS, &times))
                continue;
            if (depth > CK_MAX_REPEAT_NESTING) {
                hp_report(c->d, HP_ERROR, NULL, l->kind_span, "repeats are nested too deeply");
                continue;
            }
            for (long t = 0; t < times && !m->too_many; t++)
                expand(m, l->body, l->n_body, depth + 1);
            continue;
        }
        /* the kind: a layer kind, or a parameter whose value names one */
        int kind = find_kind(l->kind);
        for (int p = 0; p < m->sc->n_params && kind < 0; p++) {
            if (strcmp(m->sc->param_names[p], l->kind) != 0)
                continue;
            const ck_val *pv = m->sc->param_vals[p];
            if (pv->k == V_POISON)
                goto skip;
            if (pv->k == V_NAME)
                kind = find_kind(pv->s);
            if (kind < 0) {
                hp_report(c->d, HP_ERROR, NULL, l->kind_span, "parameter '%s' is %s, which is not a layer kind", l->kind,
                          ck_describe(c, pv));
                goto skip;
            }
        }
        if (kind < 0) {
            const char *cands[PLAN_LAYER__COUNT + 64];
            int nc = 0;
            for (int k = 0; k < PLAN_LAYER__COUNT; k++)
                cands[nc++] = layer_names[k];
            for (int p = 0; p < m->sc->n_params && nc < PLAN_LAYER__COUNT + 64; p++)
                cands[nc++] = m->sc->param_names[p];
            const char *s = ck_suggest(l->kind, cands, nc);
            if (s)
                hp_report(c->d, HP_ERROR, NULL, l->kind_span, "unknown layer kind '%s'; did you mean '%s'?", l->kind, s);
            else
                hp_report(c->d, HP_ERROR, NULL, l->kind_span, "unknown layer kind '%s'", l->kind);
            goto skip;
        }
        one_layer(m, l, (plan_layer_kind)kind);
        continue;
    skip:
        m->known = false;
    }
}

bool ck_model(ck *c, hp_decl *model, const ck_val *use, const plan_data *data, plan_experiment *e, hp_span use_span)
{
    int before = c->d->errors_seen;
    int np = model->n_settings;
    if (np > CK_MAX_MODEL_PARAMS) { /* the rest are not read */
        hp_report(c->d, HP_ERROR, NULL, model->settings[CK_MAX_MODEL_PARAMS]->name_span,
                  "model '%s' has more than %d parameters", model->name, CK_MAX_MODEL_PARAMS);
        np = CK_MAX_MODEL_PARAMS;
    }
    ck_scope sc = {.data = data, .model = model};
    bool missing = false;
    const char *missing_name = NULL;
    hp_span missing_span = {0};
    sc.data_name_missing = &missing;
    sc.missing_name = &missing_name;
    sc.missing_span = &missing_span;
    sc.param_names = hp_alloc(&c->p->arena, sizeof *sc.param_names * (size_t)(np ? np : 1));
    sc.param_vals = hp_alloc(&c->p->arena, sizeof *sc.param_vals * (size_t)(np ? np : 1));
    sc.param_pinned = hp_alloc(&c->p->arena, sizeof *sc.param_pinned * (size_t)(np ? np : 1));

    /* defaults, evaluated with the data names but no other parameters */
    ck_scope defaults = sc;
    defaults.n_params = 0;
    for (int i = 0; i < np; i++) {
        hp_setting *s = model->settings[i];
        bool dup = false;
        for (int j = 0; j < sc.n_params; j++)
            if (strcmp(sc.param_names[j], s->name) == 0) {
                hp_diag *g = hp_report(c->d, HP_ERROR, NULL, s->name_span, "parameter '%s' is declared twice", s->name);
                hp_attach_note(c->d, g, model->settings[j]->name_span, "first declared here");
                dup = true;
            }
        if (dup)
            continue;
        sc.param_names[sc.n_params] = s->name;
        sc.param_vals[sc.n_params] = ck_eval(c, s->value, &defaults);
        sc.n_params++;
    }

    /* the experiment's overrides: model = m(p = v), then --set model.p=v */
    if (use && use->k == V_CALL) {
        for (int a = 0; a < use->n_args; a++) {
            const ck_arg *arg = &use->args[a];
            if (!arg->name) {
                hp_report(c->d, HP_ERROR, NULL, arg->v->span,
                          "model parameters are given by name: `%s(NAME = VALUE)`", model->name);
                continue;
            }
            int k = -1;
            for (int j = 0; j < sc.n_params; j++)
                if (strcmp(sc.param_names[j], arg->name) == 0)
                    k = j;
            if (k < 0) {
                const char *s = ck_suggest(arg->name, sc.param_names, sc.n_params);
                hp_diag *g = hp_report(c->d, HP_ERROR, NULL, arg->name_span, "model '%s' has no parameter '%s'%s%s%s",
                                       model->name, arg->name, s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
                hp_attach_note(c->d, g, model->name_span, "model '%s' is declared here", model->name);
                continue;
            }
            sc.param_vals[k] = arg->v;
            sc.param_pinned[k] = true; /* errors about it point at `p = v` */
        }
    }
    for (int i = 0; use && i < c->n_ov; i++) {
        ck_override *o = &c->ov[i];
        if (o->n_parts != 2 || strcmp(o->parts[0], "model") != 0)
            continue;
        o->used = true;
        int k = -1;
        for (int j = 0; j < sc.n_params; j++)
            if (strcmp(sc.param_names[j], o->parts[1]) == 0)
                k = j;
        if (k < 0) {
            const char *s = ck_suggest(o->parts[1], sc.param_names, sc.n_params);
            hp_report(c->d, HP_ERROR, NULL, o->span, "model '%s' has no parameter '%s'%s%s%s", model->name, o->parts[1],
                      s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
            continue;
        }
        sc.param_vals[k] = o->v;
        sc.param_pinned[k] = true;
    }

    mk_state m = {.c = c, .sc = &sc, .data = data, .e = e};
    if (!ck_expansion_ok(c, model, &sc, MAX_LAYERS)) { /* bounded before it is done */
        m.too_many = true;
        m.seen_input = true;
    }
    expand(&m, model->layers, model->n_layers, 0);
    if (model->broken)
        (void)0; /* a syntax error inside: what is missing is not news */
    else if (!m.seen_input && model->n_layers > 0)
        hp_report(c->d, HP_ERROR, NULL, model->name_span, "model '%s' has no `input` layer", model->name);
    else if (model->n_layers == 0)
        hp_report(c->d, HP_ERROR, NULL, model->name_span, "model '%s' has no layers", model->name);
    if (missing && data) {
        hp_diag *g = hp_report(c->d, HP_ERROR, NULL, use_span, "model '%s' uses '%s', which data '%s' does not have%s",
                               model->name, missing_name, data->name,
                               strcmp(missing_name, "vocab") == 0 ? " (vocab comes from text data)"
                               : strcmp(missing_name, "classes") == 0 ? " (classes come from labels)"
                                                                      : " (features come from CSV data)");
        hp_attach_note(c->d, g, missing_span, "'%s' is used here", missing_name);
    }

    e->model = hp_strdup(c->out, model->name);
    e->n_params = sc.n_params;
    e->params = hp_alloc(c->out, sizeof *e->params * (size_t)(sc.n_params ? sc.n_params : 1));
    for (int i = 0; i < sc.n_params; i++) {
        e->params[i].name = hp_strdup(c->out, sc.param_names[i]);
        e->params[i].value = ck_val_text(c->out, sc.param_vals[i]);
    }
    e->n_layers = m.layers.n;
    e->layers = hp_alloc(c->out, sizeof *e->layers * (size_t)(m.layers.n ? m.layers.n : 1));
    e->total_params = 0;
    e->total_flops = 0;
    for (int i = 0; i < m.layers.n; i++) {
        e->layers[i] = *(plan_layer *)m.layers.items[i];
        e->total_params += e->layers[i].params;
        e->total_flops += e->layers[i].flops;
    }
    return c->d->errors_seen == before;
}
