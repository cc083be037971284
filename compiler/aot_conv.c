/* aot_conv.c - conv and pool layers in hpc build's float artifact, one
 * sample at a time, specialised to each layer's shapes and vectorised along
 * the output rows at the width of the ISA level being emitted.
 *
 * conv: the input is copied once into a zero-padded plane per channel (when
 * the layer pads), so the inner loops have no bounds tests.  An output row is
 * V-float vectors wide (V: 16 with AVX-512, 8 with AVX, 4 otherwise, or less
 * for narrow rows); a register block of NW vectors of one row times R output
 * channels is accumulated over every input channel and tap: each input
 * vector load feeds R fused multiply-adds and each weight (broadcast) NW.
 * The weights are laid out at build time as [block][C][k][k][R], so a tap's R
 * weights are adjacent.  Bias and ReLU are applied in registers before the
 * store; a row's last vector stores only its lanes inside the row (a masked
 * store).  With a stride the input vector is one load of V·s floats and a
 * shuffle of every s-th (s <= 4), else a gather of the lanes needed.
 * pools: the same vectors along the output row, each tap a (strided) vector
 * load, max or sum then scale.
 * Loads of a row's last vector may read up to SLACK floats past the end of
 * the data they read (lanes never stored): aot_conv_scratch_floats reserves
 * that after the artifact's activation buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aot_int.h"

/* floats a row's last vector load may read past the data: V·s - 1 with V <= 16 and s <= 4 (shuffled loads) */
#define SLACK 128
#define MAX_ACC 32

/* Floats per vector at the level being emitted (g->acc_floats: acc_floats() in aot.c). */
static int level_vector(cg *g)
{
    bool x86 = strncmp(LLVMGetTarget(g->mod), "x86_64", 6) == 0;
    return g->acc_floats >= 256 ? 16 : x86 && g->acc_floats >= 64 ? 8 : 4;
}

/* Vector accumulators a register block may hold: 3/4 of the vector registers
 * (32 with AVX-512 or NEON, 16 otherwise), the rest for inputs and weights. */
static int level_accs(cg *g)
{
    bool x86 = strncmp(LLVMGetTarget(g->mod), "x86_64", 6) == 0;
    return !x86 || g->acc_floats >= 256 ? 24 : 12;
}

/* The vector width for rows of n outputs: the level's, or the smallest power of two >= n (at least 4). */
static int row_vector(cg *g, int n)
{
    int V = 4;
    while (V < n && V < level_vector(g))
        V *= 2;
    return V;
}

/* p[0], p[s], ..., p[(V-1)s] as a vector; lanes from `active` on are unused
 * (a plain or shuffled load reads them anyway, at most V·s - 1 floats on). */
static LLVMValueRef load_strided(cg *g, LLVMValueRef p, int V, int s, int active)
{
    LLVMTypeRef vt = LLVMVectorType(g->t_f32, (unsigned)V);
    if (s == 1) {
        LLVMValueRef v = LLVMBuildLoad2(g->b, vt, p, "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    if (s <= 4) {
        LLVMValueRef w = LLVMBuildLoad2(g->b, LLVMVectorType(g->t_f32, (unsigned)(V * s)), p, "");
        LLVMSetAlignment(w, 4);
        LLVMValueRef mask[16];
        for (int j = 0; j < V; j++)
            mask[j] = cg_i32(g, (long)j * s);
        return LLVMBuildShuffleVector(g->b, w, LLVMGetUndef(LLVMTypeOf(w)), LLVMConstVector(mask, (unsigned)V), "");
    }
    LLVMValueRef v = LLVMConstNull(vt);
    for (int j = 0; j < active; j++)
        v = LLVMBuildInsertElement(g->b, v, cg_load_f(g, p, cg_i64(g, (long)j * s)), cg_i32(g, j), "");
    return v;
}

/* Stores the first `active` lanes of v at p (all: a plain store; else llvm.masked.store). */
static void store_lanes(cg *g, LLVMValueRef v, LLVMValueRef p, int V, int active)
{
    if (active >= V) {
        LLVMSetAlignment(LLVMBuildStore(g->b, v, p), 4);
        return;
    }
    LLVMValueRef m[16];
    for (int j = 0; j < V; j++)
        m[j] = LLVMConstInt(g->t_i1, j < active, 0);
    LLVMTypeRef ty[2] = {LLVMTypeOf(v), g->t_ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.store", 17);
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, ty, 2);
    LLVMValueRef args[4] = {v, p, cg_i32(g, 4), LLVMConstVector(m, (unsigned)V)};
    LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->ctx, id, ty, 2), fn, args, 4, "");
}

