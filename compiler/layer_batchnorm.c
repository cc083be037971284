/* layer_batchnorm.c - the IR of `batchnorm`, for the training step and the
 * evaluation step (codegen.c); `hpc build` folds it (aot.c).
 *
 * torch.nn.BatchNorm1d after a vector of C features (S = 1) and BatchNorm2d
 * after an image of C channels of S = H·W values: every channel c is
 * normalised over all n = B·S of its values in the batch.
 *
 *   training:  mean = Σx / n,  var = Σ(x − mean)² / n (biased, from one pass:
 *              see "The statistics in one pass" below),
 *              rstd = 1/√(var + eps),  x̂ = (x − mean)·rstd,  y = x̂·w + b
 *              running_mean ← (1 − m)·running_mean + m·mean
 *              running_var  ← (1 − m)·running_var + m·var·n/(n − 1) (unbiased)
 *   evaluation: y = (x − running_mean)/√(running_var + eps)·w + b
 *   backward:  dx = w·rstd·(dy − Σdy/n − x̂·Σ(dy·x̂)/n),  dw = Σ dy·x̂,  db = Σ dy
 *
 * The batch is split over the threads by rows, so every sum over the batch
 * is a sum of the threads' partial sums: each thread writes its partials
 * (doubles) to its block of the layer's `norm` buffer, meets the others at
 * the barrier, and adds up every thread's partials in thread order (every
 * thread gets the same totals and keeps its own copy of the statistics, so
 * no thread writes what another reads).  The forward pass takes one
 * barrier, the backward pass one (Σdy and Σdy·x̂, which are also db and dw:
 * the weight phase sums the same partials for its channels).
 *
 * The statistics in one pass.  Each thread sums, per channel, d = x − K_t
 * and d² in double about a shift K_t = the channel's first value in the
 * thread's rows (n_t values); at the barrier every thread combines the
 * threads' (n_t, K_t, S1_t, S2_t) in thread order as Chan et al. do:
 * mean_t = K_t + S1_t/n_t, M2_t = S2_t − S1_t·(S1_t/n_t) = Σ(x − mean_t)²,
 * mean = Σ n_t·mean_t / n, var = max(0, Σ (M2_t + n_t·(mean_t − mean)²) / n).
 * x − K of two floats is exact in double and d² and the sums round at 2^-53,
 * so S1, S2 carry relative errors of at most about n_t·2^-53 (the vector
 * partial sums make it √n_t in practice), and the subtraction cancels a
 * factor 1 + (mean_t − K_t)²/var_t of them: with K_t a value of the channel
 * that factor is 1 + z² for z the z-score of that value (≈ 1–25), not
 * (mean/std)² as with K = 0, so a channel with mean 10⁴·std loses nothing
 * visible (the error, < 1e-9 of var for n_t = 10⁵ and z ≤ 5, is far below
 * the float the result is rounded to).  When the input is a conv's output in
 * the training step (cg_batchnorm_fused), the conv's kernel accumulates these
 * sums plane by plane while the plane is in L1 (hprt_conv2d_forward_bn), and
 * the batchnorm's backward leaves its dx pass to the conv's backward, which
 * forms its dY from the batchnorm's dy and the coefficients below
 * (hprt_conv2d_backward_bn): the normalising pass is the batchnorm's only
 * pass over its input forward, the summing pass the only one backward.  The running statistics are updated in the
 * weight phase, after the NaN guard, channel range by channel range; they
 * live in the parameter arena (so checkpoints, best weights and predict
 * carry them) but in no range the optimizer updates.  The arithmetic is in
 * double, rounded once, as in the reference kernels (runtime/layers_norm.c).
 */
#include "codegen_int.h"

#include <llvm/Config/llvm-config.h>

/* A thread's block: BN__N arrays of C doubles.  K, S1, S2 in this order are
 * what hprt_conv2d_forward_bn writes; MEAN, RSTD, WR (w·rstd), M1 (Σdy/n),
 * M2 (Σdy·x̂/n) in this order what hprt_conv2d_backward_bn reads.  N: the
 * thread's count of values a channel (every c the same). */
