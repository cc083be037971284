/* aot.c - the inference forward pass as a standalone object (hpc build).
 *
 * One function per model, NAME_predict_with(input, output, n, scratch): for
 * each of the n samples, the input preprocessing of the data settings (scale,
 * normalisation) is applied, then every layer as plain loops over constant
 * bounds (LLVM vectorises them for the target; dense layers keep their weights
 * transposed so the inner loop runs along memory without a reduction; conv and
 * pool layers are explicit vectors along the output rows, aot_conv.c), and
 * the class probabilities (a softmax folded into cross_entropy is applied
 * here) are written out.  The weights are constant globals.  Nothing is
 * called but memcpy/memset and libm (expf, tanhf, erff), so the object links
 * with `-lm` alone.  NAME_predict puts its scratch on the stack (or, when it
 * is large, on the heap) and calls NAME_predict_with.
 */
#include "aot.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "aot_int.h"
#include "aot_int8.h"
#include "codegen_int.h"

extern char **environ;

/* A constant float array as a global (its bytes, so no constant per element). */
LLVMValueRef aot_splat(cg *g, LLVMValueRef s, int V)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(s), (unsigned)V);
    LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(vt), s, cg_i32(g, 0), "");
    return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(vt), LLVMConstNull(LLVMVectorType(g->t_i32, (unsigned)V)), "");
}

LLVMValueRef const_floats(cg *g, const char *name, const float *v, long n)
{
    /* one copy for every ISA level's forward pass: the same name holds the same floats */
    LLVMValueRef gv0 = LLVMGetNamedGlobal(g->mod, name);
    if (gv0 && LLVMGetArrayLength2(LLVMGlobalGetValueType(gv0)) == sizeof(float) * (size_t)n)
        return gv0;
    LLVMValueRef init = LLVMConstStringInContext(g->ctx, (const char *)v, (unsigned)(sizeof(float) * (size_t)n), 1);
    LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetAlignment(gv, 64);
    return gv;
}

static LLVMValueRef imul(cg *g, LLVMValueRef a, long b) { return LLVMBuildMul(g->b, a, cg_i64(g, b), ""); }

/* In-place softmax of buf[0..K) (the kit's, for one row). */
static void softmax(cg *g, LLVMValueRef buf, long K) { cg_softmax_rows(g, buf, buf, K, cg_i64(g, 0), cg_i64(g, 1)); }

#define TILE 8 /* samples per pass through the layers */

/* batchnorm in evaluation is affine per channel, y = x·a + c with
 * a = w/√(running_var + eps) and c = b − running_mean·a: folded into the
 * weights and bias of a dense or conv layer right before it when that layer
 * has no activation (each output row of the weights times a, the bias
 * b·a + c), else applied as a and c. */
bool bn_folded(const plan_experiment *e, int i)
{
    const plan_layer *prev = &e->layers[i - 1];
    return e->layers[i].kind == PLAN_BATCHNORM && (prev->kind == PLAN_DENSE || prev->kind == PLAN_CONV) &&
           prev->act == PLAN_ACT_NONE;
}

/* A copy of the weights with every batchnorm folded (or turned into its a
 * and c, in place of its weight and bias); NULL when out of memory. */
float *aot_bn_fold(const plan_experiment *e, const cg_layout *l, const float *params)
{
    float *p = malloc(sizeof(float) * (size_t)(l->n_params > 0 ? l->n_params : 1));
    if (!p)
        return NULL;
    memcpy(p, params, sizeof(float) * (size_t)l->n_params);
    for (int i = 1; i < e->n_layers; i++) {
        if (e->layers[i].kind != PLAN_BATCHNORM)
            continue;
        const cg_layer_layout *L = &l->layers[i], *P = &l->layers[i - 1];
        long C = L->width;
        for (long c = 0; c < C; c++) {
            double a = (double)p[L->w + c] / sqrt((double)p[L->running + C + c] + e->layers[i].eps);
            double shift = (double)p[L->b + c] - (double)p[L->running + c] * a;
            if (bn_folded(e, i)) {
                long per = P->w_size / P->b_size;
                for (long k = 0; k < per; k++)
                    p[P->w + c * per + k] = (float)((double)p[P->w + c * per + k] * a);
                p[P->b + c] = (float)((double)p[P->b + c] * a + shift);
            } else {
                p[L->w + c] = (float)a;
                p[L->b + c] = (float)shift;
            }
        }
    }
    return p;
}

/* One layer for `rows` samples (at most TILE, each its layer's width apart):
 * reads cur, writes dst (or cur in place); returns the buffer holding its output. */
static LLVMValueRef dense_tiled(cg *g, int i, const hp_aot_options *o, LLVMValueRef cur, LLVMValueRef dst, LLVMValueRef rows);

/* Is relu layer i applied by the conv two layers before it: conv (no
 * activation) → batchnorm folded into it → relu?  Then the conv's kernel
 * applies the relu in its registers (aot_conv_emit) and the relu layer is
 * nothing, as for `conv N, relu`. */
static bool relu_after_folded_conv(const plan_experiment *e, int i)
{
    return i >= 2 && e->layers[i].kind == PLAN_RELU && bn_folded(e, i - 1) && e->layers[i - 2].kind == PLAN_CONV;
}

/* One layer for one sample (dense layers go through dense_tiled; planes:
 * the conv lowering's scratch, aot_conv_scratch_floats). */
static LLVMValueRef layer_one(cg *g, int i, const hp_aot_options *o, LLVMValueRef cur, LLVMValueRef dst,
                              LLVMValueRef planes)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    long U = L->out_size;
    plan_act a = L->logits ? PLAN_ACT_NONE : pl->act;
    char name[32];
    cg_loop J, K1, K2;
    switch (pl->kind) {
    case PLAN_CONV: { /* aot_conv.c: padded planes, rows of vectors, register blocks of channels */
        bool done = false;
        if (i + 2 < g->e->n_layers && relu_after_folded_conv(g->e, i + 2))
            a = PLAN_ACT_RELU;
        if (aot_conv_emit(g, i, o->params + L->w, o->params + L->b, a, cur, dst, planes, &done) != 0)
            return NULL;
        if (done)
            a = PLAN_ACT_NONE;
        break;
    }
    case PLAN_MAXPOOL:
    case PLAN_AVGPOOL:
        aot_pool_emit(g, i, cur, dst);
        return dst;
    case PLAN_SOFTMAX:
        if (!L->skip)
            softmax(g, cur, U);
        return cur;
    case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU:
        if (relu_after_folded_conv(g->e, i))
            return cur;
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
        cg_store_f(g, cg_act_forward(g, pl->act, cg_load_f(g, cur, J.i)), cur, J.i);
        cg_end(g, &J);
        return cur;
    case PLAN_LAYERNORM: { /* in place; a feed-forward model has no sequences, so one row of U */
        snprintf(name, sizeof name, "w%d", i);
        LLVMValueRef W = const_floats(g, name, o->params + L->w, L->w_size);
        snprintf(name, sizeof name, "b%d", i);
        cg_layernorm_forward(g, cur, cur, W, const_floats(g, name, o->params + L->b, L->b_size), NULL, U, pl->eps,
                             cg_i64(g, 0), cg_i64(g, 1));
        return cur;
    }
    case PLAN_BATCHNORM: { /* folded into the layer before, or y = x·a + c in place (bn_fold) */
        if (bn_folded(g->e, i))
            return cur;
        long C = L->width, Sp = U / C;
        snprintf(name, sizeof name, "w%d", i);
        LLVMValueRef A = const_floats(g, name, o->params + L->w, C);
        snprintf(name, sizeof name, "b%d", i);
        LLVMValueRef B = const_floats(g, name, o->params + L->b, C);
        cg_for(g, &K1, cg_i64(g, 0), cg_i64(g, C));
        cg_for(g, &K2, cg_i64(g, 0), cg_i64(g, Sp));
        LLVMValueRef k = iadd(g, imul(g, K1.i, Sp), K2.i);
        cg_store_f(g, fadd(g, fmul(g, cg_load_f(g, cur, k), cg_load_f(g, A, K1.i)), cg_load_f(g, B, K1.i)), cur, k);
        cg_end(g, &K2);
        cg_end(g, &K1);
        return cur;
    }
    case PLAN_DROPOUT: case PLAN_FLATTEN: /* off at inference; a view */
        return cur;
    case PLAN_EMBED_COLUMNS: { /* the tables' rows in place of the ids (ids outside 1..n: row 0) */
        snprintf(name, sizeof name, "w%d", i);
        cg_embed_columns_rows(g, i, cur, dst, const_floats(g, name, o->params + L->w, L->w_size), cg_i64(g, 0),
                              cg_i64(g, 1));
        return dst;
    }
    case PLAN_INPUT: case PLAN_DENSE: case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_LAST:
        return NULL; /* dense: dense_tiled; the others are not PLAN_LK_AOT (cmd_build.c refuses them) */
    }
    /* dense, conv: the activation */
    if (a == PLAN_ACT_SOFTMAX) {
        softmax(g, dst, U);
    } else if (a != PLAN_ACT_NONE) {
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
        cg_store_f(g, cg_act_forward(g, a, cg_load_f(g, dst, J.i)), dst, J.i);
        cg_end(g, &J);
    }
    return dst;
}

/* A full tile of TILE samples through a dense layer whose width is a multiple
 * of C: TILE accumulators of C outputs each stay in registers while the
 * weights of those C outputs stream past once for all the samples (the
 * one-sample loop reads every weight once per sample, and at batch 128 that
 * made it L2-bound).  C is what the target's vector registers hold: 8·C
 * floats in about half of them. */
