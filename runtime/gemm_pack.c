/* gemm_pack.c - matrix products against a right-hand matrix packed once.
 *
 * The recurrence of an RNN multiplies the same W_hh by a few rows of state at
 * every time step: 64 products of 16 × 256 by 256 × 1024 per layer and step in
 * the char-LSTM.  OpenBLAS re-packs all of W_hh (1 MiB) on every call, and in
 * a training step that re-packing took a fifth of the time.  Here the caller
 * packs op(B) once into panels of HPRT_PACK_NR columns, each panel K rows of
 * NR contiguous floats (zero-padded past N), and every product then streams a
 * panel per NR output columns (docs/internals.md, code generation).
 *
 * The kernel keeps an MR × NR tile of C in registers (8 rows × 2 vectors of
 * 16 floats: 16 of the 32 AVX-512 registers) and adds one broadcast element of
 * A times one panel row per k.  Without AVX-512 a plain loop computes the same
 * sums, k in order (rounded apart, not fused); callers that want speed ask
 * hprt_packed_fast() and use OpenBLAS otherwise.
 */
#include "hprt_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PACK_AVX512 1
#endif

enum { NR = HPRT_PACK_NR, MR = 8 };

size_t hprt_pack_floats(int N, int K)
{
    if (N <= 0 || K <= 0)
        return 0;
    return (size_t)((N + NR - 1) / NR) * NR * (size_t)K;
}

/* P[panel p][k][c] = op(B)[k][p·NR + c], where op(B)[k][n] is at
 * B[k·sk + n·sn]; zero past N. */
static void pack(const float *B, size_t sk, size_t sn, int K, int N, float *P)
{
    for (int n0 = 0; n0 < N; n0 += NR) {
        int nc = N - n0 < NR ? N - n0 : NR;
        for (int k = 0; k < K; k++, P += NR) {
            const float *b = B + (size_t)k * sk + (size_t)n0 * sn;
            for (int c = 0; c < nc; c++)
                P[c] = b[(size_t)c * sn];
            for (int c = nc; c < NR; c++)
                P[c] = 0.0f;
        }
    }
}

#ifdef PACK_AVX512
/* r[0..15], 16 rows of 16 floats, transposed in place: r[k] becomes
 * (row 0's element k, ..., row 15's element k). */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

/* pack() for op(B) = Bᵀ: each whole panel 16 k at a time as two 16 × 16
 * transposes of contiguous row pieces (the scalar loop gathers 32 rows per
 * k: 3x slower, and a fifth of a char-LSTM's packing); the rest, and partial
 * panels, as pack() does.  The same floats moved, nothing computed. */
__attribute__((target("avx512f"))) static void pack_bt512(const float *B, size_t ldb, int N, int K, float *P)
{
    for (int n0 = 0; n0 < N; n0 += NR, P += (size_t)NR * K) {
        int nc = N - n0 < NR ? N - n0 : NR, k0 = 0;
        for (; nc == NR && k0 + 16 <= K; k0 += 16)
            for (int h = 0; h < NR; h += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = _mm512_loadu_ps(B + (size_t)(n0 + h + i) * ldb + k0);
                transpose16(r);
                for (int k = 0; k < 16; k++)
                    _mm512_storeu_ps(P + (size_t)(k0 + k) * NR + h, r[k]);
            }
        if (k0 < K)
            pack(B + (size_t)n0 * ldb + k0, 1, ldb, K - k0, nc, P + (size_t)k0 * NR);
    }
}
#endif

void hprt_pack_bt(const float *B, int ldb, int N, int K, float *P)
{
#ifdef PACK_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        pack_bt512(B, (size_t)ldb, N, K, P);
        return;
    }
#endif
    pack(B, 1, (size_t)ldb, K, N, P);
}

#ifdef PACK_AVX512
/* pack() for op(B) = B: each whole panel's rows as two 16-float loads and
 * stores (pack() is built for the baseline and for any stride: a scalar
 * copy, 0.6% of a char-LSTM's training time for its three W_hh and W_ih
 * packings per thread and step, ~12% less this way: the copy is bound by
 * memory); partial panels as pack() does. */