enum { BN_K, BN_S1, BN_S2, BN_MEAN, BN_RSTD, BN_WR, BN_M1, BN_M2, BN_VAR, BN_N, BN_G1, BN_G2, BN__N };

long cg_batchnorm_stats_floats(int threads, long C) { return (long)threads * BN__N * C * 2; }

static LLVMValueRef ext(cg *g, LLVMValueRef f) { return LLVMBuildFPExt(g->b, f, g->t_f64, ""); }
static LLVMValueRef trunc32(cg *g, LLVMValueRef d) { return LLVMBuildFPTrunc(g->b, d, g->t_f32, ""); }
static LLVMValueRef imul(cg *g, LLVMValueRef a, long b) { return LLVMBuildMul(g->b, a, cg_i64(g, b), ""); }

/* &stats[thread t's array `which`][c], a double */
static LLVMValueRef slot(cg *g, LLVMValueRef stats, LLVMValueRef t, int which, long C, LLVMValueRef c)
{
    LLVMValueRef idx = iadd(g, iadd(g, imul(g, t, BN__N * C), cg_i64(g, (long)which * C)), c);
    return LLVMBuildInBoundsGEP2(g->b, g->t_f64, stats, &idx, 1, "");
}
static LLVMValueRef mine(cg *g, LLVMValueRef stats, int which, long C, LLVMValueRef c)
{
    return slot(g, stats, g->tid, which, C, c);
}
static LLVMValueRef ld(cg *g, LLVMValueRef p) { return LLVMBuildLoad2(g->b, g->t_f64, p, ""); }

LLVMValueRef cg_batchnorm_sums(cg *g, LLVMValueRef stats, long C) { return mine(g, stats, BN_K, C, cg_i64(g, 0)); }
LLVMValueRef cg_batchnorm_dx_coefs(cg *g, LLVMValueRef stats, long C)
{
    return mine(g, stats, BN_MEAN, C, cg_i64(g, 0));
}

/* Σ over the threads, in thread order, of array `which` at c. */
static LLVMValueRef total(cg *g, LLVMValueRef stats, int which, long C, LLVMValueRef c)
{
    LLVMValueRef s = ld(g, slot(g, stats, cg_i64(g, 0), which, C, c));
    for (int t = 1; t < g->threads; t++)
        s = fadd(g, s, ld(g, slot(g, stats, cg_i64(g, t), which, C, c)));
    return s;
}

/* Zero the thread's arrays a (and b, unless negative). */
static void zero(cg *g, LLVMValueRef stats, int a, int b, long C)
{
    cg_loop J;
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, C));
    LLVMBuildStore(g->b, cg_f64(g, 0), mine(g, stats, a, C, J.i));
    if (b >= 0)
        LLVMBuildStore(g->b, cg_f64(g, 0), mine(g, stats, b, C, J.i));
    cg_end(g, &J);
}

/* Rows [r0, r1) of [C x S] values each: the loops, with the channel, the
 * plane (row, channel) and the flat index. */
typedef struct {
    cg_loop R, Ch, Sp;
    LLVMValueRef c, plane, k;
} bn_iter;

/* The row and channel loops; then iter_values for the plane's values. */
static void iter_planes(cg *g, bn_iter *it, LLVMValueRef r0, LLVMValueRef r1, long C)
{
    cg_for(g, &it->R, r0, r1);
    cg_for(g, &it->Ch, cg_i64(g, 0), cg_i64(g, C));
    it->c = it->Ch.i;
    it->plane = iadd(g, imul(g, it->R.i, C), it->Ch.i);
}

static void iter_values(cg *g, bn_iter *it, long S)
{
    cg_for(g, &it->Sp, cg_i64(g, 0), cg_i64(g, S));
    it->k = iadd(g, imul(g, it->plane, S), it->Sp.i);
}

static void iter_begin(cg *g, bn_iter *it, LLVMValueRef r0, LLVMValueRef r1, long C, long S)
{
    iter_planes(g, it, r0, r1, C);
    iter_values(g, it, S);
}

static void iter_end_values(cg *g, bn_iter *it) { cg_end(g, &it->Sp); }

