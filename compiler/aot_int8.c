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
 * stays float and gets the softmax).  Conv layers and pools go a sample at a
 * time: a conv pads its input bytes with the zero point, copies each output
 * pixel's C*k*k input bytes into a row (im2col), runs the dense kernel over
 * tiles of HP_Q8_TILE rows (pixels) and requantizes them into [out, Ho, Wo];
 * maxpool and avgpool work on the bytes (conv_sample, pool_sample).
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
    L->in_size = in;
    L->out_size = out;
    L->in_stride = L->in_pad;
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

int hp_q8_conv_init(hp_q8_layer *L, int C, int H, int W, int filters, int k, int stride, int pad, const float *wf,
                    const float *bias)
{
    /* the weights filters x (C*k*k): a dense layer's over the im2col rows */
    int rc = hp_q8_layer_init(L, (long)C * k * k, filters, wf, bias);
    L->kind = HP_Q8_CONV;
    L->C = C, L->H = H, L->W = W, L->k = k, L->stride = stride, L->pad = pad;
    L->Ho = (H + 2 * pad - k) / stride + 1;
    L->Wo = (W + 2 * pad - k) / stride + 1;
    L->in_size = (long)C * H * W;
    L->out_size = (long)filters * L->Ho * L->Wo;
    L->in_stride = (L->in_size + 3) & ~3L;
    return rc;
}

void hp_q8_pool_init(hp_q8_layer *L, hp_q8_kind kind, int C, int H, int W, int k, int stride)
{
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->C = C, L->H = H, L->W = W, L->k = k, L->stride = stride;
    L->Ho = (H - k) / stride + 1;
    L->Wo = (W - k) / stride + 1;
    L->in_size = (long)C * H * W;
    L->out_size = (long)C * L->Ho * L->Wo;
    L->in_stride = (L->in_size + 3) & ~3L;
    hp_q8_set_range(L, 0, 1);
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
        bool weighted = cur && (cur->kind == HP_Q8_DENSE || cur->kind == HP_Q8_CONV);
        switch (pl->kind) {
        case PLAN_DENSE: case PLAN_CONV: {
            if (m->final_softmax) {
                why = "a softmax before the last dense layer is not covered by --quantize int8";
                break;
            }
            bool conv = pl->kind == PLAN_CONV;
            if (conv && pl->act == PLAN_ACT_SOFTMAX) {
                why = "a softmax on a conv layer is not covered by --quantize int8";
                break;
            }
            long in = conv ? (long)pl->in.d[0] * pl->kernel * pl->kernel : plan_shape_size(pl->in);
            if (in * 255L * 127L > 2147483647L) {
                why = "more inputs than int32 accumulators of u8 x s8 products hold (66,000)";
                break;
            }
            hp_q8_layer *q = &m->layers[m->n++];
            int rc = conv ? hp_q8_conv_init(q, pl->in.d[0], pl->in.d[1], pl->in.d[2], pl->units, pl->kernel,
                                            pl->stride, pl->pad, params + L->w, params + L->b)
                          : hp_q8_layer_init(q, in, pl->units, params + L->w, params + L->b);
            if (rc != 0) {
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
        case PLAN_MAXPOOL: case PLAN_AVGPOOL: {
            if (m->final_softmax) {
                why = "a pool after the softmax is not covered by --quantize int8";
                break;
            }
            hp_q8_layer *q = &m->layers[m->n++];
            hp_q8_pool_init(q, pl->kind == PLAN_MAXPOOL ? HP_Q8_MAXPOOL : HP_Q8_AVGPOOL, pl->in.d[0], pl->in.d[1],
                            pl->in.d[2], pl->kernel, pl->stride);
            q->layer = i;
            q->line = pl->line;
            break;
        }
        case PLAN_RELU: case PLAN_TANH: case PLAN_SIGMOID: case PLAN_GELU:
            if (!cur)
                why = "an activation before the first dense or conv layer is not covered by --quantize int8";
            else if (!weighted)
                why = "an activation right after a pool is not covered by --quantize int8 (put it before the pool)";
            else if (m->final_softmax)
                why = "an activation after the softmax is not covered by --quantize int8";
            else if (cur->n_acts == HP_Q8_MAX_ACTS)
                why = "more than 4 activations in a row are not covered by --quantize int8";
            else
                cur->acts[cur->n_acts++] = pl->act;
            break;
        case PLAN_SOFTMAX:
            if (!cur || cur->kind != HP_Q8_DENSE)
                why = "a softmax that does not follow a dense layer is not covered by --quantize int8";
            m->final_softmax = true;
            break;
        case PLAN_INPUT: case PLAN_DROPOUT: case PLAN_FLATTEN: /* dropout: off at inference; flatten: a view */
            break;
        case PLAN_BATCHNORM:
            if (!bn_folded(e, i))
                why = "--quantize int8 folds a batchnorm into the dense or conv layer right before it, when that layer "
                      "has no activation; build this model without --quantize (float32)";
            break;
        case PLAN_EMBED_COLUMNS:
            why = "--quantize int8 does not cover embedded categorical columns (embed(...) in the data's categories); "
                  "build this model without --quantize (float32)";
            break;
        case PLAN_LAYERNORM: case PLAN_EMBED: case PLAN_RNN: case PLAN_GRU: case PLAN_LSTM: case PLAN_LAST:
            why = "--quantize int8 covers dense and conv layers with their activations, pools, flatten and dropout "
                  "only; build this model without --quantize (float32)";
            break;
        }
    }
    if (why) {
        snprintf(msg, n, "%s:%d: `%s`: %s", e->file, e->layers[i - 1].line, plan_layer_name(e->layers[i - 1].kind), why);
        return -1;
    }
    if (m->n == 0 || m->layers[m->n - 1].kind != HP_Q8_DENSE || m->layers[m->n - 1].out != m->classes) {
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
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d];
        long a = L->in_stride > L->out_size ? L->in_stride : L->out_size;
        a = a > L->out_pad ? a : L->out_pad;
        w = a > w ? a : w;
    }
    return (w + 63) & ~63L;
}

