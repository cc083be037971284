/* conv_bn.c - a batchnorm's per-plane work done inside the conv before it
 * (layers_conv.c and conv_wino.c call these on an output plane that is still
 * in L1; docs/internals.md "batchnorm", compiler/layer_batchnorm.c).
 *
 * Forward, the plane's contribution to the batchnorm's one-pass statistics
 * about a shift K (the thread's first value of the channel): Σ(y − K) and
 * Σ(y − K)² in double.  y − K of two floats is exact in double, its square
 * and the sums round at 2^-53, so with K a value of the channel the variance
 * S2/n − (S1/n)² loses only about n·2^-53·(1 + (mean − K)²/var) of itself to
 * cancellation, whatever mean/std is (layer_batchnorm.c combines the
 * threads' sums; the argument in full there).
 *
 * Backward, the batchnorm's input gradient written as the conv's dY:
 *   dx = w·rstd·((dy − Σdy/n) − x̂·Σ(dy·x̂)/n),  x̂ = (x − mean)·rstd,
 * in float, 16 values a vector, as a·dy − c − ((x − m_hi) − m_lo)·s with the
 * channel's a = w·rstd, c = a·Σdy/n, s = a·rstd·Σ(dy·x̂)/n rounded once from
 * double and the mean split in two floats (m_hi + m_lo), so x − mean keeps
 * its precision however large the mean (x − m_hi is exact near the mean):
 * a few float roundings of the largest term, where the generated dx pass
 * (layer_batchnorm.c, other producers) computes in double and rounds once.
 * In double the formation took 2.1 times as long (8 values a vector
 * and the conversions).
 */
#include "hprt_kernels.h"

/* The scalar tail (and the whole plane without AVX-512). */
static void stats_scalar(const float *y, size_t i, size_t n, double k, double *s1, double *s2)
{
    double a = 0.0, q = 0.0;
    for (; i < n; i++) {
        double d = (double)y[i] - k;
        a += d;
        q += d * d;
    }
    *s1 += a;
    *s2 += q;
}

/* The channel's coefficients in float. */
typedef struct {
    float a, c, s, hi, lo;
} dx_coef;

static dx_coef coef_of(const double *bn, size_t F, size_t f)
{
    const double mean = bn[f], rstd = bn[F + f], wr = bn[2 * F + f], m1 = bn[3 * F + f], m2 = bn[4 * F + f];
    dx_coef k = {(float)wr, (float)(wr * m1), (float)(wr * rstd * m2), (float)mean, 0.0f};
    k.lo = (float)(mean - (double)k.hi);
    return k;
}

static inline float dx_of(float x, float dy, const dx_coef *k)
{
    return (k->a * dy - k->c) - ((x - k->hi) - k->lo) * k->s;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BN_AVX512 1

static bool use512(void)
{
    return __builtin_cpu_supports("avx512f");
}

/* 16 values a step: two vectors of 8 doubles, four accumulators. */
__attribute__((target("avx512f"))) static void stats512(const float *y, size_t n, double k, double *s1, double *s2)
{
    const __m512d K = _mm512_set1_pd(k);
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(y + i)), K);
        __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(y + i + 8)), K);
        a0 = _mm512_add_pd(a0, d0);
        a1 = _mm512_add_pd(a1, d1);
        q0 = _mm512_fmadd_pd(d0, d0, q0);
        q1 = _mm512_fmadd_pd(d1, d1, q1);
    }
    *s1 += _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    *s2 += _mm512_reduce_add_pd(_mm512_add_pd(q0, q1));
    stats_scalar(y, i, n, k, s1, s2);
}

__attribute__((target("avx512f"))) static void dx512(const float *x, const float *dy, size_t n, const dx_coef *k,
                                                     float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dx_of(x[i], dy[i], k);
}
#endif

void hprt_bn_plane_stats(const float *y, size_t n, int first, double *k, double *s1, double *s2)
{
    if (n == 0)
        return;
    if (first) {
        *k = y[0];
        *s1 = *s2 = 0.0;
    }
#ifdef BN_AVX512
    if (use512()) {
        stats512(y, n, *k, s1, s2);
        return;
    }
#endif
    stats_scalar(y, 0, n, *k, s1, s2);
}

void hprt_bn_plane_dx(const float *x, const float *dy, size_t n, const double *bn, size_t F, size_t f, float *dx)
{
    const dx_coef k = coef_of(bn, F, f);
#ifdef BN_AVX512
    if (use512()) {
        dx512(x, dy, n, &k, dx);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dx[i] = dx_of(x[i], dy[i], &k);
}
