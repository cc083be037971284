/* test_rt_wgrad.c - the weight-gradient product C_p = Aᵀ·B_p (gemm_tn.c):
 * bit for bit the sums it promises (K in OpenBLAS's chunks, each summed from
 * zero by fused multiply-adds in k order and added to C in turn; the column
 * sums in k order), and so bit for bit OpenBLAS's own where OpenBLAS runs
 * its SkylakeX/Cooperlake kernels; within float rounding of a double sum;
 * for tile remainders (8 rows, 32 columns, 16 lanes), A's 128-column blocks,
 * parts on and off the AVX-512 path, work for all parts, for one or for
 * none, and the char-LSTM's shapes. */
#include "testutil.h"

#include <cblas.h>
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

/* OpenBLAS's own sums are ours where it runs these kernels (GEMM_Q = 320)
 * on one thread, as training calls it (its threaded driver halves what is
 * left between 320 and 640 without rounding to 16). */
static bool openblas_same_kernels(void)
{
    hprt_blas_set_threads(1);
    const char *core = openblas_get_corename();
    return hprt_packed_fast() && core && (!strcmp(core, "Cooperlake") || !strcmp(core, "SkylakeX"));
}

/* The chunks cover [0, K) in order, none longer than 320; the last two
 * halves of what is left between 320 and 640, rounded up to 16. */
static void test_chunks(void **state)
{
    (void)state;
    for (int K = 1; K <= 3000; K++) {
        int k0 = 0, n = 0;
        while (k0 < K) {
            int kc = hprt_gemm_tn_chunk(K, k0);
            assert_true(kc > 0 && kc <= 320 && k0 + kc <= K);
            if (K - k0 >= 640)
                assert_int_equal(kc, 320);
            k0 += kc, n++;
        }
        assert_int_equal(k0, K);
    }
    const int want[] = {320, 320, 320, 320, 320, 224, 224}; /* the char-LSTM's 2,048 rows */
    for (int i = 0, k0 = 0; i < 7; k0 += want[i], i++)
        assert_int_equal(hprt_gemm_tn_chunk(2048, k0), want[i]);
    assert_int_equal(hprt_gemm_tn_chunk(700, 320), 192);
    assert_int_equal(hprt_gemm_tn_chunk(700, 512), 188);
}

/* The promised sums of C[i][n], computed one at a time. */
static float chunked(int K, const float *A, int lda, int i, const float *B, int ldb, int n)
{
    float c = 0.0f;
    for (int k0 = 0; k0 < K;) {
        int kc = hprt_gemm_tn_chunk(K, k0);
        float s = 0.0f;
        for (int k = k0; k < k0 + kc; k++)
            s = fmaf(A[(size_t)k * lda + i], B[(size_t)k * ldb + n], s);
        c += s;
        k0 += kc;
    }
    return c;
}

/* M rows of C, parts of Ns[0..np) columns, A with a row stride wider than M,
 * B and C wider than N (the extra columns of C must stay untouched); work
 * for all parts at once (fit 0), for the largest part alone (1: a part at a
 * time) or for none (2: OpenBLAS). */
static void check_fit(hprt_rng *r, int M, int K, const int *Ns, int np, bool with_sums, int fit)
{
    int lda = M + 5;
    float *A = fill(r, (size_t)K * lda), *B[8], *C[8], *Ref[8];
    hprt_tn_part parts[8]; /* np ≤ 8 */
    for (int p = 0; p < np; p++) {
        int N = Ns[p], ldb = N + 3, ldc = N + 2;
        B[p] = fill(r, (size_t)K * ldb), C[p] = fill(r, (size_t)M * ldc), Ref[p] = tu_fnew((size_t)M * ldc);
        memcpy(Ref[p], C[p], (size_t)M * ldc * sizeof *Ref[p]);
        parts[p] = (hprt_tn_part){N, B[p], ldb, C[p], ldc};
    }
    float *sums = with_sums ? tu_fnew((size_t)M) : NULL;
    if (sums)
        tu_poison(sums, (size_t)M);
    size_t work_n = hprt_gemm_tn_floats(M, parts, np), one = 0;
    for (int p = 0; p < np; p++)
        one = hprt_gemm_tn_floats(M, parts + p, 1) > one ? hprt_gemm_tn_floats(M, parts + p, 1) : one;
    work_n = fit == 0 ? work_n : fit == 1 ? one : 1;
    float *work = tu_fnew(work_n);
    hprt_gemm_tn(M, K, A, lda, parts, np, sums, work, work_n);
    bool same = openblas_same_kernels();
    for (int p = 0; p < np; p++) {
        int N = Ns[p], ldb = N + 3, ldc = N + 2;
        bool own = fit < 2 && hprt_gemm_tn_own(M, N, K);
        /* OpenBLAS, into a copy of C's starting contents */
        hprt_gemm(true, false, M, N, K, 1.0f, A, lda, B[p], ldb, 0.0f, Ref[p], ldc);
        for (int i = 0; i < M; i++)
            for (int n = 0; n < ldc; n++) {
                float got = C[p][(size_t)i * ldc + n], blas = Ref[p][(size_t)i * ldc + n];
                if (n >= N) { /* untouched */
                    assert_true(memcmp(&got, &blas, sizeof got) == 0);
                    continue;
                }
                if (own) {
                    float want = chunked(K, A, lda, i, B[p], ldb, n);
                    assert_true(memcmp(&got, &want, sizeof got) == 0);
                }
                if ((!own || same) && memcmp(&got, &blas, sizeof got) != 0) {
                    print_message("M %d K %d N %d part %d own %d: C[%d][%d] %.9g, OpenBLAS %.9g\n", M, K, N, p, own, i, n, got, blas);
                    fail();
                }
                double exact = 0.0, mag = 0.0;
                for (int k = 0; k < K; k++) {
                    double t = (double)A[(size_t)k * lda + i] * B[p][(size_t)k * ldb + n];
                    exact += t, mag += fabs(t);
                }
                assert_close_abs(got, exact, 0.0, (K + 2) * 6e-8 * mag + 1e-30);
            }
    }
    for (int i = 0; i < M && sums; i++) {
        float want = 0.0f;
        for (int k = 0; k < K; k++)
            want += A[(size_t)k * lda + i];
        assert_true(memcmp(&want, &sums[i], sizeof want) == 0);
    }
    for (int p = 0; p < np; p++)
        free(B[p]), free(C[p]), free(Ref[p]);
    free(A), free(sums), free(work);
}