static LLVMValueRef relu_v(cg *g, LLVMValueRef v) /* NaN passes through, as cg_act_forward's */
{
    LLVMValueRef z = LLVMConstNull(LLVMTypeOf(v));
    return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, v, z, ""), z, v, "");
}

/* Kernel taps along a row: unrolled here up to this size, else a loop. */
#define UNROLL_K 7

/* One conv layer's shapes and its lowering at the level being emitted. */
typedef struct {
    int C, F, k, s, Ho, Wo;
    long SH, SW; /* the source plane: rows and row length (padded) */
    int V, nv, tail; /* vector width, vectors per output row, outputs in the last */
    int NW, R;       /* register block: NW vectors of a row times R output channels */
    bool relu;
} conv_geo;

/* NW vectors (the last with `last` outputs) of output row oh from column ow0,
 * output channels f0 .. f0+R-1: their sums over every channel and tap in
 * registers, then bias (the accumulators' start) and ReLU, stored. */
static void conv_block(cg *g, const conv_geo *q, LLVMValueRef src, LLVMValueRef Wl, LLVMValueRef Bv, LLVMValueRef dst,
                       LLVMValueRef oh, LLVMValueRef f0, int R, LLVMValueRef ow0, int nw, int last)
{
    int V = q->V, k = q->k, s = q->s;
    LLVMTypeRef vt = LLVMVectorType(g->t_f32, (unsigned)V);
    LLVMValueRef acc[MAX_ACC];
    for (int r = 0; r < R; r++) {
        LLVMValueRef b = aot_splat(g, cg_load_f(g, Bv, iadd(g, f0, cg_i64(g, r))), V);
        for (int j = 0; j < nw; j++) {
            acc[j * R + r] = ir_alloca(g->b, vt, "cacc");
            LLVMBuildStore(g->b, b, acc[j * R + r]);
        }
    }
    /* this block's weights: [C][k][k][R] from f0·C·k² on */
    LLVMValueRef wb = cg_fptr(g, Wl, LLVMBuildMul(g->b, f0, cg_i64(g, (long)q->C * k * k), ""));
    cg_loop Cl, Kh, Kw = {0};
    cg_for(g, &Cl, cg_i64(g, 0), cg_i64(g, q->C));
    cg_for(g, &Kh, cg_i64(g, 0), cg_i64(g, k));
    LLVMValueRef ih = iadd(g, LLVMBuildMul(g->b, oh, cg_i64(g, s), ""), Kh.i);
    LLVMValueRef row = cg_fptr(g, src, iadd(g, LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, Cl.i, cg_i64(g, q->SH), ""), ih), cg_i64(g, q->SW), ""),
                                            LLVMBuildMul(g->b, ow0, cg_i64(g, s), "")));
    LLVMValueRef wrow = cg_fptr(g, wb, LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, Cl.i, cg_i64(g, k), ""), Kh.i), cg_i64(g, (long)k * R), ""));
    bool unroll = k <= UNROLL_K;
    if (!unroll)
        cg_for(g, &Kw, cg_i64(g, 0), cg_i64(g, k));
    for (int kw = 0; kw < (unroll ? k : 1); kw++) {
        LLVMValueRef kwv = unroll ? cg_i64(g, kw) : Kw.i;
        LLVMValueRef x[MAX_ACC];
        for (int j = 0; j < nw; j++)
            x[j] = load_strided(g, cg_fptr(g, row, iadd(g, kwv, cg_i64(g, (long)j * V * s))), V, s, j == nw - 1 ? last : V);
        LLVMValueRef wk = cg_fptr(g, wrow, LLVMBuildMul(g->b, kwv, cg_i64(g, R), ""));
        for (int r = 0; r < R; r++) {
            LLVMValueRef w = aot_splat(g, cg_load_f(g, wk, cg_i64(g, r)), V);
            for (int j = 0; j < nw; j++) {
                LLVMValueRef a = LLVMBuildLoad2(g->b, vt, acc[j * R + r], "");
                LLVMBuildStore(g->b, cg_intrinsic3(g, "fmuladd", x[j], w, a), acc[j * R + r]);
            }
        }
    }
    if (!unroll)
        cg_end(g, &Kw);
    cg_end(g, &Kh);
    cg_end(g, &Cl);
    for (int r = 0; r < R; r++) {
        LLVMValueRef orow = cg_fptr(g, dst, iadd(g, LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, iadd(g, f0, cg_i64(g, r)), cg_i64(g, q->Ho), ""), oh),
                                                                 cg_i64(g, q->Wo), ""), ow0));
        for (int j = 0; j < nw; j++) {
            LLVMValueRef v = LLVMBuildLoad2(g->b, vt, acc[j * R + r], "");
            if (q->relu)
                v = relu_v(g, v);
            store_lanes(g, v, cg_fptr(g, orow, cg_i64(g, (long)j * V)), V, j == nw - 1 ? last : V);
        }
    }
}