static void iter_end_planes(cg *g, bn_iter *it)
{
    cg_end(g, &it->Ch);
    cg_end(g, &it->R);
}

static void iter_end(cg *g, bn_iter *it)
{
    iter_end_values(g, it);
    iter_end_planes(g, it);
}

/* The output y (float) of element k: with a fused relu only relu's output
 * (cg_act_forward: the relu layer's own operation), since the relu is y's
 * only reader and the backward reads relu's output, never y; else y. */
static void store_y(cg *g, LLVMValueRef Y, const cg_bn_epi *epi, LLVMValueRef y, LLVMValueRef k)
{
    if (epi && epi->Ya)
        cg_store_f(g, cg_act_forward(g, PLAN_ACT_RELU, y), epi->Ya, k);
    else
        cg_store_f(g, y, Y, k);
}

/* After a plane's values: the fused max pool of relu's output plane, in L1. */
static void pool_plane(cg *g, const bn_iter *it, const cg_bn_epi *epi, long S)
{
    if (!epi || !epi->P)
        return;
    long pp = (epi->H / 2) * (epi->W / 2);
    LLVMTypeRef p[4] = {g->t_ptr, g->t_i32, g->t_i32, g->t_ptr};
    LLVMValueRef a[4] = {cg_fptr(g, epi->Ya, imul(g, it->plane, S)), cg_i32(g, epi->H), cg_i32(g, epi->W),
                         cg_fptr(g, epi->P, imul(g, it->plane, pp))};
    cg_call(g, "hprt_maxpool22_plane", LLVMFunctionType(g->t_void, p, 4, 0), a, 4);
}

/* *p += v, a term of a sum over the thread's rows that may be reassociated:
 * the add carries `reassoc`, so LLVM keeps several partial sums (vectors of
 * doubles) instead of one chain of dependent adds, which took about 4 cycles
 * a value.  The sums are in double of float terms, so the order changes
 * them by a few units of 2^-53, far below the float they are rounded to. */
static void acc(cg *g, LLVMValueRef p, LLVMValueRef v)
{
    LLVMValueRef s = fadd(g, ld(g, p), v);
#if LLVM_VERSION_MAJOR >= 18
    LLVMSetFastMathFlags(s, LLVMFastMathAllowReassoc);
#endif
    LLVMBuildStore(g->b, s, p);
}

/* A plane's channel's numbers, loaded before its values' loop: the loop then
 * reads no stats slot, so nothing in it may alias the sums it keeps (LLVM
 * could not always tell the slots apart, and then kept every sum in memory,
 * one value at a time). */
typedef struct {
    LLVMValueRef mean, rstd;
} bn_chan;

static bn_chan chan_of(cg *g, LLVMValueRef stats, long C, LLVMValueRef c)
{
    bn_chan ch = {ld(g, mine(g, stats, BN_MEAN, C, c)), ld(g, mine(g, stats, BN_RSTD, C, c))};
    return ch;
}

/* x̂ of element k of the channel, from the thread's statistics */
static LLVMValueRef xhat_of(cg *g, LLVMValueRef X, const bn_chan *ch, LLVMValueRef k)
{
    return fmul(g, fsub(g, ext(g, cg_load_f(g, X, k)), ch->mean), ch->rstd);
}

/* A plane's two sums, in registers (allocas): zeroed before its values... */
static void sums_begin(cg *g, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuildStore(g->b, cg_f64(g, 0), a);
    LLVMBuildStore(g->b, cg_f64(g, 0), b);
}

/* ...and added to the thread's arrays wa, wb at c after them */
static void sums_end(cg *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef stats, int wa, int wb, long C, LLVMValueRef c)
{
    LLVMValueRef pa = mine(g, stats, wa, C, c), pb = mine(g, stats, wb, C, c);
    LLVMBuildStore(g->b, fadd(g, ld(g, pa), ld(g, a)), pa);
    LLVMBuildStore(g->b, fadd(g, ld(g, pb), ld(g, b)), pb);
}

