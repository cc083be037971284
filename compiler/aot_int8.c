/* aot_int8.c - int8 post-training quantization for hpc build (aot_int8.h has
 * the scheme).
 *
 * hp_q8_plan quantizes the weights, hp_q8_calibrate sets each layer's input
 * range with the C reference of the float forward pass, and hp_q8_emit writes
 * NAME_predict_with for one target ISA: per tile of HP_Q8_TILE samples (or one
 * sample at a time for the rest), the input is scaled/normalised and
 * quantized to bytes, then every dense layer is an int8 kernel into int32
 * accumulators and an epilogue that scales them, adds the bias, applies the
 * activations and quantizes the result for the next layer (the last layer's
 * stays float and gets the softmax).
 *
 * The kernel keeps the weights packed for the instruction it uses: groups of
 * G inputs of V outputs side by side, wp[k / G][j][k % G], so one vector
 * load holds G inputs of V outputs and the G input bytes of a sample are one
 * broadcast scalar.  With AVX512_VNNI, G = 4 and vpdpbusd multiplies the u8
 * inputs by the s8 weights and adds the four products to each int32 lane.
 * Without it, G = 2: the weight bytes are sign-extended to int16 and pmaddwd
 * multiplies them by the zero-extended inputs and adds pairs into int32 -
 * exact, unlike pmaddubsw, whose int16 sum of two u8 x s8 products saturates. */
#include "aot_int8.h"
#include "aot_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model and its quantization ---- */

