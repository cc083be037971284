/* hprt_kernels.h - the plain-C reference layers, losses, BLAS wrappers and
 * default initialisation.
 *
 * These kernels are what the JIT-compiled code is tested against, so they are
 * written to be obviously correct rather than fast (dense is the exception: it
 * calls hprt_gemm, as training does).
 *
 * Conventions, everywhere in this header:
 *  - Storage is float32, row-major, densely packed unless a leading dimension
 *    is given.  Internally sums and transcendental functions are evaluated in
 *    double and rounded once when stored, so the reference is at least as
 *    accurate as any float implementation it is compared with.
 *  - A batch of B samples is B consecutive rows.  Sequence models pass T*B rows.
 *  - "Overwritten" outputs are fully written (no need to zero them first);
 *    nothing here accumulates into its outputs (except hprt_gemm with
 *    beta ≠ 0, on request).  A NULL gradient output pointer means "not
 *    wanted" and skips that computation.
 *  - Elementwise kernels allow the output to alias the input exactly (y == x,
 *    dx == dy); no other aliasing is allowed.
 *  - Labels are int32 class indices in 0..K-1.
 */
#ifndef HPRT_KERNELS_H
#define HPRT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hprt_base.h"
#include "hprt_rng.h"

/* ---- BLAS (blas.c) -------------------------------------------------------- */

/* C[M×N] = alpha·op(A)·op(B) + beta·C, all row-major, with op(X) = Xᵀ when the
 * trans flag is set.  op(A) is M×K and op(B) is K×N; lda/ldb/ldc are the row
 * strides of A, B, C as stored (so A stored is M×K, or K×M when transposed).
 * beta = 0 overwrites C (its old contents, even NaN, are ignored). */
void hprt_gemm(bool trans_a, bool trans_b, int M, int N, int K,
               float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);

/* Sets OpenBLAS's own thread count.  Set 1 when hpc's workers call hprt_gemm
 * concurrently: two thread pools on the same cores halve throughput
 * (docs/internals.md).  Affects the whole process (OpenBLAS has one pool). */
void hprt_blas_set_threads(int n);
/* hprt_gemm with int flags: the entry generated code calls. */
void hprt_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

/* ---- products against a packed right-hand side (gemm_pack.c) ------------- */

/* For a B used in many products (W_hh at every time step): pack op(B) once,
 * then C[M×N] = A[M×K]·op(B) + bias (a row of N; NULL: none) (+ C when
 * accumulate) reads the panels.  The
 * packed form takes hprt_pack_floats(N, K) floats (panels of HPRT_PACK_NR
 * columns, zero-padded).  hprt_pack_bt packs op(B) = Bᵀ of a B stored N×K
 * (row stride ldb); hprt_pack_b packs op(B) = B stored K×N.  The product is
 * AVX-512 code where the CPU has it (hprt_packed_fast()) and a plain loop
 * elsewhere, where callers should prefer hprt_gemm. */
#define HPRT_PACK_NR 32
size_t hprt_pack_floats(int N, int K);
void hprt_pack_bt(const float *B, int ldb, int N, int K, float *P);
void hprt_pack_b(const float *B, int ldb, int K, int N, float *P);
void hprt_gemm_packed(int M, int N, int K, const float *A, int lda, const float *P, const float *bias, bool accumulate,
                      float *C, int ldc);
bool hprt_packed_fast(void);

/* ---- the weight-gradient product (gemm_tn.c) ------------------------------ */

/* C_p[M×N_p] = Aᵀ·B_p for each part p (at most HPRT_TN_PARTS) sharing A,
 * stored K×M (row stride lda), with B_p stored K×N_p (ldb): for each part
 * hprt_gemm(true, false, M, N_p, K, 1, A, lda, B_p, ldb, 0, C_p, ldc) with
 * the same sums, bit for bit where OpenBLAS runs its SkylakeX/Cooperlake
 * kernels: K in the chunks hprt_gemm_tn_chunk gives (the length of the
 * chunk starting at k0), each summed from zero by fused multiply-adds in k
 * order and added to C in turn.  sums (NULL: not wanted) gets A's column
 * sums, Σ_k A[k][j] in k order from zero.  AVX-512 code for the parts where
 * hprt_gemm_tn_own(M, N_p, K) (the CPU has AVX-512 and M·N_p·K > 100³,
 * where OpenBLAS chunks K too) when work holds hprt_gemm_tn_floats(M,
 * parts, nparts) of its work_n floats (else a part at a time, in
 * hprt_gemm_tn_floats(M, part, 1)); OpenBLAS for the others and when work
 * is NULL or too small. */
