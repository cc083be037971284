/* pool_fast.c - max pooling for training, specialised to non-overlapping windows.
 *
 * The reference (layers_conv.c) finds each window's first maximum with a
 * generic double loop whose every comparison reloads the best value through
 * its index: in examples/fashion_cnn.hp the two 2×2 max pools took 27% of a
 * training step (perf, docs/internals.md "Convolutions").  Here windows that
 * do not overlap (stride == size) are reduced with the reference's exact
 * rule — a later element replaces the best when it is greater or NaN, so the
 * first maximum wins and a NaN propagates — on values kept in registers, one
 * output row at a time, and the backward pass writes every element of dX
 * once (the window's winner gets dY, the rest and the floor-mode leftovers
 * 0) instead of clearing dX and scattering.  Results are bit-identical to the
 * reference (test_rt_conv_fast); other geometries call the reference.
 */
#include "hprt_kernels.h"

#include <string.h>

/* The reference's take rule: v replaces best when greater, or when v is NaN. */
static inline int takes(float v, float best)
{
    return (v > best) | (v != v);
}

/* 2×2 windows, stride 2: one plane. */
static void max22_forward(const hprt_pool2d_geom *g, const float *x, float *y)
{
    const int W = g->W, Wo = g->Wo;
    for (int oy = 0; oy < g->Ho; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *yo = y + (size_t)oy * Wo;
        for (int ox = 0; ox < Wo; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            float m = a; /* the first element starts (a NaN in it stays: nothing beats it but a NaN) */
            m = takes(b, m) ? b : m;
            m = takes(c, m) ? c : m;
            m = takes(d, m) ? d : m;
            yo[ox] = m;
        }
    }
}

/* relu: the winner's gradient is kept only where its value is > 0 (relu's
 * backward after the pool's, for a conv whose relu and pool are fused). */
