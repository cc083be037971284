/* gemm_tn.c - the weight-gradient product C = Aᵀ·B of the recurrent layers.
 *
 * dW[j0..j1) = dG[:, j0..j1)ᵀ·X over all B·T rows: in the char-LSTM three
 * products of 512 × 256 × 2,048 per thread and step, which OpenBLAS ran at
 * ~90 GFLOP/s, a sixth of it in its copy routines.  Per chunk of K, B's
 * rows are packed into panels of NR columns and A's into micro-panels of MR
 * columns, both read row by row (rows of dG are 4 KiB apart: a micro-panel
 * gathered a column piece at a time falls in one L1 set), MC columns of A
 * at a time so that A's block, B's chunk and C's rows stay in L2; the
 * kernel keeps an MR × NR tile of C in registers (8 rows × 2 vectors of 16:
 * 16 of the 32 AVX-512 registers) and adds, per k, 8 broadcast elements of
 * the micro-panel times a panel row.  Several B (parts) share one packing
 * of A (dW_ih and dW_hh of rnn and lstm), and A's column sums (the bias
 * gradient) are taken as it is packed.
 *
 * The sums are OpenBLAS's, bit for bit (test_rt_wgrad), so that training is
 * unchanged: its single-threaded level-3 driver cuts K into chunks of
 * GEMM_Q = 320 (when between 320 and 640 remain, half of them rounded up to
 * 16), its SkylakeX/Cooperlake kernel sums each chunk from zero by fused
 * multiply-adds in k order, and C (zeroed for beta = 0) gets each chunk's
 * sum added in turn.  Products of at most 100³ multiply-adds take its
 * small-matrix kernel instead (one sum over all K): those, and CPUs without
 * AVX-512, go to OpenBLAS itself.
 */
#include "hprt_kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TN_AVX512 1
#endif

enum { NR = 32, MR = 8, MC = 128, GEMM_Q = 320, UNROLL_M = 16 };

int hprt_gemm_tn_chunk(int K, int k0)
{
    int left = K - k0;
    if (left >= 2 * GEMM_Q)
        return GEMM_Q;
    if (left > GEMM_Q)
        return (left / 2 + UNROLL_M - 1) / UNROLL_M * UNROLL_M;
    return left;
}

bool hprt_gemm_tn_own(int M, int N, int K)
{
    return hprt_packed_fast() && M > 0 && N > 0 && K > 0 && (double)M * N * K > 1e6;
}

size_t hprt_gemm_tn_floats(int M, const hprt_tn_part *parts, int nparts)
{
    size_t n = 0;
    for (int p = 0; p < nparts; p++)
        n += (size_t)(parts[p].N + NR - 1) / NR * NR;
    int mb = M < MC ? M : MC;
    return (size_t)GEMM_Q * (n + (size_t)(mb + MR - 1) / MR * MR);
}

/* sums[j] = Σ_k A[k][j] over all K rows, in k order from zero. */
static void column_sums(int M, int K, const float *restrict A, size_t lda, float *restrict sums)
{
    for (int j = 0; j < M; j++)
        sums[j] = 0.0f;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < M; j++)
            sums[j] += A[(size_t)k * lda + j];
}

#ifdef TN_AVX512
/* One mr × NR tile (mr ≤ MR, a constant after inlining) over a k-chunk of kc:
 * C[i][0..nc) = (first ? 0 : C[i][..]) + Σ_k a[k][i]·p[k][..], from the
 * packed micro-panel a (kc × MR) and panel p (kc × NR). */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