int hp_q8_layer_init(hp_q8_layer *L, long in, long out, const float *wf, const float *bias)
{
    memset(L, 0, sizeof *L);
    L->in = in;
    L->out = out;
    L->in_pad = (in + 3) & ~3L;
    L->out_pad = (out + 15) & ~15L;
    L->wf = wf;
    L->bias = bias;
    L->w = calloc((size_t)(out * L->in_pad), 1);
    L->w_scale = calloc((size_t)out, sizeof *L->w_scale);
    L->mult = calloc((size_t)out, sizeof *L->mult);
    L->zsum = calloc((size_t)out, sizeof *L->zsum);
    if (!L->w || !L->w_scale || !L->mult || !L->zsum)
        return -1;
    for (long j = 0; j < out; j++) {
        float mx = 0;
        for (long k = 0; k < in; k++)
            mx = fabsf(wf[j * in + k]) > mx ? fabsf(wf[j * in + k]) : mx;
        float s = mx > 0 && isfinite(mx) ? mx / 127.0f : 1.0f;
        L->w_scale[j] = s;
        for (long k = 0; k < in; k++) {
            float q = rintf(wf[j * in + k] / s);
            L->w[j * L->in_pad + k] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
    hp_q8_set_range(L, 0, 1);
    return 0;
}

void hp_q8_set_range(hp_q8_layer *L, float lo, float hi)
{
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        lo = 0, hi = 1;
    lo = lo < 0 ? lo : 0;
    hi = hi > 0 ? hi : 0;
    if (!(hi - lo > 0))
        hi = lo + 1;
    L->lo = lo;
    L->hi = hi;
    L->in_scale = (hi - lo) / 255.0f;
    L->in_inv = 1.0f / L->in_scale;
    float z = rintf(-lo / L->in_scale);
    L->in_zero = z < 0 ? 0 : z > 255 ? 255 : (int)z;
    for (long j = 0; j < L->out; j++) {
        int32_t s = 0;
        for (long k = 0; k < L->in; k++)
            s += L->w[j * L->in_pad + k];
        L->zsum[j] = L->in_zero * s;
        L->mult[j] = L->in_scale * L->w_scale[j];
    }
}

void hp_q8_free(hp_q8_model *m)
{
    for (int d = 0; m->layers && d < m->n; d++) {
        free(m->layers[d].w);
        free(m->layers[d].w_scale);
        free(m->layers[d].mult);
        free(m->layers[d].zsum);
    }
    free(m->layers);
    free(m->folded);
    memset(m, 0, sizeof *m);
}

int hp_q8_plan(const plan_experiment *e, const cg_layout *l, const float *params, hp_q8_model *m, char *msg,
               size_t n)
{
    memset(m, 0, sizeof *m);
    m->features = l->features;
    m->classes = l->classes;
    m->scale = (float)e->data.scale;
    m->layers = calloc((size_t)e->n_layers, sizeof *m->layers);
    m->folded = aot_bn_fold(e, l, params);
    if (!m->layers || !m->folded) {
        snprintf(msg, n, "out of memory");
        return -1;
    }
    params = m->folded;
    const char *why = NULL;
    int i;
    for (i = 1; i < e->n_layers && !why; i++) {
        const plan_layer *pl = &e->layers[i];
        const cg_layer_layout *L = &l->layers[i];
        hp_q8_layer *cur = m->n ? &m->layers[m->n - 1] : NULL;
        switch (pl->kind) {
        case PLAN_DENSE: {
            if (m->final_softmax) {
                why = "a softmax before the last dense layer is not covered by --quantize int8";
                break;
            }
            long in = plan_shape_size(pl->in);
            if (in * 255L * 127L > 2147483647L) {
                why = "more inputs than int32 accumulators of u8 x s8 products hold (66,000)";
                break;
            }
            hp_q8_layer *q = &m->layers[m->n++];
            if (hp_q8_layer_init(q, in, pl->units, params + L->w, params + L->b) != 0) {
                snprintf(msg, n, "out of memory");
                return -1;
            }
            q->layer = i;
            q->line = pl->line;
            if (pl->act == PLAN_ACT_SOFTMAX)
                m->final_softmax = true;
            else if (pl->act != PLAN_ACT_NONE && !L->logits)
                q->acts[q->n_acts++] = pl->act;
            break;
        }
        case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU:
            if (!cur)
                why = "an activation before the first dense layer is not covered by --quantize int8";
            else if (m->final_softmax)
                why = "an activation after the softmax is not covered by --quantize int8";
            else if (cur->n_acts == HP_Q8_MAX_ACTS)
                why = "more than 4 activations in a row are not covered by --quantize int8";
            else
                cur->acts[cur->n_acts++] = pl->act;
            break;
        case PLAN_SOFTMAX:
            if (!cur)
                why = "a softmax before the first dense layer is not covered by --quantize int8";
            m->final_softmax = true;
            break;
        case PLAN_INPUT: case PLAN_DROPOUT: case PLAN_FLATTEN: /* dropout: off at inference; flatten: a view */
            break;
        case PLAN_BATCHNORM:
            if (!bn_folded(e, i))
                why = "--quantize int8 folds a batchnorm into the dense layer right before it, when that layer has no "
                      "activation; build this model without --quantize (float32)";
            break;
        case PLAN_CONV: case PLAN_MAXPOOL: case PLAN_AVGPOOL: case PLAN_LAYERNORM:
        case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_LAST: case PLAN_EMBED_COLUMNS:
            why = "--quantize int8 covers dense layers with their activations and dropout only; build this model "
                  "without --quantize (float32)";
            break;
        }
    }
    if (why) {
        snprintf(msg, n, "%s:%d: `%s`: %s", e->file, e->layers[i - 1].line, plan_layer_name(e->layers[i - 1].kind), why);
        return -1;
    }
    if (m->n == 0 || m->layers[m->n - 1].out != m->classes) {
        snprintf(msg, n, "%s:%d: --quantize int8 needs a dense layer as the output layer", e->file,
                 e->layers[e->n_layers - 1].line);
        return -1;
    }
    return 0;
}

/* ---- the C reference ---- */

static float act_ref(plan_act a, float x)
{
    switch (a) {
    case PLAN_ACT_RELU: return x < 0 ? 0.0f : x;
    case PLAN_ACT_TANH: return tanhf(x);
    case PLAN_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case PLAN_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case PLAN_ACT_NONE: case PLAN_ACT_SOFTMAX: return x;
    }
    return x;
}

static void softmax_ref(float *y, long K)
{
    float mx = y[0], s = 0;
    for (long k = 1; k < K; k++)
        mx = y[k] > mx ? y[k] : mx;
    for (long k = 0; k < K; k++)
        s += y[k] = expf(y[k] - mx);
    for (long k = 0; k < K; k++)
        y[k] /= s;
}

static long widest(const hp_q8_model *m)
{
    long w = m->features;
    for (int d = 0; d < m->n; d++)
        w = m->layers[d].out_pad > w ? m->layers[d].out_pad : w;
    return (w + 63) & ~63L;
}

/* The float forward pass; with lo/hi, each layer's input range is widened by x's. */
static int forward_float(const hp_q8_model *m, const float *x, float *out, float *lo, float *hi)
{
    long W = widest(m);
    float *a = malloc(sizeof(float) * (size_t)W), *b = malloc(sizeof(float) * (size_t)W);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    memcpy(a, x, sizeof(float) * (size_t)m->features);
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d];
        for (long k = 0; lo && k < L->in; k++) {
            lo[d] = a[k] < lo[d] ? a[k] : lo[d];
            hi[d] = a[k] > hi[d] ? a[k] : hi[d];
        }
        float *y = d == m->n - 1 ? out : b;
        for (long j = 0; j < L->out; j++) {
            float s = 0;
            const float *w = L->wf + j * L->in;
            for (long k = 0; k < L->in; k++)
                s += w[k] * a[k];
            s += L->bias[j];
            for (int t = 0; t < L->n_acts; t++)
                s = act_ref(L->acts[t], s);
            y[j] = s;
        }
        float *t = a;
        a = b;
        b = t;
    }
    if (m->final_softmax)
        softmax_ref(out, m->classes);
    free(a);
    free(b);
    return 0;
}