#define HPRT_TN_PARTS 4
typedef struct {
    int N;
    const float *B;
    int ldb;
    float *C;
    int ldc;
} hprt_tn_part;
void hprt_gemm_tn(int M, int K, const float *A, int lda, const hprt_tn_part *parts, int nparts, float *sums,
                  float *work, size_t work_n);
size_t hprt_gemm_tn_floats(int M, const hprt_tn_part *parts, int nparts);
int hprt_gemm_tn_chunk(int K, int k0);
bool hprt_gemm_tn_own(int M, int N, int K);

/* ---- dense (layers_dense.c) ---------------------------------------------- */

/* Y[B×out] = X[B×in]·Wᵀ + b, with W stored [out×in] like torch.nn.Linear and b
 * [out] (NULL: no bias).  Y is overwritten. */
void hprt_dense_forward(const float *X, const float *W, const float *b, float *Y,
                        int B, int in, int out);

/* Given dY[B×out] = dL/dY, overwrites
 *   dX[B×in]   = dY·W        (NULL: skipped, e.g. for the first layer)
 *   dW[out×in] = dYᵀ·X       (NULL: skipped)
 *   db[out]    = Σ_rows dY   (NULL: skipped)
 * dW and db are overwritten, not accumulated: a caller that splits a batch
 * must sum the parts itself. */
void hprt_dense_backward(const float *X, const float *W, const float *dY,
                         float *dX, float *dW, float *db, int B, int in, int out);

/* ---- activations (layers_act.c) ------------------------------------------ */

/* The activation kinds, for code that treats them as data (hprt_act_forward). */
typedef enum {
    HPRT_ACT_NONE = 0, /* identity */
    HPRT_ACT_RELU,
    HPRT_ACT_TANH,
    HPRT_ACT_SIGMOID,
    HPRT_ACT_GELU,     /* exact: 0.5·x·(1 + erf(x/√2)), PyTorch's default */
    HPRT_ACT_SOFTMAX,  /* over each row of `cols` elements */
} hprt_act;

/* y = f(x) elementwise over n elements; y may alias x. */
void hprt_relu_forward(const float *x, float *y, size_t n);
void hprt_tanh_forward(const float *x, float *y, size_t n);
void hprt_sigmoid_forward(const float *x, float *y, size_t n);
void hprt_gelu_forward(const float *x, float *y, size_t n);

/* dx = dy·f'(·) elementwise; dx may alias dy.  Which forward value each needs:
 *   relu:    the OUTPUT y (dx = y <= 0 ? 0 : dy; the derivative at 0 is 0, as
 *            PyTorch; the input works equally since y > 0 iff x > 0)
 *   tanh:    the OUTPUT y (1 − y²)
 *   sigmoid: the OUTPUT y (y·(1 − y))
 *   gelu:    the INPUT x  (Φ(x) + x·φ(x)) */
void hprt_relu_backward(const float *y, const float *dy, float *dx, size_t n);
void hprt_tanh_backward(const float *y, const float *dy, float *dx, size_t n);
void hprt_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n);
void hprt_gelu_backward(const float *x, const float *dy, float *dx, size_t n);

/* Row-wise softmax of X[rows×cols], max-subtracted so it never overflows;
 * y may alias x. */
void hprt_softmax_forward(const float *x, float *y, int rows, int cols);
/* From the OUTPUT y: dx_i = y_i·(dy_i − Σ_j dy_j·y_j) per row; dx may alias dy. */
void hprt_softmax_backward(const float *y, const float *dy, float *dx, int rows, int cols);

