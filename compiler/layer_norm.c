/* layer_norm.c - the IR of `layernorm`, shared by the training step
 * (codegen.c) and `hpc build` (aot.c).
 *
 * Rows of D floats, each normalised on its own as torch.nn.LayerNorm does
 * (biased variance, eps inside the square root), then scaled and shifted
 * feature by feature:
 *
 *   mean = Σx / D,  var = Σ(x − mean)² / D,  rstd = 1 / √(var + eps)
 *   x̂ = (x − mean)·rstd,  y = x̂·w + b
 *
 * The sums and the per-element arithmetic are in double and rounded once,
 * as in the reference kernels (runtime/layers_norm.c).  The forward pass
 * keeps mean and rstd per row for the backward pass:
 *
 *   dx = rstd·(g − Σg / D − x̂·Σ(g·x̂) / D), with g = dy·w
 *   dw = Σ_rows dy·x̂,  db = Σ_rows dy
 */
#include "codegen_int.h"

/* A double in the function's entry block (so that it is promoted to a register). */
static LLVMValueRef entry_f64(cg *g)
{
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(g->fn);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(g->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first)
        LLVMPositionBuilderBefore(b, first);
    else
        LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef v = LLVMBuildAlloca(b, g->t_f64, "");
    LLVMDisposeBuilder(b);
    return v;
}

static LLVMValueRef ext(cg *g, LLVMValueRef f) { return LLVMBuildFPExt(g->b, f, g->t_f64, ""); }
static LLVMValueRef trunc32(cg *g, LLVMValueRef d) { return LLVMBuildFPTrunc(g->b, d, g->t_f32, ""); }
static LLVMValueRef dadd(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(g->b, a, b, ""); }
static LLVMValueRef dsub(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(g->b, a, b, ""); }
static LLVMValueRef dmul(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(g->b, a, b, ""); }
static LLVMValueRef ld(cg *g, LLVMValueRef p) { return LLVMBuildLoad2(g->b, g->t_f64, p, ""); }
static LLVMValueRef at(cg *g, LLVMValueRef row, LLVMValueRef j) { return LLVMBuildAdd(g->b, row, j, ""); }

/* *acc += v */
static void accumulate(cg *g, LLVMValueRef acc, LLVMValueRef v) { LLVMBuildStore(g->b, dadd(g, ld(g, acc), v), acc); }

void cg_layernorm_forward(cg *g, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef B, LLVMValueRef stats,
                          long D, double eps, LLVMValueRef r0, LLVMValueRef r1)
{
    LLVMValueRef s1 = entry_f64(g), s2 = entry_f64(g);
    LLVMValueRef invD = cg_f64(g, 1.0 / (double)D);
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = LLVMBuildMul(g->b, R.i, cg_i64(g, D), "");
    LLVMBuildStore(g->b, cg_f64(g, 0), s1);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, D));
    accumulate(g, s1, ext(g, cg_load_f(g, X, at(g, row, J.i))));
    cg_end(g, &J);
    LLVMValueRef mean = dmul(g, ld(g, s1), invD);
    LLVMBuildStore(g->b, cg_f64(g, 0), s2);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, D));
    LLVMValueRef d = dsub(g, ext(g, cg_load_f(g, X, at(g, row, J.i))), mean);
    accumulate(g, s2, dmul(g, d, d));
    cg_end(g, &J);
    LLVMValueRef var = dmul(g, ld(g, s2), invD);
    LLVMValueRef rstd = LLVMBuildFDiv(g->b, cg_f64(g, 1), cg_intrinsic1(g, "sqrt", dadd(g, var, cg_f64(g, eps))), "");
    if (stats) {
        LLVMValueRef k = LLVMBuildMul(g->b, R.i, cg_i64(g, 2), "");
        cg_store_f(g, trunc32(g, mean), stats, k);
        cg_store_f(g, trunc32(g, rstd), stats, LLVMBuildAdd(g->b, k, cg_i64(g, 1), ""));
    }
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, D));
    LLVMValueRef k = at(g, row, J.i);
    LLVMValueRef xhat = dmul(g, dsub(g, ext(g, cg_load_f(g, X, k)), mean), rstd);
    LLVMValueRef y = dadd(g, dmul(g, xhat, ext(g, cg_load_f(g, W, J.i))), ext(g, cg_load_f(g, B, J.i)));
    cg_store_f(g, trunc32(g, y), Y, k);
    cg_end(g, &J);
    cg_end(g, &R);
}