int hp_q8_forward_float(const hp_q8_model *m, const float *x, float *out) { return forward_float(m, x, out, NULL, NULL); }

int hp_q8_calibrate(hp_q8_model *m, const float *x, long n)
{
    float *lo = malloc(sizeof(float) * (size_t)m->n), *hi = malloc(sizeof(float) * (size_t)m->n);
    float *out = malloc(sizeof(float) * (size_t)(m->classes > 0 ? m->classes : 1));
    int rc = lo && hi && out ? 0 : -1;
    for (int d = 0; rc == 0 && d < m->n; d++)
        lo[d] = INFINITY, hi[d] = -INFINITY;
    for (long i = 0; rc == 0 && i < n; i++)
        rc = forward_float(m, x + i * m->features, out, lo, hi);
    for (int d = 0; rc == 0 && d < m->n; d++)
        hp_q8_set_range(&m->layers[d], lo[d], hi[d]);
    if (rc == 0)
        m->calibrated = n;
    free(lo);
    free(hi);
    free(out);
    return rc;
}

uint8_t hp_q8_quant(float y, float inv, int z)
{
    float t = rintf(y * inv) + (float)z;
    if (!(t >= 0))
        t = 0;
    if (t > 255)
        t = 255;
    return (uint8_t)t;
}

void hp_q8_layer_acc(const hp_q8_layer *L, const uint8_t *qx, int32_t *acc)
{
    for (long j = 0; j < L->out; j++) {
        int32_t s = 0;
        const int8_t *w = L->w + j * L->in_pad;
        for (long k = 0; k < L->in_pad; k++)
            s += (int32_t)qx[k] * w[k];
        acc[j] = s;
    }
}

float hp_q8_dequant(const hp_q8_layer *L, long j, int32_t acc)
{
    float y = (float)(acc - L->zsum[j]) * L->mult[j] + L->bias[j];
    for (int t = 0; t < L->n_acts; t++)
        y = act_ref(L->acts[t], y);
    return y;
}

int hp_q8_forward_int8(const hp_q8_model *m, const float *x, float *out)
{
    long W = widest(m);
    uint8_t *qa = calloc((size_t)W, 1), *qb = calloc((size_t)W, 1);
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)W);
    if (!qa || !qb || !acc) {
        free(qa);
        free(qb);
        free(acc);
        return -1;
    }
    const hp_q8_layer *L0 = &m->layers[0];
    for (long k = 0; k < m->features; k++)
        qa[k] = hp_q8_quant(x[k], L0->in_inv, L0->in_zero);
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d], *N = d + 1 < m->n ? &m->layers[d + 1] : NULL;
        hp_q8_layer_acc(L, qa, acc);
        for (long j = 0; j < L->out; j++) {
            float y = hp_q8_dequant(L, j, acc[j]);
            if (N)
                qb[j] = hp_q8_quant(y, N->in_inv, N->in_zero);
            else
                out[j] = y;
        }
        uint8_t *t = qa;
        qa = qb;
        qb = t;
    }
    if (m->final_softmax)
        softmax_ref(out, m->classes);
    free(qa);
    free(qb);
    free(acc);
    return 0;
}

