/* codegen_ir.c - the IR kit (ir.h) and the IR builder helpers (codegen_int.h):
 * modules for a target, verification and optimisation, entry-block locals,
 * constants, loops, calls, and the math of the layers, for the JIT's modules
 * and the AOT object alike; and the back end's errors (cg_error.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "codegen_int.h"

/* ---- errors ---- */

static void vfail(cg_error *err, cg_err_class cls, const char *file, int line, const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->cls = cls;
    err->file = file;
    err->line = line;
    int at = file ? snprintf(err->msg, sizeof err->msg, "%s:%d: ", file, line) : 0;
    if (at < 0 || (size_t)at >= sizeof err->msg)
        at = 0;
    vsnprintf(err->msg + at, sizeof err->msg - (size_t)at, fmt, ap);
}

void cg_fail(cg_error *err, cg_err_class cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, cls, NULL, 0, fmt, ap);
    va_end(ap);
}

void cg_fail_at(cg_error *err, cg_err_class cls, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, cls, file, line, fmt, ap);
    va_end(ap);
}

const char *cg_err_class_name(cg_err_class cls)
{
    switch (cls) {
    case CG_OK: return "ok";
    case CG_E_USAGE: return "usage";
    case CG_E_LIMIT: return "limit";
    case CG_E_LLVM: return "llvm";
    case CG_E_IO: return "io";
    case CG_E_MEMORY: return "memory";
    }
    return "?";
}

/* ---- modules ---- */

LLVMModuleRef ir_module_new(LLVMContextRef ctx, const char *name, const ir_target *t, cg_error *err)
{
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext(name, ctx);
    if (!m) {
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return NULL;
    }
    LLVMSetTarget(m, t->triple);
    if (t->data_layout) {
        LLVMSetDataLayout(m, t->data_layout);
    } else {
        LLVMTargetDataRef td = LLVMCreateTargetDataLayout(t->tm);
        LLVMSetModuleDataLayout(m, td);
        LLVMDisposeTargetData(td);
    }
    return m;
}

int ir_optimize(LLVMModuleRef m, const ir_target *t, cg_error *err)
{
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        cg_fail(err, CG_E_LLVM, "the generated module is invalid (a bug in hpc): %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return -1;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    if (t->vectorize) {
        LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
        LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
        LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
    }
    LLVMErrorRef e = LLVMRunPasses(m, "default<O3>", t->tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    if (e) {
        char *why = LLVMGetErrorMessage(e); /* consumes e */
        cg_fail(err, CG_E_LLVM, "optimising: %s", why);
        LLVMDisposeErrorMessage(why);
        return -1;
    }
    return 0;
}

LLVMValueRef ir_alloca(LLVMBuilderRef b, LLVMTypeRef t, const char *name)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(LLVMGetTypeContext(t));
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first)
        LLVMPositionBuilderBefore(eb, first);
    else
        LLVMPositionBuilderAtEnd(eb, entry);
    LLVMValueRef v = LLVMBuildAlloca(eb, t, name);
    LLVMDisposeBuilder(eb);
    return v;
}

int cg_module_new(cg *g, LLVMContextRef ctx, const char *name, const ir_target *t, cg_error *err)
{
    g->ctx = ctx;
    if (!(g->mod = ir_module_new(ctx, name, t, err)))
        return -1;
    g->b = LLVMCreateBuilderInContext(ctx);
    g->t_void = LLVMVoidTypeInContext(ctx);
    g->t_i1 = LLVMInt1TypeInContext(ctx);
    g->t_i8 = LLVMInt8TypeInContext(ctx);
    g->t_i32 = LLVMInt32TypeInContext(ctx);
    g->t_i64 = LLVMInt64TypeInContext(ctx);
    g->t_f32 = LLVMFloatTypeInContext(ctx);
    g->t_f64 = LLVMDoubleTypeInContext(ctx);
    g->t_ptr = LLVMPointerTypeInContext(ctx, 0);
    return 0;
}

/* ---- constants, buffers, loops, calls ---- */