/* Dispatch on kind over a [rows×cols] tensor (elementwise kinds ignore the
 * shape).  Backward is given both the input x and the output y of the forward
 * so the caller need not know which one a kind uses (the unused one may be
 * NULL when the caller does know). */
void hprt_act_forward(hprt_act kind, const float *x, float *y, int rows, int cols);
void hprt_act_backward(hprt_act kind, const float *x, const float *y,
                       const float *dy, float *dx, int rows, int cols);

/* ---- dropout (layers_act.c) ---------------------------------------------- */

/* Inverted dropout with a stateless mask (docs/internals.md, code generation): element i of a
 * dropout layer's activation at one training step is kept iff
 *     hprt_hash_u32(key, index) / 2^32 >= p,     key = hprt_dropout_key(seed, step, layer)
 * and kept elements are scaled by 1/(1 − p) (computed as 1.0f/(1.0f − p) in
 * float).  `index` is the element's flat row-major index in the layer's whole
 * activation tensor for that step ([B×n], or [T×B×n] for sequences), so any
 * thread can compute any part of the mask, and forward and backward agree
 * without storing it.  `step` is the 0-based optimizer step; `layer` is the
 * layer's position in the model (any number unique per dropout site).
 * The key is, with mix() the splitmix64 finaliser (the body of hprt_hash_u32):
 *     k = mix(seed ^ 0xD1B54A32D192ED03); k = mix(k + step); key = mix(k + layer)
 * Generated code calls this once per layer and step; only the keep test runs
 * per element. */
uint64_t hprt_dropout_key(uint64_t seed, uint64_t step, uint32_t layer);

/* The integer form of the keep test: keep iff hash >= threshold, where
 * threshold = ceil(p·2^32).  Exact: p·2^32 is exact in double for a float p,
 * and hash/2^32 >= p  <=>  hash >= p·2^32  <=>  hash >= ceil(p·2^32).
 * For 0 <= p < 1 it fits 32 bits; p = 0 keeps everything.  (p outside
 * [0, 1) is the checker's error; here it is merely clamped, never UB.) */
static inline uint32_t hprt_dropout_threshold(float p)
{
    if (!(p > 0.0f)) /* also NaN: never an out-of-range conversion */
        return 0;
    if (p >= 1.0f)
        return UINT32_MAX;
    double t = (double)p * 4294967296.0;
    uint32_t ti = (uint32_t)t;           /* floor, as t >= 0 */
    return (double)ti < t ? ti + 1 : ti; /* ceil */
}

/* The keep decision for one element; generated code must compute exactly this. */
static inline bool hprt_dropout_keep(uint64_t key, uint64_t index, float p)
{
    return hprt_hash_u32(key, index) >= hprt_dropout_threshold(p);
}

/* y[i] = keep(key, index0 + i) ? x[i]/(1−p) : 0 for i in [0, n).  index0 is the
 * flat index of x[0] in the layer's activation (0 unless x is a partition).
 * y may alias x. */
void hprt_dropout_forward(const float *x, float *y, size_t n, float p,
                          uint64_t key, uint64_t index0);
/* dx[i] = keep(key, index0 + i) ? dy[i]/(1−p) : 0; the same mask as forward.
 * dx may alias dy. */
void hprt_dropout_backward(const float *dy, float *dx, size_t n, float p,
                           uint64_t key, uint64_t index0);

/* ---- layer normalisation (layers_norm.c) --------------------------------- */

/* torch.nn.LayerNorm over rows of D floats: each row x of X[rows×D] becomes
 *   y = (x − mean)/√(var + eps)·w + b,  mean, var (biased) over the row,
 * with w, b [D].  Y is overwritten (it may be X). */
void hprt_layernorm_forward(const float *X, const float *w, const float *b, float *Y, int rows, int D, double eps);

/* Given dY[rows×D], overwrites
 *   dX[rows×D] (NULL: skipped)
 *   dw[D] = Σ_rows dY·x̂, db[D] = Σ_rows dY (NULL: skipped)
 * where x̂ = (x − mean)/√(var + eps) is recomputed from X. */
void hprt_layernorm_backward(const float *X, const float *w, const float *dY, float *dX, float *dw, float *db, int rows,
                             int D, double eps);