static void dense_group(cg *g, LLVMValueRef W, LLVMValueRef B, LLVMValueRef cur, LLVMValueRef dst, long F, long U, int C)
{
    LLVMTypeRef vt = LLVMVectorType(g->t_f32, (unsigned)C);
    LLVMValueRef acc[TILE];
    for (int r = 0; r < TILE; r++) /* entry-block allocas: promoted to registers */
        acc[r] = ir_alloca(g->b, vt, "acc");
    for (long j0 = 0; j0 < U; j0 += C) {
        LLVMValueRef bv = LLVMBuildLoad2(g->b, vt, cg_fptr(g, B, cg_i64(g, j0)), "");
        LLVMSetAlignment(bv, 4);
        for (int r = 0; r < TILE; r++)
            LLVMBuildStore(g->b, bv, acc[r]);
        cg_loop I;
        cg_for(g, &I, cg_i64(g, 0), cg_i64(g, F));
        LLVMValueRef w = LLVMBuildLoad2(g->b, vt, cg_fptr(g, W, iadd(g, imul(g, I.i, U), cg_i64(g, j0))), "");
        LLVMSetAlignment(w, 4);
        for (int r = 0; r < TILE; r++) {
            LLVMValueRef x = cg_load_f(g, cur, iadd(g, I.i, cg_i64(g, (long)r * F)));
            LLVMValueRef xv = aot_splat(g, x, C);
            LLVMValueRef a = LLVMBuildLoad2(g->b, vt, acc[r], "");
            LLVMBuildStore(g->b, cg_intrinsic3(g, "fmuladd", w, xv, a), acc[r]);
        }
        cg_end(g, &I);
        for (int r = 0; r < TILE; r++) {
            LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vt, acc[r], ""),
                                             cg_fptr(g, dst, cg_i64(g, (long)r * U + j0)));
            LLVMSetAlignment(st, 4);
        }
    }
}

/* A dense layer for `rows` samples at once: each weight row is read once for all of them. */
static LLVMValueRef dense_tiled(cg *g, int i, const hp_aot_options *o, LLVMValueRef cur, LLVMValueRef dst, LLVMValueRef rows)
{
    const plan_layer *pl = &g->e->layers[i];
    const cg_layer_layout *L = &g->l->layers[i];
    long U = L->out_size, F = (long)plan_shape_size(pl->in);
    plan_act a = L->logits ? PLAN_ACT_NONE : pl->act;
    char name[32];
    cg_loop I, J;
        /* dst = b + Wt x, Wt[in x out]: the inner loop runs along j */
        snprintf(name, sizeof name, "w%d", i);
        LLVMValueRef W = LLVMGetNamedGlobal(g->mod, name); /* another ISA level's */
        if (!W) {
            float *wt = malloc(sizeof(float) * (size_t)(U * F));
            if (!wt)
                return NULL;
            for (long r = 0; r < U; r++)
                for (long c = 0; c < F; c++)
                    wt[c * U + r] = o->params[L->w + r * F + c];
            W = const_floats(g, name, wt, U * F);
            free(wt);
        }
        snprintf(name, sizeof name, "b%d", i);
        LLVMValueRef B = const_floats(g, name, o->params + L->b, U);
        /* a full tile, when the width allows: each weight read once for all */
        int C = g->acc_floats / TILE;
        LLVMBasicBlockRef done = NULL;
        if (C >= 4 && U % C == 0) {
            LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "full_tile");
            LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "part_tile");
            done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "tile_done");
            LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, rows, cg_i64(g, TILE), ""), full, part);
            LLVMPositionBuilderAtEnd(g->b, full);
            dense_group(g, W, B, cur, dst, F, U, C);
            LLVMBuildBr(g->b, done);
            LLVMPositionBuilderAtEnd(g->b, part);
        }
        /* sample by sample: the whole output row stays in vector registers while
         * the weights stream past (the latency of one sample) */
        cg_loop R;
        cg_for(g, &R, cg_i64(g, 0), rows);
        LLVMValueRef c = cg_fptr(g, cur, imul(g, R.i, F)), d = cg_fptr(g, dst, imul(g, R.i, U));
        LLVMBuildMemCpy(g->b, d, 4, B, 64, cg_i64(g, 4 * U));
        cg_for(g, &I, cg_i64(g, 0), cg_i64(g, F));
        LLVMValueRef xi = cg_load_f(g, c, I.i);
        LLVMValueRef row = imul(g, I.i, U);
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
        cg_store_f(g, fadd(g, cg_load_f(g, d, J.i), fmul(g, cg_load_f(g, W, iadd(g, row, J.i)), xi)), d, J.i);
        cg_end(g, &J);
        cg_end(g, &I);
        cg_end(g, &R);
        if (done) {
            LLVMBuildBr(g->b, done);
            LLVMPositionBuilderAtEnd(g->b, done);
        }
            cg_loop R2;
    if (a == PLAN_ACT_SOFTMAX) {
        cg_for(g, &R2, cg_i64(g, 0), rows);
        softmax(g, cg_fptr(g, dst, imul(g, R2.i, U)), U);
        cg_end(g, &R2);
    } else if (a != PLAN_ACT_NONE) {
        cg_for(g, &J, cg_i64(g, 0), LLVMBuildMul(g->b, rows, cg_i64(g, U), ""));
        cg_store_f(g, cg_act_forward(g, a, cg_load_f(g, dst, J.i)), dst, J.i);
        cg_end(g, &J);
    }
    return dst;
}

/* Any layer for `rows` samples, each its width apart in cur and dst. */
static LLVMValueRef layer(cg *g, int i, const hp_aot_options *o, LLVMValueRef cur, LLVMValueRef dst, LLVMValueRef rows,
                          LLVMValueRef planes)
{
    const plan_layer *pl = &g->e->layers[i];
    if (pl->kind == PLAN_DENSE)
        return dense_tiled(g, i, o, cur, dst, rows);
    long in = (long)plan_shape_size(pl->in), out = (long)plan_shape_size(pl->out);
    /* in-place layers keep the input's stride; others write at the output's */
    cg_loop R;
    cg_for(g, &R, cg_i64(g, 0), rows);
    LLVMValueRef c = cg_fptr(g, cur, imul(g, R.i, in)), d = cg_fptr(g, dst, imul(g, R.i, out));
    LLVMValueRef res = layer_one(g, i, o, c, d, planes);
    cg_end(g, &R);
    if (!res)
        return NULL;
    return res == c ? cur : dst;
}

/* The largest layer width: each of the two scratch buffers holds one. */
static long max_width(const plan_experiment *e)
{
    long w = 0;
    for (int i = 0; i < e->n_layers; i++)
        if (plan_shape_size(e->layers[i].out) > w)
            w = plan_shape_size(e->layers[i].out);
    return w;
}

/* int NAME_predict_with(const float *in, float *out, size_t n, void *scratch) */
static LLVMTypeRef predict_with_type(cg *g, LLVMTypeRef t_size)
{
    LLVMTypeRef p4[4] = {g->t_ptr, g->t_ptr, t_size, g->t_ptr};
    return LLVMFunctionType(g->t_i32, p4, 4, 0);
}

LLVMValueRef aot_predict_with_begin(cg *g, const char *fname, LLVMTypeRef t_size, LLVMValueRef arg[4])
{
    LLVMValueRef with = LLVMAddFunction(g->mod, fname, predict_with_type(g, t_size));
    g->fn = with;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, with, "entry"));
    LLVMValueRef in = LLVMGetParam(with, 0), out = LLVMGetParam(with, 1);
    LLVMValueRef n = LLVMBuildZExt(g->b, LLVMGetParam(with, 2), g->t_i64, ""), scratch = LLVMGetParam(with, 3);
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(g->ctx, with, "bad");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(g->ctx, with, "ok");
    LLVMValueRef any_null = LLVMBuildOr(
        g->b, LLVMBuildOr(g->b, LLVMBuildIsNull(g->b, in, ""), LLVMBuildIsNull(g->b, out, ""), ""),
        LLVMBuildIsNull(g->b, scratch, ""), "");
    LLVMValueRef is_bad = LLVMBuildAnd(g->b, any_null, LLVMBuildICmp(g->b, LLVMIntNE, n, cg_i64(g, 0), ""), "");
    LLVMBuildCondBr(g->b, is_bad, bad, ok);
    LLVMPositionBuilderAtEnd(g->b, bad);
    LLVMBuildRet(g->b, cg_i32(g, -1));
    LLVMPositionBuilderAtEnd(g->b, ok);
    arg[0] = in;
    arg[1] = out;
    arg[2] = n;
    arg[3] = scratch;
    return with;
}

/* The forward pass, NAME_predict_with's body, as the function fname (once
 * per ISA level: the caller sets g->acc_floats and the function's target). */
static int emit(cg *g, const hp_aot_options *o, LLVMTypeRef t_size, const char *fname)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    long F = l->features, K = l->classes, Wmax = max_width(e);

    LLVMValueRef arg[4];
    aot_predict_with_begin(g, fname, t_size, arg);
    LLVMValueRef in = arg[0], out = arg[1], n = arg[2], scratch = arg[3];
    long half = (TILE * Wmax + 15) & ~15L;
    LLVMValueRef A = scratch, B = cg_fptr(g, scratch, cg_i64(g, half)), planes = cg_fptr(g, scratch, cg_i64(g, 2 * half));
    /* the preprocessing: scale, then normalisation, as the training data had */
    LLVMValueRef mean = o->mean ? const_floats(g, "mean", o->mean, F) : NULL;
    LLVMValueRef sd = o->std ? const_floats(g, "std", o->std, F) : NULL;
    /* tiles of TILE samples (the last one shorter) */
    cg_loop S, J, R;
    LLVMValueRef tiles = LLVMBuildUDiv(g->b, iadd(g, n, cg_i64(g, TILE - 1)), cg_i64(g, TILE), "");
    cg_for(g, &S, cg_i64(g, 0), tiles);
    LLVMValueRef first = imul(g, S.i, TILE);
    LLVMValueRef left = LLVMBuildSub(g->b, n, first, "");
    LLVMValueRef rows = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntULT, left, cg_i64(g, TILE), ""), left,
                                        cg_i64(g, TILE), "rows");
    LLVMValueRef x = cg_fptr(g, in, imul(g, first, F));
    cg_for(g, &R, cg_i64(g, 0), rows);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, F));
    LLVMValueRef k = iadd(g, imul(g, R.i, F), J.i);
    LLVMValueRef v = fmul(g, cg_load_f(g, x, k), cg_f32(g, e->data.scale));
    if (mean)
        v = fdiv(g, fsub(g, v, cg_load_f(g, mean, J.i)), cg_load_f(g, sd, J.i));
    int ids[HPRT_MAX_EMBED_COLUMNS]; /* embedded columns' ids: as given */
    int n_ids = hprt_csv_encoding_embedded(&e->data.csv, ids, NULL, HPRT_MAX_EMBED_COLUMNS);
    for (int c = 0; c < n_ids; c++)
        v = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, J.i, cg_i64(g, ids[c]), ""), cg_load_f(g, x, k), v, "");
    cg_store_f(g, v, A, k);
    cg_end(g, &J);
    cg_end(g, &R);
    LLVMValueRef cur = A, other = B;
    for (int i = 1; i < e->n_layers; i++) {
        LLVMValueRef res = layer(g, i, o, cur, other, rows, planes);
        if (!res)
            return -1;
        if (res != cur) {
            other = cur;
            cur = res;
        }
    }
    /* cross_entropy's scores are logits (a final softmax folded into the loss, or none): the caller gets probabilities */
    if (e->loss == PLAN_LOSS_CROSS_ENTROPY) {
        cg_for(g, &R, cg_i64(g, 0), rows);
        softmax(g, cg_fptr(g, cur, imul(g, R.i, K)), K);
        cg_end(g, &R);
    }
    LLVMBuildMemCpy(g->b, cg_fptr(g, out, imul(g, first, K)), 4, cur, 4, imul(g, rows, 4 * K));
    cg_end(g, &S);
    LLVMBuildRet(g->b, cg_i32(g, 0));
    return 0;
}