LLVMValueRef cg_i32(cg *g, long v) { return LLVMConstInt(g->t_i32, (unsigned long long)v, 1); }
LLVMValueRef cg_i64(cg *g, long v) { return LLVMConstInt(g->t_i64, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(cg *g, double v) { return LLVMConstReal(g->t_f32, (float)v); }
LLVMValueRef cg_f64(cg *g, double v) { return LLVMConstReal(g->t_f64, v); }

LLVMValueRef cg_buffer(cg *g, const char *name, long floats)
{
    LLVMValueRef gv = LLVMGetNamedGlobal(g->mod, name);
    if (gv)
        return gv;
    LLVMTypeRef t = LLVMArrayType2(g->t_f32, (uint64_t)(floats > 0 ? floats : 1));
    gv = LLVMAddGlobal(g->mod, t, name);
    LLVMSetLinkage(gv, LLVMExternalLinkage);
    LLVMSetAlignment(gv, 64);
    return gv;
}

LLVMValueRef cg_fptr(cg *g, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildInBoundsGEP2(g->b, g->t_f32, base, &idx, 1, "");
}

LLVMValueRef cg_load_f(cg *g, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildLoad2(g->b, g->t_f32, cg_fptr(g, base, idx), "");
}

void cg_store_f(cg *g, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx)
{
    LLVMBuildStore(g->b, v, cg_fptr(g, base, idx));
}

LLVMValueRef cg_io_field_ptr(cg *g, size_t offset)
{
    LLVMValueRef off = cg_i64(g, (long)offset);
    return LLVMBuildInBoundsGEP2(g->b, g->t_i8, g->io, &off, 1, "");
}

LLVMValueRef cg_io_field(cg *g, size_t offset, LLVMTypeRef t)
{
    return LLVMBuildLoad2(g->b, t, cg_io_field_ptr(g, offset), "");
}

void cg_for(cg *g, cg_loop *L, LLVMValueRef lo, LLVMValueRef hi)
{
    L->pre = LLVMGetInsertBlock(g->b);
    L->cond = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
    L->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
    L->after = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "after");
    LLVMBuildBr(g->b, L->cond);
    LLVMPositionBuilderAtEnd(g->b, L->cond);
    L->phi = LLVMBuildPhi(g->b, g->t_i64, "i");
    LLVMAddIncoming(L->phi, &lo, &L->pre, 1);
    LLVMValueRef c = LLVMBuildICmp(g->b, LLVMIntSLT, L->phi, hi, "");
    LLVMBuildCondBr(g->b, c, L->body, L->after);
    LLVMPositionBuilderAtEnd(g->b, L->body);
    L->i = L->phi;
}

void cg_end(cg *g, cg_loop *L)
{
    LLVMValueRef next = LLVMBuildAdd(g->b, L->phi, cg_i64(g, 1), "");
    LLVMSetNUW(next, 1);
    LLVMSetNSW(next, 1);
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
    LLVMBuildBr(g->b, L->cond);
    LLVMAddIncoming(L->phi, &next, &latch, 1);
    LLVMPositionBuilderAtEnd(g->b, L->after);
}

LLVMValueRef cg_call(cg *g, const char *name, LLVMTypeRef fnty, LLVMValueRef *args, unsigned n)
{
    LLVMValueRef f = LLVMGetNamedFunction(g->mod, name);
    if (!f)
        f = LLVMAddFunction(g->mod, name, fnty);
    return LLVMBuildCall2(g->b, fnty, f, args, n, "");
}

static LLVMValueRef intrinsic(cg *g, const char *name, LLVMValueRef *args, unsigned n)
{
    char full[64];
    snprintf(full, sizeof full, "llvm.%s", name);
    unsigned id = LLVMLookupIntrinsicID(full, strlen(full));
    LLVMTypeRef t = LLVMTypeOf(args[0]);
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->mod, id, &t, 1);
    LLVMTypeRef fnty = LLVMIntrinsicGetType(g->ctx, id, &t, 1);
    return LLVMBuildCall2(g->b, fnty, f, args, n, "");
}

LLVMValueRef cg_intrinsic1(cg *g, const char *name, LLVMValueRef x) { return intrinsic(g, name, &x, 1); }

LLVMValueRef cg_intrinsic2(cg *g, const char *name, LLVMValueRef x, LLVMValueRef y)
{
    LLVMValueRef a[2] = {x, y};
    return intrinsic(g, name, a, 2);
}