/* torch.nn.BatchNorm1d (S = 1) / BatchNorm2d (S = H·W) over X[N×C×S]: channel
 * c is normalised over its N·S values (biased variance), y = x̂·w[c] + b[c].
 * Training: with running (NULL: skipped; [2×C]: running_mean, running_var)
 * the running statistics move by momentum, the variance's unbiased
 * (n/(n − 1)), as torch does (not when N·S = 1).  Y may not alias X. */
void hprt_batchnorm_forward(const float *X, const float *w, const float *b, float *Y, int N, int C, int S, double eps,
                            float *running, double momentum);
/* Evaluation: the running statistics instead of the batch's. */
void hprt_batchnorm_forward_eval(const float *X, const float *w, const float *b, const float *running, float *Y, int N,
                                 int C, int S, double eps);
/* Given dY, overwrites dX (NULL: skipped), dw[C] = Σ dY·x̂ and db[C] = Σ dY
 * (NULL: skipped), the batch statistics recomputed from X. */
void hprt_batchnorm_backward(const float *X, const float *w, const float *dY, float *dX, float *dw, float *db, int N,
                             int C, int S, double eps);

/* ---- losses (loss.c) ------------------------------------------------------ */

/* Fused softmax + cross-entropy over logits[B×K] with labels[B] (PyTorch
 * CrossEntropyLoss, reduction='mean'): returns mean_b (logsumexp(z_b) − z_b,y).
 * dlogits (NULL: skipped) is overwritten with (softmax(z) − onehot(y))/B.
 * A label outside 0..K-1 gives NAN (and NAN gradient rows). */
double hprt_softmax_xent(const float *logits, const int32_t *labels, int B, int K,
                         float *dlogits);

/* Mean squared error over n elements (PyTorch MSELoss, reduction='mean'):
 * returns Σ(y − t)²/n; dy (NULL: skipped) is overwritten with 2(y − t)/n. */
double hprt_mse(const float *y, const float *target, size_t n, float *dy);

/* The same against onehot(labels) for y[B×K]: n = B·K.  A label outside
 * 0..K-1 gives NAN. */
double hprt_mse_onehot(const float *y, const int32_t *labels, int B, int K, float *dy);

/* How many rows b have argmax(scores_b) == labels[b]; ties go to the first
 * maximum, as torch.argmax. */
int hprt_accuracy_count(const float *scores, const int32_t *labels, int B, int K);

/* CrossEntropyLoss(weight = w, label_smoothing = eps), reduction 'mean', as
 * PyTorch computes it: with l_bj = −log softmax(z_b)_j,
 *   loss = Σ_b [(1 − eps)·w_y·l_by + eps/K·Σ_j w_j·l_bj] / Σ_b w_y
 * (w = NULL: all 1, so the denominator is B).  dlogits (NULL: skipped) gets
 * its gradient.  A label outside 0..K-1, or Σ_b w_y = 0, gives NAN. */
double hprt_softmax_xent_opts(const float *logits, const int32_t *labels, int B, int K, double eps, const float *w,
                              float *dlogits);

/* The element-wise losses against onehot(labels) for y[B×K], mean over the
 * B·K elements (K = 1: the label itself, 0 or 1, is the target):
 *   L1Loss      |d|                                  d = y − t
 *   HuberLoss   d²/2 if |d| < delta, else delta·(|d| − delta/2)
 *   BCEWithLogitsLoss   max(y, 0) − y·t + log(1 + exp(−|y|))
 * dy (NULL: skipped) gets the gradient (L1 at d = 0: 0, as torch.sign).  A
 * label outside the targets gives NAN. */
double hprt_mae_onehot(const float *y, const int32_t *labels, int B, int K, float *dy);
double hprt_huber_onehot(const float *y, const int32_t *labels, int B, int K, double delta, float *dy);
double hprt_bce_onehot(const float *y, const int32_t *labels, int B, int K, float *dy);

/* bce with multi-label targets: labels[b] is a bit set, bit j the 0/1 target
 * of y[b, j] (K ≤ 31); BCEWithLogitsLoss, mean over the B·K elements.  A
 * label with a bit at K or above (or negative) gives NAN. */