tile_tn(int mr, int kc, const float *a, const float *p, bool first, float *C, size_t ldc, int nc)
{
    __mmask16 m0 = nc >= 16 ? 0xffff : (__mmask16)((1u << nc) - 1);
    __mmask16 m1 = nc >= NR ? 0xffff : nc <= 16 ? 0 : (__mmask16)((1u << (nc - 16)) - 1);
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 8 /* the tile in registers: every loop over i unrolled (this file is built at -O2) */
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, a += MR, p += NR) {
        __m512 p0 = _mm512_loadu_ps(p), p1 = _mm512_loadu_ps(p + 16);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            __m512 x = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(x, p0, c0[i]);
            c1[i] = _mm512_fmadd_ps(x, p1, c1[i]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        /* + 0 for the first chunk: OpenBLAS adds to a zeroed C (-0 sums become +0) */
        __m512 o0 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, c);
        __m512 o1 = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, c + 16);
        _mm512_mask_storeu_ps(c, m0, _mm512_add_ps(o0, c0[i]));
        _mm512_mask_storeu_ps(c + 16, m1, _mm512_add_ps(o1, c1[i]));
    }
}

/* A's chunk rows, columns [0, mb), as micro-panels of MR columns, kc × MR
 * each (zero past mb), read row by row (a micro-panel at a time reads one
 * piece per row, 4 KiB apart in the char-LSTM: L1 conflicts, a third of the
 * product's time), the rows a few ahead asked for early (the hardware
 * prefetchers stop at pages, and a row of dG is one); sums (NULL: none) gets
 * each row added, in k order. */
__attribute__((target("avx512f"))) static void pack_a(const float *A, size_t lda, int kc, int mb, float *a,
                                                      float *restrict sums)
{
    int whole = mb / MR * MR;
    for (int k = 0; k < kc; k++, A += lda) {
        for (int i0 = 0; i0 < mb; i0 += 16)
            __builtin_prefetch(A + 8 * lda + i0);
        for (int i0 = 0; i0 < whole; i0 += MR)
            _mm256_storeu_ps(a + ((size_t)i0 * kc + (size_t)k * MR), _mm256_loadu_ps(A + i0));
        for (int i = 0; i < MR && whole < mb; i++)
            a[(size_t)whole * kc + (size_t)k * MR + i] = whole + i < mb ? A[whole + i] : 0.0f;
        for (int i0 = 0; i0 < mb && sums; i0 += 16) {
            __mmask16 m = mb - i0 >= 16 ? 0xffff : (__mmask16)((1u << (mb - i0)) - 1);
            _mm512_mask_storeu_ps(sums + i0, m,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + i0), _mm512_maskz_loadu_ps(m, A + i0)));
        }
    }
}

/* B's chunk rows (kc × N, row stride ldb) as panels of NR columns, kc × NR
 * each, zero past N (the layout of hprt_pack_b), read row by row with the
 * rows a few ahead asked for early, as pack_a (panel by panel, it reads a
 * piece per row 1 KiB apart: twice as slow). */
__attribute__((target("avx512f"))) static void pack_b(const float *B, size_t ldb, int kc, int N, float *P)
{
    for (int k = 0; k < kc; k++, B += ldb) {
        for (int n0 = 0; n0 < N; n0 += 16)
            __builtin_prefetch(B + 8 * ldb + n0);
        for (int n0 = 0; n0 < N; n0 += NR) {
            float *d = P + (size_t)n0 * kc + (size_t)k * NR; /* panel n0 / NR, row k */
            for (int h = 0; h < NR; h += 16) {
                int left = N - n0 - h;
                __mmask16 m = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                _mm512_storeu_ps(d + h, _mm512_maskz_loadu_ps(m, B + n0 + h));
            }
        }
    }
}

/* The parts' chunks of B (own[p]: those this kernel computes) as panels,
 * part after part. */
static void pack_parts(const hprt_tn_part *parts, int nparts, const bool *own, int k0, int kc, float *P)
{
    for (int p = 0; p < nparts; p++)
        if (own[p]) {
            pack_b(parts[p].B + (size_t)k0 * parts[p].ldb, (size_t)parts[p].ldb, kc, parts[p].N, P);
            P += (size_t)(parts[p].N + NR - 1) / NR * NR * kc;
        }
}