/* The scratch NAME_predict_with needs (NAME_SCRATCH_BYTES): the int8 pass's
 * buffers, a sequence model's, or two tiles of the widest layer (then the
 * conv lowering's planes and slack). */
static long scratch_bytes(const plan_experiment *e, const cg_layout *l, const hp_aot_options *o)
{
    long qb, qacc;
    return o->q8                ? hp_q8_scratch_bytes(o->q8, &qb, &qacc)
           : aot_seq_model(e, l) ? aot_seq_scratch_bytes(e, l)
                                 : 2 * 4 * ((TILE * max_width(e) + 15) & ~15L) + 4 * aot_conv_scratch_floats(e);
}

/* int NAME_predict(const float *in, float *out, size_t n): scratch on the
 * stack, or the heap when large, for NAME_predict_with (defined before). */
static int emit_predict(cg *g, const hp_aot_options *o, LLVMTypeRef t_size)
{
    char fname[256];
    snprintf(fname, sizeof fname, "%s_predict_with", o->name);
    LLVMValueRef with = LLVMGetNamedFunction(g->mod, fname);
    if (!with)
        return -1;
    long bytes = scratch_bytes(g->e, g->l, o);
    LLVMTypeRef p3[3] = {g->t_ptr, g->t_ptr, t_size};
    snprintf(fname, sizeof fname, "%s_predict", o->name);
    LLVMValueRef pred = LLVMAddFunction(g->mod, fname, LLVMFunctionType(g->t_i32, p3, 3, 0));
    g->fn = pred;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, pred, "entry"));
    LLVMValueRef args[4] = {LLVMGetParam(pred, 0), LLVMGetParam(pred, 1), LLVMGetParam(pred, 2), NULL};
    LLVMValueRef rc;
    if (bytes <= 64 * 1024) {
        LLVMValueRef buf = LLVMBuildArrayAlloca(g->b, g->t_i8, cg_i64(g, bytes), "scratch");
        LLVMSetAlignment(buf, 64);
        args[3] = buf;
        rc = LLVMBuildCall2(g->b, LLVMGlobalGetValueType(with), with, args, 4, "");
    } else {
        LLVMTypeRef ms = t_size;
        LLVMValueRef sz = LLVMConstInt(t_size, (unsigned long long)bytes, 0);
        LLVMValueRef buf = cg_call(g, "malloc", LLVMFunctionType(g->t_ptr, &ms, 1, 0), &sz, 1);
        LLVMBasicBlockRef oom = LLVMAppendBasicBlockInContext(g->ctx, pred, "oom");
        LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(g->ctx, pred, "go");
        LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, buf, ""), oom, go);
        LLVMPositionBuilderAtEnd(g->b, oom);
        LLVMBuildRet(g->b, cg_i32(g, -2));
        LLVMPositionBuilderAtEnd(g->b, go);
        args[3] = buf;
        rc = LLVMBuildCall2(g->b, LLVMGlobalGetValueType(with), with, args, 4, "");
        LLVMTypeRef fp = g->t_ptr;
        cg_call(g, "free", LLVMFunctionType(g->t_void, &fp, 1, 0), &buf, 1);
    }
    LLVMBuildRet(g->b, rc);
    return 0;
}

/* ---- language models: NAME_step, one token at a time ---- */

/* W [rows x cols] as a constant stored transposed, [cols x rows]: y += x[k] * row k runs along memory. */
LLVMValueRef const_transposed(cg *g, const char *name, const float *W, long rows, long cols)
{
    LLVMValueRef have = LLVMGetNamedGlobal(g->mod, name); /* another ISA level's */
    if (have)
        return have;
    float *t = malloc(sizeof(float) * (size_t)(rows * cols > 0 ? rows * cols : 1));
    if (!t)
        return NULL;
    for (long r = 0; r < rows; r++)
        for (long c = 0; c < cols; c++)
            t[c * rows + r] = W[r * cols + c];
    LLVMValueRef gv = const_floats(g, name, t, rows * cols);
    free(t);
    return gv;
}

/* y[0..n) = bias + sum over k < in of x[k] * WT[k][0..n). */
void matvec(cg *g, LLVMValueRef WT, LLVMValueRef bias, LLVMValueRef x, long in, long n, LLVMValueRef y)
{
    LLVMBuildMemCpy(g->b, y, 4, bias, 4, cg_i64(g, 4 * n));
    cg_loop K, J;
    cg_for(g, &K, cg_i64(g, 0), cg_i64(g, in));
    LLVMValueRef xk = cg_load_f(g, x, K.i), row = cg_fptr(g, WT, imul(g, K.i, n));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, n));
    cg_store_f(g, fadd(g, cg_load_f(g, y, J.i), fmul(g, xk, cg_load_f(g, row, J.i))), y, J.i);
    cg_end(g, &J);
    cg_end(g, &K);
}

/* The widths of the step's buffers: the widest activation and the most gates. */
static void lm_widths(const plan_experiment *e, const cg_layout *l, long *wbuf, long *gbuf)
{
    *wbuf = *gbuf = 0;
    for (int i = 0; i < e->n_layers; i++) {
        long d = e->layers[i].out.kind == PLAN_SEQ ? e->layers[i].out.d[1] : (long)plan_shape_size(e->layers[i].out);
        *wbuf = d > *wbuf ? d : *wbuf;
        for (int s = 0; s < l->layers[i].n_rnn; s++) {
            long GH = (long)hprt_rnn_gates(l->layers[i].rnn[s].geom.cell) * l->layers[i].rnn[s].geom.hidden;
            *gbuf = GH > *gbuf ? GH : *gbuf;
        }
    }
    *wbuf = (*wbuf + 15) & ~15L;
    *gbuf = (*gbuf + 15) & ~15L;
}

/* Floats of recurrent state: h, and c for an lstm, of every stack layer. */
static long lm_state_floats(const plan_experiment *e, const cg_layout *l)
{
    long st = 0;
    for (int i = 0; i < e->n_layers; i++)
        for (int s = 0; s < l->layers[i].n_rnn; s++) {
            const hprt_rnn_geom *g = &l->layers[i].rnn[s].geom;
            st += (g->cell == HPRT_CELL_LSTM ? 2 : 1) * (long)g->hidden;
        }
    return (st + 15) & ~15L;
}

/* NAME_state_size(): the state, then scratch (two activation buffers, gi, gh). */
static long lm_state_bytes(const plan_experiment *e, const cg_layout *l)
{
    long wbuf, gbuf;
    lm_widths(e, l, &wbuf, &gbuf);
    return 4 * (lm_state_floats(e, l) + 2 * wbuf + 2 * gbuf);
}

/* One stack layer's cell update from gi = W_ih x + b_ih and gh = W_hh h + b_hh, in place on h (and c). */
void cell_update(cg *g, hprt_cell cell, long H, LLVMValueRef gi, LLVMValueRef gh, LLVMValueRef h, LLVMValueRef c)
{
    cg_loop J;
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, H));
    LLVMValueRef j = J.i;
#define GI(k) cg_load_f(g, gi, iadd(g, j, cg_i64(g, (k) * H)))
#define GH(k) cg_load_f(g, gh, iadd(g, j, cg_i64(g, (k) * H)))
    if (cell == HPRT_CELL_RNN) {
        cg_store_f(g, cg_act_forward(g, PLAN_ACT_TANH, fadd(g, GI(0), GH(0))), h, j);
    } else if (cell == HPRT_CELL_GRU) {
        LLVMValueRef r = cg_act_forward(g, PLAN_ACT_SIGMOID, fadd(g, GI(0), GH(0)));
        LLVMValueRef z = cg_act_forward(g, PLAN_ACT_SIGMOID, fadd(g, GI(1), GH(1)));
        LLVMValueRef n = cg_act_forward(g, PLAN_ACT_TANH, fadd(g, GI(2), fmul(g, r, GH(2))));
        cg_store_f(g, fadd(g, fmul(g, fsub(g, cg_f32(g, 1), z), n), fmul(g, z, cg_load_f(g, h, j))), h, j);
    } else {
        LLVMValueRef in = cg_act_forward(g, PLAN_ACT_SIGMOID, fadd(g, GI(0), GH(0)));
        LLVMValueRef f = cg_act_forward(g, PLAN_ACT_SIGMOID, fadd(g, GI(1), GH(1)));
        LLVMValueRef gg = cg_act_forward(g, PLAN_ACT_TANH, fadd(g, GI(2), GH(2)));
        LLVMValueRef o = cg_act_forward(g, PLAN_ACT_SIGMOID, fadd(g, GI(3), GH(3)));
        LLVMValueRef cn = fadd(g, fmul(g, f, cg_load_f(g, c, j)), fmul(g, in, gg));
        cg_store_f(g, cn, c, j);
        cg_store_f(g, fmul(g, o, cg_act_forward(g, PLAN_ACT_TANH, cn)), h, j);
    }
