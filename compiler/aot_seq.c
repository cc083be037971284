/* aot_seq.c - the inference forward pass of a sequence classifier as a
 * standalone object (hpc build of a model that starts with `input [T, F]`).
 *
 * NAME_predict_with(input, output, n, scratch) takes, per sample, the T·F
 * raw floats of one sequence (step-major, as the run read it), applies the
 * data's scale and normalisation, and runs the layers over the sample one
 * at a time.  Every activation is a matrix of `rows` x `width` floats: T x N
 * for a sequence, 1 x N for a vector.  Layers that apply at every step
 * (dense, layernorm, activations) work row by row with the weights of
 * aot.c (dense stored transposed: the inner loop runs along memory); a
 * recurrent layer runs each layer of its stack from a zero state over the
 * T steps (aot.c's matvec and cell_update, the same ones as a language
 * model's step); `last` keeps the final row; dropout (also between stacked
 * layers) is the identity; batchnorm is folded (aot.c's bn_fold) or
 * applied as y = x·a + c.  The header and the NAME_predict wrapper are
 * aot.c's, with this file's scratch size.
 */
#include <string.h>

#include "aot_int.h"

bool hp_aot_seq_supports(plan_layer_kind k)
{
    switch (k) {
    case PLAN_INPUT: case PLAN_DENSE: case PLAN_DROPOUT: case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID:
    case PLAN_GELU: case PLAN_SOFTMAX: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_LAST:
    case PLAN_FLATTEN: case PLAN_LAYERNORM: case PLAN_BATCHNORM:
        return true;
    case PLAN_EMBED: case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: /* tokens or images: not a [T, F] model */
    case PLAN_EMBED_COLUMNS: /* a vector input */
        return false;
    }
    return false;
}

bool aot_seq_model(const plan_experiment *e, const cg_layout *l)
{
    return !l->text && e->n_layers > 0 && e->layers[0].out.kind == PLAN_SEQ;
}

static long round16(long n) { return (n + 15) & ~15L; }

/* The scratch in floats: two activation buffers of the largest layer
 * output, the gate projections gi and gh, and h and c of the widest
 * recurrent layer. */
static void seq_widths(const plan_experiment *e, const cg_layout *l, long *act, long *gates, long *hidden)
{
    *act = *gates = *hidden = 1;
    for (int i = 0; i < e->n_layers; i++) {
        long w = (long)plan_shape_size(e->layers[i].out);
        *act = w > *act ? w : *act;
        for (int s = 0; s < l->layers[i].n_rnn; s++) {
            const hprt_rnn_geom *gm = &l->layers[i].rnn[s].geom;
            long GH = (long)hprt_rnn_gates(gm->cell) * gm->hidden;
            *gates = GH > *gates ? GH : *gates;
            *hidden = gm->hidden > *hidden ? gm->hidden : *hidden;
        }
    }
    *act = round16(*act);
    *gates = round16(*gates);
    *hidden = round16(*hidden);
}

long aot_seq_scratch_bytes(const plan_experiment *e, const cg_layout *l)
{
    long act, gates, hidden;
    seq_widths(e, l, &act, &gates, &hidden);
    return 4 * (2 * act + 2 * gates + 2 * hidden);
}

static LLVMValueRef imul(cg *g, LLVMValueRef a, long b) { return LLVMBuildMul(g->b, a, cg_i64(g, b), ""); }

/* The activation: x, `rows` rows of `width` floats, in buffer `at` (A, B,
 * or the recurrent state h). */
typedef struct {
    LLVMValueRef x, at;
    long rows, width;
} seq_act;

/* Elementwise activation a (softmax: per row) in place on the activation. */
static void activate(cg *g, plan_act a, const seq_act *s)
{
    if (a == PLAN_ACT_NONE)
        return;
    if (a == PLAN_ACT_SOFTMAX) {
        cg_softmax_rows(g, s->x, s->x, s->width, cg_i64(g, 0), cg_i64(g, s->rows));
        return;
    }
    cg_loop J;
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, s->rows * s->width));
    cg_store_f(g, cg_act_forward(g, a, cg_load_f(g, s->x, J.i)), s->x, J.i);
    cg_end(g, &J);
}

/* A recurrent layer (its whole stack) over the sequence in s, into dst
 * (and, for the stack's last layer when `last` follows, only into h). */