/* Thread t's mean_t = K_t + S1_t/n_t (K_t for no values) and its n_t, at c. */
static LLVMValueRef thread_mean(cg *g, LLVMValueRef stats, LLVMValueRef t, long C, LLVMValueRef c, LLVMValueRef *nt,
                                LLVMValueRef *s1, LLVMValueRef *d)
{
    *nt = ld(g, slot(g, stats, t, BN_N, C, c));
    LLVMValueRef some = LLVMBuildFCmp(g->b, LLVMRealOGT, *nt, cg_f64(g, 0), "");
    *s1 = ld(g, slot(g, stats, t, BN_S1, C, c));
    *d = LLVMBuildFDiv(g->b, *s1, LLVMBuildSelect(g->b, some, *nt, cg_f64(g, 1), ""), "");
    return fadd(g, ld(g, slot(g, stats, t, BN_K, C, c)), *d);
}

void cg_batchnorm_forward_train(cg *g, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef B,
                                LLVMValueRef stats, long C, long S, long n, double eps, const cg_bn_epi *epi,
                                bool fused, LLVMValueRef r0, LLVMValueRef r1)
{
    cg_loop J;
    bn_iter it;
    LLVMValueRef inv_n = cg_f64(g, 1.0 / (double)n);
    /* the thread's count, and unless the conv before summed them, its sums about K */
    LLVMValueRef nt = LLVMBuildUIToFP(g->b, imul(g, isub(g, r1, r0), S), g->t_f64, "");
    if (!fused) { /* K: the first row's value (row 0's when the thread has none: any finite K would do) */
        LLVMValueRef row0 = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntULT, r0, r1, ""), r0, cg_i64(g, 0), "");
        cg_for(g, &J, cg_i64(g, 0), cg_i64(g, C));
        LLVMValueRef k0 = imul(g, iadd(g, imul(g, row0, C), J.i), S);
        LLVMBuildStore(g->b, ext(g, cg_load_f(g, X, k0)), mine(g, stats, BN_K, C, J.i));
        cg_end(g, &J);
        zero(g, stats, BN_S1, BN_S2, C);
        LLVMValueRef sa = ir_alloca(g->b, g->t_f64, ""), sb = ir_alloca(g->b, g->t_f64, "");
        iter_planes(g, &it, r0, r1, C);
        LLVMValueRef K = ld(g, mine(g, stats, BN_K, C, it.c));
        sums_begin(g, sa, sb);
        iter_values(g, &it, S);
        LLVMValueRef d = fsub(g, ext(g, cg_load_f(g, X, it.k)), K);
        acc(g, sa, d);
        acc(g, sb, fmul(g, d, d));
        iter_end_values(g, &it);
        sums_end(g, sa, sb, stats, BN_S1, BN_S2, C, it.c);
        iter_end_planes(g, &it);
    }
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, C));
    LLVMBuildStore(g->b, nt, mine(g, stats, BN_N, C, J.i));
    cg_end(g, &J);
    cg_barrier(g);
    /* the threads' sums combined in thread order (Chan et al.) */
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, C));
    LLVMValueRef msum = NULL, m2 = NULL, tn, ts1, td;
    for (int t = 0; t < g->threads; t++) {
        LLVMValueRef mt = thread_mean(g, stats, cg_i64(g, t), C, J.i, &tn, &ts1, &td);
        LLVMValueRef v = fmul(g, tn, mt);
        msum = msum ? fadd(g, msum, v) : v;
    }
    LLVMValueRef mean = fmul(g, msum, inv_n);
    LLVMBuildStore(g->b, mean, mine(g, stats, BN_MEAN, C, J.i));
    for (int t = 0; t < g->threads; t++) {
        LLVMValueRef mt = thread_mean(g, stats, cg_i64(g, t), C, J.i, &tn, &ts1, &td);
        LLVMValueRef m2t = fsub(g, ld(g, slot(g, stats, cg_i64(g, t), BN_S2, C, J.i)), fmul(g, ts1, td));
        LLVMValueRef dm = fsub(g, mt, mean);
        LLVMValueRef v = fadd(g, m2t, fmul(g, tn, fmul(g, dm, dm)));
        m2 = m2 ? fadd(g, m2, v) : v;
    }
    LLVMValueRef var = fmul(g, m2, inv_n);
    var = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, var, cg_f64(g, 0), ""), cg_f64(g, 0), var, "");
    LLVMBuildStore(g->b, var, mine(g, stats, BN_VAR, C, J.i));
    LLVMValueRef rstd = LLVMBuildFDiv(g->b, cg_f64(g, 1), cg_intrinsic1(g, "sqrt", fadd(g, var, cg_f64(g, eps))), "");
    LLVMBuildStore(g->b, rstd, mine(g, stats, BN_RSTD, C, J.i));
    cg_end(g, &J);
    /* y = x̂·w + b (then the fused relu and max pool) */
    iter_planes(g, &it, r0, r1, C);
    bn_chan ch = chan_of(g, stats, C, it.c);
    LLVMValueRef w = ext(g, cg_load_f(g, W, it.c)), b = ext(g, cg_load_f(g, B, it.c));
    iter_values(g, &it, S);
    LLVMValueRef y = fadd(g, fmul(g, xhat_of(g, X, &ch, it.k), w), b);
    store_y(g, Y, epi, trunc32(g, y), it.k);
    iter_end_values(g, &it);
    pool_plane(g, &it, epi, S);
    iter_end_planes(g, &it);
}