#undef GI
#undef GH
    cg_end(g, &J);
}

/* size_t NAME_state_size(void), void NAME_reset(void *state): the same at every ISA level. */
static void emit_lm_api(cg *g, const hp_aot_options *o, LLVMTypeRef t_size)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    long st = lm_state_floats(e, l);
    char fname[256];

    snprintf(fname, sizeof fname, "%s_state_size", o->name);
    LLVMValueRef fs = LLVMAddFunction(g->mod, fname, LLVMFunctionType(t_size, NULL, 0, 0));
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fs, "entry"));
    LLVMBuildRet(g->b, LLVMConstInt(t_size, (unsigned long long)lm_state_bytes(e, l), 0));

    LLVMTypeRef pp = g->t_ptr;
    snprintf(fname, sizeof fname, "%s_reset", o->name);
    LLVMValueRef fr = LLVMAddFunction(g->mod, fname, LLVMFunctionType(g->t_void, &pp, 1, 0));
    g->fn = fr;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fr, "entry"));
    LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(g->ctx, fr, "go"), done = LLVMAppendBasicBlockInContext(g->ctx, fr, "done");
    LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, LLVMGetParam(fr, 0), ""), done, go);
    LLVMPositionBuilderAtEnd(g->b, go);
    LLVMBuildMemSet(g->b, LLVMGetParam(fr, 0), LLVMConstInt(g->t_i8, 0, 0), cg_i64(g, 4 * st), 4);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildRetVoid(g->b);
}

/* int NAME_step(void *state, int token, float *probs) */
static LLVMTypeRef step_type(cg *g)
{
    LLVMTypeRef p3[3] = {g->t_ptr, g->t_i32, g->t_ptr};
    return LLVMFunctionType(g->t_i32, p3, 3, 0);
}

/* NAME_step's body as the function fname (once per ISA level, as emit). */
static int emit_lm(cg *g, const hp_aot_options *o, const char *fname)
{
    const plan_experiment *e = g->e;
    const cg_layout *l = g->l;
    long st = lm_state_floats(e, l), K = l->classes, wbuf, gbuf;
    lm_widths(e, l, &wbuf, &gbuf);
    char name[48];
    LLVMValueRef fn = LLVMAddFunction(g->mod, fname, step_type(g));
    g->fn = fn;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    LLVMValueRef state = LLVMGetParam(fn, 0), token = LLVMGetParam(fn, 1), probs = LLVMGetParam(fn, 2);
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(g->ctx, fn, "bad"), ok = LLVMAppendBasicBlockInContext(g->ctx, fn, "ok");
    LLVMValueRef is_bad = LLVMBuildOr(g->b, LLVMBuildOr(g->b, LLVMBuildIsNull(g->b, state, ""), LLVMBuildIsNull(g->b, probs, ""), ""),
                                      LLVMBuildICmp(g->b, LLVMIntUGE, token, cg_i32(g, e->data.vocab), ""), "");
    LLVMBuildCondBr(g->b, is_bad, bad, ok);
    LLVMPositionBuilderAtEnd(g->b, bad);
    LLVMBuildRet(g->b, cg_i32(g, -1));
    LLVMPositionBuilderAtEnd(g->b, ok);
    /* scratch after the state: two activation buffers, then gi and gh */
    LLVMValueRef cur = cg_fptr(g, state, cg_i64(g, st)), other = cg_fptr(g, cur, cg_i64(g, wbuf));
    LLVMValueRef gi = cg_fptr(g, other, cg_i64(g, wbuf)), gh = cg_fptr(g, gi, cg_i64(g, gbuf));
    LLVMValueRef tok = LLVMBuildZExt(g->b, token, g->t_i64, "");
    long width = 0, at = 0;
    LLVMValueRef x = cur;
    for (int i = 1; i < e->n_layers; i++) {
        const plan_layer *pl = &e->layers[i];
        const cg_layer_layout *L = &l->layers[i];
        const float *P = o->params + L->w;
        switch (pl->kind) {
        case PLAN_EMBED: {
            snprintf(name, sizeof name, "E%d", i);
            LLVMValueRef E = const_floats(g, name, P, L->w_size);
            LLVMBuildMemCpy(g->b, cur, 4, cg_fptr(g, E, imul(g, tok, pl->units)), 4, cg_i64(g, 4 * (long)pl->units));
            x = cur;
            width = pl->units;
            break;
        }
        case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM:
            for (int s = 0; s < L->n_rnn; s++) {
                const hprt_rnn_geom *gm = &L->rnn[s].geom;
                long H = gm->hidden, GH = (long)hprt_rnn_gates(gm->cell) * H, in = gm->in;
                const float *Wih = P + L->rnn[s].w, *Whh = Wih + GH * in, *bih = Whh + GH * H, *bhh = bih + GH;
                snprintf(name, sizeof name, "Wih%d_%d", i, s);
                LLVMValueRef WihT = const_transposed(g, name, Wih, GH, in);
                snprintf(name, sizeof name, "Whh%d_%d", i, s);
                LLVMValueRef WhhT = const_transposed(g, name, Whh, GH, H);
                if (!WihT || !WhhT)
                    return -1;
                snprintf(name, sizeof name, "bih%d_%d", i, s);
                LLVMValueRef Bi = const_floats(g, name, bih, GH);
                snprintf(name, sizeof name, "bhh%d_%d", i, s);
                LLVMValueRef Bh = const_floats(g, name, bhh, GH);
                LLVMValueRef h = cg_fptr(g, state, cg_i64(g, at)), c = NULL;
                at += H;
                if (gm->cell == HPRT_CELL_LSTM) {
                    c = cg_fptr(g, state, cg_i64(g, at));
                    at += H;
                }
                matvec(g, WihT, Bi, x, in, GH, gi);
                matvec(g, WhhT, Bh, h, H, GH, gh);
                cell_update(g, gm->cell, H, gi, gh, h, c);
                x = h;
                width = H;
            }
            break;
        case PLAN_DENSE: {
            long U = pl->units;
            snprintf(name, sizeof name, "W%d", i);
            LLVMValueRef WT = const_transposed(g, name, P, U, width);
            snprintf(name, sizeof name, "b%d", i);
            LLVMValueRef B = const_floats(g, name, o->params + L->b, U);
            if (!WT)
                return -1;
            LLVMValueRef dst = x == cur ? other : cur;
            matvec(g, WT, B, x, width, U, dst);
            plan_act a = L->logits ? PLAN_ACT_NONE : pl->act;
            if (a == PLAN_ACT_SOFTMAX) {
                softmax(g, dst, U);
            } else if (a != PLAN_ACT_NONE) {
                cg_loop J;
                cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
                cg_store_f(g, cg_act_forward(g, a, cg_load_f(g, dst, J.i)), dst, J.i);
                cg_end(g, &J);
            }
            x = dst;
            width = U;
            break;
        }
        case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU: case PLAN_SOFTMAX: {
            if (l->layers[i].skip)
                break;
            LLVMValueRef dst = x == cur ? other : cur;
            if (pl->kind == PLAN_SOFTMAX) {
                LLVMBuildMemCpy(g->b, dst, 4, x, 4, cg_i64(g, 4 * width));
                softmax(g, dst, width);
            } else {
                cg_loop J;
                cg_for(g, &J, cg_i64(g, 0), cg_i64(g, width));
                cg_store_f(g, cg_act_forward(g, pl->act, cg_load_f(g, x, J.i)), dst, J.i);
                cg_end(g, &J);
            }
            x = dst;
            break;
        }
        case PLAN_LAYERNORM: {
            const cg_layer_layout *N = &l->layers[i];
            snprintf(name, sizeof name, "w%d", i);
            LLVMValueRef W = const_floats(g, name, P, N->w_size);
            snprintf(name, sizeof name, "b%d", i);
            LLVMValueRef B = const_floats(g, name, o->params + N->b, N->b_size);
            LLVMValueRef dst = x == cur ? other : cur;
            cg_layernorm_forward(g, x, dst, W, B, NULL, width, pl->eps, cg_i64(g, 0), cg_i64(g, 1));
            x = dst;
            break;
        }
        case PLAN_INPUT: case PLAN_DROPOUT: /* dropout: off at inference */
            break;
        case PLAN_LAST: case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_FLATTEN: case PLAN_BATCHNORM:
        case PLAN_EMBED_COLUMNS:
            return -1; /* not PLAN_LK_AOT_LM: no language model has them (cmd_build.c refuses them) */
        }
    }
    /* cross_entropy's scores are logits (a final softmax folded into the loss, or none): the caller gets probabilities */
    if (e->loss == PLAN_LOSS_CROSS_ENTROPY)
        softmax(g, x, K);
    LLVMBuildMemCpy(g->b, probs, 4, x, 4, cg_i64(g, 4 * K));
    LLVMBuildRet(g->b, cg_i32(g, 0));
    return 0;
}

/* ---- instruction-set levels: a forward pass for each, one chosen at the first call ---- */

/* One level of a portable x86-64 artifact: its forward pass is emitted with
 * these "target-cpu"/"target-features" attributes (and dense_group's width
 * from acc_floats() of them), and runs when CPUID has every bit below and the
 * OS has enabled the XCR0 state of its registers.  Each level has the bits of
 * the ones before it; x86-64-v2, the TargetMachine's own, is the floor. */
typedef struct {
    const char *name;     /* NAME_isa()'s answer; the suffix of its functions */
    const char *cpu, *features;
    const char *summary;  /* for the header */
    /* "prefer-vector-width" (NULL: the CPU's tuning).  x86-64-v4's tuning
     * prefers 256-bit vectors; the loops the vectoriser widens (one sample's
     * dense layer) run ~7% faster at 512 bits on Zen 4, as --cpu native's do. */
    const char *vector_width;
    unsigned l1_ecx, l7_ebx, e1_ecx, xcr0; /* CPUID.1:ECX, CPUID.(7,0):EBX, CPUID.80000001h:ECX, XCR0 */
    unsigned l7_ecx;                       /* CPUID.(7,0):ECX */
} aot_isa;