static bool is_pool(const hp_q8_layer *L) { return L->kind == HP_Q8_MAXPOOL || L->kind == HP_Q8_AVGPOOL; }

/* The output columns ow whose input column ow * stride + kw - pad is inside the image: [*lo, *hi). */
static void ow_range(const hp_q8_layer *L, long kw, long *lo, long *hi)
{
    long s = L->stride, a = L->pad - kw, b = L->W - 1 - kw + L->pad;
    *lo = a > 0 ? (a + s - 1) / s : 0;
    *hi = b < 0 ? 0 : b / s + 1;
    *hi = *hi < L->Wo ? *hi : L->Wo;
    *lo = *lo < *hi ? *lo : *hi;
}

/* conv L of a ([C, H, W]) into y ([out, Ho, Wo]): per output, the bias,
 * then the products in the order c, kh, kw (the float artifact's order for
 * each output; a padded pixel adds nothing), then the activations. */
static void conv_float(const hp_q8_layer *L, const float *a, float *y)
{
    long P = (long)L->Ho * L->Wo;
    for (long j = 0; j < L->out; j++) {
        float *yj = y + j * P;
        for (long p = 0; p < P; p++)
            yj[p] = L->bias[j];
        const float *w = L->wf + j * L->in;
        for (long c = 0; c < L->C; c++)
            for (long kh = 0; kh < L->k; kh++)
                for (long kw = 0; kw < L->k; kw++) {
                    float wv = w[(c * L->k + kh) * L->k + kw];
                    long lo, hi;
                    ow_range(L, kw, &lo, &hi);
                    for (long oh = 0; oh < L->Ho; oh++) {
                        long ih = oh * L->stride + kh - L->pad;
                        if (ih < 0 || ih >= L->H)
                            continue;
                        const float *x = a + (c * L->H + ih) * L->W + kw - L->pad;
                        float *yr = yj + oh * L->Wo;
                        if (L->stride == 1) /* vectorised */
                            for (long ow = lo; ow < hi; ow++)
                                yr[ow] += wv * x[ow];
                        else
                            for (long ow = lo; ow < hi; ow++)
                                yr[ow] += wv * x[ow * L->stride];
                    }
                }
        for (long p = 0; p < P && L->n_acts; p++)
            for (int t = 0; t < L->n_acts; t++)
                yj[p] = act_ref(L->acts[t], yj[p]);
    }
}