double hprt_bce_multi(const float *y, const int32_t *labels, int B, int K, float *dy);
/* Its accuracy's numerator (Keras' binary_accuracy): the (row, label) pairs
 * whose y > 0 (probability > 0.5) is the target bit; divide by B·K. */
long hprt_multi_correct(const float *y, const int32_t *labels, int B, int K);

/* bce's accuracy with one output: rows whose y > 0 (probability > 0.5) is the label 1. */
int hprt_binary_correct(const float *y, const int32_t *labels, int B);

/* sklearn's compute_class_weight('balanced'): w_c = n / (K · count_c) over
 * labels[n].  Returns -1, or the first class with no sample (w undefined). */
int hprt_class_weights_balanced(const int32_t *labels, long n, int K, float *w);

/* ---- 2-D convolution and pooling (layers_conv.c) ------------------------- */

/* One sample is CHW; a batch is B samples back to back ([B×C×H×W]).
 * The kernel is square (k×k) with the same stride in both directions.
 * `pad` zero rows/columns are added above and to the left; Ho/Wo decide how
 * many are (implicitly) added below and to the right, which lets `pad = same`
 * with an even kernel pad asymmetrically, as PyTorch and Keras do. */
typedef struct {
    int C, H, W;   /* input channels and size */
    int F;         /* filters (output channels) */
    int k, stride, pad;
    int Ho, Wo;    /* output size */
} hprt_conv2d_geom;

/* Fills a geometry with Ho = (H + pad_lo + pad_hi − k)/stride + 1 (floor), Wo
 * likewise, pad = pad_lo.  Ho/Wo <= 0 when the kernel does not fit. */
hprt_conv2d_geom hprt_conv2d_geom_make(int C, int H, int W, int F, int k,
                                       int stride, int pad_lo, int pad_hi);

/* Y[B×F×Ho×Wo] = W[F×C×k×k] ∗ X + b[F] (cross-correlation, as torch Conv2d);
 * b may be NULL.  Y is overwritten. */
void hprt_conv2d_forward(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                         const float *b, float *Y, int B);

/* Overwrites dX[B×C×H×W], dW[F×C×k×k], db[F] (each may be NULL to skip) from
 * dY[B×F×Ho×Wo]; dW and db are summed over the batch, not accumulated into. */
void hprt_conv2d_backward(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                          const float *dY, float *dX, float *dW, float *db, int B);

/* Fast convolution for training: per sample, im2col of X into `scratch`
 * [C·k·k × Ho·Wo] (the same zero padding, stride and asymmetric padding as the
 * reference), then hprt_gemm.  The exception to "sums in double" above: the
 * GEMMs accumulate in float, so results match the reference to float rounding
 * (~1e-6 relative for typical sizes), not bit for bit.
 *
 * Floats of scratch the fast functions need (one sample's im2col matrix,
 * C·k·k·Ho·Wo); 0 when the geometry has no output.  The caller allocates it
 * once per layer and may share it between layers that do not run
 * concurrently; its contents on entry and exit are meaningless. */
size_t hprt_conv2d_scratch(const hprt_conv2d_geom *g);

/* Same contract as hprt_conv2d_forward (Y[B×F×Ho×Wo] overwritten, b added
 * unless NULL), using `scratch` (hprt_conv2d_scratch(g) floats). */
void hprt_conv2d_forward_fast(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                              const float *b, float *Y, int B, float *scratch);

/* Same contract as hprt_conv2d_backward: dX[B×C×H×W], dW[F×C×k×k] and db[F]
 * (each may be NULL to skip) are OVERWRITTEN with the gradients, dW and db
 * summed over the B samples.  Uses `scratch` (hprt_conv2d_scratch(g) floats)
 * for the im2col matrix and then for its gradient. */
void hprt_conv2d_backward_fast(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                               const float *dY, float *dX, float *dW, float *db, int B,
                               float *scratch);