__attribute__((target("avx512f,fma"))) static void gemm_tn512(int M, int K, const float *A, size_t lda,
                                                             const hprt_tn_part *parts, int nparts, const bool *own,
                                                             float *sums, float *work)
{
    size_t panels = 0;
    for (int p = 0; p < nparts; p++)
        panels += own[p] ? (size_t)(parts[p].N + NR - 1) / NR : 0;
    float *P = work, *a = work + panels * NR * GEMM_Q;
    for (int j = 0; j < M && sums; j++)
        sums[j] = 0.0f;
    for (int k0 = 0; k0 < K;) {
        int kc = hprt_gemm_tn_chunk(K, k0);
        bool first = k0 == 0;
        pack_parts(parts, nparts, own, k0, kc, P);
        /* MC columns of A at a time: its packed block, B's packed chunk and
         * the block's rows of C stay in L2 */
        for (int ib = 0; ib < M; ib += MC) {
            int mb = M - ib < MC ? M - ib : MC;
            pack_a(A + (size_t)k0 * lda + ib, lda, kc, mb, a, sums ? sums + ib : NULL);
            for (int i = ib; i < ib + mb; i += MR) {
                int mr = ib + mb - i < MR ? ib + mb - i : MR;
                const float *ai = a + (size_t)(i - ib) * kc; /* stays in L1 across B's panels */
                const float *pp = P;
                for (int p = 0; p < nparts; p++) {
                    if (!own[p])
                        continue;
                    for (int n0 = 0; n0 < parts[p].N; n0 += NR, pp += (size_t)NR * kc) {
                        int nc = parts[p].N - n0 < NR ? parts[p].N - n0 : NR;
                        float *c = parts[p].C + (size_t)i * parts[p].ldc + n0;
                        size_t ldc = (size_t)parts[p].ldc;
                        switch (mr) { /* one specialised tile per row count */
                        case 8: tile_tn(8, kc, ai, pp, first, c, ldc, nc); break;
                        case 7: tile_tn(7, kc, ai, pp, first, c, ldc, nc); break;
                        case 6: tile_tn(6, kc, ai, pp, first, c, ldc, nc); break;
                        case 5: tile_tn(5, kc, ai, pp, first, c, ldc, nc); break;
                        case 4: tile_tn(4, kc, ai, pp, first, c, ldc, nc); break;
                        case 3: tile_tn(3, kc, ai, pp, first, c, ldc, nc); break;
                        case 2: tile_tn(2, kc, ai, pp, first, c, ldc, nc); break;
                        default: tile_tn(1, kc, ai, pp, first, c, ldc, nc); break;
                        }
                    }
                }
            }
        }
        k0 += kc;
    }
}
#endif

void hprt_gemm_tn(int M, int K, const float *A, int lda, const hprt_tn_part *parts, int nparts, float *sums,
                  float *work, size_t work_n)
{
    if (M <= 0)
        return;
    bool fits = work && hprt_gemm_tn_floats(M, parts, nparts) <= work_n;
    if (nparts > 1 && (!fits || nparts > HPRT_TN_PARTS)) { /* a part at a time (the same sums) */
        for (int p = 0; p < nparts; p++)
            hprt_gemm_tn(M, K, A, lda, parts + p, 1, p ? NULL : sums, work, work_n);
        return;
    }
    bool own[HPRT_TN_PARTS], any = false;
    for (int p = 0; p < nparts; p++) {
        own[p] = fits && hprt_gemm_tn_own(M, parts[p].N, K);
        any |= own[p];
    }
#ifdef TN_AVX512
    if (any) {
        gemm_tn512(M, K, A, (size_t)lda, parts, nparts, own, sums, work);
        sums = NULL;
    }
#endif
    for (int p = 0; p < nparts; p++)
        if (!any || !own[p])
            hprt_gemm(true, false, M, parts[p].N, K, 1.0f, A, lda, parts[p].B, parts[p].ldb, 0.0f, parts[p].C,
                      parts[p].ldc);
    if (sums)
        column_sums(M, K, A, (size_t)lda, sums);
}