/* pool L of a ([C, H, W]) into y ([C, Ho, Wo]) */
static void pool_float(const hp_q8_layer *L, const float *a, float *y)
{
    bool mx = L->kind == HP_Q8_MAXPOOL;
    float inv = (float)(1.0 / ((double)L->k * L->k));
    for (long c = 0; c < L->C; c++)
        for (long oh = 0; oh < L->Ho; oh++)
            for (long ow = 0; ow < L->Wo; ow++) {
                const float *p = a + (c * L->H + oh * L->stride) * L->W + ow * L->stride;
                float r = mx ? p[0] : 0;
                for (long kh = 0; kh < L->k; kh++)
                    for (long kw = 0; kw < L->k; kw++) {
                        float v = p[kh * L->W + kw];
                        r = mx ? (v > r || v != v ? v : r) : r + v;
                    }
                y[(c * L->Ho + oh) * L->Wo + ow] = mx ? r : r * inv;
            }
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
        for (long k = 0; lo && k < L->in_size; k++) {
            lo[d] = a[k] < lo[d] ? a[k] : lo[d];
            hi[d] = a[k] > hi[d] ? a[k] : hi[d];
        }
        float *y = d == m->n - 1 ? out : b;
        if (L->kind == HP_Q8_CONV)
            conv_float(L, a, y);
        else if (is_pool(L))
            pool_float(L, a, y);
        else
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
    /* the pools d0..d1-1 and the dense or conv layer d1 read bytes of one quantization: their ranges joined */
    for (int d0 = 0; rc == 0 && d0 < m->n;) {
        int d1 = d0;
        while (d1 < m->n - 1 && is_pool(&m->layers[d1]))
            d1++;
        float l = INFINITY, h = -INFINITY;
        for (int d = d0; d <= d1; d++) {
            l = lo[d] < l ? lo[d] : l;
            h = hi[d] > h ? hi[d] : h;
        }
        for (int d = d0; d <= d1; d++)
            hp_q8_set_range(&m->layers[d], l, h);
        d0 = d1 + 1;
    }
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

void hp_q8_pool(const hp_q8_layer *L, const uint8_t *q, uint8_t *out)
{
    uint32_t kk = (uint32_t)(L->k * L->k);
    for (long c = 0; c < L->C; c++)
        for (long oh = 0; oh < L->Ho; oh++)
            for (long ow = 0; ow < L->Wo; ow++) {
                const uint8_t *p = q + (c * L->H + oh * L->stride) * L->W + ow * L->stride;
                uint32_t r = 0;
                for (long kh = 0; kh < L->k; kh++)
                    for (long kw = 0; kw < L->k; kw++) {
                        uint32_t v = p[kh * L->W + kw];
                        r = L->kind == HP_Q8_MAXPOOL ? (v > r ? v : r) : r + v;
                    }
                out[(c * L->Ho + oh) * L->Wo + ow] = (uint8_t)(L->kind == HP_Q8_MAXPOOL ? r : (r + kk / 2) / kk);
            }
}

/* conv L of the bytes q ([C, H, W]) into out ([out, Ho, Wo], N's quantization):
 * each output's int32 sum over c, kh, kw of the weight times the input byte
 * (the zero point for a padded pixel: a float 0) - the integers the
 * artifact's im2col rows times the weights sum to - then hp_q8_dequant and
 * hp_q8_quant.  -1 when out of memory. */
static int conv_int8(const hp_q8_layer *L, const hp_q8_layer *N, const uint8_t *q, uint8_t *out)
{
    long P = (long)L->Ho * L->Wo;
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)P);
    if (!acc)
        return -1;
    for (long j = 0; j < L->out; j++) {
        memset(acc, 0, sizeof(int32_t) * (size_t)P);
        const int8_t *w = L->w + j * L->in_pad;
        for (long c = 0; c < L->C; c++)
            for (long kh = 0; kh < L->k; kh++)
                for (long kw = 0; kw < L->k; kw++) {
                    int32_t wv = w[(c * L->k + kh) * L->k + kw], zw = L->in_zero * wv;
                    long lo, hi;
                    ow_range(L, kw, &lo, &hi);
                    for (long oh = 0; oh < L->Ho; oh++) {
                        long ih = oh * L->stride + kh - L->pad;
                        int32_t *ar = acc + oh * L->Wo;
                        if (ih < 0 || ih >= L->H) {
                            for (long ow = 0; ow < L->Wo; ow++)
                                ar[ow] += zw;
                            continue;
                        }
                        const uint8_t *x = q + (c * L->H + ih) * L->W + kw - L->pad;
                        for (long ow = 0; ow < lo; ow++)
                            ar[ow] += zw;
                        if (L->stride == 1) /* vectorised */
                            for (long ow = lo; ow < hi; ow++)
                                ar[ow] += wv * (int32_t)x[ow];
                        else
                            for (long ow = lo; ow < hi; ow++)
                                ar[ow] += wv * (int32_t)x[ow * L->stride];
                        for (long ow = hi; ow < L->Wo; ow++)
                            ar[ow] += zw;
                    }
                }
        for (long p = 0; p < P; p++)
            out[j * P + p] = hp_q8_quant(hp_q8_dequant(L, j, acc[p]), N->in_inv, N->in_zero);
    }
    free(acc);
    return 0;
}