/* Winograd F(2×2, 3×3) (conv_wino.c): 3×3 kernels, stride 1, any padding,
 * channels and size (wino_fits).  The fast functions above take it where it
 * pays (wino_pays: at least 16 channels in and out) and hprt_conv2d_scratch
 * then covers it; the entries below run it for any fitting geometry, with
 * hprt_conv2d_wino_scratch(g) floats of scratch.  Same contracts as the
 * reference; the sums are reassociated (error bound in conv_wino.c). */
bool hprt_conv2d_wino_fits(const hprt_conv2d_geom *g);
bool hprt_conv2d_wino_pays(const hprt_conv2d_geom *g);
size_t hprt_conv2d_wino_scratch(const hprt_conv2d_geom *g);
void hprt_conv2d_forward_wino(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                              const float *b, float *Y, int B, float *scratch);
void hprt_conv2d_backward_wino(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                               const float *dY, float *dX, float *dW, float *db, int B,
                               float *scratch);

/* Pooling windows size×size moved by stride, no padding, floor mode (PyTorch
 * MaxPool2d/AvgPool2d defaults): Ho = (H − size)/stride + 1. */
typedef struct {
    int C, H, W;
    int size, stride;
    int Ho, Wo;
} hprt_pool2d_geom;

hprt_pool2d_geom hprt_pool2d_geom_make(int C, int H, int W, int size, int stride);

/* Y[B×C×Ho×Wo] overwritten. */
void hprt_maxpool2d_forward(const hprt_pool2d_geom *g, const float *X, float *Y, int B);
void hprt_avgpool2d_forward(const hprt_pool2d_geom *g, const float *X, float *Y, int B);

/* dX[B×C×H×W] overwritten.  Max pooling routes each dY to the first maximum of
 * its window in row-major order (recomputed from the INPUT X, as PyTorch
 * does); overlapping windows (stride < size) add up.  Average pooling spreads
 * dY/size² over the window and needs no forward value. */
void hprt_maxpool2d_backward(const hprt_pool2d_geom *g, const float *X, const float *dY,
                             float *dX, int B);
void hprt_avgpool2d_backward(const hprt_pool2d_geom *g, const float *dY, float *dX, int B);

/* Max pooling for training (pool_fast.c): the same contracts and results, bit
 * for bit, as hprt_maxpool2d_forward/backward; 2×2 windows with stride 2 run
 * a specialised loop, other geometries the reference. */
void hprt_maxpool2d_forward_fast(const hprt_pool2d_geom *g, const float *X, float *Y, int B);
void hprt_maxpool2d_backward_fast(const hprt_pool2d_geom *g, const float *X, const float *dY,
                                  float *dX, int B);

/* ---- a conv with its epilogue fused (layers_conv.c, conv_wino.c, pool_fast.c) -- */

/* What the conv's output loop applies after adding the bias, as flags:
 * HPRT_CONV_RELU the activation relu (y < 0 ? 0 : y, NaN kept), then
 * HPRT_CONV_POOL2 a 2×2, stride-2 max pool of the activated output (floor
 * mode: an odd last row/column is in no window).  Each plane is finished
 * while it is in cache; the results are bit for bit those of the unfused
 * chain (the fast conv, the activation's pass, hprt_maxpool2d_forward_fast),
 * because every element sees the same operations in the same order. */
enum { HPRT_CONV_RELU = 1, HPRT_CONV_POOL2 = 2, HPRT_CONV_BN = 4 };

/* Y[B×F×Ho×Wo] = act(conv(X) + b), and with HPRT_CONV_POOL2 also
 * P[B×F×(Ho/2)×(Wo/2)] = maxpool(Y) (P unused otherwise).  scratch as
 * hprt_conv2d_forward_fast; epi = 0 is hprt_conv2d_forward_fast. */
void hprt_conv2d_forward_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *b, float *Y,
                             float *P, int B, float *scratch, int epi);

/* The backward of that chain: dY[B×F×Ho×Wo] (the gradient before the
 * activation) is formed one sample at a time from the pool's output gradient
 * dP (with HPRT_CONV_POOL2: each window's first maximum in Y gets dP, the
 * others 0) or from dY itself (in place), times relu's mask (Y > 0) with
 * HPRT_CONV_RELU, and consumed at once by the conv's gradients (as
 * hprt_conv2d_backward_fast: dX, dW, db overwritten, each may be NULL).
 * Bit for bit the unfused chain's dY and gradients.  epi = 0 reads dY only. */