#define V2_FEATURES "+cx16,+popcnt,+sahf,+sse3,+sse4.1,+sse4.2,+ssse3"
#define V3_FEATURES V2_FEATURES ",+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,+xsave"
#define V4_FEATURES V3_FEATURES ",+avx512f,+avx512bw,+avx512cd,+avx512dq,+avx512vl"
static const aot_isa x86_isa[] = {
    /* SSE3 SSSE3 CX16 SSE4.1 SSE4.2 POPCNT; LAHF */
    {"x86-64-v2", "x86-64-v2", V2_FEATURES, "SSE4.2", NULL, 0x00982201u, 0, 0x1u, 0, 0},
    /* + FMA MOVBE OSXSAVE AVX F16C; BMI1 AVX2 BMI2; LZCNT; XCR0 SSE and AVX state */
    {"x86-64-v3", "x86-64-v3", V3_FEATURES, "AVX2, FMA", NULL, 0x38D83201u, 0x00000128u, 0x21u, 0x06u, 0},
    /* + AVX512F DQ CD BW VL; XCR0 opmask, ZMM_Hi256, Hi16_ZMM state */
    {"x86-64-v4", "x86-64-v4", V4_FEATURES, "AVX-512", "512", 0x38D83201u, 0xD0030128u, 0x21u, 0xE6u, 0},
    /* + AVX512_VNNI (CPUID.(7,0):ECX bit 11): int8 artifacts only, for vpdpbusd */
    {"x86-64-v4-vnni", "x86-64-v4", V4_FEATURES ",+avx512vnni", "AVX-512 VNNI", "512", 0x38D83201u, 0xD0030128u, 0x21u,
     0xE6u, 0x800u},
};
#define N_X86_ISA ((int)(sizeof x86_isa / sizeof *x86_isa))
/* a float artifact's levels: the first three (VNNI adds nothing to float arithmetic) */
#define N_X86_FLOAT 3

/* name in upper case (the header's macros: Glow's convention) */
static void upper_name(const char *name, char *up, size_t n)
{
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < n; p++)
        up[k++] = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
    up[k] = 0;
}

/* The comment block every header opens with: what is inside. */
static void write_about(FILE *f, const plan_experiment *e, const hp_aot_options *o, const char *what, const aot_isa *isa,
                        int n_isa, const char *U)
{
    const char *N = o->name;
    fprintf(f,
            "/* %s.h - %s, %scompiled ahead of time by hpc from %s.\n"
            " * Link with lib%s.a (or %s.o) and -lm; nothing else is needed at run time.\n *\n"
            " * Instruction sets: ",
            N, e->name, what, e->file, N, N);
    for (int k = 0; k < n_isa; k++)
        fprintf(f, "%s%s%s%s%s", k ? ", " : "", isa[k].name, isa[k].summary[0] ? " (" : "", isa[k].summary,
                isa[k].summary[0] ? ")" : "");
    if (n_isa > 1)
        fprintf(f, ";\n *   the best one this CPU runs is chosen at the first call (%s_isa() says which;\n"
                   " *   %s_ISA=%s in the environment, or %s_force_isa(), picks a lower one)", N, U, isa[0].name, N);
    if (o->q8)
        fprintf(f,
                ".\n * Quantization: int8 (hpc build --quantize int8): weights per output channel (symmetric\n"
                " *   int8), each dense and conv layer's input as uint8 with a zero point over the range seen on the\n"
                " *   first %ld training samples; int32 sums; the last layer's outputs in float.\n"
                " * Accuracy: %s\n */\n",
                o->q8->calibrated, o->q8_note ? o->q8_note : "not measured in int8 (build with --report).");
    else
        fprintf(f, ".\n * Quantization: float32.\n * Accuracy: %s.\n */\n", o->accuracy ? o->accuracy : "not measured");
}

/* The ISA functions' declarations. */
static void write_isa_decls(FILE *f, const char *N, const char *U, int n_isa)
{
    fprintf(f,
            "/* The instruction-set level the forward pass runs at (\"x86-64-v4\", ...): %s. */\n"
            "const char *%s_isa(void);\n"
            "/* Runs the forward pass at the level named from now on: 0, or -1 for a level this\n"
            " * CPU lacks or the artifact does not have (%s_ISA_LEVELS lists them). */\n"
            "int %s_force_isa(const char *level);\n\n",
            n_isa > 1 ? "chosen at the first call" : "the only one built", N, U, N);
}

/* The old lower-case macro spelling as an alias of the new one. */
static void write_alias(FILE *f, const char *N, const char *U, const char *macro)
{
    if (strcmp(N, U) != 0)
        fprintf(f, "#define %s_%s %s_%s\n", N, macro, U, macro);
}

/* NAME_UPPER_ISA_LEVELS and NAME_UPPER_QUANTIZATION. */
static void write_isa_macros(FILE *f, const hp_aot_options *o, const char *U, const aot_isa *isa, int n_isa)
{
    fprintf(f, "\n#define %s_ISA_LEVELS \"", U);
    for (int k = 0; k < n_isa; k++)
        fprintf(f, "%s%s", k ? " " : "", isa[k].name);
    fprintf(f, "\" /* the forward passes inside */\n#define %s_QUANTIZATION \"%s\"\n", U,
            o->q8 ? "int8" : "float32");
}

/* The header of a language model: the step API and the vocabulary. */
static int write_lm_header(FILE *f, const plan_experiment *e, const cg_layout *l, const hp_aot_options *o,
                           const char *guard, const aot_isa *isa, int n_isa, const char *U)
{
    const char *N = o->name;
    write_about(f, e, o, "a language model ", isa, n_isa, U);
    fprintf(f,
            "#ifndef %s\n#define %s\n\n#include <stddef.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
            "#define %s_VOCAB_SIZE %d /* token ids 0 .. %s_VOCAB_SIZE - 1 */\n"
            "/* The byte each token id stands for (ids are in ascending byte order). */\n"
            "static const unsigned char %s_VOCAB[%d] = {",
            guard, guard, U, o->vocab_size, U, U, o->vocab_size);
    for (int i = 0; i < o->vocab_size; i++)
        fprintf(f, "%s%d", i ? (i % 16 ? ", " : ",\n    ") : "\n    ", o->vocab[i]);
    fprintf(f, "};\n");
    write_isa_macros(f, o, U, isa, n_isa);
    if (strcmp(N, U) != 0) {
        fprintf(f, "\n/* Deprecated spellings, kept for one release: use the upper-case names above. */\n");
        write_alias(f, N, U, "VOCAB_SIZE");
        write_alias(f, N, U, "VOCAB");
    }
    fprintf(f,
            "\n"
            "/* Bytes of a generation state (the recurrent state and scratch). */\n"
            "size_t %s_state_size(void);\n"
            "/* Starts a sequence: every hidden and cell state zero. */\n"
            "void %s_reset(void *state);\n"
            "/* Feeds one token; probs receives %s_VOCAB_SIZE probabilities of the next token.\n"
            " * Returns 0, or -1 for a NULL pointer or a token id out of range.  One state\n"
            " * per sequence; states are independent, so threads may each use their own. */\n"
            "int %s_step(void *state, int token, float *probs);\n\n",
            N, N, U, N);
    write_isa_decls(f, N, U, n_isa);
    fprintf(f, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
    (void)l;
    return 0;
}

/* s as a C string literal. */
static void c_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || c == '?') /* '?': no trigraph */
            fprintf(f, "\\%03o", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A CSV's class names (NAME_classes[k] is class k's) and, in a comment, the
 * one-hot layout of its categorical columns, which the caller's input follows. */
static void write_csv_names(FILE *f, const hprt_csv_encoding *en, const char *N, const char *U, int classes)
{
    if (en->n_classes > 0 && en->n_classes == classes) {
        fprintf(f, "/* The class names: output k is the probability of NAME_classes[k] (byte order of the names). */\n"
                   "#define %s_HAS_CLASS_NAMES 1\n", U);
        write_alias(f, N, U, "HAS_CLASS_NAMES"); /* deprecated, kept for one release */
        fprintf(f, "static const char *const %s_classes[%s_NUM_CLASSES] = {", N, U);
        for (int i = 0; i < en->n_classes; i++) {
            fputs(i ? ",\n    " : "\n    ", f);
            c_string(f, en->classes[i]);
        }
        fprintf(f, "\n};\n\n");
    }
    int onehot = 0;
    for (int i = 0; i < en->n_cats; i++)
        onehot += en->cats[i].dim == 0;
    if (onehot > 0) {
        fprintf(f, "/* One-hot input columns: the CSV column at feature position P with categories c0..ck-1\n"
                   " * takes k floats of the input, 1 at its category and 0 elsewhere (all 0 for a category\n"
                   " * the training data did not have):\n");
        for (int i = 0; i < en->n_cats; i++) {
            const hprt_csv_category *c = &en->cats[i];
            if (c->dim > 0)
                continue;
            fprintf(f, " *   column %d%s%s%s: %d floats:", c->column, c->name ? " (" : "", c->name ? c->name : "",
                    c->name ? ")" : "", c->n);
            for (int k = 0; k < c->n; k++) {
                fputc(' ', f);
                for (const char *p = c->names[k]; *p; p++) /* nothing that ends the comment */
                    fputc(*p == '*' && p[1] == '/' ? '_' : (unsigned char)*p < 0x20 ? ' ' : *p, f);
            }
            fputc('\n', f);
        }
        fprintf(f, " */\n\n");
    }
    int pos[HPRT_MAX_EMBED_COLUMNS];
    int n_emb = hprt_csv_encoding_embedded(en, pos, NULL, HPRT_MAX_EMBED_COLUMNS);
    if (n_emb == 0)
        return;
    fprintf(f, "/* Embedded input columns: the column takes one float of the input, at index\n"
               " * NAME_UPPER_COL_INPUT_INDEX: its category's id, NAME_col_categories[id - 1] for ids 1 to\n"
               " * NAME_UPPER_COL_NUM_CATEGORIES (the names in byte order); 0 is the unknown bucket, for a\n"
               " * category the training data did not have, and so is any value outside 1..NUM_CATEGORIES.\n"
               " * The model turns the id into its learned values. */\n");
    char ids[HPRT_MAX_EMBED_COLUMNS][72];
    for (int i = 0, e = 0; i < en->n_cats; i++) {
        const hprt_csv_category *c = &en->cats[i];
        if (c->dim <= 0 || e >= HPRT_MAX_EMBED_COLUMNS)
            continue;
        /* the column's name as a C identifier (column_P without a usable one, or when taken) */
        char *id = ids[e];
        size_t k = 0;
        for (const char *p = c->name ? c->name : ""; *p && k < 40; p++)
            id[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p : '_');
        id[k] = '\0';
        bool taken = k == 0 || (id[0] >= '0' && id[0] <= '9');
        for (int j = 0; j < e && !taken; j++)
            taken = strcmp(ids[j], id) == 0;
        if (taken)
            snprintf(id, sizeof ids[e], "column_%d", c->column);
        char uid[72];
        upper_name(id, uid, sizeof uid);
        fprintf(f, "#define %s_%s_INPUT_INDEX %d /* CSV feature column %d%s%s%s */\n", U, uid, pos[e], c->column,
                c->name ? " (" : "", c->name ? c->name : "", c->name ? ")" : "");
        fprintf(f, "#define %s_%s_NUM_CATEGORIES %d\n", U, uid, c->n);
        fprintf(f, "static const char *const %s_%s_categories[%s_%s_NUM_CATEGORIES] = {", N, id, U, uid);
        for (int j = 0; j < c->n; j++) {
            fputs(j ? ",\n    " : "\n    ", f);
            c_string(f, c->names[j]);
        }
        fprintf(f, "\n};\n\n");
        e++;
    }
}