int hp_q8_forward_int8(const hp_q8_model *m, const float *x, float *out)
{
    long W = widest(m);
    uint8_t *qa = calloc((size_t)W, 1), *qb = calloc((size_t)W, 1);
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)W);
    int rc = qa && qb && acc ? 0 : -1;
    if (rc != 0) {
        free(qa);
        free(qb);
        free(acc);
        return -1;
    }
    const hp_q8_layer *L0 = &m->layers[0];
    for (long k = 0; k < m->features; k++)
        qa[k] = hp_q8_quant(x[k], L0->in_inv, L0->in_zero);
    for (int d = 0; rc == 0 && d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d], *N = d + 1 < m->n ? &m->layers[d + 1] : NULL;
        if (L->kind == HP_Q8_CONV) { /* N: the output layer is dense */
            if (conv_int8(L, N, qa, qb) != 0)
                rc = -1;
        } else if (is_pool(L)) {
            hp_q8_pool(L, qa, qb);
        } else {
            hp_q8_layer_acc(L, qa, acc);
            for (long j = 0; j < L->out; j++) {
                float y = hp_q8_dequant(L, j, acc[j]);
                if (N)
                    qb[j] = hp_q8_quant(y, N->in_inv, N->in_zero);
                else
                    out[j] = y;
            }
        }
        uint8_t *t = qa;
        qa = qb;
        qb = t;
    }
    if (m->final_softmax && rc == 0)
        softmax_ref(out, m->classes);
    free(qa);
    free(qb);
    free(acc);
    return rc;
}

/* The widest conv layer's im2col matrix of one sample, and its input with the padding. */
static void conv_bytes(const hp_q8_model *m, long *col, long *pimg)
{
    *col = *pimg = 0;
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d];
        if (L->kind != HP_Q8_CONV)
            continue;
        long c = (long)L->Ho * L->Wo * L->in_pad, p = (long)L->C * (L->H + 2 * L->pad) * (L->W + 2 * L->pad);
        *col = c > *col ? c : *col;
        *pimg = p > *pimg ? p : *pimg;
    }
    *col = (*col + 63) & ~63L;
}

long hp_q8_scratch_bytes(const hp_q8_model *m, long *qb, long *acc)
{
    long qmax = 64, amax = 16, col, pimg;
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d];
        qmax = L->in_stride > qmax ? L->in_stride : qmax;
        amax = L->out_pad > amax ? L->out_pad : amax;
    }
    conv_bytes(m, &col, &pimg);
    qmax = (qmax + 63) & ~63L;
    *qb = HP_Q8_TILE * qmax;
    *acc = 2 * HP_Q8_TILE * qmax;
    return (*acc + 4L * HP_Q8_TILE * amax + col + pimg + 63) & ~63L;
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

/* n values of size bytes, then zeros up to npad (so a vector load of the last ones stays inside) */
static LLVMValueRef const_padded(cg *g, const char *name, const void *v, size_t size, long n, long npad)
{
    char *buf = calloc((size_t)npad, size);
    if (!buf)
        return NULL;
    memcpy(buf, v, size * (size_t)n);
    LLVMValueRef gv = const_bytes(g, name, buf, size * (size_t)npad);
    free(buf);
    return gv;
}

static LLVMValueRef bptr(cg *g, LLVMValueRef base, LLVMValueRef off)
{
    return LLVMBuildGEP2(g->b, g->t_i8, base, &off, 1, "");
}

static LLVMValueRef imul(cg *g, LLVMValueRef a, long b) { return LLVMBuildMul(g->b, a, cg_i64(g, b), ""); }

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
            xb[r] = aot_splat(g, s, V);
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

