/* codegen_ir.c - the IR builder helpers (codegen_int.h). */
#include <string.h>

#include "codegen_int.h"

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