/* Multi-label data (several 0/1 label columns): name_labels[k] names output k. */
static void write_label_names(FILE *f, const plan_data *d, const char *N, const char *U)
{
    if (d->labels <= 0)
        return;
    fprintf(f, "/* Multi-label: output k is the logit of label %s_labels[k]; a sigmoid of it is its probability\n"
               " * (above 0.5, or a logit above 0: the label is predicted on). */\n"
               "#define %s_NUM_LABELS %d\n"
               "static const char *const %s_labels[%s_NUM_LABELS] = {", N, U, d->labels, N, U);
    for (int i = 0; i < d->labels; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        if (d->label_names && d->label_names[i])
            c_string(f, d->label_names[i]);
        else
            fprintf(f, "\"column %d\"", d->train.label_columns[i]);
    }
    fprintf(f, "\n};\n\n");
}

static int write_header(const plan_experiment *e, const cg_layout *l, const hp_aot_options *o, const aot_isa *isa,
                        int n_isa, cg_error *err)
{
    char path[4200], guard[300], U[256];
    snprintf(path, sizeof path, "%s/%s.h", o->out_dir, o->name);
    upper_name(o->name, U, sizeof U);
    snprintf(guard, sizeof guard, "%s_H", U);
    FILE *f = fopen(path, "w");
    if (!f) {
        cg_fail(err, CG_E_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (l->text) {
        write_lm_header(f, e, l, o, guard, isa, n_isa, U);
        if (fclose(f) != 0) {
            cg_fail(err, CG_E_IO, "%s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    long bytes = scratch_bytes(e, l, o);
    const char *N = o->name;
    write_about(f, e, o, "", isa, n_isa, U);
    fprintf(f,
            "#ifndef %s\n#define %s\n\n#include <stddef.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
            "#define %s_INPUT_SIZE %d   /* floats per sample, raw: scale/normalisation are applied inside */\n"
            "#define %s_OUTPUT_SIZE %d  /* floats per sample written to output */\n"
            "#define %s_NUM_CLASSES %d\n"
            "#define %s_SCRATCH_BYTES %ld /* for %s_predict_with */\n",
            guard, guard, U, l->features, U, l->classes, U, l->classes, U, bytes, N);
    write_isa_macros(f, o, U, isa, n_isa);
    if (strcmp(N, U) != 0) {
        static const char *const old[] = {"INPUT_SIZE", "OUTPUT_SIZE", "NUM_CLASSES", "SCRATCH_BYTES"};
        fprintf(f, "\n/* Deprecated spellings, kept for one release: use the upper-case names above. */\n");
        for (size_t i = 0; i < sizeof old / sizeof *old; i++)
            write_alias(f, N, U, old[i]);
    }
    fputc('\n', f);
    write_csv_names(f, &e->data.csv, N, U, l->classes);
    write_label_names(f, &e->data, N, U);
    fprintf(f,
            "/* Predicts n samples: input is n x %s_INPUT_SIZE floats, row-major; output receives\n"
            " * n x %s_OUTPUT_SIZE %s.  Returns 0, -1 for a NULL pointer (n > 0), -2 when\n"
            " * the scratch space cannot be allocated.  Thread-safe: no hidden state. */\n"
            "int %s_predict(const float *input, float *output, size_t n);\n\n"
            "/* The same with caller-supplied scratch space of %s_SCRATCH_BYTES bytes. */\n"
            "int %s_predict_with(const float *input, float *output, size_t n, void *scratch);\n\n",
            U, U,
            e->loss == PLAN_LOSS_CROSS_ENTROPY ? "class probabilities"
            : e->loss == PLAN_LOSS_BCE         ? "logits (bce): a sigmoid of each is its probability"
                                               : "outputs",
            N, U, N);
    write_isa_decls(f, N, U, n_isa);
    fprintf(f, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
    if (fclose(f) != 0) {
        cg_fail(err, CG_E_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ar rcs OUT/libNAME.a OUT/NAME.o (binutils' ar writes the symbol index linkers need) */
static int make_archive(const hp_aot_options *o, cg_error *err)
{
    char lib[4200], obj[4200];
    snprintf(lib, sizeof lib, "%s/lib%s.a", o->out_dir, o->name);
    snprintf(obj, sizeof obj, "%s/%s.o", o->out_dir, o->name);
    unlink(lib);
    char *argv[] = {"ar", "rcs", lib, obj, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "ar", NULL, NULL, argv, environ);
    int status = 0;
    if (rc != 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cg_fail(err, CG_E_IO, "cannot make %s with `ar` (binutils): %s", lib, rc ? strerror(rc) : "ar failed");
        return -1;
    }
    return 0;
}

/* Floats of accumulators that fit in about half the target's vector
 * registers: 16 of 32 zmm with AVX-512, 8 of 16 ymm with AVX, 16 of 32 NEON
 * q registers, 8 of 16 xmm otherwise. */
static int acc_floats(const char *triple, const char *cpu, const char *features)
{
    static const char *const avx512[] = {"x86-64-v4", "skylake-avx512", "cascadelake", "cooperlake", "icelake-server",
                                         "icelake-client", "tigerlake", "sapphirerapids", "znver4", "znver5"};
    if (strncmp(triple, "aarch64", 7) == 0 || strncmp(triple, "arm64", 5) == 0)
        return 64;
    if (strncmp(triple, "x86_64", 6) != 0)
        return 32;
    if (features && strstr(features, "+avx512f"))
        return 256;
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcmp(cpu, avx512[i]) == 0)
            return 256;
    if ((features && strstr(features, "+avx")) || strcmp(cpu, "x86-64-v3") == 0 || strncmp(cpu, "haswell", 7) == 0 ||
        strncmp(cpu, "znver", 5) == 0 || strcmp(cpu, "skylake") == 0 || strcmp(cpu, "broadwell") == 0)
        return 64;
    return 32;
}


/* A private constant C string. */
static LLVMValueRef const_cstring(cg *g, const char *s)
{
    LLVMValueRef init = LLVMConstStringInContext(g->ctx, s, (unsigned)strlen(s), 0);
    LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), "isa_name");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

static LLVMValueRef new_function(cg *g, const char *N, const char *what, LLVMTypeRef ty, LLVMLinkage linkage)
{
    char fname[300];
    snprintf(fname, sizeof fname, "%s_%s", N, what);
    LLVMValueRef fn = LLVMAddFunction(g->mod, fname, ty);
    LLVMSetLinkage(fn, linkage);
    g->fn = fn;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    return fn;
}

static LLVMValueRef call_fn(cg *g, LLVMValueRef fn, LLVMValueRef *args, unsigned n)
{
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

/* int NAME_isa_select(unsigned l1_ecx, unsigned l7_ebx, unsigned e1_ecx,
 * unsigned xcr0, unsigned l7_ecx): the best of the n levels whose bits
 * (x86_isa) the words have, 0 when none above the floor.  Pure, hidden
 * (tests call it with made-up words). */
static LLVMValueRef emit_isa_select(cg *g, const char *N, int n)
{
    LLVMTypeRef p[5] = {g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_i32};
    LLVMValueRef fn = new_function(g, N, "isa_select", LLVMFunctionType(g->t_i32, p, 5, 0), LLVMExternalLinkage);
    LLVMSetVisibility(fn, LLVMHiddenVisibility);
    LLVMValueRef ok = LLVMConstInt(g->t_i1, 1, 0), lvl = cg_i32(g, 0);
    for (int k = 1; k < n; k++) {
        unsigned req[5] = {x86_isa[k].l1_ecx, x86_isa[k].l7_ebx, x86_isa[k].e1_ecx, x86_isa[k].xcr0, x86_isa[k].l7_ecx};
        for (unsigned w = 0; w < 5; w++) {
            LLVMValueRef m = LLVMConstInt(g->t_i32, req[w], 0);
            ok = LLVMBuildAnd(g->b, ok, LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildAnd(g->b, LLVMGetParam(fn, w), m, ""), m, ""), "");
        }
        lvl = LLVMBuildSelect(g->b, ok, cg_i32(g, k), lvl, "");
    }
    LLVMBuildRet(g->b, lvl);
    return fn;
}

/* NAME_isa_best(): the best level this CPU and OS run, from CPUID and XCR0
 * read with inline `cpuid` and `xgetbv` (the latter only when CPUID says the
 * OS uses XSAVE: OSXSAVE, CPUID.1:ECX bit 27). */
static LLVMValueRef emit_isa_best(cg *g, const char *N, LLVMValueRef select)
{
    LLVMValueRef fn = new_function(g, N, "isa_best", LLVMFunctionType(g->t_i32, NULL, 0, 0), LLVMInternalLinkage);
    LLVMTypeRef r4[4] = {g->t_i32, g->t_i32, g->t_i32, g->t_i32}, p2[2] = {g->t_i32, g->t_i32}, r2[2] = {g->t_i32, g->t_i32};
    LLVMTypeRef cpuid_t = LLVMFunctionType(LLVMStructTypeInContext(g->ctx, r4, 4, 0), p2, 2, 0);
    LLVMTypeRef xgetbv_t = LLVMFunctionType(LLVMStructTypeInContext(g->ctx, r2, 2, 0), p2, 1, 0);
    static const char cpuid_c[] = "={ax},={bx},={cx},={dx},{ax},{cx},~{dirflag},~{fpsr},~{flags}";
    static const char xgetbv_c[] = "={ax},={dx},{cx},~{dirflag},~{fpsr},~{flags}";
    static const char xgetbv_a[] = ".byte 0x0f, 0x01, 0xd0"; /* xgetbv, whatever the assembler's feature set */
    LLVMValueRef cpuid = LLVMGetInlineAsm(cpuid_t, "cpuid", 5, cpuid_c, sizeof cpuid_c - 1, 1, 0, LLVMInlineAsmDialectATT, 0);
    LLVMValueRef xgetbv = LLVMGetInlineAsm(xgetbv_t, (char *)xgetbv_a, sizeof xgetbv_a - 1, (char *)xgetbv_c,
                                           sizeof xgetbv_c - 1, 1, 0, LLVMInlineAsmDialectATT, 0);
#define CPUID(leaf, reg)                                                                                               \
    LLVMBuildExtractValue(g->b, LLVMBuildCall2(g->b, cpuid_t, cpuid, (LLVMValueRef[]){LLVMConstInt(g->t_i32, leaf, 0), cg_i32(g, 0)}, 2, ""), reg, "")
    LLVMValueRef max = CPUID(0u, 0), l1_ecx = CPUID(1u, 2), l7_ebx = CPUID(7u, 1), l7_ecx = CPUID(7u, 2);
    LLVMValueRef has7 = LLVMBuildICmp(g->b, LLVMIntUGE, max, cg_i32(g, 7), "");
    l7_ebx = LLVMBuildSelect(g->b, has7, l7_ebx, cg_i32(g, 0), "");
    l7_ecx = LLVMBuildSelect(g->b, has7, l7_ecx, cg_i32(g, 0), "");
    LLVMValueRef emax = CPUID(0x80000000u, 0), e1_ecx = CPUID(0x80000001u, 2);
    e1_ecx = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntUGE, emax, LLVMConstInt(g->t_i32, 0x80000001u, 0), ""),
                             e1_ecx, cg_i32(g, 0), "");
#undef CPUID
    LLVMBasicBlockRef entry = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef xg = LLVMAppendBasicBlockInContext(g->ctx, fn, "xgetbv");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, fn, "join");
    LLVMValueRef osxsave = LLVMBuildICmp(g->b, LLVMIntNE, LLVMBuildAnd(g->b, l1_ecx, cg_i32(g, 1L << 27), ""), cg_i32(g, 0), "");
    LLVMBuildCondBr(g->b, osxsave, xg, join);
    LLVMPositionBuilderAtEnd(g->b, xg);
    LLVMValueRef zero = cg_i32(g, 0);
    LLVMValueRef x = LLVMBuildExtractValue(g->b, LLVMBuildCall2(g->b, xgetbv_t, xgetbv, &zero, 1, ""), 0, "");
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef xcr0 = LLVMBuildPhi(g->b, g->t_i32, "xcr0");
    LLVMValueRef in[2] = {cg_i32(g, 0), x};
    LLVMBasicBlockRef from[2] = {entry, xg};
    LLVMAddIncoming(xcr0, in, from, 2);
    LLVMValueRef args[5] = {l1_ecx, l7_ebx, e1_ecx, xcr0, l7_ecx};
    LLVMBuildRet(g->b, call_fn(g, select, args, 5));
    return fn;
}

/* NAME_isa_match(const char *level, int best): the index of the level named
 * (at most best), or -1 (an unknown name, a level above best, NULL). */
static LLVMValueRef emit_isa_match(cg *g, const char *N, LLVMValueRef *names, int n)
{
    LLVMTypeRef p[2] = {g->t_ptr, g->t_i32}, pp[2] = {g->t_ptr, g->t_ptr};
    LLVMValueRef fn = new_function(g, N, "isa_match", LLVMFunctionType(g->t_i32, p, 2, 0), LLVMInternalLinkage);
    LLVMValueRef s = LLVMGetParam(fn, 0), best = LLVMGetParam(fn, 1);
    LLVMBasicBlockRef null = LLVMAppendBasicBlockInContext(g->ctx, fn, "null");
    LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(g->ctx, fn, "go");
    LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, s, ""), null, go);
    LLVMPositionBuilderAtEnd(g->b, null);
    LLVMBuildRet(g->b, cg_i32(g, -1));
    LLVMPositionBuilderAtEnd(g->b, go);
    LLVMValueRef r = cg_i32(g, -1);
    for (int k = 0; k < n; k++) {
        LLVMValueRef a[2] = {s, names[k]};
        LLVMValueRef c = cg_call(g, "strcmp", LLVMFunctionType(g->t_i32, pp, 2, 0), a, 2);
        LLVMValueRef hit = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, c, cg_i32(g, 0), ""),
                                        LLVMBuildICmp(g->b, LLVMIntSLE, cg_i32(g, k), best, ""), "");
        r = LLVMBuildSelect(g->b, hit, cg_i32(g, k), r, "");
    }
    LLVMBuildRet(g->b, r);
    return fn;
}

/* The ISA API: const char *NAME_isa(void), int NAME_force_isa(const char *),
 * and (several levels) NAME_isa_current(), the level index the dispatchers
 * use: the level stored in NAME_isa_level (index + 1; 0 until the first call)
 * with acquire/release atomics; at the first call (NAME_isa_first) the best
 * level of CPUID and XCR0, or the lower one NAME_UPPER_ISA names in the
 * environment.  Racing
 * first calls compute and store the same level.  Returns NAME_isa_current
 * (NULL for one level: no dispatch). */
static LLVMValueRef emit_isa_api(cg *g, const char *N, const char *upper, const aot_isa *isa, int n)
{
    LLVMValueRef names[N_X86_ISA > 0 ? N_X86_ISA : 1];
    for (int k = 0; k < n; k++)
        names[k] = const_cstring(g, isa[k].name);
    LLVMValueRef match = emit_isa_match(g, N, names, n);
    LLVMValueRef current = NULL, best = NULL, level = NULL;
    if (n > 1) {
        LLVMValueRef select = emit_isa_select(g, N, n);
        best = emit_isa_best(g, N, select);
        char gname[300];
        snprintf(gname, sizeof gname, "%s_isa_level", N);
        level = LLVMAddGlobal(g->mod, g->t_i32, gname);
        LLVMSetInitializer(level, cg_i32(g, 0));
        LLVMSetLinkage(level, LLVMInternalLinkage);
        LLVMSetAlignment(level, 4);
        /* the first call's choice, out of line (the dispatchers inline the load) */
        LLVMValueRef first = new_function(g, N, "isa_first", LLVMFunctionType(g->t_i32, NULL, 0, 0), LLVMInternalLinkage);
        LLVMAddAttributeAtIndex(first, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(g->ctx, LLVMGetEnumAttributeKindForName("noinline", 8), 0));
        LLVMAddAttributeAtIndex(first, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(g->ctx, LLVMGetEnumAttributeKindForName("cold", 4), 0));
        LLVMValueRef b = call_fn(g, best, NULL, 0);
        char var[300];
        snprintf(var, sizeof var, "%s_ISA", upper);
        LLVMValueRef vs = const_cstring(g, var);
        LLVMTypeRef pty = g->t_ptr;
        LLVMValueRef env = cg_call(g, "getenv", LLVMFunctionType(g->t_ptr, &pty, 1, 0), &vs, 1);
        LLVMValueRef ma[2] = {env, b};
        LLVMValueRef m = call_fn(g, match, ma, 2);
        LLVMValueRef c = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, m, cg_i32(g, 0), ""), b, m, "");
        LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildAdd(g->b, c, cg_i32(g, 1), ""), level);
        LLVMSetOrdering(st, LLVMAtomicOrderingRelease);
        LLVMSetAlignment(st, 4);
        LLVMBuildRet(g->b, c);
        current = new_function(g, N, "isa_current", LLVMFunctionType(g->t_i32, NULL, 0, 0), LLVMInternalLinkage);
        LLVMValueRef v = LLVMBuildLoad2(g->b, g->t_i32, level, "");
        LLVMSetOrdering(v, LLVMAtomicOrderingAcquire);
        LLVMSetAlignment(v, 4);
        LLVMBasicBlockRef known = LLVMAppendBasicBlockInContext(g->ctx, current, "known");
        LLVMBasicBlockRef unset = LLVMAppendBasicBlockInContext(g->ctx, current, "first");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, v, cg_i32(g, 0), ""), known, unset);
        LLVMPositionBuilderAtEnd(g->b, known);
        LLVMBuildRet(g->b, LLVMBuildSub(g->b, v, cg_i32(g, 1), ""));
        LLVMPositionBuilderAtEnd(g->b, unset);
        LLVMBuildRet(g->b, call_fn(g, first, NULL, 0));
    }
    /* const char *NAME_isa(void) */
    LLVMValueRef fn = new_function(g, N, "isa", LLVMFunctionType(g->t_ptr, NULL, 0, 0), LLVMExternalLinkage);
    if (n > 1) {
        LLVMValueRef table_init = LLVMConstArray2(g->t_ptr, names, (uint64_t)n);
        LLVMValueRef table = LLVMAddGlobal(g->mod, LLVMTypeOf(table_init), "isa_names");
        LLVMSetInitializer(table, table_init);
        LLVMSetGlobalConstant(table, 1);
        LLVMSetLinkage(table, LLVMPrivateLinkage);
        LLVMValueRef idx = LLVMBuildZExt(g->b, call_fn(g, current, NULL, 0), g->t_i64, "");
        LLVMValueRef at = LLVMBuildInBoundsGEP2(g->b, g->t_ptr, table, &idx, 1, "");
        LLVMBuildRet(g->b, LLVMBuildLoad2(g->b, g->t_ptr, at, ""));
    } else {
        LLVMBuildRet(g->b, names[0]);
    }
    /* int NAME_force_isa(const char *level): 0, or -1 for a level this CPU
     * lacks (or not in the artifact) */
    LLVMTypeRef pty = g->t_ptr;
    fn = new_function(g, N, "force_isa", LLVMFunctionType(g->t_i32, &pty, 1, 0), LLVMExternalLinkage);
    LLVMValueRef ma[2] = {LLVMGetParam(fn, 0), n > 1 ? call_fn(g, best, NULL, 0) : cg_i32(g, 0)};
    LLVMValueRef m = call_fn(g, match, ma, 2);
    LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(g->ctx, fn, "refused");
    LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->ctx, fn, "forced");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, m, cg_i32(g, 0), ""), no, yes);
    LLVMPositionBuilderAtEnd(g->b, no);
    LLVMBuildRet(g->b, cg_i32(g, -1));
    LLVMPositionBuilderAtEnd(g->b, yes);
    if (n > 1) {
        LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildAdd(g->b, m, cg_i32(g, 1), ""), level);
        LLVMSetOrdering(st, LLVMAtomicOrderingRelease);
        LLVMSetAlignment(st, 4);
    }
    LLVMBuildRet(g->b, cg_i32(g, 0));
    return current;
}