LLVMValueRef cg_intrinsic3(cg *g, const char *name, LLVMValueRef x, LLVMValueRef y, LLVMValueRef z)
{
    LLVMValueRef a[3] = {x, y, z};
    return intrinsic(g, name, a, 3);
}

void cg_partition_v(cg *g, LLVMValueRef n, LLVMValueRef *lo, LLVMValueRef *hi)
{
    LLVMValueRef T = cg_i64(g, g->threads);
    *lo = LLVMBuildSDiv(g->b, LLVMBuildMul(g->b, g->tid, n, ""), T, "lo");
    *hi = LLVMBuildSDiv(g->b, LLVMBuildMul(g->b, LLVMBuildAdd(g->b, g->tid, cg_i64(g, 1), ""), n, ""), T, "hi");
}

void cg_partition(cg *g, long n, LLVMValueRef *lo, LLVMValueRef *hi)
{
    /* lo = tid * n / T, hi = (tid + 1) * n / T: every item exactly once */
    LLVMValueRef T = cg_i64(g, g->threads);
    LLVMValueRef a = LLVMBuildMul(g->b, g->tid, cg_i64(g, n), "");
    LLVMValueRef b = LLVMBuildMul(g->b, LLVMBuildAdd(g->b, g->tid, cg_i64(g, 1), ""), cg_i64(g, n), "");
    *lo = LLVMBuildSDiv(g->b, a, T, "lo");
    *hi = LLVMBuildSDiv(g->b, b, T, "hi");
}

static LLVMTypeRef gemm_type(cg *g)
{
    /* void hprt_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
     *                 const float *B, int ldb, float beta, float *C, int ldc) */
    LLVMTypeRef p[13] = {g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_f32, g->t_ptr,
                         g->t_i32, g->t_ptr, g->t_i32, g->t_f32, g->t_ptr, g->t_i32};
    return LLVMFunctionType(g->t_void, p, 13, 0);
}

void cg_gemm_mn(cg *g, int ta, int tb, LLVMValueRef M, LLVMValueRef N, long K, LLVMValueRef A, long lda,
                LLVMValueRef B, long ldb, double beta, LLVMValueRef C, long ldc)
{
    LLVMValueRef args[13] = {
        cg_i32(g, ta), cg_i32(g, tb), LLVMBuildTrunc(g->b, M, g->t_i32, ""), LLVMBuildTrunc(g->b, N, g->t_i32, ""),
        cg_i32(g, K),  cg_f32(g, 1),  A, cg_i32(g, lda), B, cg_i32(g, ldb), cg_f32(g, beta), C, cg_i32(g, ldc)};
    cg_call(g, "hprt_sgemm", gemm_type(g), args, 13);
}

void cg_gemm(cg *g, int ta, int tb, LLVMValueRef M, long N, long K, LLVMValueRef A, long lda, LLVMValueRef B,
             long ldb, double beta, LLVMValueRef C, long ldc)
{
    cg_gemm_mn(g, ta, tb, M, cg_i64(g, N), K, A, lda, B, ldb, beta, C, ldc);
}

void cg_barrier(cg *g)
{
    if (g->threads <= 1)
        return;
    LLVMValueRef gv = LLVMGetNamedGlobal(g->mod, "hp_barrier");
    if (!gv) {
        gv = LLVMAddGlobal(g->mod, g->t_i8, "hp_barrier");
        LLVMSetLinkage(gv, LLVMExternalLinkage);
    }
    LLVMTypeRef p = g->t_ptr;
    LLVMTypeRef fnty = LLVMFunctionType(g->t_void, &p, 1, 0);
    cg_call(g, "hprt_barrier_wait", fnty, &gv, 1);
}

/* ---- the math of the layers ---- */

LLVMValueRef cg_fcall1(cg *g, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = g->t_f32;
    return cg_call(g, name, LLVMFunctionType(g->t_f32, &t, 1, 0), &x, 1);
}

LLVMValueRef cg_exp(cg *g, LLVMValueRef x) { return g->libm_exp ? cg_fcall1(g, "expf", x) : cg_intrinsic1(g, "exp", x); }