/* The widest out_pad (the int32 rows of the accumulators; hp_q8_scratch_bytes's amax). */
static long amax_of(const hp_q8_model *m)
{
    long amax = 16;
    for (int d = 0; d < m->n; d++)
        amax = m->layers[d].out_pad > amax ? m->layers[d].out_pad : amax;
    return amax;
}

/* acc[ia] (output j of layer L) -> y, as hp_q8_dequant: scale, bias, activations */
static LLVMValueRef dequant_ir(cg *g, const hp_q8_layer *L, LLVMValueRef MU, LLVMValueRef ZS, LLVMValueRef BI,
                               LLVMValueRef acc, LLVMValueRef ia, LLVMValueRef j)
{
    LLVMValueRef av = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildGEP2(g->b, g->t_i32, acc, &ia, 1, ""), "");
    LLVMValueRef zs = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildGEP2(g->b, g->t_i32, ZS, &j, 1, ""), "");
    LLVMValueRef y = LLVMBuildSIToFP(g->b, LLVMBuildSub(g->b, av, zs, ""), g->t_f32, "");
    y = fadd(g, fmul(g, y, cg_load_f(g, MU, j)), cg_load_f(g, BI, j));
    for (int t = 0; t < L->n_acts; t++)
        y = cg_act_forward(g, L->acts[t], y);
    return y;
}

/* The epilogue of npix pixels of conv L from p0 on (acc: their int32 rows):
 * the bytes of output j at dst[j * Ho*Wo + p], in N's quantization. */
static void conv_epilogue(cg *g, const hp_q8_layer *L, const hp_q8_layer *N, LLVMValueRef MU, LLVMValueRef ZS,
                          LLVMValueRef BI, LLVMValueRef acc, LLVMValueRef p0, long npix, LLVMValueRef dst)
{
    long P = (long)L->Ho * L->Wo;
    cg_loop I, J;
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, L->out));
    cg_for(g, &I, cg_i64(g, 0), cg_i64(g, npix));
    LLVMValueRef y = dequant_ir(g, L, MU, ZS, BI, acc, iadd(g, imul(g, I.i, L->out_pad), J.i), J.i);
    LLVMBuildStore(g->b, quant_ir(g, y, N->in_inv, N->in_zero), bptr(g, dst, iadd(g, imul(g, J.i, P), iadd(g, p0, I.i))));
    cg_end(g, &I);
    cg_end(g, &J);
}

/* Whether the epilogue can run on vectors: only ReLUs (cg_act_forward is scalar). */
static bool vector_acts(const hp_q8_layer *L)
{
    for (int t = 0; t < L->n_acts; t++)
        if (L->acts[t] != PLAN_ACT_RELU)
            return false;
    return true;
}

static LLVMValueRef vconst_f(cg *g, float v, int V)
{
    LLVMValueRef e[64];
    for (int i = 0; i < V; i++)
        e[i] = cg_f32(g, v);
    return LLVMConstVector(e, (unsigned)V);
}

static LLVMValueRef vload(cg *g, LLVMTypeRef vt, LLVMValueRef p)
{
    LLVMValueRef v = LLVMBuildLoad2(g->b, vt, p, "");
    LLVMSetAlignment(v, 4);
    return v;
}

/* conv_epilogue on vectors of V outputs: the same float operations per
 * lane as dequant_ir, the ReLUs and quant_ir (so the same bytes); for a tile
 * of 4 pixels the 4 x V bytes are transposed so each output's 4 pixels are
 * one 4-byte store.  MU, ZS and BI hold out_pad values. */