__attribute__((target("avx512f"))) static void pack_b512(const float *B, size_t ldb, int K, int N, float *P)
{
    for (int n0 = 0; n0 < N; n0 += NR, P += (size_t)NR * K) {
        if (N - n0 < NR) {
            pack(B + n0, ldb, 1, K, N - n0, P);
            break;
        }
        const float *b = B + n0;
        for (int k = 0; k < K; k++, b += ldb)
            for (int h = 0; h < NR; h += 16)
                _mm512_storeu_ps(P + (size_t)k * NR + h, _mm512_loadu_ps(b + h));
    }
}
#endif

void hprt_pack_b(const float *B, int ldb, int K, int N, float *P)
{
#ifdef PACK_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        pack_b512(B, (size_t)ldb, K, N, P);
        return;
    }
#endif
    pack(B, (size_t)ldb, 1, K, N, P);
}

#ifdef PACK_AVX512
/* One mr × NR tile (mr ≤ MR, a constant after inlining), nc ≤ NR columns
 * stored. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
tile512(int mr, int K, const float *A, size_t lda, const float *P, const float *bias, bool acc, float *C, size_t ldc,
        int nc)
{
    __mmask16 m0 = nc >= 16 ? 0xffff : (__mmask16)((1u << nc) - 1);
    __mmask16 m1 = nc >= NR ? 0xffff : nc <= 16 ? 0 : (__mmask16)((1u << (nc - 16)) - 1);
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < mr; i++)
        c0[i] = b0, c1[i] = b1;
    for (int k = 0; k < K; k++, P += NR) {
        __m512 p0 = _mm512_loadu_ps(P), p1 = _mm512_loadu_ps(P + 16);
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(A[(size_t)i * lda + (size_t)k]);
            c0[i] = _mm512_fmadd_ps(a, p0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, p1, c1[i]);
        }
    }
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        if (acc) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, c));
            c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, c + 16));
        }
        _mm512_mask_storeu_ps(c, m0, c0[i]);
        _mm512_mask_storeu_ps(c + 16, m1, c1[i]);
    }
}

__attribute__((target("avx512f,fma"))) static void gemm512(int M, int N, int K, const float *A, size_t lda,
                                                          const float *P, const float *bias, bool acc, float *C,
                                                          size_t ldc)
{
    for (int n0 = 0; n0 < N; n0 += NR, P += (size_t)NR * K) {
        int nc = N - n0 < NR ? N - n0 : NR;
        const float *b = bias ? bias + n0 : NULL;
        int i = 0;
        for (; i + MR <= M; i += MR)
            tile512(MR, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc);
        switch (M - i) { /* one specialised tile per remainder */
        case 7: tile512(7, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        case 6: tile512(6, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        case 5: tile512(5, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        case 4: tile512(4, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        case 3: tile512(3, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        case 2: tile512(2, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        case 1: tile512(1, K, A + (size_t)i * lda, lda, P, b, acc, C + (size_t)i * ldc + n0, ldc, nc); break;
        default: break;
        }
    }
}
#endif

bool hprt_packed_fast(void)
{
#ifdef PACK_AVX512
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

void hprt_gemm_packed(int M, int N, int K, const float *A, int lda, const float *P, const float *bias, bool accumulate,
                      float *C, int ldc)
{
    if (M <= 0 || N <= 0 || K < 0)
        return;
#ifdef PACK_AVX512
    if (__builtin_cpu_supports("avx512f")) {
        gemm512(M, N, K, A, (size_t)lda, P, bias, accumulate, C, (size_t)ldc);
        return;
    }
#endif
    /* the same sums, k in order, one output at a time */
    for (int n0 = 0; n0 < N; n0 += NR, P += (size_t)NR * K) {
        int nc = N - n0 < NR ? N - n0 : NR;
        for (int i = 0; i < M; i++)
            for (int c = 0; c < nc; c++) {
                float s = bias ? bias[n0 + c] : 0.0f;
                for (int k = 0; k < K; k++)
                    s += A[(size_t)i * lda + k] * P[(size_t)k * NR + c];
                float *dst = C + (size_t)i * ldc + n0 + c;
                *dst = accumulate ? *dst + s : s;
            }
    }
}
