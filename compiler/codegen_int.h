/* codegen_int.h - the IR builder shared by codegen*.c.
 *
 * A thin layer over the LLVM-C builder: typed constants, the experiment's
 * buffers as globals, counted loops, calls to the runtime.  Opaque pointers
 * throughout: every load and GEP names its element type.
 */
#ifndef HP_CODEGEN_INT_H
#define HP_CODEGEN_INT_H

#include <llvm-c/Core.h>

#include "codegen.h"
#include "ir.h"

typedef struct {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
    LLVMValueRef fn;  /* the function being emitted */
    LLVMValueRef io;  /* its hprt_step_io* */
    LLVMValueRef tid; /* its thread index (i64) */
    const plan_experiment *e;
    const cg_layout *l;
    int threads;
    int acc_floats; /* hpc build: floats of accumulators the target's vector registers hold */
    bool libm_exp;  /* exp as calls to libm's expf (hpc build's object) rather than llvm.exp */
} cg;

typedef struct {
    LLVMBasicBlockRef cond, body, after, pre;
    LLVMValueRef phi;
    LLVMValueRef i; /* the induction variable (i64) inside the body */
} cg_loop;

LLVMValueRef cg_i32(cg *g, long v);
LLVMValueRef cg_i64(cg *g, long v);
LLVMValueRef cg_f32(cg *g, double v);
LLVMValueRef cg_f64(cg *g, double v);