static void conv_epilogue_v(cg *g, int V, const hp_q8_layer *L, const hp_q8_layer *N, LLVMValueRef MU,
                            LLVMValueRef ZS, LLVMValueRef BI, LLVMValueRef acc, LLVMValueRef p0, int npix,
                            LLVMValueRef dst)
{
    long P = (long)L->Ho * L->Wo;
    LLVMTypeRef vf = LLVMVectorType(g->t_f32, (unsigned)V), vi = LLVMVectorType(g->t_i32, (unsigned)V);
    LLVMTypeRef vb = LLVMVectorType(g->t_i8, (unsigned)V);
    LLVMValueRef zero = vconst_f(g, 0, V), top = vconst_f(g, 255, V), inv = vconst_f(g, N->in_inv, V);
    LLVMValueRef z = vconst_f(g, (float)N->in_zero, V);
    for (long j0 = 0; j0 < L->out; j0 += V) {
        LLVMValueRef zs = vload(g, vi, LLVMBuildGEP2(g->b, g->t_i32, ZS, (LLVMValueRef[]){cg_i64(g, j0)}, 1, ""));
        LLVMValueRef mu = vload(g, vf, cg_fptr(g, MU, cg_i64(g, j0))), bi = vload(g, vf, cg_fptr(g, BI, cg_i64(g, j0)));
        LLVMValueRef q[HP_Q8_TILE];
        for (int i = 0; i < npix; i++) {
            LLVMValueRef ap = LLVMBuildGEP2(g->b, g->t_i32, acc, (LLVMValueRef[]){cg_i64(g, i * L->out_pad + j0)}, 1, "");
            LLVMValueRef y = LLVMBuildSIToFP(g->b, LLVMBuildSub(g->b, vload(g, vi, ap), zs, ""), vf, "");
            y = fadd(g, fmul(g, y, mu), bi);
            for (int t = 0; t < L->n_acts; t++) /* ReLU, as cg_act_forward */
                y = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, y, zero, ""), zero, y, "");
            LLVMValueRef v = fadd(g, cg_intrinsic1(g, "rint", fmul(g, y, inv)), z);
            v = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealULT, v, zero, ""), zero, v, "");
            v = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, v, top, ""), top, v, "");
            q[i] = LLVMBuildFPToUI(g->b, v, vb, "");
        }
        long nj = L->out - j0 < V ? L->out - j0 : V;
        if (npix == HP_Q8_TILE) {
            /* [pixel][output] -> [output][pixel] */
            LLVMValueRef m01[128], mt[64];
            for (int k = 0; k < 2 * V; k++)
                m01[k] = cg_i32(g, k);
            LLVMValueRef a = LLVMBuildShuffleVector(g->b, q[0], q[1], LLVMConstVector(m01, (unsigned)(2 * V)), "");
            LLVMValueRef b = LLVMBuildShuffleVector(g->b, q[2], q[3], LLVMConstVector(m01, (unsigned)(2 * V)), "");
            for (int j = 0; j < V; j++)
                for (int i = 0; i < 4; i++)
                    mt[j * 4 + i] = cg_i32(g, i * V + j);
            LLVMValueRef t = LLVMBuildShuffleVector(g->b, a, b, LLVMConstVector(mt, (unsigned)(4 * V)), "");
            t = LLVMBuildBitCast(g->b, t, vi, "");
            for (long j = 0; j < nj; j++) {
                LLVMValueRef st = LLVMBuildStore(g->b, LLVMBuildExtractElement(g->b, t, cg_i32(g, j), ""),
                                                 bptr(g, dst, iadd(g, cg_i64(g, (j0 + j) * P), p0)));
                LLVMSetAlignment(st, 1);
            }
        } else {
            for (int i = 0; i < npix; i++)
                for (long j = 0; j < nj; j++)
                    LLVMBuildStore(g->b, LLVMBuildExtractElement(g->b, q[i], cg_i32(g, j), ""),
                                   bptr(g, dst, iadd(g, cg_i64(g, (j0 + j) * P + i), p0)));
        }
    }
}

/* conv L of one sample's bytes src ([C, H, W]) into dst ([out, Ho, Wo], N's
 * quantization): the input with its padding (the zero point: a float 0) in
 * pimg, the im2col rows of all its pixels into col (a row's bytes after
 * C*k*k are 0, as are their weights), then the kernel over tiles of
 * HP_Q8_TILE pixels, each followed by its epilogue. */