void hprt_conv2d_backward_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                              const float *dP, float *dY, float *dX, float *dW, float *db, int B, float *scratch,
                              int epi);

/* The per-plane pieces (pool_fast.c): a 2×2, stride-2 max pool of one H×W
 * plane x into y[(H/2)×(W/2)]; and its backward, dx[H×W] overwritten (the
 * winner gets dy, times relu's mask x > 0 when relu), bit for bit as
 * hprt_maxpool2d_*_fast (then hprt_relu's backward). */
void hprt_maxpool22_plane(const float *x, int H, int W, float *y);
void hprt_maxpool22_plane_backward(const float *x, int H, int W, const float *dy, float *dx, int relu);

/* One sample's dY[F×Ho×Wo] formed as hprt_conv2d_backward_epi describes, from
 * its Y and dP (layers_conv.c; conv_wino.c calls it per chunk). */
void hprt_conv2d_epi_dy(const hprt_conv2d_geom *g, int epi, const float *y, const float *dp, float *dy);

/* A conv whose output is a batchnorm's input (conv_bn.c; the generated
 * training step, compiler/layer_batchnorm.c).  Forward: Y and the bias as
 * hprt_conv2d_forward_fast, and per filter f the batchnorm's one-pass sums
 * over this call's samples, written to stats[3 × F] doubles: K[f] (the
 * shift: the first sample's first value of the plane), Σ(y − K), Σ(y − K)²
 * (all 0 when B = 0).  Backward with epi = HPRT_CONV_BN: each sample's dY is
 * the batchnorm's input gradient, formed per plane from Y (the batchnorm's
 * x), dP (the batchnorm's output gradient, [B×F×Ho×Wo]) and bn[5 × F]
 * doubles (mean, rstd, w·rstd, Σdy/n, Σ(dy·x̂)/n) and consumed at once, as
 * hprt_conv2d_backward_epi; other epi as hprt_conv2d_backward_epi (bn unused). */
void hprt_conv2d_forward_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *b, float *Y, int B,
                            float *scratch, double *stats);
void hprt_conv2d_backward_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                             const float *dP, float *dY, float *dX, float *dW, float *db, int B, float *scratch,
                             int epi, const double *bn);
/* The per-plane pieces: one plane's sums about *k (first: *k = y[0], the sums
 * restart); one plane's dx (channel f of F) from x, dy and bn as above. */
void hprt_bn_plane_stats(const float *y, size_t n, int first, double *k, double *s1, double *s2);
void hprt_bn_plane_dx(const float *x, const float *dy, size_t n, const double *bn, size_t F, size_t f, float *dx);
/* One sample's dY as hprt_conv2d_epi_dy, and with HPRT_CONV_BN from bn. */
void hprt_conv2d_epi_dy_bn(const hprt_conv2d_geom *g, int epi, const float *y, const float *dp, float *dy,
                           const double *bn);

/* Winograd with the epilogue (conv_wino.c): the same contracts. */
void hprt_conv2d_forward_wino_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *b, float *Y,
                                  float *P, int B, float *scratch, int epi);
void hprt_conv2d_backward_wino_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                                   const float *dP, float *dY, float *dX, float *dW, float *db, int B,
                                   float *scratch, int epi);
void hprt_conv2d_forward_wino_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *b, float *Y,
                                 int B, float *scratch, double *stats);
void hprt_conv2d_backward_wino_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                                  const float *dP, float *dY, float *dX, float *dW, float *db, int B, float *scratch,
                                  int epi, const double *bn);

/* ---- initialisation (init.c, docs/policies.md §12) ---------------------------- */