void cg_batchnorm_forward_eval(cg *g, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef B,
                               LLVMValueRef running, long C, long S, double eps, const cg_bn_epi *epi,
                               LLVMValueRef r0, LLVMValueRef r1)
{
    bn_iter it;
    iter_begin(g, &it, r0, r1, C, S);
    LLVMValueRef rm = ext(g, cg_load_f(g, running, it.c));
    LLVMValueRef rv = ext(g, cg_load_f(g, running, iadd(g, it.c, cg_i64(g, C))));
    LLVMValueRef rstd = LLVMBuildFDiv(g->b, cg_f64(g, 1), cg_intrinsic1(g, "sqrt", fadd(g, rv, cg_f64(g, eps))), "");
    LLVMValueRef xhat = fmul(g, fsub(g, ext(g, cg_load_f(g, X, it.k)), rm), rstd);
    LLVMValueRef y = fadd(g, fmul(g, xhat, ext(g, cg_load_f(g, W, it.c))), ext(g, cg_load_f(g, B, it.c)));
    store_y(g, Y, epi, trunc32(g, y), it.k);
    iter_end_values(g, &it);
    pool_plane(g, &it, epi, S);
    iter_end_planes(g, &it);
}

void cg_batchnorm_backward(cg *g, LLVMValueRef X, LLVMValueRef W, LLVMValueRef stats, LLVMValueRef dY,
                           LLVMValueRef dX, long C, long S, long n, const cg_bn_epi *epi, bool fused,
                           LLVMValueRef r0, LLVMValueRef r1)
{
    cg_loop J;
    bn_iter it;
    zero(g, stats, BN_G1, BN_G2, C);
    LLVMValueRef sa = ir_alloca(g->b, g->t_f64, ""), sb = ir_alloca(g->b, g->t_f64, "");
    iter_planes(g, &it, r0, r1, C);
    bn_chan ch = chan_of(g, stats, C, it.c);
    sums_begin(g, sa, sb);
    if (epi && epi->dP) { /* the pool's and relu's backward into the plane of dY, in L1 for the sums */
        long pp = (epi->H / 2) * (epi->W / 2);
        LLVMTypeRef p[6] = {g->t_ptr, g->t_i32, g->t_i32, g->t_ptr, g->t_ptr, g->t_i32};
        LLVMValueRef a[6] = {cg_fptr(g, epi->Ya, imul(g, it.plane, S)), cg_i32(g, epi->H), cg_i32(g, epi->W),
                             cg_fptr(g, epi->dP, imul(g, it.plane, pp)), cg_fptr(g, dY, imul(g, it.plane, S)),
                             cg_i32(g, 1)};
        cg_call(g, "hprt_maxpool22_plane_backward", LLVMFunctionType(g->t_void, p, 6, 0), a, 6);
    }
    iter_values(g, &it, S);
    LLVMValueRef dy32;
    if (epi && epi->Ya && !epi->dP) { /* relu's backward (cg_act_backward), stored for the second pass */
        dy32 = cg_act_backward(g, PLAN_ACT_RELU, cg_load_f(g, epi->Ya, it.k), NULL, cg_load_f(g, epi->dYa, it.k));
        cg_store_f(g, dy32, dY, it.k);
    } else
        dy32 = cg_load_f(g, dY, it.k);
    LLVMValueRef dy = ext(g, dy32);
    acc(g, sa, dy);
    acc(g, sb, fmul(g, dy, xhat_of(g, X, &ch, it.k)));
    iter_end_values(g, &it);
    sums_end(g, sa, sb, stats, BN_G1, BN_G2, C, it.c);
    iter_end_planes(g, &it);
    cg_barrier(g);
    if (!dX)
        return;
    /* the totals over the batch, divided by n, and w·rstd, in the thread's own
     * block: the coefficients of dx (hprt_conv2d_backward_bn reads them) */
    LLVMValueRef inv_n = cg_f64(g, 1.0 / (double)n);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, C));
    LLVMBuildStore(g->b, fmul(g, total(g, stats, BN_G1, C, J.i), inv_n), mine(g, stats, BN_M1, C, J.i));
    LLVMBuildStore(g->b, fmul(g, total(g, stats, BN_G2, C, J.i), inv_n), mine(g, stats, BN_M2, C, J.i));
    LLVMBuildStore(g->b, fmul(g, ext(g, cg_load_f(g, W, J.i)), ld(g, mine(g, stats, BN_RSTD, C, J.i))),
                   mine(g, stats, BN_WR, C, J.i));
    cg_end(g, &J);
    if (fused)
        return; /* the conv's backward forms dx as it forms its dY */
    iter_planes(g, &it, r0, r1, C);
    ch = chan_of(g, stats, C, it.c);
    LLVMValueRef wr = ld(g, mine(g, stats, BN_WR, C, it.c)), m1 = ld(g, mine(g, stats, BN_M1, C, it.c)),
                 m2 = ld(g, mine(g, stats, BN_M2, C, it.c));
    iter_values(g, &it, S);
    LLVMValueRef inner = fsub(g, fsub(g, ext(g, cg_load_f(g, dY, it.k)), m1), fmul(g, xhat_of(g, X, &ch, it.k), m2));
    cg_store_f(g, trunc32(g, fmul(g, wr, inner)), dX, it.k);
    iter_end(g, &it);
}