long hp_q8_scratch_bytes(const hp_q8_model *m, long *qb, long *acc)
{
    long qmax = 64, amax = 16;
    for (int d = 0; d < m->n; d++) {
        qmax = m->layers[d].in_pad > qmax ? m->layers[d].in_pad : qmax;
        amax = m->layers[d].out_pad > amax ? m->layers[d].out_pad : amax;
    }
    qmax = (qmax + 63) & ~63L;
    *qb = HP_Q8_TILE * qmax;
    *acc = 2 * HP_Q8_TILE * qmax;
    return (*acc + 4L * HP_Q8_TILE * amax + 63) & ~63L;
}

/* ---- the target ---- */

hp_q8_isa hp_q8_isa_for(const char *cpu, const char *features)
{
    static const char *const vnni[] = {"cascadelake", "cooperlake", "icelake-server", "icelake-client", "tigerlake",
                                       "sapphirerapids", "emeraldrapids", "graniterapids", "rocketlake", "znver4",
                                       "znver5"};
    static const char *const bw[] = {"x86-64-v4", "skylake-avx512", "cannonlake"};
    static const char *const avx2[] = {"x86-64-v3", "haswell", "broadwell", "skylake", "alderlake", "raptorlake",
                                       "meteorlake", "znver1", "znver2", "znver3"};
    hp_q8_isa isa = {false, false, false};
    if (features) {
        isa.avx512bw = strstr(features, "+avx512bw") != NULL;
        isa.vnni = isa.avx512bw && strstr(features, "+avx512vnni") != NULL;
        isa.avx2 = strstr(features, "+avx2") != NULL;
        return isa;
    }
    for (size_t i = 0; i < sizeof vnni / sizeof *vnni; i++)
        if (strcmp(cpu, vnni[i]) == 0)
            isa.vnni = isa.avx512bw = isa.avx2 = true;
    for (size_t i = 0; i < sizeof bw / sizeof *bw; i++)
        if (strcmp(cpu, bw[i]) == 0)
            isa.avx512bw = isa.avx2 = true;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (strcmp(cpu, avx2[i]) == 0)
            isa.avx2 = true;
    return isa;
}

const char *hp_q8_isa_name(hp_q8_isa isa)
{
    return isa.vnni ? "AVX512-VNNI vpdpbusd" : isa.avx512bw ? "AVX-512BW vpmaddwd" : isa.avx2 ? "AVX2 vpmaddwd"
                                                                                                : "SSE2 pmaddwd";
}

/* ---- the code ---- */

static LLVMValueRef const_bytes(cg *g, const char *name, const void *v, size_t n)
{
    LLVMValueRef init = LLVMConstStringInContext(g->ctx, (const char *)v, (unsigned)n, 1);
    LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetAlignment(gv, 64);
    return gv;
}

static LLVMValueRef bptr(cg *g, LLVMValueRef base, LLVMValueRef off)
{
    return LLVMBuildGEP2(g->b, g->t_i8, base, &off, 1, "");
}

static LLVMValueRef imul(cg *g, LLVMValueRef a, long b) { return LLVMBuildMul(g->b, a, cg_i64(g, b), ""); }

static LLVMValueRef splat(cg *g, LLVMValueRef s, int V)
{
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(s), (unsigned)V);
    LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(vt), s, cg_i32(g, 0), "");
    return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(vt), LLVMConstNull(LLVMVectorType(g->t_i32, (unsigned)V)), "");
}

typedef struct {
    hp_q8_isa isa;
    int V, G;       /* int32 lanes per vector; inputs per lane per instruction */
    bool wide;      /* 32 vector registers (AVX-512) rather than 16 */
} kshape;

static kshape shape_of(hp_q8_isa isa)
{
    kshape k = {isa, 4, 2, false};
    if (isa.vnni)
        k.V = 16, k.G = 4, k.wide = true;
    else if (isa.avx512bw)
        k.V = 16, k.wide = true;
    else if (isa.avx2)
        k.V = 8;
    return k;
}

/* acc[r][0..out_pad) = sum over k < in_pad of x[r][k] * w[.][k], for R rows
 * xstride bytes and astride int32 apart; the accumulators of a block of
 * outputs stay in registers while its packed weights stream past once. */