/* mean and rstd of row r, as the forward pass kept them (doubles). */
static void row_stats(cg *g, LLVMValueRef stats, LLVMValueRef r, LLVMValueRef *mean, LLVMValueRef *rstd)
{
    LLVMValueRef k = LLVMBuildMul(g->b, r, cg_i64(g, 2), "");
    *mean = ext(g, cg_load_f(g, stats, k));
    *rstd = ext(g, cg_load_f(g, stats, LLVMBuildAdd(g->b, k, cg_i64(g, 1), "")));
}

void cg_layernorm_backward(cg *g, LLVMValueRef X, LLVMValueRef W, LLVMValueRef stats, LLVMValueRef dY, LLVMValueRef dX,
                           long D, LLVMValueRef r0, LLVMValueRef r1)
{
    LLVMValueRef s1 = entry_f64(g), s2 = entry_f64(g);
    LLVMValueRef invD = cg_f64(g, 1.0 / (double)D);
    cg_loop R, J;
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = LLVMBuildMul(g->b, R.i, cg_i64(g, D), "");
    LLVMValueRef mean, rstd;
    row_stats(g, stats, R.i, &mean, &rstd);
    LLVMBuildStore(g->b, cg_f64(g, 0), s1);
    LLVMBuildStore(g->b, cg_f64(g, 0), s2);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, D));
    LLVMValueRef k = at(g, row, J.i);
    LLVMValueRef gw = dmul(g, ext(g, cg_load_f(g, dY, k)), ext(g, cg_load_f(g, W, J.i)));
    LLVMValueRef xhat = dmul(g, dsub(g, ext(g, cg_load_f(g, X, k)), mean), rstd);
    accumulate(g, s1, gw);
    accumulate(g, s2, dmul(g, gw, xhat));
    cg_end(g, &J);
    LLVMValueRef m1 = dmul(g, ld(g, s1), invD), m2 = dmul(g, ld(g, s2), invD);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, D));
    k = at(g, row, J.i);
    gw = dmul(g, ext(g, cg_load_f(g, dY, k)), ext(g, cg_load_f(g, W, J.i)));
    xhat = dmul(g, dsub(g, ext(g, cg_load_f(g, X, k)), mean), rstd);
    LLVMValueRef dx = dmul(g, rstd, dsub(g, dsub(g, gw, m1), dmul(g, xhat, m2)));
    cg_store_f(g, trunc32(g, dx), dX, k);
    cg_end(g, &J);
    cg_end(g, &R);
}

void cg_layernorm_weight_grads(cg *g, LLVMValueRef X, LLVMValueRef stats, LLVMValueRef dY, LLVMValueRef dW,
                               LLVMValueRef dB, long D, long rows, LLVMValueRef j0, LLVMValueRef j1)
{
    LLVMValueRef sw = entry_f64(g), sb = entry_f64(g);
    cg_loop J, R;
    cg_for(g, &J, j0, j1);
    LLVMBuildStore(g->b, cg_f64(g, 0), sw);
    LLVMBuildStore(g->b, cg_f64(g, 0), sb);
    cg_for(g, &R, cg_i64(g, 0), cg_i64(g, rows));
    LLVMValueRef k = at(g, LLVMBuildMul(g->b, R.i, cg_i64(g, D), ""), J.i);
    LLVMValueRef mean, rstd;
    row_stats(g, stats, R.i, &mean, &rstd);
    LLVMValueRef dy = ext(g, cg_load_f(g, dY, k));
    accumulate(g, sw, dmul(g, dy, dmul(g, dsub(g, ext(g, cg_load_f(g, X, k)), mean), rstd)));
    accumulate(g, sb, dy);
    cg_end(g, &R);
    cg_store_f(g, trunc32(g, ld(g, sw)), dW, J.i);
    cg_store_f(g, trunc32(g, ld(g, sb)), dB, J.i);
    cg_end(g, &J);
}