/* The public entry point `name` (of type ty): calls impl[NAME_isa_current()]
 * with its arguments.  One per function whose body is emitted per level. */
static void emit_dispatch(cg *g, const char *name, LLVMTypeRef ty, const LLVMValueRef *impl, int n, LLVMValueRef current)
{
    LLVMValueRef fn = LLVMAddFunction(g->mod, name, ty);
    g->fn = fn;
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
    LLVMValueRef idx = call_fn(g, current, NULL, 0);
    unsigned np = LLVMCountParams(fn);
    LLVMValueRef args[16];
    for (unsigned i = 0; i < np && i < 16; i++)
        args[i] = LLVMGetParam(fn, i);
    LLVMBasicBlockRef blocks[N_X86_ISA];
    for (int k = 0; k < n; k++)
        blocks[k] = LLVMAppendBasicBlockInContext(g->ctx, fn, "level");
    LLVMValueRef sw = LLVMBuildSwitch(g->b, idx, blocks[0], (unsigned)n - 1);
    for (int k = 0; k < n; k++) {
        if (k > 0)
            LLVMAddCase(sw, cg_i32(g, k), blocks[k]);
        LLVMPositionBuilderAtEnd(g->b, blocks[k]);
        LLVMValueRef r = LLVMBuildCall2(g->b, ty, impl[k], args, np, "");
        LLVMSetTailCall(r, 1);
        if (LLVMGetTypeKind(LLVMGetReturnType(ty)) == LLVMVoidTypeKind)
            LLVMBuildRetVoid(g->b);
        else
            LLVMBuildRet(g->b, r);
    }
}