void cg_batchnorm_weight_phase(cg *g, LLVMValueRef stats, LLVMValueRef dW, LLVMValueRef dB, LLVMValueRef running,
                               long C, long n, double momentum, LLVMValueRef j0, LLVMValueRef j1)
{
    cg_loop J;
    cg_for(g, &J, j0, j1);
    cg_store_f(g, trunc32(g, total(g, stats, BN_G2, C, J.i)), dW, J.i);
    cg_store_f(g, trunc32(g, total(g, stats, BN_G1, C, J.i)), dB, J.i);
    LLVMValueRef keep = cg_f64(g, 1.0 - momentum), m = cg_f64(g, momentum);
    LLVMValueRef vi = iadd(g, J.i, cg_i64(g, C));
    LLVMValueRef rm = fadd(g, fmul(g, keep, ext(g, cg_load_f(g, running, J.i))),
                            fmul(g, m, ld(g, mine(g, stats, BN_MEAN, C, J.i))));
    LLVMValueRef unbiased = fmul(g, ld(g, mine(g, stats, BN_VAR, C, J.i)), cg_f64(g, (double)n / (double)(n - 1)));
    LLVMValueRef rv = fadd(g, fmul(g, keep, ext(g, cg_load_f(g, running, vi))), fmul(g, m, unbiased));
    cg_store_f(g, trunc32(g, rm), running, J.i);
    cg_store_f(g, trunc32(g, rv), running, vi);
    cg_end(g, &J);
}