static void kernel(cg *g, const kshape *ks, const hp_q8_layer *L, LLVMValueRef W, LLVMValueRef x, LLVMValueRef acc,
                   int R)
{
    enum { MAXACC = 16 };
    int V = ks->V, G = ks->G;
    int nmax = R == 1 ? (ks->wide ? 16 : 8) : (ks->wide ? MAXACC : 8) / R;
    LLVMTypeRef vi = LLVMVectorType(g->t_i32, (unsigned)V);
    LLVMTypeRef vb = LLVMVectorType(g->t_i8, (unsigned)(V * G));
    LLVMTypeRef vw = LLVMVectorType(LLVMInt16TypeInContext(g->ctx), (unsigned)(V * G));
    LLVMTypeRef t_i16 = LLVMInt16TypeInContext(g->ctx);
    LLVMValueRef a[MAXACC];
    for (int q = 0; q < R * nmax; q++)
        a[q] = ir_alloca(g->b, vi, "qacc");
    const char *op = ks->isa.vnni ? "llvm.x86.avx512.vpdpbusd.512"
                     : ks->isa.avx512bw ? "llvm.x86.avx512.pmaddw.d.512"
                     : ks->isa.avx2     ? "llvm.x86.avx2.pmadd.wd"
                                        : "llvm.x86.sse2.pmadd.wd";
    LLVMTypeRef p3[3] = {vi, vi, vi}, p2[2] = {vw, vw};
    LLVMTypeRef fty = ks->isa.vnni ? LLVMFunctionType(vi, p3, 3, 0) : LLVMFunctionType(vi, p2, 2, 0);
    long xstride = L->in_pad, astride = L->out_pad;
    for (long j0 = 0; j0 < L->out_pad;) {
        int na = (int)((L->out_pad - j0) / V < nmax ? (L->out_pad - j0) / V : nmax);
        for (int q = 0; q < R * na; q++)
            LLVMBuildStore(g->b, LLVMConstNull(vi), a[q]);
        cg_loop K;
        cg_for(g, &K, cg_i64(g, 0), cg_i64(g, L->in_pad / G));
        LLVMValueRef xb[MAXACC];
        for (int r = 0; r < R; r++) {
            LLVMValueRef p = bptr(g, x, iadd(g, imul(g, K.i, G), cg_i64(g, r * xstride)));
            LLVMValueRef s;
            if (G == 4) {
                s = LLVMBuildLoad2(g->b, g->t_i32, p, "");
                LLVMSetAlignment(s, 1);
            } else { /* two u8 as two int16 */
                LLVMValueRef v = LLVMBuildLoad2(g->b, LLVMVectorType(g->t_i8, 2), p, "");
                LLVMSetAlignment(v, 1);
                v = LLVMBuildZExt(g->b, v, LLVMVectorType(t_i16, 2), "");
                s = LLVMBuildBitCast(g->b, v, g->t_i32, "");
            }
            xb[r] = splat(g, s, V);
            if (G == 2)
                xb[r] = LLVMBuildBitCast(g->b, xb[r], vw, "");
        }
        for (int c = 0; c < na; c++) {
            LLVMValueRef off = iadd(g, imul(g, K.i, L->out_pad * G), cg_i64(g, (j0 + (long)c * V) * G));
            LLVMValueRef w = LLVMBuildLoad2(g->b, vb, bptr(g, W, off), "");
            LLVMSetAlignment(w, (unsigned)(V * G < 64 ? V * G : 64));
            w = G == 4 ? LLVMBuildBitCast(g->b, w, vi, "") : LLVMBuildSExt(g->b, w, vw, "");
            for (int r = 0; r < R; r++) {
                LLVMValueRef old = LLVMBuildLoad2(g->b, vi, a[r * na + c], "");
                LLVMValueRef nv;
                if (G == 4) {
                    LLVMValueRef args[3] = {old, xb[r], w};
                    nv = cg_call(g, op, fty, args, 3);
                } else {
                    LLVMValueRef args[2] = {w, xb[r]};
                    nv = iadd(g, old, cg_call(g, op, fty, args, 2));
                }
                LLVMBuildStore(g->b, nv, a[r * na + c]);
            }
        }
        cg_end(g, &K);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < na; c++) {
                LLVMValueRef idx = cg_i64(g, (long)r * astride + j0 + (long)c * V);
                LLVMValueRef p = LLVMBuildGEP2(g->b, g->t_i32, acc, &idx, 1, "");
                LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vi, a[r * na + c], ""), p);
                LLVMSetAlignment(st, 4);
            }
        j0 += (long)na * V;
    }
}

