/* aot_int.h - what the ahead-of-time emitters share (compiler/aot.c, the
 * feed-forward models and language models; compiler/aot_seq.c, the sequence
 * classifiers).  Internal to the compiler: `hpc build` sees only aot.h. */
#ifndef HP_AOT_INT_H
#define HP_AOT_INT_H

#include <stdbool.h>

#include "aot.h"
#include "codegen_int.h"

/* aot.c */

/* A constant float array as a private global of n floats (its bytes). */
LLVMValueRef const_floats(cg *g, const char *name, const float *v, long n);
/* W [rows x cols] as a constant stored transposed, [cols x rows]; NULL when out of memory. */
LLVMValueRef const_transposed(cg *g, const char *name, const float *W, long rows, long cols);
/* The scalar s in every lane of a V-lane vector of its type. */
LLVMValueRef aot_splat(cg *g, LLVMValueRef s, int V);
/* y[0..n) = bias + sum over k < in of x[k] * WT[k][0..n). */
void matvec(cg *g, LLVMValueRef WT, LLVMValueRef bias, LLVMValueRef x, long in, long n, LLVMValueRef y);
/* One recurrent layer's cell update from gi = W_ih x + b_ih and gh = W_hh h + b_hh, in place on h (and c). */
void cell_update(cg *g, hprt_cell cell, long H, LLVMValueRef gi, LLVMValueRef gh, LLVMValueRef h, LLVMValueRef c);
/* Starts int fname(const float *in, float *out, size_t n, void *scratch), the
 * forward pass of every emitter: -1 for a NULL pointer when n > 0, else the
 * builder left after that check with arg[] = in, out, n (as i64), scratch. */
LLVMValueRef aot_predict_with_begin(cg *g, const char *fname, LLVMTypeRef t_size, LLVMValueRef arg[4]);
/* A copy of the weights with every batchnorm folded into the layer before it
 * (or turned into its scale and shift); NULL when out of memory. */
float *aot_bn_fold(const plan_experiment *e, const cg_layout *l, const float *params);
/* Layer i is a batchnorm folded into the dense or conv layer before it. */
bool bn_folded(const plan_experiment *e, int i);

/* aot_conv.c */

/* Floats of scratch the conv and pool lowering needs after the two
 * activation buffers (the zero-padded planes of the widest padded conv input
 * and the slack a row's last vector load may read past its data); 0 for a
 * model without conv or pool layers. */
long aot_conv_scratch_floats(const plan_experiment *e);
/* Conv layer i of one sample, weights W [F][C][k][k] and bias B (batchnorm
 * folded): reads cur, writes dst, pads into planes (aot_conv_scratch_floats'
 * region).  A ReLU activation is applied in the output loop (*act_done);
 * others are the caller's.  0, or -1 when out of memory. */
int aot_conv_emit(cg *g, int i, const float *W, const float *B, plan_act act, LLVMValueRef cur, LLVMValueRef dst,
                  LLVMValueRef planes, bool *act_done);
/* Maxpool or avgpool layer i of one sample: reads cur, writes dst. */
void aot_pool_emit(cg *g, int i, LLVMValueRef cur, LLVMValueRef dst);

/* aot_seq.c */

/* The model reads numeric sequences (`input [T, F]`): NAME_predict is aot_seq_emit's. */
bool aot_seq_model(const plan_experiment *e, const cg_layout *l);
/* Bytes of NAME_predict_with's scratch for a sequence classifier. */
long aot_seq_scratch_bytes(const plan_experiment *e, const cg_layout *l);
/* NAME_predict_with and NAME_predict of a sequence classifier (o->params with
 * batchnorm folded); 0, or -1 when out of memory or for a layer it cannot
 * compile (hp_aot_seq_supports says which before). */
int aot_seq_emit(cg *g, const hp_aot_options *o, LLVMTypeRef t_size, const char *fname);

#endif