static void conv_sample(cg *g, const kshape *ks, const hp_q8_layer *L, const hp_q8_layer *N, LLVMValueRef W,
                        LLVMValueRef MU, LLVMValueRef ZS, LLVMValueRef BI, LLVMValueRef src, LLVMValueRef dst,
                        LLVMValueRef col, LLVMValueRef pimg, LLVMValueRef acc)
{
    long P = (long)L->Ho * L->Wo, Kp = L->in_pad, Hp = L->H + 2L * L->pad, Wp = L->W + 2L * L->pad;
    cg_loop OH, OW, C, KH, T;
    if (L->pad > 0) {
        LLVMBuildMemSet(g->b, pimg, LLVMConstInt(g->t_i8, (unsigned long long)L->in_zero, 0),
                        cg_i64(g, (long)L->C * Hp * Wp), 1);
        cg_for(g, &C, cg_i64(g, 0), cg_i64(g, L->C));
        cg_for(g, &KH, cg_i64(g, 0), cg_i64(g, L->H));
        LLVMValueRef to = iadd(g, imul(g, iadd(g, imul(g, C.i, Hp), KH.i), Wp), cg_i64(g, L->pad * Wp + L->pad));
        LLVMBuildMemCpy(g->b, bptr(g, pimg, to), 1, bptr(g, src, imul(g, iadd(g, imul(g, C.i, L->H), KH.i), L->W)), 1,
                        cg_i64(g, L->W));
        cg_end(g, &KH);
        cg_end(g, &C);
    } else {
        pimg = src;
    }
    cg_for(g, &OH, cg_i64(g, 0), cg_i64(g, L->Ho));
    cg_for(g, &OW, cg_i64(g, 0), cg_i64(g, L->Wo));
    LLVMValueRef row = bptr(g, col, imul(g, iadd(g, imul(g, OH.i, L->Wo), OW.i), Kp));
    LLVMValueRef at = iadd(g, imul(g, OH.i, L->stride * Wp), imul(g, OW.i, L->stride));
    cg_for(g, &C, cg_i64(g, 0), cg_i64(g, L->C));
    for (long kh = 0; kh < L->k; kh++) /* k bytes of one image row */
        LLVMBuildMemCpy(g->b, bptr(g, row, iadd(g, imul(g, C.i, (long)L->k * L->k), cg_i64(g, kh * L->k))), 1,
                        bptr(g, pimg, iadd(g, at, iadd(g, imul(g, C.i, Hp * Wp), cg_i64(g, kh * Wp)))), 1,
                        cg_i64(g, L->k));
    cg_end(g, &C);
    if (Kp > L->in)
        LLVMBuildMemSet(g->b, bptr(g, row, cg_i64(g, L->in)), LLVMConstInt(g->t_i8, 0, 0), cg_i64(g, Kp - L->in), 1);
    cg_end(g, &OW);
    cg_end(g, &OH);
    /* the pixels: full tiles, then the rest one at a time */
    bool vec = vector_acts(L);
    long tiles = P / HP_Q8_TILE;
    if (tiles > 0) {
        cg_for(g, &T, cg_i64(g, 0), cg_i64(g, tiles));
        LLVMValueRef p0 = imul(g, T.i, HP_Q8_TILE);
        kernel(g, ks, L, W, bptr(g, col, imul(g, p0, Kp)), acc, HP_Q8_TILE);
        if (vec)
            conv_epilogue_v(g, ks->V, L, N, MU, ZS, BI, acc, p0, HP_Q8_TILE, dst);
        else
            conv_epilogue(g, L, N, MU, ZS, BI, acc, p0, HP_Q8_TILE, dst);
        cg_end(g, &T);
    }
    for (long p = tiles * HP_Q8_TILE; p < P; p++) {
        kernel(g, ks, L, W, bptr(g, col, cg_i64(g, p * Kp)), acc, 1);
        if (vec)
            conv_epilogue_v(g, ks->V, L, N, MU, ZS, BI, acc, cg_i64(g, p), 1, dst);
        else
            conv_epilogue(g, L, N, MU, ZS, BI, acc, cg_i64(g, p), 1, dst);
    }
}