/* An external buffer of the experiment, as a distinct global (so it aliases nothing else). */
LLVMValueRef cg_buffer(cg *g, const char *name, long floats);
/* &base[idx] for float elements. */
LLVMValueRef cg_fptr(cg *g, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_load_f(cg *g, LLVMValueRef base, LLVMValueRef idx);
void cg_store_f(cg *g, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
/* A field of the io struct at a byte offset, of type t. */
LLVMValueRef cg_io_field(cg *g, size_t offset, LLVMTypeRef t);
LLVMValueRef cg_io_field_ptr(cg *g, size_t offset);

void cg_for(cg *g, cg_loop *L, LLVMValueRef lo, LLVMValueRef hi);
void cg_end(cg *g, cg_loop *L);

/* A call to a function by name, declared on first use with the given type. */
LLVMValueRef cg_call(cg *g, const char *name, LLVMTypeRef fnty, LLVMValueRef *args, unsigned n);
/* llvm.NAME.f32 intrinsics: sqrt, exp, log, maxnum, fabs. */
LLVMValueRef cg_intrinsic1(cg *g, const char *name, LLVMValueRef x);
LLVMValueRef cg_intrinsic2(cg *g, const char *name, LLVMValueRef x, LLVMValueRef y);
LLVMValueRef cg_intrinsic3(cg *g, const char *name, LLVMValueRef x, LLVMValueRef y, LLVMValueRef z);

/* [lo, hi) of the part `tid` of n items split over the threads. */
void cg_partition(cg *g, long n, LLVMValueRef *lo, LLVMValueRef *hi);
void cg_partition_v(cg *g, LLVMValueRef n, LLVMValueRef *lo, LLVMValueRef *hi);

/* C = alpha op(A) op(B) + beta C through the runtime's row-major sgemm. */
void cg_gemm(cg *g, int ta, int tb, LLVMValueRef M, long N, long K, LLVMValueRef A, long lda, LLVMValueRef B,
             long ldb, double beta, LLVMValueRef C, long ldc);
/* The same with M constant and N a value (weight gradients split by neuron). */
void cg_gemm_mn(cg *g, int ta, int tb, LLVMValueRef M, LLVMValueRef N, long K, LLVMValueRef A, long lda,
                LLVMValueRef B, long ldb, double beta, LLVMValueRef C, long ldc);

void cg_barrier(cg *g);

/* A new module `name` in ctx for target t, with g's builder and types;
 * 0, else -1 with err.  The caller disposes of g->b and g->mod. */
int cg_module_new(cg *g, LLVMContextRef ctx, const char *name, const ir_target *t, cg_error *err);

/* ---- float and integer arithmetic, the math of the layers ---- */

static inline LLVMValueRef fadd(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(g->b, a, b, ""); }
static inline LLVMValueRef fsub(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(g->b, a, b, ""); }
static inline LLVMValueRef fmul(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(g->b, a, b, ""); }
static inline LLVMValueRef fdiv(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(g->b, a, b, ""); }
static inline LLVMValueRef iadd(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(g->b, a, b, ""); }
static inline LLVMValueRef isub(cg *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSub(g->b, a, b, ""); }

/* A call to a float -> float function of libm (tanhf, erff, expf). */
LLVMValueRef cg_fcall1(cg *g, const char *name, LLVMValueRef x);
/* exp(x), float: llvm.exp, or expf when g->libm_exp. */
LLVMValueRef cg_exp(cg *g, LLVMValueRef x);
/* act(x) for the elementwise activations (softmax is row-wise: cg_softmax_rows). */
LLVMValueRef cg_act_forward(cg *g, plan_act a, LLVMValueRef x);
/* dL/dx from dL/dy, with y the output and x the input (gelu). */
LLVMValueRef cg_act_backward(cg *g, plan_act a, LLVMValueRef y, LLVMValueRef x, LLVMValueRef dy);
/* Row-wise softmax of the U values of each row in [r0, r1) of in into out (in == out: in place). */
void cg_softmax_rows(cg *g, LLVMValueRef in, LLVMValueRef out, long U, LLVMValueRef r0, LLVMValueRef r1);

/* layer_norm.c: layernorm over rows [r0, r1) of D floats.  The forward pass
 * writes Y (may be X) and, unless stats is NULL, each row's mean and 1/std
 * (2 floats a row); the backward pass writes dX from dY; the weight
 * gradients of features [j0, j1) sum over rows [0, rows). */
/* embed_columns (layer i): rows [r0, r1) of X (the stored rows) into Y (the
 * model's rows) with the tables W, as hprt_catembed_forward; the JIT's step
 * and the AOT artifact share it. */
void cg_embed_columns_rows(cg *g, int i, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef r0,
                           LLVMValueRef r1);
void cg_layernorm_forward(cg *g, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef B, LLVMValueRef stats,
                          long D, double eps, LLVMValueRef r0, LLVMValueRef r1);
void cg_layernorm_backward(cg *g, LLVMValueRef X, LLVMValueRef W, LLVMValueRef stats, LLVMValueRef dY, LLVMValueRef dX,
                           long D, LLVMValueRef r0, LLVMValueRef r1);
void cg_layernorm_weight_grads(cg *g, LLVMValueRef X, LLVMValueRef stats, LLVMValueRef dY, LLVMValueRef dW,
                               LLVMValueRef dB, long D, long rows, LLVMValueRef j0, LLVMValueRef j1);

/* layer_batchnorm.c: batchnorm over rows [r0, r1) of C channels of S values
 * each (n = B·S values a channel in the whole batch).  `stats` is the
 * layer's buffer of per-thread statistics (cg_batchnorm_stats_floats); the
 * training forward and backward passes meet the other threads at the barrier
 * (once each); `running` holds running_mean then running_var [2 x C]. */
long cg_batchnorm_stats_floats(int threads, long C);
/* `fused`: the input is a conv's output whose kernel sums the statistics
 * (hprt_conv2d_forward_bn, given cg_batchnorm_sums: the thread's K, S1, S2)
 * and forms dx (hprt_conv2d_backward_bn, given cg_batchnorm_dx_coefs). */
LLVMValueRef cg_batchnorm_sums(cg *g, LLVMValueRef stats, long C);
LLVMValueRef cg_batchnorm_dx_coefs(cg *g, LLVMValueRef stats, long C);
/* The layers after a batchnorm that its passes compute (codegen.c's bn_epi):
 * a relu (Ya its output, dYa its output's gradient; NULL: none) and the 2×2,
 * stride-2 max pool after that relu (P, dP; NULL: none) over planes of H×W
 * = S values.  Forward, the normalising pass writes relu's output (not Y:
 * nothing reads it) and, plane by plane while it is in cache, the pool's;
 * backward, the first pass
 * forms dY (the pool's and relu's backward) as it sums. */
typedef struct {
    LLVMValueRef Ya, dYa, P, dP;
    long H, W;
} cg_bn_epi;
void cg_batchnorm_forward_train(cg *g, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef B,
                                LLVMValueRef stats, long C, long S, long n, double eps, const cg_bn_epi *epi,
                                bool fused, LLVMValueRef r0, LLVMValueRef r1);
void cg_batchnorm_forward_eval(cg *g, LLVMValueRef X, LLVMValueRef Y, LLVMValueRef W, LLVMValueRef B,
                               LLVMValueRef running, long C, long S, double eps, const cg_bn_epi *epi,
                               LLVMValueRef r0, LLVMValueRef r1);
/* dX NULL: only the partial sums (for the weight phase); fused: the sums
 * and dx's coefficients, no dx pass */
void cg_batchnorm_backward(cg *g, LLVMValueRef X, LLVMValueRef W, LLVMValueRef stats, LLVMValueRef dY,
                           LLVMValueRef dX, long C, long S, long n, const cg_bn_epi *epi, bool fused,
                           LLVMValueRef r0, LLVMValueRef r1);
/* dw, db of channels [j0, j1) and their running statistics' update */
void cg_batchnorm_weight_phase(cg *g, LLVMValueRef stats, LLVMValueRef dW, LLVMValueRef dB, LLVMValueRef running,
                               long C, long n, double momentum, LLVMValueRef j0, LLVMValueRef j1);

/* codegen_sched.c: hp_lr(t, base) and hp_momentum(t) from a resolved schedule. */
#include "hprt_sched.h"
void cg_emit_schedule(cg *g, const hprt_sched_resolved *r);

/* ---- codegen_objects.c: the shared objects' hand-over ---- */
typedef enum {
    CG_OBJECT_READY,   /* *data, *n: compiled already; link a copy */
    CG_OBJECT_COMPILE, /* compile it and hand it over with cg_objects_put (the others wait) */
    CG_OBJECT_ALONE    /* compile it for this program only (no room) */
} cg_objects_claim;
/* Waits while another program compiles key. */
cg_objects_claim cg_objects_get(cg_objects *o, uint64_t key, const void **data, size_t *n);
/* After CG_OBJECT_COMPILE: the object (taken), or NULL when compiling
 * failed (another program may try).  Returns data. */
const void *cg_objects_put(cg_objects *o, uint64_t key, void *data, size_t n);

#endif