static int recurrent(cg *g, int i, const hp_aot_options *o, seq_act *s, LLVMValueRef A, LLVMValueRef B,
                     LLVMValueRef gi, LLVMValueRef gh, LLVMValueRef h, LLVMValueRef c, bool last_follows)
{
    const cg_layer_layout *L = &g->l->layers[i];
    const float *P = o->params + L->w;
    char name[48];
    for (int k = 0; k < L->n_rnn; k++) {
        const hprt_rnn_geom *gm = &L->rnn[k].geom;
        long H = gm->hidden, GH = (long)hprt_rnn_gates(gm->cell) * H, in = gm->in, T = s->rows;
        if (in != s->width)
            return -1;
        const float *Wih = P + L->rnn[k].w, *Whh = Wih + GH * in, *bih = Whh + GH * H, *bhh = bih + GH;
        snprintf(name, sizeof name, "Wih%d_%d", i, k);
        LLVMValueRef WihT = const_transposed(g, name, Wih, GH, in);
        snprintf(name, sizeof name, "Whh%d_%d", i, k);
        LLVMValueRef WhhT = const_transposed(g, name, Whh, GH, H);
        if (!WihT || !WhhT)
            return -1;
        snprintf(name, sizeof name, "bih%d_%d", i, k);
        LLVMValueRef Bi = const_floats(g, name, bih, GH);
        snprintf(name, sizeof name, "bhh%d_%d", i, k);
        LLVMValueRef Bh = const_floats(g, name, bhh, GH);
        /* the state starts at zero in every sample */
        LLVMBuildMemSet(g->b, h, LLVMConstInt(g->t_i8, 0, 0), cg_i64(g, 4 * H), 4);
        if (gm->cell == HPRT_CELL_LSTM)
            LLVMBuildMemSet(g->b, c, LLVMConstInt(g->t_i8, 0, 0), cg_i64(g, 4 * H), 4);
        bool keep_steps = !(last_follows && k == L->n_rnn - 1);
        LLVMValueRef dst = s->at == A ? B : A;
        cg_loop t;
        cg_for(g, &t, cg_i64(g, 0), cg_i64(g, T));
        matvec(g, WihT, Bi, cg_fptr(g, s->x, imul(g, t.i, in)), in, GH, gi);
        matvec(g, WhhT, Bh, h, H, GH, gh);
        cell_update(g, gm->cell, H, gi, gh, h, gm->cell == HPRT_CELL_LSTM ? c : NULL);
        if (keep_steps)
            LLVMBuildMemCpy(g->b, cg_fptr(g, dst, imul(g, t.i, H)), 4, h, 4, cg_i64(g, 4 * H));
        cg_end(g, &t);
        /* dropout between stacked layers: off at inference */
        if (keep_steps) {
            s->x = s->at = dst;
        } else { /* `last` keeps only the final step: h itself */
            s->x = s->at = h;
            s->rows = 1;
        }
        s->width = H;
    }
    return 0;
}

/* Layer i on the activation s; A and B are the activation buffers. */
static int seq_layer(cg *g, int i, const hp_aot_options *o, seq_act *s, LLVMValueRef A, LLVMValueRef B,
                     LLVMValueRef gi, LLVMValueRef gh, LLVMValueRef h, LLVMValueRef c)
{
    const plan_experiment *e = g->e;
    const plan_layer *pl = &e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    char name[48];
    switch (pl->kind) {
    case PLAN_INPUT: case PLAN_DROPOUT: /* dropout: off at inference */
        return 0;
    case PLAN_FLATTEN: /* a view: the rows are contiguous */
        s->width *= s->rows;
        s->rows = 1;
        return 0;
    case PLAN_LAST:
        s->x = cg_fptr(g, s->x, cg_i64(g, (s->rows - 1) * s->width));
        s->rows = 1;
        return 0;
    case PLAN_DENSE: { /* at every row, the same weights */
        long U = pl->units, N = s->width;
        if (L->w_size != U * N)
            return -1;
        snprintf(name, sizeof name, "W%d", i);
        LLVMValueRef WT = const_transposed(g, name, o->params + L->w, U, N);
        if (!WT)
            return -1;
        snprintf(name, sizeof name, "b%d", i);
        LLVMValueRef Bv = const_floats(g, name, o->params + L->b, U);
        LLVMValueRef dst = s->at == A ? B : A;
        cg_loop t;
        cg_for(g, &t, cg_i64(g, 0), cg_i64(g, s->rows));
        matvec(g, WT, Bv, cg_fptr(g, s->x, imul(g, t.i, N)), N, U, cg_fptr(g, dst, imul(g, t.i, U)));
        cg_end(g, &t);
        s->x = s->at = dst;
        s->width = U;
        activate(g, L->logits ? PLAN_ACT_NONE : pl->act, s);
        return 0;
    }
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX:
        if (!L->skip) /* a final softmax folded into cross_entropy: applied at the end */
            activate(g, pl->act, s);
        return 0;
    case PLAN_LAYERNORM: { /* each row over its features, in place */
        if (L->w_size != s->width)
            return -1;
        snprintf(name, sizeof name, "w%d", i);
        LLVMValueRef W = const_floats(g, name, o->params + L->w, L->w_size);
        snprintf(name, sizeof name, "b%d", i);
        LLVMValueRef Bv = const_floats(g, name, o->params + L->b, L->b_size);
        cg_layernorm_forward(g, s->x, s->x, W, Bv, NULL, s->width, pl->eps, cg_i64(g, 0), cg_i64(g, s->rows));
        return 0;
    }
    case PLAN_BATCHNORM: { /* a vector (the checker allows no sequence): folded, or y = x·a + c (bn_fold) */
        if (bn_folded(e, i))
            return 0;
        long C = L->width, n = s->rows * s->width;
        if (C <= 0 || n % C != 0)
            return -1;
        long Sp = n / C;
        snprintf(name, sizeof name, "w%d", i);
        LLVMValueRef Av = const_floats(g, name, o->params + L->w, C);
        snprintf(name, sizeof name, "b%d", i);
        LLVMValueRef Cv = const_floats(g, name, o->params + L->b, C);
        cg_loop K1, K2;
        cg_for(g, &K1, cg_i64(g, 0), cg_i64(g, C));
        cg_for(g, &K2, cg_i64(g, 0), cg_i64(g, Sp));
        LLVMValueRef k = iadd(g, imul(g, K1.i, Sp), K2.i);
        cg_store_f(g, fadd(g, fmul(g, cg_load_f(g, s->x, k), cg_load_f(g, Av, K1.i)), cg_load_f(g, Cv, K1.i)), s->x, k);
        cg_end(g, &K2);
        cg_end(g, &K1);
        return 0;
    }
    case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
        return recurrent(g, i, o, s, A, B, gi, gh, h, c, i + 1 < e->n_layers && e->layers[i + 1].kind == PLAN_LAST);
    case PLAN_EMBED: case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_EMBED_COLUMNS: /* hp_aot_seq_supports: false */
        return -1;
    }
    return -1;
}