/* y -> byte, as hp_q8_quant */
static LLVMValueRef quant_ir(cg *g, LLVMValueRef y, float inv, int z)
{
    LLVMValueRef t = fadd(g, cg_intrinsic1(g, "rint", fmul(g, y, cg_f32(g, inv))), cg_f32(g, (float)z));
    t = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealULT, t, cg_f32(g, 0), ""), cg_f32(g, 0), t, "");
    t = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, t, cg_f32(g, 255), ""), cg_f32(g, 255), t, "");
    return LLVMBuildFPToUI(g->b, t, g->t_i8, "");
}

/* Zero bytes [from, to) of each of `rows` rows `stride` apart. */
static void zero_pad(cg *g, LLVMValueRef q, LLVMValueRef rows, long stride, long from, long to)
{
    if (to <= from)
        return;
    cg_loop R;
    cg_for(g, &R, cg_i64(g, 0), rows);
    LLVMBuildMemSet(g->b, bptr(g, q, iadd(g, imul(g, R.i, stride), cg_i64(g, from))), LLVMConstInt(g->t_i8, 0, 0),
                    cg_i64(g, to - from), 1);
    cg_end(g, &R);
}

int hp_q8_emit(cg *g, const hp_q8_model *m, hp_q8_isa isa, const char *fname, LLVMTypeRef t_size)
{
    kshape ks = shape_of(isa);
    long F = m->features, K = m->classes;
    char name[64];
    LLVMValueRef *W = calloc((size_t)m->n, sizeof *W), *MU = calloc((size_t)m->n, sizeof *MU);
    LLVMValueRef *ZS = calloc((size_t)m->n, sizeof *ZS), *BI = calloc((size_t)m->n, sizeof *BI);
    int rc = -1;
    if (!W || !MU || !ZS || !BI)
        goto out;
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d];
        size_t nb = (size_t)(L->out_pad * L->in_pad);
        int8_t *wp = calloc(nb, 1);
        if (!wp)
            goto out;
        for (long j = 0; j < L->out; j++)
            for (long k = 0; k < L->in_pad; k++)
                wp[(k / ks.G) * L->out_pad * ks.G + j * ks.G + k % ks.G] = L->w[j * L->in_pad + k];
        snprintf(name, sizeof name, "q8w%d", d);
        W[d] = const_bytes(g, name, wp, nb);
        free(wp);
        snprintf(name, sizeof name, "q8mult%d", d);
        MU[d] = const_bytes(g, name, L->mult, sizeof(float) * (size_t)L->out);
        snprintf(name, sizeof name, "q8zsum%d", d);
        ZS[d] = const_bytes(g, name, L->zsum, sizeof(int32_t) * (size_t)L->out);
        snprintf(name, sizeof name, "q8bias%d", d);
        BI[d] = const_bytes(g, name, L->bias, sizeof(float) * (size_t)L->out);
    }
    LLVMValueRef mean = m->mean ? const_bytes(g, "q8mean", m->mean, sizeof(float) * (size_t)F) : NULL;
    LLVMValueRef sd = m->std ? const_bytes(g, "q8std", m->std, sizeof(float) * (size_t)F) : NULL;

    /* int fname(const float *in, float *out, size_t n, void *scratch) */
    LLVMValueRef arg[4];
    LLVMValueRef fn = aot_predict_with_begin(g, fname, t_size, arg);
    LLVMValueRef in = arg[0], out = arg[1], n = arg[2], scratch = arg[3];
    long qb_off, acc_off;
    hp_q8_scratch_bytes(m, &qb_off, &acc_off);
    LLVMValueRef qcur = scratch, qnext = bptr(g, scratch, cg_i64(g, qb_off)), acc = bptr(g, scratch, cg_i64(g, acc_off));

    cg_loop S, R, J;
    LLVMValueRef tiles = LLVMBuildUDiv(g->b, iadd(g, n, cg_i64(g, HP_Q8_TILE - 1)), cg_i64(g, HP_Q8_TILE), "");
    cg_for(g, &S, cg_i64(g, 0), tiles);
    LLVMValueRef first = imul(g, S.i, HP_Q8_TILE);
    LLVMValueRef left = LLVMBuildSub(g->b, n, first, "");
    LLVMValueRef rows = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntULT, left, cg_i64(g, HP_Q8_TILE), ""), left,
                                        cg_i64(g, HP_Q8_TILE), "rows");
    /* the input: scale, normalisation, then the first layer's quantization */
    const hp_q8_layer *L0 = &m->layers[0];
    LLVMValueRef x = cg_fptr(g, in, imul(g, first, F));
    cg_for(g, &R, cg_i64(g, 0), rows);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, F));
    LLVMValueRef v = fmul(g, cg_load_f(g, x, iadd(g, imul(g, R.i, F), J.i)), cg_f32(g, m->scale));
    if (mean)
        v = fdiv(g, fsub(g, v, cg_load_f(g, mean, J.i)), cg_load_f(g, sd, J.i));
    LLVMBuildStore(g->b, quant_ir(g, v, L0->in_inv, L0->in_zero), bptr(g, qcur, iadd(g, imul(g, R.i, L0->in_pad), J.i)));
    cg_end(g, &J);
    cg_end(g, &R);
    zero_pad(g, qcur, rows, L0->in_pad, F, L0->in_pad);
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d], *N = d + 1 < m->n ? &m->layers[d + 1] : NULL;
        /* a full tile shares each weight read; otherwise one sample at a time */
        LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(g->ctx, fn, "q8_full");
        LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(g->ctx, fn, "q8_part");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, fn, "q8_done");
        LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, rows, cg_i64(g, HP_Q8_TILE), ""), full, part);
        LLVMPositionBuilderAtEnd(g->b, full);
        kernel(g, &ks, L, W[d], qcur, acc, HP_Q8_TILE);
        LLVMBuildBr(g->b, done);
        LLVMPositionBuilderAtEnd(g->b, part);
        cg_for(g, &R, cg_i64(g, 0), rows);
        LLVMValueRef ai = R.i;
        LLVMValueRef aptr = LLVMBuildGEP2(g->b, g->t_i32, acc, (LLVMValueRef[]){imul(g, ai, L->out_pad)}, 1, "");
        kernel(g, &ks, L, W[d], bptr(g, qcur, imul(g, R.i, L->in_pad)), aptr, 1);
        cg_end(g, &R);
        LLVMBuildBr(g->b, done);
        LLVMPositionBuilderAtEnd(g->b, done);
        /* the epilogue: scale, bias, activations; then the next layer's bytes or the float outputs */
        cg_for(g, &R, cg_i64(g, 0), rows);
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, L->out));
        LLVMValueRef ia = iadd(g, imul(g, R.i, L->out_pad), J.i);
        LLVMValueRef av = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildGEP2(g->b, g->t_i32, acc, &ia, 1, ""), "");
        LLVMValueRef zs = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildGEP2(g->b, g->t_i32, ZS[d], &J.i, 1, ""), "");
        LLVMValueRef y = LLVMBuildSIToFP(g->b, LLVMBuildSub(g->b, av, zs, ""), g->t_f32, "");
        y = fadd(g, fmul(g, y, cg_load_f(g, MU[d], J.i)), cg_load_f(g, BI[d], J.i));
        for (int t = 0; t < L->n_acts; t++)
            y = cg_act_forward(g, L->acts[t], y);
        if (N)
            LLVMBuildStore(g->b, quant_ir(g, y, N->in_inv, N->in_zero),
                           bptr(g, qnext, iadd(g, imul(g, R.i, N->in_pad), J.i)));
        else
            cg_store_f(g, y, out, iadd(g, imul(g, iadd(g, first, R.i), K), J.i));
        cg_end(g, &J);
        cg_end(g, &R);
        if (N) {
            zero_pad(g, qnext, rows, N->in_pad, L->out, N->in_pad);
            LLVMValueRef t = qcur;
            qcur = qnext;
            qnext = t;
        }
    }
    if (m->final_softmax) {
        cg_for(g, &R, cg_i64(g, 0), rows);
        LLVMValueRef row = cg_fptr(g, out, imul(g, iadd(g, first, R.i), K));
        cg_softmax_rows(g, row, row, K, cg_i64(g, 0), cg_i64(g, 1));
        cg_end(g, &R);
    }
    cg_end(g, &S);
    LLVMBuildRet(g->b, cg_i32(g, 0));
    rc = 0;
out:
    free(W);
    free(MU);
    free(ZS);
    free(BI);
    return rc;
}