/* The `init =` of dense and conv. */
typedef enum {
    HPRT_INIT_DEFAULT = 0,    /* PyTorch: W, b ~ U(±1/√fan_in) */
    HPRT_INIT_XAVIER_UNIFORM, /* W ~ U(±√(6/(fan_in+fan_out))), b = 0 */
    HPRT_INIT_KAIMING_UNIFORM,/* He for relu: W ~ U(±√(6/fan_in)), b = 0 */
    HPRT_INIT_ZEROS,          /* W = 0, b = 0 */
} hprt_init_kind;

/* PyTorch's bound for Linear/Conv weights, computed its way
 * (kaiming_uniform_(a=√5): gain √(2/(1+5)), bound √3·gain/√fan_in), so that
 * fan_in = 1 gives 0.9999999999999999, not 1. */
double hprt_init_default_weight_bound(long fan_in);
/* 1/√fan_in: the default bias bound, and every bound of the recurrent layers
 * (with fan_in = hidden). */
double hprt_init_inv_sqrt(long n);

/* w[i] = lo + (hi − lo)·u, u uniform in [0,1) (torch.Tensor.uniform_), in order
 * i = 0..n−1; w[i] = mean + std·N(0,1). */
void hprt_init_uniform(hprt_rng *r, float *w, size_t n, double lo, double hi);
void hprt_init_normal(hprt_rng *r, float *w, size_t n, double mean, double std);

/* Dense W[out×in], b[out] (b may be NULL): fan_in = in, fan_out = out.  Draws
 * W first then b, like torch's reset_parameters. */
void hprt_init_dense(hprt_rng *r, hprt_init_kind kind, float *W, float *b, int in, int out);

/* Conv W[F×C×k×k], b[F] (b may be NULL): fan_in = C·k·k, fan_out = F·k·k. */
void hprt_init_conv(hprt_rng *r, hprt_init_kind kind, float *W, float *b, int C, int F, int k);

/* ---- embedded categorical CSV columns (`embed("city", 8)`, layers_catembed.c) ----
 * A row of the data holds, at position in_pos of each embedded column, its
 * category's id (1..n; 0 the unknown bucket; a value outside 1..n, a
 * fraction cut to its whole part, or NaN counts as 0).  The model's row is
 * the data row with each id replaced by the id's row of the column's table
 * (n + 1 rows of dim floats at w in the tables W), at out_pos; the other
 * values are copied in order.  Columns are in increasing in_pos. */
typedef struct {
    int in_pos, out_pos;
    int n, dim;
    long w;
} hprt_catembed_col;
typedef struct {
    int in_width, out_width;
    int n_cols;
    const hprt_catembed_col *cols;
} hprt_catembed_geom;

/* The table row of a stored id (0 for anything but 1..n). */
int hprt_catembed_id(float v, int n);
/* Y[rows × out_width] from X[rows × in_width]. */
void hprt_catembed_forward(const hprt_catembed_geom *g, const float *W, const float *X, int rows, float *Y);
/* dW (every table, zeroed first) = the sum over rows, in row order, of dY's
 * dim values of each column scattered into the row of its id (duplicate ids
 * accumulate). */
void hprt_catembed_backward(const hprt_catembed_geom *g, const float *X, const float *dY, int rows, float *dW);

/* Embedding E[vocab×dim] ~ N(0,1); row padding_idx (−1: none) is zeroed. */
void hprt_init_embedding(hprt_rng *r, float *E, int vocab, int dim, int padding_idx);

/* One tensor of an RNN/LSTM/GRU (any weight or bias) ~ U(±1/√hidden),
 * independent of the input size.  Call once per tensor in PyTorch's order
 * (weight_ih, weight_hh, bias_ih, bias_hh per layer). */
void hprt_init_recurrent(hprt_rng *r, float *p, size_t n, int hidden);

/* torch.nn.init.orthogonal_(W, gain) of a rows x cols matrix (row-major): a
 * Gaussian matrix (drawn row by row), transposed when rows < cols, its QR
 * with the signs of R's diagonal moved into Q (the unique Q with R's diagonal
 * positive), transposed back, times gain.  The rows (rows <= cols) or the
 * columns are orthonormal.  HPRT_E_RUN when out of memory. */
hprt_status hprt_init_orthogonal(hprt_rng *r, float *W, int rows, int cols, double gain);

#endif
