/* blas.c - the only place libhprt talks to OpenBLAS.
 *
 * CBLAS in row-major order does exactly what the row-major hprt_gemm promises,
 * so this is a pure translation of flags; keeping it in one file leaves room
 * to swap in packed or hand-written kernels later (docs/internals.md, code generation).
 */
#include "hprt_kernels.h"

#include <cblas.h>

void hprt_gemm(bool trans_a, bool trans_b, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc)
{
    /* OpenBLAS does not read C when beta == 0, but with M, N or K zero some
     * versions still validate the leading dimensions: nothing to do anyway,
     * except that K == 0 must still apply beta to C. */
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

void hprt_blas_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}

/* The entry the generated code calls: int flags, no bool in the ABI. */
void hprt_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    hprt_gemm(ta != 0, tb != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