static void check(hprt_rng *r, int M, int K, const int *Ns, int np, bool with_sums)
{
    for (int fit = 0; fit < 3; fit++)
        check_fit(r, M, K, Ns, np, with_sums, fit);
}

/* Tile remainders and chunkings, each above the 100³ multiply-adds where the
 * kernel takes over (and one pair with a part below it). */
static void test_shapes(void **state)
{
    (void)state;
    hprt_rng r;
    hprt_rng_seed(&r, 7);
    check(&r, 9, 3400, (const int[]){33}, 1, true);             /* 8 + 1 rows, 32 + 1 columns */
    check(&r, 7, 2100, (const int[]){70}, 1, false);            /* under one tile of rows */
    check(&r, 130, 700, (const int[]){17, 15}, 2, true);        /* two blocks of A's columns, partial vectors */
    check(&r, 64, 400, (const int[]){40, 32}, 2, true);         /* chunks 208 + 192; the second part OpenBLAS */
    check(&r, 100, 1000, (const int[]){40, 5}, 2, true);        /* a part left to OpenBLAS */
    check(&r, 20, 1000, (const int[]){20, 16}, 2, true);        /* both parts left to OpenBLAS */
    check(&r, 3, 600, (const int[]){1, 2, 3, 4, 5}, 5, true);   /* more parts than one call takes */
}

/* A worker's share of the char-LSTM's second layer: 512 gate rows of dG
 * (row stride 1,024) by the 2,048 rows of its input and of h_{t-1}. */
static void test_lstm_shape(void **state)
{
    (void)state;
    hprt_rng r;
    hprt_rng_seed(&r, 8);
    int M = 512, K = 2048, lda = 1024, N = 256;
    float *A = fill(&r, (size_t)K * lda), *X = fill(&r, (size_t)K * N), *Hp = fill(&r, (size_t)K * N);
    float *C = tu_fnew((size_t)M * 2 * N), *Ref = tu_fnew((size_t)M * 2 * N), *sums = tu_fnew((size_t)M);
    hprt_tn_part parts[2] = {{N, X, N, C, N}, {N, Hp, N, C + (size_t)M * N, N}};
    /* the pack buffer of W_hh (1,024 × 256) holds the work of both at once */
    size_t work_n = hprt_pack_floats(1024, 256);
    assert_true(hprt_gemm_tn_floats(M, parts, 2) <= work_n);
    float *work = tu_fnew(work_n);
    hprt_gemm_tn(M, K, A, lda, parts, 2, sums, work, work_n);
    hprt_gemm(true, false, M, N, K, 1.0f, A, lda, X, N, 0.0f, Ref, N);
    hprt_gemm(true, false, M, N, K, 1.0f, A, lda, Hp, N, 0.0f, Ref + (size_t)M * N, N);
    bool same = openblas_same_kernels();
    for (size_t i = 0; i < (size_t)M * 2 * N; i++) {
        if (same)
            assert_true(memcmp(&C[i], &Ref[i], sizeof *C) == 0);
        else
            assert_close_abs(C[i], Ref[i], 0.0, 1e-4);
    }
    /* and with no work buffer: OpenBLAS itself */
    memset(C, 0, (size_t)M * 2 * N * sizeof *C);
    hprt_gemm_tn(M, K, A, lda, parts, 2, NULL, NULL, 0);
    assert_true(memcmp(C, Ref, (size_t)M * 2 * N * sizeof *C) == 0);
    free(A), free(X), free(Hp), free(C), free(Ref), free(sums), free(work);
}

/* Column sums alone (no parts), and nothing to do for M = 0. */
static void test_sums_only(void **state)
{
    (void)state;
    float A[6] = {1, 2, 3, 4, 5, 6}, s[2] = {0, 0}, C[1] = {7.0f};
    hprt_gemm_tn(2, 3, A, 2, NULL, 0, s, NULL, 0);
    assert_true(s[0] == 9.0f && s[1] == 12.0f);
    hprt_tn_part part = {1, A, 1, C, 1};
    hprt_gemm_tn(0, 3, A, 2, &part, 1, NULL, NULL, 0);
    assert_true(C[0] == 7.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_lstm_shape),
        cmocka_unit_test(test_sums_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