static void max22_backward(const hprt_pool2d_geom *g, const float *x, const float *dy, float *dx, bool relu)
{
    const int W = g->W, Wo = g->Wo, H = g->H;
    for (int oy = 0; oy < g->Ho; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *d0 = dx + (size_t)(2 * oy) * W, *d1 = d0 + W;
        const float *dyo = dy + (size_t)oy * Wo;
        for (int ox = 0; ox < Wo; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            int w = 0; /* the winner: 0 a, 1 b, 2 c, 3 d */
            float m = a;
            int t = takes(b, m);
            m = t ? b : m, w = t ? 1 : w;
            t = takes(c, m);
            m = t ? c : m, w = t ? 2 : w;
            t = takes(d, m);
            m = t ? d : m, w = t ? 3 : w;
            float v = dyo[ox];
            if (relu && !(m > 0.0f))
                v = 0.0f;
            d0[2 * ox] = w == 0 ? v : 0.0f;
            d0[2 * ox + 1] = w == 1 ? v : 0.0f;
            d1[2 * ox] = w == 2 ? v : 0.0f;
            d1[2 * ox + 1] = w == 3 ? v : 0.0f;
        }
        for (int ix = 2 * Wo; ix < W; ix++) /* floor mode: columns no window covers */
            d0[ix] = d1[ix] = 0.0f;
    }
    if (2 * g->Ho < H) /* rows no window covers */
        memset(dx + (size_t)(2 * g->Ho) * W, 0, (size_t)(H - 2 * g->Ho) * W * sizeof *dx);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define POOL_AVX512 1

/* 16 windows of one output row at a time: each input row's 32 floats split
 * into even and odd columns (a b / c d of the window), the take rule as mask
 * compares in the reference's order, and back the winners' dY interleaved. */
typedef struct {
    __m512 a, b, c, d;
    __m512 m;             /* the window's maximum */
    __mmask16 tb, tc, td; /* b, c, d took the lead in turn */
} win16;

__attribute__((target("avx512f"), always_inline)) static inline __mmask32 lanes2(int n)
{
    return n >= 16 ? 0xffffffffu : (__mmask32)((1u << (2 * n)) - 1);
}

__attribute__((target("avx512f"), always_inline)) static inline win16 load_win16(const float *r0, const float *r1, int n,
                                                                                 __m512i even, __m512i odd)
{
    __mmask32 m = lanes2(n);
    __mmask16 lo = (__mmask16)(m & 0xffff), hi = (__mmask16)(m >> 16);
    __m512 p0 = _mm512_maskz_loadu_ps(lo, r0), p1 = _mm512_maskz_loadu_ps(hi, r0 + 16);
    __m512 q0 = _mm512_maskz_loadu_ps(lo, r1), q1 = _mm512_maskz_loadu_ps(hi, r1 + 16);
    win16 w;
    w.a = _mm512_permutex2var_ps(p0, even, p1);
    w.b = _mm512_permutex2var_ps(p0, odd, p1);
    w.c = _mm512_permutex2var_ps(q0, even, q1);
    w.d = _mm512_permutex2var_ps(q0, odd, q1);
    __m512 m0 = w.a;
    w.tb = _mm512_cmp_ps_mask(w.b, m0, _CMP_GT_OQ) | _mm512_cmp_ps_mask(w.b, w.b, _CMP_UNORD_Q);
    m0 = _mm512_mask_blend_ps(w.tb, m0, w.b);
    w.tc = _mm512_cmp_ps_mask(w.c, m0, _CMP_GT_OQ) | _mm512_cmp_ps_mask(w.c, w.c, _CMP_UNORD_Q);
    m0 = _mm512_mask_blend_ps(w.tc, m0, w.c);
    w.td = _mm512_cmp_ps_mask(w.d, m0, _CMP_GT_OQ) | _mm512_cmp_ps_mask(w.d, w.d, _CMP_UNORD_Q);
    w.m = _mm512_mask_blend_ps(w.td, m0, w.d);
    return w;
}

__attribute__((target("avx512f"))) static void max22_forward512(const hprt_pool2d_geom *g, const float *x, float *y)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const int W = g->W, Wo = g->Wo;
    for (int oy = 0; oy < g->Ho; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *yo = y + (size_t)oy * Wo;
        for (int ox = 0; ox < Wo; ox += 16) {
            int n = Wo - ox < 16 ? Wo - ox : 16;
            win16 w = load_win16(r0 + 2 * ox, r1 + 2 * ox, n, even, odd);
            _mm512_mask_storeu_ps(yo + ox, (__mmask16)((1u << n) - 1), w.m);
        }
    }
}

__attribute__((target("avx512f"))) static void max22_backward512(const hprt_pool2d_geom *g, const float *x,
                                                                const float *dy, float *dx, bool relu)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /* interleave two 16-lane vectors e, o into e0 o0 e1 o1 ... (low and high halves) */
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const int W = g->W, Wo = g->Wo, H = g->H;
    for (int oy = 0; oy < g->Ho; oy++) {
        const float *r0 = x + (size_t)(2 * oy) * W, *r1 = r0 + W;
        float *d0 = dx + (size_t)(2 * oy) * W, *d1 = d0 + W;
        const float *dyo = dy + (size_t)oy * Wo;
        for (int ox = 0; ox < Wo; ox += 16) {
            int n = Wo - ox < 16 ? Wo - ox : 16;
            win16 w = load_win16(r0 + 2 * ox, r1 + 2 * ox, n, even, odd);
            __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), dyo + ox);
            if (relu) /* relu's backward: the winner's gradient where its value is > 0 */
                v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(w.m, _mm512_setzero_ps(), _CMP_GT_OQ), v);
            __mmask16 wd = w.td, wc = (__mmask16)(w.tc & ~wd), wb = (__mmask16)(w.tb & ~w.tc & ~wd);
            __mmask16 wa = (__mmask16)~(wb | wc | wd);
            __m512 va = _mm512_maskz_mov_ps(wa, v), vb = _mm512_maskz_mov_ps(wb, v);
            __m512 vc = _mm512_maskz_mov_ps(wc, v), vd = _mm512_maskz_mov_ps(wd, v);
            __mmask32 m = lanes2(n);
            __mmask16 lo = (__mmask16)(m & 0xffff), hi = (__mmask16)(m >> 16);
            _mm512_mask_storeu_ps(d0 + 2 * ox, lo, _mm512_permutex2var_ps(va, ilo, vb));
            _mm512_mask_storeu_ps(d0 + 2 * ox + 16, hi, _mm512_permutex2var_ps(va, ihi, vb));
            _mm512_mask_storeu_ps(d1 + 2 * ox, lo, _mm512_permutex2var_ps(vc, ilo, vd));
            _mm512_mask_storeu_ps(d1 + 2 * ox + 16, hi, _mm512_permutex2var_ps(vc, ihi, vd));
        }
        for (int ix = 2 * Wo; ix < W; ix++) /* floor mode: columns no window covers */
            d0[ix] = d1[ix] = 0.0f;
    }
    if (2 * g->Ho < H) /* rows no window covers */
        memset(dx + (size_t)(2 * g->Ho) * W, 0, (size_t)(H - 2 * g->Ho) * W * sizeof *dx);
}

