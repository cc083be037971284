/* test_rt_pack.c - products against a packed right-hand side (gemm_pack.c)
 * (plus a bias row) are within float rounding of the exact sums, as OpenBLAS's are, for both ways of packing, both ways of storing, and
 * shapes on and off the tile sizes (8 rows, 32 columns, one lane). */
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"
#include "hprt_rng.h"

static float *fill(hprt_rng *r, size_t n)
{
    float *x = tu_fnew(n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * hprt_rng_uniform(r) - 1.0);
    return x;
}

/* C = A·op(B) (+ C) both ways; A with a leading dimension wider than K and C
 * wider than N, whose extra columns must not be touched. */
static void check(hprt_rng *r, int M, int N, int K, bool trans_b, bool acc, bool with_bias)
{
    float *bias = with_bias ? fill(r, (size_t)N) : NULL;
    int lda = K + 3, ldc = N + 5, ldb = trans_b ? K + 1 : N + 2;
    size_t nb = trans_b ? (size_t)N * ldb : (size_t)K * ldb;
    float *A = fill(r, (size_t)M * lda), *B = fill(r, nb), *C = fill(r, (size_t)M * ldc);
    float *want = tu_fnew((size_t)M * ldc);
    float *P = tu_fnew(hprt_pack_floats(N, K)), *C0 = tu_fnew((size_t)M * ldc);
    memcpy(want, C, (size_t)M * ldc * sizeof *C);
    memcpy(C0, C, (size_t)M * ldc * sizeof *C);
    hprt_gemm(false, trans_b, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, want, ldc);
    for (int i = 0; i < M && bias; i++)
        for (int j = 0; j < N; j++)
            want[(size_t)i * ldc + j] += bias[j];
    if (trans_b)
        hprt_pack_bt(B, ldb, N, K, P);
    else
        hprt_pack_b(B, ldb, K, N, P);
    hprt_gemm_packed(M, N, K, A, lda, P, bias, acc, C, ldc);
    /* against the exact sum, within the float error bound (K + 4)·u·Σ|terms|
     * (the products, the bias and the C added) */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            float w = want[(size_t)i * ldc + j], got = C[(size_t)i * ldc + j];
            if (j >= N) {
                assert_true(memcmp(&w, &got, sizeof w) == 0); /* untouched */
                continue;
            }
            double c0 = acc ? C0[(size_t)i * ldc + j] : 0.0, b0 = bias ? bias[j] : 0.0;
            double exact = c0 + b0, mag = fabs(c0) + fabs(b0);
            for (int k = 0; k < K; k++) {
                double b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                exact += (double)A[(size_t)i * lda + k] * b;
                mag += fabs((double)A[(size_t)i * lda + k] * b);
            }
            double bound = (K + 4) * 6e-8 * mag + 1e-30;
            assert_close_abs(got, exact, 0.0, bound);
            assert_close_abs(w, exact, 0.0, bound); /* and OpenBLAS too */
        }
    free(A), free(B), free(C), free(C0), free(want), free(P), free(bias);
}

static void test_pack_sizes(void **state)
{
    (void)state;
    assert_int_equal(hprt_pack_floats(0, 5), 0);
    assert_int_equal(hprt_pack_floats(1, 5), HPRT_PACK_NR * 5);
    assert_int_equal(hprt_pack_floats(HPRT_PACK_NR, 2), HPRT_PACK_NR * 2);
    assert_int_equal(hprt_pack_floats(HPRT_PACK_NR + 1, 2), 2 * HPRT_PACK_NR * 2);
}

static void test_pack_shapes(void **state)
{
    (void)state;
    hprt_rng r;
    hprt_rng_seed(&r, 3);
    const int Ms[] = {1, 3, 7, 8, 9, 16, 17}, Ns[] = {1, 15, 16, 17, 31, 32, 33, 70}, Ks[] = {1, 2, 13, 64};
    for (size_t m = 0; m < sizeof Ms / sizeof *Ms; m++)
        for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                for (int t = 0; t < 8; t++)
                    check(&r, Ms[m], Ns[n], Ks[k], t & 1, t & 2, t & 4);
}

/* The char-LSTM's products: 16 rows of state by W_hh, either way, and a
 * worker's 1024 rows of input by W_ih. */
static void test_pack_lstm_shapes(void **state)
{
    (void)state;
    hprt_rng r;
    hprt_rng_seed(&r, 4);
    check(&r, 16, 1024, 256, true, false, false);
    check(&r, 16, 256, 1024, false, true, false);
    check(&r, 1024, 1024, 64, true, false, true); /* the input projection, b_ih added */
}

/* The packed layout itself, float for float: P[panel p][k][c] = op(B)[k][32p + c],
 * zero past N, for both packings, whole and partial panels, K on and off the
 * 16 rows of pack_bt's transposing path (AVX-512), pack_b's whole panels
 * (AVX-512 copies) and partial one, and row strides wider than
 * K or N. */
static void test_pack_layout(void **state)
{
    (void)state;
    hprt_rng r;
    hprt_rng_seed(&r, 5);
    const int Ns[] = {1, 16, 31, 32, 33, 64, 70, 100}, Ks[] = {1, 15, 16, 17, 48, 50};
    for (size_t n = 0; n < sizeof Ns / sizeof *Ns; n++)
        for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
            for (int t = 0; t < 4; t++) {
                int N = Ns[n], K = Ks[k], wide = t & 2 ? 3 : 0;
                bool trans = t & 1;
                int ldb = trans ? K + wide : N + wide;
                float *B = fill(&r, trans ? (size_t)N * ldb : (size_t)K * ldb);
                size_t np = hprt_pack_floats(N, K);
                float *P = tu_fnew(np);
                memset(P, 0xff, np * sizeof *P); /* NaNs: every float must be written */
                if (trans)
                    hprt_pack_bt(B, ldb, N, K, P);
                else
                    hprt_pack_b(B, ldb, K, N, P);
                for (size_t i = 0; i < np; i++) {
                    size_t p = i / ((size_t)HPRT_PACK_NR * K), kk = i / HPRT_PACK_NR % K, c = i % HPRT_PACK_NR;
                    size_t col = p * HPRT_PACK_NR + c;
                    float want = col >= (size_t)N ? 0.0f : trans ? B[col * ldb + kk] : B[kk * ldb + col];
                    assert_true(memcmp(&want, &P[i], sizeof want) == 0);
                }
                free(B), free(P);
            }
}

/* Nothing to do: C untouched. */
static void test_pack_empty(void **state)
{
    (void)state;
    float C[2] = {1.0f, 2.0f}, A[1] = {0}, P[1] = {0};
    hprt_gemm_packed(0, 2, 1, A, 1, P, NULL, false, C, 2);
    hprt_gemm_packed(1, 0, 1, A, 1, P, NULL, false, C, 2);
    assert_true(C[0] == 1.0f && C[1] == 2.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_sizes),
        cmocka_unit_test(test_pack_shapes),
        cmocka_unit_test(test_pack_lstm_shapes),
        cmocka_unit_test(test_pack_layout),
        cmocka_unit_test(test_pack_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