int aot_seq_emit(cg *g, const hp_aot_options *o, LLVMTypeRef t_size, const char *fname)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    long F = l->features, K = l->classes, act, gates, hidden;
    seq_widths(e, l, &act, &gates, &hidden);
    plan_shape in0 = e->layers[0].out;
    if (in0.kind != PLAN_SEQ || (long)in0.d[0] * in0.d[1] != F)
        return -1;

    /* int NAME_predict_with(const float *in, float *out, size_t n, void *scratch), as fname */
    LLVMValueRef arg[4];
    aot_predict_with_begin(g, fname, t_size, arg);
    LLVMValueRef in = arg[0], out = arg[1], n = arg[2], scratch = arg[3];
    /* the scratch: A, B, gi, gh, h, c */
    LLVMValueRef A = scratch, B = cg_fptr(g, A, cg_i64(g, act));
    LLVMValueRef gi = cg_fptr(g, B, cg_i64(g, act)), gh = cg_fptr(g, gi, cg_i64(g, gates));
    LLVMValueRef h = cg_fptr(g, gh, cg_i64(g, gates)), c = cg_fptr(g, h, cg_i64(g, hidden));
    LLVMValueRef mean = o->mean ? const_floats(g, "mean", o->mean, F) : NULL;
    LLVMValueRef sd = o->std ? const_floats(g, "std", o->std, F) : NULL;
    cg_loop S, J;
    cg_for(g, &S, cg_i64(g, 0), n);
    /* the preprocessing: scale, then normalisation (per step and feature), as the training data had */
    LLVMValueRef x = cg_fptr(g, in, imul(g, S.i, F));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, F));
    LLVMValueRef v = fmul(g, cg_load_f(g, x, J.i), cg_f32(g, e->data.scale));
    if (mean)
        v = fdiv(g, fsub(g, v, cg_load_f(g, mean, J.i)), cg_load_f(g, sd, J.i));
    cg_store_f(g, v, A, J.i);
    cg_end(g, &J);
    seq_act s = {.x = A, .at = A, .rows = in0.d[0], .width = in0.d[1]};
    for (int i = 1; i < e->n_layers; i++)
        if (seq_layer(g, i, o, &s, A, B, gi, gh, h, c) != 0)
            return -1;
    if (s.rows * s.width != K)
        return -1;
    /* cross_entropy's scores are logits (a final softmax is folded into the loss, or the model has none): the
     * caller gets probabilities, as from hpc predict */
    if (e->loss == PLAN_LOSS_CROSS_ENTROPY)
        cg_softmax_rows(g, s.x, s.x, K, cg_i64(g, 0), cg_i64(g, 1));
    LLVMBuildMemCpy(g->b, cg_fptr(g, out, imul(g, S.i, K)), 4, s.x, 4, cg_i64(g, 4 * K));
    cg_end(g, &S);
    LLVMBuildRet(g->b, cg_i32(g, 0));
    return 0;
}