/* A level's forward pass: internal, never inlined into the baseline's
 * dispatcher, compiled for its CPU and features. */
static void set_isa(cg *g, LLVMValueRef fn, const aot_isa *isa)
{
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                               LLVMCreateEnumAttribute(g->ctx, LLVMGetEnumAttributeKindForName("noinline", 8), 0));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                               LLVMCreateStringAttribute(g->ctx, "target-cpu", 10, isa->cpu, (unsigned)strlen(isa->cpu)));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                               LLVMCreateStringAttribute(g->ctx, "target-features", 15, isa->features,
                                                         (unsigned)strlen(isa->features)));
    if (isa->vector_width)
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(g->ctx, "prefer-vector-width", 19, isa->vector_width,
                                                          (unsigned)strlen(isa->vector_width)));
}

int hp_aot_build(const plan_experiment *e, const cg_layout *l, const hp_aot_options *o, cg_error *err)
{
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMInitializeAllAsmParsers(); /* the inline cpuid and xgetbv */
    char *host = LLVMGetDefaultTargetTriple();
    const char *triple = o->triple ? o->triple : host;
    char *msg = NULL;
    LLVMTargetRef target;
    int rc = -1;
    char *cpu_native = NULL, *features = NULL;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        cg_fail(err, CG_E_USAGE, "unknown target '%s': %s", triple, msg ? msg : "");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(host);
        return -1;
    }
    const char *cpu = o->cpu;
    bool x86 = strncmp(triple, "x86_64", 6) == 0;
    /* portable on x86-64: a forward pass per level of x86_isa, the TargetMachine at the floor */
    bool portable = x86 && (!cpu || strcmp(cpu, "portable") == 0);
    if (cpu && strcmp(cpu, "native") == 0) {
        cpu = cpu_native = LLVMGetHostCPUName();
        features = LLVMGetHostCPUFeatures();
    } else if (!cpu || strcmp(cpu, "portable") == 0) {
        cpu = x86 ? x86_isa[0].cpu : "generic";
    }
    if (o->q8 && strncmp(triple, "x86_64", 6) != 0) {
        cg_fail(err, CG_E_USAGE, "--quantize int8 builds for x86-64 targets only, not %s", triple);
        goto out;
    }
    /* one level otherwise: this CPU (AArch64: its NEON baseline, or the CPU named) */
    aot_isa one = {.name = strncmp(triple, "aarch64", 7) == 0 || strncmp(triple, "arm64", 5) == 0 ? "aarch64" : cpu,
                   .cpu = cpu, .features = features ? features : "", .summary = ""};
    const aot_isa *isa = portable ? x86_isa : &one;
    int n_isa = !portable ? 1 : o->q8 ? N_X86_ISA : N_X86_FLOAT;
    tm = LLVMCreateTargetMachine(target, triple, cpu, features ? features : "", LLVMCodeGenLevelAggressive, LLVMRelocPIC,
                                 LLVMCodeModelDefault);
    if (!tm) {
        cg_fail(err, CG_E_USAGE, "cannot target %s with CPU %s", triple, cpu);
        goto out;
    }
    ir_target t = {.tm = tm, .triple = triple, .data_layout = NULL, .vectorize = false};
    cg gs;
    memset(&gs, 0, sizeof gs);
    cg *g = &gs;
    LLVMContextRef ctx = LLVMContextCreate();
    if (cg_module_new(g, ctx, o->name, &t, err) != 0) {
        LLVMContextDispose(ctx);
        goto out;
    }
    g->e = e;
    g->l = l;
    g->threads = 1;
    g->libm_exp = true;
    LLVMTypeRef t_size = LLVMIntPtrTypeInContext(g->ctx, LLVMGetModuleDataLayout(g->mod));
    /* batchnorm folded into the weights the object holds */
    hp_aot_options folded = *o;
    float *fp = l->text ? NULL : aot_bn_fold(e, l, o->params);
    folded.params = fp;
    int emitted = l->text || fp || o->q8 ? 0 : -1;
    /* the forward pass once per level (sharing the weights); with several,
     * each is NAME_predict_with.LEVEL (NAME_step.LEVEL) behind a dispatcher */
    char upper[256], fname[300];
    upper_name(o->name, upper, sizeof upper);
    const char *entry = l->text ? "step" : "predict_with";
    LLVMValueRef impl[N_X86_ISA];
    for (int k = 0; k < n_isa && emitted == 0; k++) {
        g->acc_floats = acc_floats(triple, isa[k].cpu, isa[k].features);
        if (n_isa > 1)
            snprintf(fname, sizeof fname, "%s_%s.%s", o->name, entry, isa[k].name);
        else
            snprintf(fname, sizeof fname, "%s_%s", o->name, entry);
        emitted = l->text              ? emit_lm(g, o, fname)
                  : o->q8              ? hp_q8_emit(g, o->q8, hp_q8_isa_for(isa[k].cpu, isa[k].features), fname, t_size)
                  : aot_seq_model(e, l) ? aot_seq_emit(g, &folded, t_size, fname)
                                        : emit(g, &folded, t_size, fname);
        impl[k] = LLVMGetNamedFunction(g->mod, fname);
        if (emitted == 0 && n_isa > 1)
            set_isa(g, impl[k], &isa[k]);
    }
    free(fp);
    if (emitted == 0) {
        LLVMValueRef current = emit_isa_api(g, o->name, upper, isa, n_isa);
        snprintf(fname, sizeof fname, "%s_%s", o->name, entry);
        if (n_isa > 1)
            emit_dispatch(g, fname, l->text ? step_type(g) : predict_with_type(g, t_size), impl, n_isa, current);
        if (l->text)
            emit_lm_api(g, o, t_size);
        else
            emitted = emit_predict(g, o, t_size);
    }
    LLVMDisposeBuilder(g->b);
    if (emitted != 0) {
        cg_fail(err, CG_E_MEMORY, "out of memory");
        goto dispose;
    }
    if (ir_optimize(g->mod, &t, err) != 0)
        goto dispose;
    char obj[4200];
    snprintf(obj, sizeof obj, "%s/%s.o", o->out_dir, o->name);
    if (LLVMTargetMachineEmitToFile(tm, g->mod, obj, LLVMObjectFile, &msg)) {
        cg_fail(err, CG_E_IO, "%s: %s", obj, msg ? msg : "cannot write");
        LLVMDisposeMessage(msg);
        goto dispose;
    }
    if (write_header(e, l, o, isa, n_isa, err) == 0 && make_archive(o, err) == 0)
        rc = 0;
dispose:
    LLVMDisposeModule(g->mod);
    LLVMContextDispose(g->ctx);
out:
    if (tm)
        LLVMDisposeTargetMachine(tm);
    LLVMDisposeMessage(cpu_native);
    LLVMDisposeMessage(features);
    LLVMDisposeMessage(host);
    return rc;
}