/* pool L of one sample's bytes src ([C, H, W]) into dst ([C, Ho, Wo]), as hp_q8_pool */
static void pool_sample(cg *g, const hp_q8_layer *L, LLVMValueRef src, LLVMValueRef dst)
{
    bool mx = L->kind == HP_Q8_MAXPOOL;
    long kk = (long)L->k * L->k;
    LLVMValueRef r = ir_alloca(g->b, g->t_i32, "pool");
    cg_loop C, OH, OW, KH, KW;
    cg_for(g, &C, cg_i64(g, 0), cg_i64(g, L->C));
    cg_for(g, &OH, cg_i64(g, 0), cg_i64(g, L->Ho));
    cg_for(g, &OW, cg_i64(g, 0), cg_i64(g, L->Wo));
    LLVMValueRef base = iadd(g, imul(g, iadd(g, imul(g, C.i, L->H), imul(g, OH.i, L->stride)), L->W),
                             imul(g, OW.i, L->stride));
    LLVMBuildStore(g->b, cg_i32(g, 0), r);
    cg_for(g, &KH, cg_i64(g, 0), cg_i64(g, L->k));
    cg_for(g, &KW, cg_i64(g, 0), cg_i64(g, L->k));
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->t_i8, bptr(g, src, iadd(g, base, iadd(g, imul(g, KH.i, L->W), KW.i))), "");
    v = LLVMBuildZExt(g->b, v, g->t_i32, "");
    LLVMValueRef a = LLVMBuildLoad2(g->b, g->t_i32, r, "");
    LLVMBuildStore(g->b, mx ? LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntUGT, v, a, ""), v, a, "")
                            : LLVMBuildAdd(g->b, a, v, ""), r);
    cg_end(g, &KW);
    cg_end(g, &KH);
    LLVMValueRef res = LLVMBuildLoad2(g->b, g->t_i32, r, "");
    if (!mx) /* the average, rounded half up */
        res = LLVMBuildUDiv(g->b, LLVMBuildAdd(g->b, res, cg_i32(g, kk / 2), ""), cg_i32(g, kk), "");
    LLVMBuildStore(g->b, LLVMBuildTrunc(g->b, res, g->t_i8, ""),
                   bptr(g, dst, iadd(g, imul(g, iadd(g, imul(g, C.i, L->Ho), OH.i), L->Wo), OW.i)));
    cg_end(g, &OW);
    cg_end(g, &OH);
    cg_end(g, &C);
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
        if (is_pool(L))
            continue;
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
        MU[d] = const_padded(g, name, L->mult, sizeof(float), L->out, L->out_pad);
        snprintf(name, sizeof name, "q8zsum%d", d);
        ZS[d] = const_padded(g, name, L->zsum, sizeof(int32_t), L->out, L->out_pad);
        snprintf(name, sizeof name, "q8bias%d", d);
        BI[d] = const_padded(g, name, L->bias, sizeof(float), L->out, L->out_pad);
        if (!MU[d] || !ZS[d] || !BI[d])
            goto out;
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
    long col_bytes, pimg_bytes;
    conv_bytes(m, &col_bytes, &pimg_bytes);
    LLVMValueRef col = bptr(g, acc, cg_i64(g, 4L * HP_Q8_TILE * amax_of(m)));
    LLVMValueRef pimg = bptr(g, col, cg_i64(g, col_bytes));

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
    LLVMBuildStore(g->b, quant_ir(g, v, L0->in_inv, L0->in_zero),
                   bptr(g, qcur, iadd(g, imul(g, R.i, L0->in_stride), J.i)));
    cg_end(g, &J);
    cg_end(g, &R);
    zero_pad(g, qcur, rows, L0->in_stride, F, L0->in_stride);
    for (int d = 0; d < m->n; d++) {
        const hp_q8_layer *L = &m->layers[d], *N = d + 1 < m->n ? &m->layers[d + 1] : NULL;
        if (L->kind != HP_Q8_DENSE) { /* a sample at a time; N: the output layer is dense */
            cg_for(g, &R, cg_i64(g, 0), rows);
            LLVMValueRef src = bptr(g, qcur, imul(g, R.i, L->in_stride)), dst = bptr(g, qnext, imul(g, R.i, N->in_stride));
            if (L->kind == HP_Q8_CONV)
                conv_sample(g, &ks, L, N, W[d], MU[d], ZS[d], BI[d], src, dst, col, pimg, acc);
            else
                pool_sample(g, L, src, dst);
            cg_end(g, &R);
            zero_pad(g, qnext, rows, N->in_stride, L->out_size, N->in_stride);
            LLVMValueRef t = qcur;
            qcur = qnext;
            qnext = t;
            continue;
        }
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
        LLVMValueRef y = dequant_ir(g, L, MU[d], ZS[d], BI[d], acc, iadd(g, imul(g, R.i, L->out_pad), J.i), J.i);
        if (N)
            LLVMBuildStore(g->b, quant_ir(g, y, N->in_inv, N->in_zero),
                           bptr(g, qnext, iadd(g, imul(g, R.i, N->in_stride), J.i)));
        else
            cg_store_f(g, y, out, iadd(g, imul(g, iadd(g, first, R.i), K), J.i));
        cg_end(g, &J);
        cg_end(g, &R);
        if (N) {
            zero_pad(g, qnext, rows, N->in_stride, L->out, N->in_stride);
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