LLVMValueRef cg_act_forward(cg *g, plan_act a, LLVMValueRef x)
{
    switch (a) {
    case PLAN_ACT_RELU: /* NaN passes through, as in the reference and PyTorch */
        return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, x, cg_f32(g, 0), ""), cg_f32(g, 0), x, "");
    case PLAN_ACT_TANH:
        return cg_fcall1(g, "tanhf", x);
    case PLAN_ACT_SIGMOID:
        return fdiv(g, cg_f32(g, 1), fadd(g, cg_f32(g, 1), cg_exp(g, LLVMBuildFNeg(g->b, x, ""))));
    case PLAN_ACT_GELU: /* 0.5 x (1 + erf(x / sqrt 2)) */
        return fmul(g, fmul(g, cg_f32(g, 0.5), x),
                    fadd(g, cg_f32(g, 1), cg_fcall1(g, "erff", fmul(g, x, cg_f32(g, 0.70710678118654752)))));
    default:
        return x;
    }
}

LLVMValueRef cg_act_backward(cg *g, plan_act a, LLVMValueRef y, LLVMValueRef x, LLVMValueRef dy)
{
    switch (a) {
    case PLAN_ACT_RELU:
        return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, y, cg_f32(g, 0), ""), dy, cg_f32(g, 0), "");
    case PLAN_ACT_TANH:
        return fmul(g, dy, fsub(g, cg_f32(g, 1), fmul(g, y, y)));
    case PLAN_ACT_SIGMOID:
        return fmul(g, dy, fmul(g, y, fsub(g, cg_f32(g, 1), y)));
    case PLAN_ACT_GELU: { /* Phi(x) + x phi(x) */
        LLVMValueRef cdf = fmul(g, cg_f32(g, 0.5),
                                fadd(g, cg_f32(g, 1), cg_fcall1(g, "erff", fmul(g, x, cg_f32(g, 0.70710678118654752)))));
        LLVMValueRef pdf = fmul(g, cg_f32(g, 0.39894228040143268),
                                cg_exp(g, fmul(g, cg_f32(g, -0.5), fmul(g, x, x))));
        return fmul(g, dy, fadd(g, cdf, fmul(g, x, pdf)));
    }
    default:
        return dy;
    }
}

void cg_softmax_rows(cg *g, LLVMValueRef in, LLVMValueRef out, long U, LLVMValueRef r0, LLVMValueRef r1)
{
    cg_loop R, J;
    LLVMValueRef mx = ir_alloca(g->b, g->t_f32, "max"), sum = ir_alloca(g->b, g->t_f32, "sum");
    cg_for(g, &R, r0, r1);
    LLVMValueRef row = LLVMBuildMul(g->b, R.i, cg_i64(g, U), "");
    LLVMBuildStore(g->b, cg_load_f(g, in, row), mx);
    cg_for(g, &J, cg_i64(g, 1), cg_i64(g, U));
    LLVMValueRef v = cg_load_f(g, in, iadd(g, row, J.i));
    LLVMBuildStore(g->b, cg_intrinsic2(g, "maxnum", LLVMBuildLoad2(g->b, g->t_f32, mx, ""), v), mx);
    cg_end(g, &J);
    LLVMValueRef m = LLVMBuildLoad2(g->b, g->t_f32, mx, "");
    LLVMBuildStore(g->b, cg_f32(g, 0), sum);
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    LLVMValueRef ex = cg_exp(g, fsub(g, cg_load_f(g, in, iadd(g, row, J.i)), m));
    cg_store_f(g, ex, out, iadd(g, row, J.i));
    LLVMBuildStore(g->b, fadd(g, LLVMBuildLoad2(g->b, g->t_f32, sum, ""), ex), sum);
    cg_end(g, &J);
    LLVMValueRef inv = fdiv(g, cg_f32(g, 1), LLVMBuildLoad2(g->b, g->t_f32, sum, ""));
    cg_for(g, &J, cg_i64(g, 0), cg_i64(g, U));
    LLVMValueRef k = iadd(g, row, J.i);
    cg_store_f(g, fmul(g, cg_load_f(g, out, k), inv), out, k);
    cg_end(g, &J);
    cg_end(g, &R);
}
