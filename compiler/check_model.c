/* check_model.c - models: parameters, repeat expansion, layer arguments and
 * shape inference (docs/language.md §4-§8), and the layer notes of §18.
 *
 * A model is checked against the data of the experiment that uses it: the
 * data binds `classes`, `vocab` and `features`, and gives the input shape.  A
 * model no experiment uses is checked on its own; then the data-bound names
 * are unknown, and shape inference stops quietly where it needs them.
 */
#include <math.h>
#include <string.h>

#include "check_int.h"
#include "hprt_step.h"

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
    int dropout_sites;   /* dropout masks so far (HPRT_MAX_DROPOUT at most) */
    bool too_many;
} mk_state;

static plan_act act_of_kind(plan_layer_kind k)
{
    switch (k) {
    case PLAN_RELU: return PLAN_ACT_RELU;
    case PLAN_TANH: return PLAN_ACT_TANH;
    case PLAN_SIGMOID: return PLAN_ACT_SIGMOID;
    case PLAN_GELU: return PLAN_ACT_GELU;
    case PLAN_SOFTMAX: return PLAN_ACT_SOFTMAX;
    case PLAN_INPUT: case PLAN_DENSE: case PLAN_DROPOUT: case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
    case PLAN_LAST: case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_FLATTEN: case PLAN_LAYERNORM:
    case PLAN_BATCHNORM: case PLAN_EMBED_COLUMNS:
        return PLAN_ACT_NONE;
    }
    return PLAN_ACT_NONE;
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
    } else if (v->k == V_LIST && v->n_items >= 1 && v->n_items <= 3) {
        for (int i = 0; i < v->n_items; i++)
            if (!posint(c, v->items[i], "an input dimension", &s.d[i]))
                return;
        /* [T, F]: a sequence of T steps of F features, one whole sequence per sample */
        s.kind = v->n_items == 3 ? PLAN_IMG : v->n_items == 2 ? PLAN_SEQ : PLAN_VEC;
    } else {
        if (v->k != V_POISON)
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "input must be a size N, a sequence [T, F], a shape [C, H, W], or `tokens`; not %s",
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
        if (!ok && s.kind == PLAN_SEQ) {
            hp_report(c->d, HP_ERROR, NULL, v->span,
                      "input %s is a sequence of %d steps of %d features, %ld values per sample, but data '%s' has "
                      "samples of %s (%ld values)%s",
                      plan_shape_str(s, x, sizeof x), s.d[0], s.d[1], plan_shape_size(s), d->name,
                      plan_shape_str(d->input, y, sizeof y), plan_shape_size(d->input),
                      d->train.kind == PLAN_SRC_CSV ? "; a CSV sequence row holds the label and T x F features, "
                      "step by step (step 0's F features, then step 1's, ...)" : "");
            return;
        }
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

/* A layer's arguments, read and range-checked as its row of layers.def says. */
typedef struct {
    ck_val *v[8];  /* as written; NULL: not given (the hook applies the default) */
    double num[8]; /* INT, NUM: the value */
    int pick[8];   /* CHOICE, ACT, INIT: the index in the choices */
} layer_args;

static bool read_args(ck *c, const plan_layer_info *info, layer_args *a)
{
    bool ok = true;
    for (int i = 0; i < info->n_args; i++) {
        const plan_layer_arg *d = &info->args[i];
        const ck_val *v = a->v[i];
        long x;
        if (!v)
            continue;
        switch (d->type) {
        case PLAN_ARG_INT:
            if (ck_int(c, v, d->what, (long)d->lo, (long)d->hi, &x))
                a->num[i] = (double)x;
            else
                ok = false;
            break;
        case PLAN_ARG_NUM:
            ok &= ck_num_range(c, v, d->what, d->lo, d->lo_open, d->hi, d->hi_open, &a->num[i]);
            break;
        case PLAN_ARG_CHOICE: case PLAN_ARG_ACT: case PLAN_ARG_INIT:
            a->pick[i] = ck_choice(c, v, d->what, d->choices);
            ok &= a->pick[i] >= 0;
            break;
        case PLAN_ARG_SHAPE: /* the input's hook reads it */
            break;
        }
    }
    return ok;
}

/* The activation picked from LA_ACT's choices ("linear"/"none": no activation). */
static plan_act picked_act(const layer_args *a, int i)
{
    static const plan_act acts[] = {PLAN_ACT_RELU, PLAN_ACT_TANH, PLAN_ACT_SIGMOID, PLAN_ACT_GELU, PLAN_ACT_SOFTMAX,
                                    PLAN_ACT_NONE, PLAN_ACT_NONE};
    return a->v[i] && a->pick[i] >= 0 ? acts[a->pick[i]] : PLAN_ACT_NONE;
}

/* The initialiser picked from the argument's choices (LA_INIT, LA_INIT_EMBED,
 * LA_INIT_RNN: words of inits.def), found by its name. */
static plan_init picked_init(const layer_args *a, int i, const char *choices)
{
    if (!a->v[i] || a->pick[i] < 0)
        return PLAN_INIT_DEFAULT;
    const char *c = choices;
    for (int k = 0; k < a->pick[i] && *c; k++)
        c += strcspn(c, "|") + (c[strcspn(c, "|")] == '|');
    size_t len = strcspn(c, "|");
    for (int k = 0; k < PLAN_INIT__COUNT; k++) {
        const char *name = plan_init_name((plan_init)k);
        if (strlen(name) == len && strncmp(name, c, len) == 0)
            return (plan_init)k;
    }
    return PLAN_INIT_DEFAULT;
}


/* What every kind's check hook gets: the arguments (ok: all valid) and the
 * input shape (in_known: it is known).  A hook fills pl and sets m->shape to
 * its output shape (m->known = false when that is unknown). */
typedef struct {
    mk_state *m;
    const hp_layer *l;
    plan_layer *pl;
    layer_args *a;
    bool ok, in_known;
    plan_shape in;
} layer_ctx;

static plan_init init_arg(const layer_ctx *x, int i)
{
    return picked_init(x->a, i, plan_layer_info_of(x->pl->kind)->args[i].choices);
}

static void check_input(layer_ctx *x)
{
    layer_input(x->m, x->l, x->a->v, x->pl);
}

static void check_dense(layer_ctx *x)
{
    mk_state *m = x->m;
    plan_layer *pl = x->pl;
    plan_shape in = x->in;
    pl->units = (int)x->a->num[0];
    pl->act = picked_act(x->a, 1);
    pl->init = init_arg(x, 2);
    if (!x->ok || !x->in_known) {
        m->known = false;
        return;
    }
    if (in.kind == PLAN_TOKENS) {
        mismatch(m, x->l, "features", "; add `embed DIM` after `input tokens`");
        return;
    }
    long fan_in = in.kind == PLAN_SEQ ? in.d[1] : plan_shape_size(in); /* images are flattened */
    long steps = in.kind == PLAN_SEQ ? in.d[0] : 1;
    pl->params = fan_in * pl->units + pl->units;
    pl->flops = steps * (2 * fan_in * pl->units + pl->units);
    m->shape = in.kind == PLAN_SEQ ? (plan_shape){PLAN_SEQ, {in.d[0], pl->units, 0}}
                                   : (plan_shape){PLAN_VEC, {pl->units, 0, 0}};
}

/* n more dropout masks at layer l: an error when they pass the compiled step's limit. */
static void add_dropout_sites(mk_state *m, const hp_layer *l, int n)
{
    if (m->dropout_sites <= HPRT_MAX_DROPOUT && m->dropout_sites + n > HPRT_MAX_DROPOUT)
        hp_report(m->c->d, HP_ERROR, NULL, l->span,
                  "the model has more than %d dropout sites, the most hpc compiles (each `dropout` is one, and a "
                  "recurrent stack with dropout has one between each two of its layers)",
                  HPRT_MAX_DROPOUT);
    m->dropout_sites += n;
}

static void check_dropout(layer_ctx *x)
{
    if (!x->ok)
        return; /* the shape is unchanged either way */
    add_dropout_sites(x->m, x->l, 1);
    x->pl->p = x->a->num[0];
    if (x->in_known && x->in.kind == PLAN_TOKENS)
        mismatch(x->m, x->l, "features", "; dropout applies after `embed`");
}

static void check_activation(layer_ctx *x)
{
    plan_layer_kind kind = x->pl->kind;
    x->pl->act = act_of_kind(kind);
    if (x->in_known && x->in.kind == PLAN_TOKENS) {
        mismatch(x->m, x->l, "features", "; add `embed DIM` after `input tokens`");
        return;
    }
    if (x->in_known)
        x->pl->flops = plan_shape_size(x->in) * (kind == PLAN_SOFTMAX || kind == PLAN_GELU ? 5 : 1);
}

static void check_embed(layer_ctx *x)
{
    mk_state *m = x->m;
    plan_layer *pl = x->pl;
    if (!x->ok) {
        m->known = false;
        return;
    }
    pl->units = (int)x->a->num[0];
    pl->init = init_arg(x, 1);
    note_embed(m->c, x->a->v[0], pl->units);
    if (!x->in_known)
        return;
    if (x->in.kind != PLAN_TOKENS) {
        mismatch(m, x->l, "token ids (`input tokens`)", "");
        return;
    }
    pl->vocab = m->data ? m->data->vocab : 0;
    pl->params = (long)pl->vocab * pl->units;
    m->shape = (plan_shape){PLAN_SEQ, {x->in.d[0], pl->units, 0}};
}

static void check_recurrent(layer_ctx *x)
{
    mk_state *m = x->m;
    ck *c = m->c;
    plan_layer *pl = x->pl;
    const layer_args *a = x->a;
    plan_layer_kind kind = pl->kind;
    pl->units = (int)a->num[0];
    pl->stack = a->v[1] && a->num[1] >= 1 ? (int)a->num[1] : 1;
    pl->dropout = a->v[2] ? a->num[2] : 0;
    pl->init = init_arg(x, 3);
    if (x->ok && pl->dropout > 0 && pl->stack == 1)
        hp_report(c->d, HP_WARNING, NULL, a->v[2]->span,
                  "dropout applies between stacked layers, and this has one (stack = 1): it has no effect");
    m->recurrent_depth += pl->stack;
    if (x->ok && pl->dropout > 0)
        add_dropout_sites(m, x->l, pl->stack - 1);
    if (m->data && m->recurrent_depth > 2 && m->recurrent_depth - pl->stack <= 2)
        hp_report(c->d, HP_NOTE, "stack-depth", x->l->span,
                  "%d recurrent layers are stacked in a %s model; past two, they rarely help and train slowly",
                  m->recurrent_depth, m->data->is_text ? "character-level" : "sequence classification");
    if (!x->ok || !x->in_known) {
        m->known = false;
        return;
    }
    plan_shape in = x->in;
    if (in.kind != PLAN_SEQ) {
        mismatch(m, x->l, "a sequence [T, N]", in.kind == PLAN_TOKENS ? "; add `embed DIM` first" : "");
        return;
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
}

static void check_last(layer_ctx *x)
{
    if (!x->in_known)
        return;
    if (x->in.kind != PLAN_SEQ) {
        mismatch(x->m, x->l, "a sequence [T, N]", "");
        return;
    }
    x->m->shape = (plan_shape){PLAN_VEC, {x->in.d[1], 0, 0}};
}

static void check_flatten(layer_ctx *x)
{
    if (!x->in_known)
        return;
    if (x->in.kind == PLAN_TOKENS) {
        mismatch(x->m, x->l, "features", "");
        return;
    }
    x->m->shape = (plan_shape){PLAN_VEC, {(int)plan_shape_size(x->in), 0, 0}};
}

static void check_conv(layer_ctx *x)
{
    mk_state *m = x->m;
    ck *c = m->c;
    plan_layer *pl = x->pl;
    const layer_args *a = x->a;
    plan_shape in = x->in;
    char buf[64];
    bool ok = x->ok;
    long k = a->v[2] && a->num[2] >= 1 ? (long)a->num[2] : 3, s = a->v[3] && a->num[3] >= 1 ? (long)a->num[3] : 1;
    pl->units = (int)a->num[0];
    pl->act = picked_act(a, 1);
    pl->pad_same = !a->v[4] || a->pick[4] == 0;
    pl->init = init_arg(x, 5);
    pl->kernel = (int)k;
    pl->stride = (int)s;
    if (ok && pl->pad_same && k % 2 == 0) {
        hp_report(c->d, HP_ERROR, NULL, a->v[2]->span,
                  "pad = same needs an odd kernel (it pads kernel/2 on every side); use %ld or %ld, or pad = valid",
                  k - 1, k + 1);
        ok = false;
    }
    if (!ok || !x->in_known) {
        m->known = false;
        return;
    }
    if (in.kind != PLAN_IMG) {
        mismatch(m, x->l, "an image [C, H, W]", in.kind == PLAN_VEC ? "; write `input [C, H, W]`" : "");
        return;
    }
    pl->pad = pl->pad_same ? (int)(k / 2) : 0;
    long H = (in.d[1] + 2L * pl->pad - k) / s + 1, W = (in.d[2] + 2L * pl->pad - k) / s + 1;
    if (in.d[1] + 2L * pl->pad < k || in.d[2] + 2L * pl->pad < k) {
        hp_report(c->d, HP_ERROR, NULL, x->l->span, "a %ldx%ld kernel does not fit the %dx%d input %s", k, k, in.d[1],
                  in.d[2], plan_shape_str(in, buf, sizeof buf));
        m->known = false;
        return;
    }
    pl->params = (long)pl->units * in.d[0] * k * k + pl->units;
    pl->flops = H * W * pl->units * (2L * in.d[0] * k * k + 1);
    m->shape = (plan_shape){PLAN_IMG, {pl->units, (int)H, (int)W}};
}

static void check_pool(layer_ctx *x)
{
    mk_state *m = x->m;
    plan_layer *pl = x->pl;
    plan_shape in = x->in;
    char buf[64];
    long size = x->a->v[0] && x->a->num[0] >= 1 ? (long)x->a->num[0] : 2;
    long s = x->a->v[1] && x->a->num[1] >= 1 ? (long)x->a->num[1] : size; /* stride = size */
    pl->kernel = (int)size;
    pl->stride = (int)s;
    if (!x->ok || !x->in_known) {
        m->known = false;
        return;
    }
    if (in.kind != PLAN_IMG) {
        mismatch(m, x->l, "an image [C, H, W]", "");
        return;
    }
    if (in.d[1] < size || in.d[2] < size) {
        hp_report(m->c->d, HP_ERROR, NULL, x->l->span, "a %ldx%ld pool does not fit the input %s", size, size,
                  plan_shape_str(in, buf, sizeof buf));
        m->known = false;
        return;
    }
    long H = (in.d[1] - size) / s + 1, W = (in.d[2] - size) / s + 1;
    pl->flops = H * W * in.d[0] * size * size;
    m->shape = (plan_shape){PLAN_IMG, {in.d[0], (int)H, (int)W}};
}

/* layernorm: over the features of a vector, of each step of a sequence, or
 * all C·H·W of an image (torch.nn.LayerNorm of that shape); the shape is
 * unchanged. */
static void check_layernorm(layer_ctx *x)
{
    plan_layer *pl = x->pl;
    pl->eps = x->a->v[0] && x->ok ? x->a->num[0] : 1e-5;
    if (!x->ok)
        x->m->known = false;
    if (!x->ok || !x->in_known)
        return;
    if (x->in.kind == PLAN_TOKENS) {
        mismatch(x->m, x->l, "features", "; add `embed DIM` after `input tokens`");
        return;
    }
    long D = x->in.kind == PLAN_SEQ ? x->in.d[1] : plan_shape_size(x->in);
    pl->params = 2 * D;
    pl->flops = 8 * plan_shape_size(x->in);
}

/* batchnorm: each feature of a vector, or each channel of an image over the
 * batch and H·W (torch.nn.BatchNorm1d / BatchNorm2d); the shape is
 * unchanged.  Statistics over the batch mean nothing for a sequence's steps
 * or a recurrent layer's state (layernorm is the norm there). */
static void check_batchnorm(layer_ctx *x)
{
    mk_state *m = x->m;
    plan_layer *pl = x->pl;
    pl->momentum = x->a->v[0] && x->ok ? x->a->num[0] : 0.1;
    pl->eps = x->a->v[1] && x->ok ? x->a->num[1] : 1e-5;
    if (!x->ok)
        m->known = false;
    for (int k = m->layers.n - 1; k >= 0; k--) { /* the nearest such layer */
        const plan_layer *prev = m->layers.items[k];
        if (plan_layer_has(prev->kind, PLAN_LK_RECURRENT) || prev->kind == PLAN_EMBED) {
            hp_report(m->c->d, HP_ERROR, NULL, x->l->kind_span,
                      "batchnorm cannot follow `%s` (line %d): statistics over the batch do not suit sequences and "
                      "recurrent state; use `layernorm`",
                      plan_layer_name(prev->kind), prev->line);
            m->known = false;
            return;
        }
    }
    if (!x->ok || !x->in_known)
        return;
    if (x->in.kind == PLAN_TOKENS) {
        mismatch(m, x->l, "features", "; add `embed DIM` after `input tokens`");
        return;
    }
    if (x->in.kind == PLAN_SEQ) {
        mismatch(m, x->l, "a vector or an image [C, H, W]", "; a sequence's steps take `layernorm`");
        return;
    }
    long C = x->in.kind == PLAN_IMG ? x->in.d[0] : plan_shape_size(x->in);
    pl->params = 2 * C;
    pl->flops = 4 * plan_shape_size(x->in);
}

/* embed_columns is the data's, never written in a model. */
static void check_embed_columns(layer_ctx *x)
{
    hp_report(x->m->c->d, HP_ERROR, NULL, x->l->kind_span,
              "`embed_columns` is not written in a model: it comes from the data's "
              "`csv(..., categories = [embed(\"COLUMN\", DIM)])`, right after `input`");
    x->m->known = false;
}

/* The data's embedded categorical columns, right after `input [features]`:
 * the stored row (an id per embedded column) in, the model's features out. */
static void push_embed_columns(mk_state *m, const plan_layer *input, hp_span at)
{
    ck *c = m->c;
    const plan_data *d = m->data;
    if (!d || d->row_features == d->features || !m->known)
        return;
    if (input->out.kind != PLAN_VEC) {
        char b[64];
        hp_report(c->d, HP_ERROR, NULL, at,
                  "data '%s' embeds categorical columns, so the model's input is a vector `input features`, not %s",
                  d->name, plan_shape_str(input->out, b, sizeof b));
        m->known = false;
        return;
    }
    plan_layer *pl = hp_alloc(c->out, sizeof *pl);
    pl->kind = PLAN_EMBED_COLUMNS;
    pl->line = input->line;
    pl->in = (plan_shape){PLAN_VEC, {d->row_features, 0, 0}};
    pl->out = input->out;
    char desc[256] = "";
    size_t len = 0;
    for (int i = 0; i < d->csv.n_cats; i++) {
        const hprt_csv_category *cat = &d->csv.cats[i];
        if (cat->dim <= 0)
            continue;
        pl->params += (long)(cat->n + 1) * cat->dim;
        char one[96];
        if (cat->name)
            snprintf(one, sizeof one, "input.%.40s %dx%d", cat->name, cat->n + 1, cat->dim);
        else
            snprintf(one, sizeof one, "input.%d %dx%d", cat->column, cat->n + 1, cat->dim);
        if (len + strlen(one) + 2 < sizeof desc)
            len += (size_t)snprintf(desc + len, sizeof desc - len, "%s%s", len ? ", " : "", one);
    }
    pl->columns = hp_strdup(c->out, desc);
    pl->flops = 0;
    hp_vec_push(c->out, &m->layers, pl);
}

/* One layer statement with its kind resolved. */
static void one_layer(mk_state *m, const hp_layer *l, plan_layer_kind kind)
{
    ck *c = m->c;
    const plan_layer_info *info = plan_layer_info_of(kind);
    const char *params[8];
    for (int i = 0; i < info->n_args && i < 8; i++)
        params[i] = info->args[i].bind;
    /* evaluate the arguments in the model's scope and bind them */
    ck_val call = {.k = V_CALL, .span = l->span, .s = l->kind, .name_span = l->kind_span, .n_args = l->n_args};
    call.args = hp_alloc(&c->p->arena, sizeof *call.args * (size_t)(l->n_args ? l->n_args : 1));
    for (int i = 0; i < l->n_args; i++) {
        call.args[i].name = l->args[i].name;
        call.args[i].name_span = l->args[i].name_span;
        call.args[i].v = ck_eval(c, l->args[i].value, m->sc);
    }
    layer_args a;
    memset(&a, 0, sizeof a);
    if (!ck_bind(c, &call, info->name, params, info->n_args, a.v)) {
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

    /* notes that do not depend on shapes */
    if (kind == PLAN_DENSE) {
        if (++m->dense_run == 4 && !m->dense_noted) {
            hp_report(c->d, HP_NOTE, "dense-depth", l->span,
                      "this is the 4th dense layer in a row: past three, returns usually decay; try fewer, wider "
                      "layers or a skip connection");
            m->dense_noted = true;
        }
    } else if (kind != PLAN_DROPOUT && !plan_layer_has(kind, PLAN_LK_ACTIVATION)) {
        m->dense_run = 0;
    }
    if (kind == PLAN_DROPOUT && m->layers.n > 0 &&
        ((const plan_layer *)m->layers.items[m->layers.n - 1])->kind == PLAN_BATCHNORM)
        hp_report(c->d, HP_NOTE, "dropout-after-batchnorm", l->kind_span,
                  "dropout right after batchnorm: the variance the next layer sees differs between training and "
                  "evaluation (Li et al., 2019); put the dropout after the last batchnorm block, or use one of the two");
    if (kind == PLAN_RNN)
        hp_report(c->d, HP_NOTE, "vanilla-rnn", l->kind_span,
                  "a plain `rnn` forgets quickly; `gru` and `lstm` both do better in most settings");

    layer_ctx x = {.m = m, .l = l, .pl = pl, .a = &a, .in_known = m->known, .in = m->shape};
    x.ok = read_args(c, info, &a);
    switch (kind) { /* each kind's check hook */
    case PLAN_INPUT: check_input(&x); break;
    case PLAN_DENSE: check_dense(&x); break;
    case PLAN_DROPOUT: check_dropout(&x); break;
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX: check_activation(&x); break;
    case PLAN_EMBED: check_embed(&x); break;
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: check_recurrent(&x); break;
    case PLAN_LAST: check_last(&x); break;
    case PLAN_FLATTEN: check_flatten(&x); break;
    case PLAN_CONV: check_conv(&x); break;
    case PLAN_MAXPOOL: case PLAN_AVGPOOL: check_pool(&x); break;
    case PLAN_LAYERNORM: check_layernorm(&x); break;
    case PLAN_BATCHNORM: check_batchnorm(&x); break;
    case PLAN_EMBED_COLUMNS: check_embed_columns(&x); break;
    }
    pl->out = m->shape;
    if (kind != PLAN_INPUT || m->known)
        hp_vec_push(c->out, &m->layers, pl);
    if (kind == PLAN_INPUT)
        push_embed_columns(m, pl, l->span);
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
        int kind = plan_layer_find(l->kind);
        for (int p = 0; p < m->sc->n_params && kind < 0; p++) {
            if (strcmp(m->sc->param_names[p], l->kind) != 0)
                continue;
            const ck_val *pv = m->sc->param_vals[p];
            if (pv->k == V_POISON)
                goto skip;
            if (pv->k == V_NAME)
                kind = plan_layer_find(pv->s);
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
                cands[nc++] = plan_layer_name((plan_layer_kind)k);
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