/* Output channels f0 .. f0+R-1 of output row oh: the row in groups of NW vectors. */
static void conv_channels(cg *g, const conv_geo *q, LLVMValueRef src, LLVMValueRef Wl, LLVMValueRef Bv, LLVMValueRef dst,
                          LLVMValueRef oh, LLVMValueRef f0, int R)
{
    int groups = (q->nv + q->NW - 1) / q->NW;
    if (groups > 1) {
        cg_loop G;
        cg_for(g, &G, cg_i64(g, 0), cg_i64(g, groups - 1));
        conv_block(g, q, src, Wl, Bv, dst, oh, f0, R, LLVMBuildMul(g->b, G.i, cg_i64(g, (long)q->NW * q->V), ""), q->NW, q->V);
        cg_end(g, &G);
    }
    int rest = q->nv - (groups - 1) * q->NW;
    conv_block(g, q, src, Wl, Bv, dst, oh, f0, R, cg_i64(g, (long)(groups - 1) * q->NW * q->V), rest, q->tail);
}

/* The largest divisor of F not above m when it is at least m/2, else m. */
static int channel_block(int F, int m)
{
    if (F <= m)
        return F;
    for (int r = m; r * 2 >= m; r--)
        if (F % r == 0)
            return r;
    return m;
}

int aot_conv_emit(cg *g, int i, const float *W, const float *B, plan_act act, LLVMValueRef cur, LLVMValueRef dst,
                  LLVMValueRef planes, bool *act_done)
{
    const plan_layer *pl = &g->e->layers[i];
    conv_geo q;
    int H = pl->in.d[1], Wd = pl->in.d[2], p = pl->pad;
    q.C = pl->in.d[0];
    q.F = pl->units;
    q.k = pl->kernel;
    q.s = pl->stride;
    q.Ho = pl->out.d[1];
    q.Wo = pl->out.d[2];
    q.relu = act == PLAN_ACT_RELU;
    *act_done = q.relu;
    q.V = row_vector(g, q.Wo);
    q.nv = (q.Wo + q.V - 1) / q.V;
    q.tail = q.Wo - (q.nv - 1) * q.V;
    int A = level_accs(g), nwmax = A / 4 < 4 ? A / 4 : 4;
    int groups = (q.nv + nwmax - 1) / nwmax;
    q.NW = (q.nv + groups - 1) / groups; /* balanced groups of at most nwmax */
    q.R = channel_block(q.F, A / q.NW);
    long kk = (long)q.k * q.k, per = (long)q.C * kk;
    /* the weights [F][C][k][k] as blocks of R channels, [C][k][k][R] each */
    char name[48];
    snprintf(name, sizeof name, "cw%d_%d", i, q.R);
    LLVMValueRef Wl = LLVMGetNamedGlobal(g->mod, name); /* another ISA level's */
    if (!Wl) {
        float *wl = malloc(sizeof(float) * (size_t)(q.F * per));
        if (!wl)
            return -1;
        for (int f0 = 0; f0 < q.F; f0 += q.R) {
            int R = q.F - f0 < q.R ? q.F - f0 : q.R;
            for (int r = 0; r < R; r++)
                for (long t = 0; t < per; t++)
                    wl[f0 * per + t * R + r] = W[(f0 + r) * per + t];
        }
        Wl = const_floats(g, name, wl, q.F * per);
        free(wl);
    }
    snprintf(name, sizeof name, "b%d", i);
    LLVMValueRef Bv = const_floats(g, name, B, q.F);
    /* the zero-padded planes, and the slack after them zero too */
    LLVMValueRef src = cur;
    q.SH = H;
    q.SW = Wd;
    if (p > 0) {
        q.SH = H + 2L * p;
        q.SW = Wd + 2L * p;
        LLVMBuildMemSet(g->b, planes, LLVMConstInt(g->t_i8, 0, 0), cg_i64(g, 4 * (q.C * q.SH * q.SW + SLACK)), 64);
        cg_loop Cc, Hh;
        cg_for(g, &Cc, cg_i64(g, 0), cg_i64(g, q.C));
        cg_for(g, &Hh, cg_i64(g, 0), cg_i64(g, H));
        LLVMValueRef to = iadd(g, LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, Cc.i, cg_i64(g, q.SH), ""), iadd(g, Hh.i, cg_i64(g, p))), cg_i64(g, q.SW), ""),
                               cg_i64(g, p));
        LLVMValueRef from = LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, Cc.i, cg_i64(g, H), ""), Hh.i), cg_i64(g, Wd), "");
        LLVMBuildMemCpy(g->b, cg_fptr(g, planes, to), 4, cg_fptr(g, cur, from), 4, cg_i64(g, 4L * Wd));
        cg_end(g, &Hh);
        cg_end(g, &Cc);
        src = planes;
    }
    cg_loop Oh, Fb;
    cg_for(g, &Oh, cg_i64(g, 0), cg_i64(g, q.Ho));
    int full = q.F / q.R, rest = q.F % q.R;
    cg_for(g, &Fb, cg_i64(g, 0), cg_i64(g, full));
    conv_channels(g, &q, src, Wl, Bv, dst, Oh.i, LLVMBuildMul(g->b, Fb.i, cg_i64(g, q.R), ""), q.R);
    cg_end(g, &Fb);
    if (rest)
        conv_channels(g, &q, src, Wl, Bv, dst, Oh.i, cg_i64(g, (long)full * q.R), rest);
    cg_end(g, &Oh);
    return 0;
}