/* The AVX-512 loops when the CPU has them (the scalar ones compute the same). */
static bool use512(void)
{
    return __builtin_cpu_supports("avx512f");
}
#endif

static bool is22(const hprt_pool2d_geom *g)
{
    return g->size == 2 && g->stride == 2 && g->Ho > 0 && g->Wo > 0;
}

void hprt_maxpool2d_forward_fast(const hprt_pool2d_geom *g, const float *X, float *Y, int B)
{
    if (!is22(g)) {
        hprt_maxpool2d_forward(g, X, Y, B);
        return;
    }
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    size_t planes = (size_t)(B > 0 ? B : 0) * g->C;
#ifdef POOL_AVX512
    if (use512()) {
        for (size_t p = 0; p < planes; p++)
            max22_forward512(g, X + p * in_plane, Y + p * out_plane);
        return;
    }
#endif
    for (size_t p = 0; p < planes; p++)
        max22_forward(g, X + p * in_plane, Y + p * out_plane);
}

void hprt_maxpool2d_backward_fast(const hprt_pool2d_geom *g, const float *X, const float *dY, float *dX, int B)
{
    if (!is22(g)) {
        hprt_maxpool2d_backward(g, X, dY, dX, B);
        return;
    }
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    size_t planes = (size_t)(B > 0 ? B : 0) * g->C;
#ifdef POOL_AVX512
    if (use512()) {
        for (size_t p = 0; p < planes; p++)
            max22_backward512(g, X + p * in_plane, dY + p * out_plane, dX + p * in_plane, false);
        return;
    }
#endif
    for (size_t p = 0; p < planes; p++)
        max22_backward(g, X + p * in_plane, dY + p * out_plane, dX + p * in_plane, false);
}

/* ---- one plane, for the conv's fused epilogue (layers_conv.c, conv_wino.c) ---- */

void hprt_maxpool22_plane(const float *x, int H, int W, float *y)
{
    hprt_pool2d_geom g = hprt_pool2d_geom_make(1, H, W, 2, 2);
    if (!is22(&g))
        return;
#ifdef POOL_AVX512
    if (use512()) {
        max22_forward512(&g, x, y);
        return;
    }
#endif
    max22_forward(&g, x, y);
}

void hprt_maxpool22_plane_backward(const float *x, int H, int W, const float *dy, float *dx, int relu)
{
    hprt_pool2d_geom g = hprt_pool2d_geom_make(1, H, W, 2, 2);
    if (!is22(&g)) { /* no window: nothing reaches dx */
        if (H > 0 && W > 0)
            memset(dx, 0, (size_t)H * W * sizeof *dx);
        return;
    }
#ifdef POOL_AVX512
    if (use512()) {
        max22_backward512(&g, x, dy, dx, relu != 0);
        return;
    }
#endif
    max22_backward(&g, x, dy, dx, relu != 0);
}