/* One vector of a pool's output row (its first `active` lanes). */
static void pool_vec(cg *g, bool mx, int k, int s, int V, LLVMValueRef row, long Wd, LLVMValueRef out, LLVMValueRef ow0,
                     int active)
{
    LLVMTypeRef vt = LLVMVectorType(g->t_f32, (unsigned)V);
    LLVMValueRef first = cg_fptr(g, row, LLVMBuildMul(g->b, ow0, cg_i64(g, s), ""));
    LLVMValueRef acc = ir_alloca(g->b, vt, "pacc");
    LLVMBuildStore(g->b, mx ? load_strided(g, first, V, s, active) : LLVMConstNull(vt), acc);
    cg_loop Kh, Kw = {0};
    cg_for(g, &Kh, cg_i64(g, 0), cg_i64(g, k));
    LLVMValueRef r = cg_fptr(g, first, LLVMBuildMul(g->b, Kh.i, cg_i64(g, Wd), ""));
    bool unroll = k <= UNROLL_K;
    if (!unroll)
        cg_for(g, &Kw, cg_i64(g, 0), cg_i64(g, k));
    for (int kw = 0; kw < (unroll ? k : 1); kw++) {
        LLVMValueRef v = load_strided(g, cg_fptr(g, r, unroll ? cg_i64(g, kw) : Kw.i), V, s, active);
        LLVMValueRef a = LLVMBuildLoad2(g->b, vt, acc, "");
        /* the scalar loop's order and comparison: the first tap, then every tap */
        LLVMValueRef nv = mx ? LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealUGT, v, a, ""), v, a, "") : fadd(g, a, v);
        LLVMBuildStore(g->b, nv, acc);
    }
    if (!unroll)
        cg_end(g, &Kw);
    cg_end(g, &Kh);
    LLVMValueRef res = LLVMBuildLoad2(g->b, vt, acc, "");
    if (!mx)
        res = fmul(g, res, aot_splat(g, cg_f32(g, 1.0 / ((double)k * k)), V));
    store_lanes(g, res, cg_fptr(g, out, ow0), V, active);
}

void aot_pool_emit(cg *g, int i, LLVMValueRef cur, LLVMValueRef dst)
{
    const plan_layer *pl = &g->e->layers[i];
    int C = pl->in.d[0], H = pl->in.d[1], Wd = pl->in.d[2], k = pl->kernel, s = pl->stride;
    int Ho = pl->out.d[1], Wo = pl->out.d[2];
    bool mx = pl->kind == PLAN_MAXPOOL;
    int V = row_vector(g, Wo), nv = (Wo + V - 1) / V, tail = Wo - (nv - 1) * V;
    cg_loop Cl, Oh, J;
    cg_for(g, &Cl, cg_i64(g, 0), cg_i64(g, C));
    cg_for(g, &Oh, cg_i64(g, 0), cg_i64(g, Ho));
    LLVMValueRef row = cg_fptr(g, cur, LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, Cl.i, cg_i64(g, H), ""), LLVMBuildMul(g->b, Oh.i, cg_i64(g, s), "")),
                                                    cg_i64(g, Wd), ""));
    LLVMValueRef out = cg_fptr(g, dst, LLVMBuildMul(g->b, iadd(g, LLVMBuildMul(g->b, Cl.i, cg_i64(g, Ho), ""), Oh.i), cg_i64(g, Wo), ""));
    if (nv > 1) {
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, nv - 1));
        pool_vec(g, mx, k, s, V, row, Wd, out, LLVMBuildMul(g->b, J.i, cg_i64(g, V), ""), V);
        cg_end(g, &J);
    }
    pool_vec(g, mx, k, s, V, row, Wd, out, cg_i64(g, (long)(nv - 1) * V), tail);
    cg_end(g, &Oh);
    cg_end(g, &Cl);
}

long aot_conv_scratch_floats(const plan_experiment *e)
{
    long planes = 0;
    bool any = false;
    for (int i = 0; i < e->n_layers; i++) {
        const plan_layer *pl = &e->layers[i];
        if (pl->kind != PLAN_CONV && pl->kind != PLAN_MAXPOOL && pl->kind != PLAN_AVGPOOL)
            continue;
        any = true;
        if (pl->kind == PLAN_CONV && pl->pad > 0) {
            long n = (long)pl->in.d[0] * (pl->in.d[1] + 2L * pl->pad) * (pl->in.d[2] + 2L * pl->pad);
            planes = n > planes ? n : planes;
        }
    }
    return any ? ((planes + 15) & ~15L) + SLACK : 0;
}
