/* aot_int8.h - int8 post-training quantization for `hpc build --quantize int8`
 * (docs/deploy.md, "int8 artifacts"; docs/internals.md, "Ahead of time").
 *
 * The scheme: the weights of each dense and conv layer per output channel,
 * symmetric int8 (scale max|w| / 127, values -127..127); the input of each
 * dense and conv layer asymmetric uint8 (x ~ scale * (q - zero), q 0..255) over the range
 * [min(lo, 0), max(hi, 0)] seen on the calibration samples; products summed
 * in int32; the bias added in float after the int32 sum is scaled:
 *     y[j] = (float)(acc[j] - zero * sum_k w[j][k]) * (in_scale * w_scale[j]) + bias[j]
 * then the layer's activations in float, then y quantized for the next
 * layer as q = clamp(rint(y / scale') + zero', 0, 255) in the same loop (the
 * requantization is fused into the layer's epilogue); the last layer's
 * outputs (and the softmax) stay float.  A conv layer is a dense layer over
 * the im2col rows of its input (K = C*k*k, a pixel in the padding is the zero
 * point: a float 0); maxpool takes the max of the bytes (exact: the
 * quantization is monotone), avgpool (sum + k*k/2) / (k*k) in integers, both
 * in the quantization of the layer their output reaches. */
#ifndef HP_AOT_INT8_H
#define HP_AOT_INT8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codegen_int.h"
#include "plan.h"

/* What the int8 kernel may use on the target (x86-64 only). */
typedef struct {
    bool vnni;     /* AVX512_VNNI with AVX512BW: vpdpbusd (u8 x s8, 4 products summed into int32), 512 bits */
    bool avx512bw; /* 512-bit vpmaddwd on int16-widened bytes */
    bool avx2;     /* 256-bit vpmaddwd */
} hp_q8_isa;       /* none: 128-bit SSE2 pmaddwd (x86-64-v2) */

#define HP_Q8_MAX_ACTS 4 /* float activations after one dense or conv layer (its own, then activation layers) */
#define HP_Q8_TILE 4     /* samples a full tile sends through each dense layer together (pixels, a conv layer) */

/* What one step of the int8 pass is.  dense and conv have int8 weights
 * (conv: im2col of its uint8 input, then the dense kernel over the pixels,
 * K = C*k*k inputs per output); the pools work on the bytes of their input,
 * which are in the quantization of the next dense or conv layer's input
 * (max commutes with a monotone quantization; the average is an int32 sum
 * divided with rounding half up). */
typedef enum { HP_Q8_DENSE = 0, HP_Q8_CONV, HP_Q8_MAXPOOL, HP_Q8_AVGPOOL } hp_q8_kind;

typedef struct {
    hp_q8_kind kind;
    int layer, line;          /* the plan's layer index and source line */
    long in, out;             /* dense: features in, outputs; conv: C*k*k, filters; pools: 0, 0 */
    long in_pad, out_pad;     /* in rounded up to 4, out to 16 */
    int C, H, W, k, stride, pad, Ho, Wo; /* conv and pools: the input [C, H, W], kernel, output Ho x Wo */
    long in_size, out_size;   /* values per sample in and out (dense: in, out; conv: C*H*W, out*Ho*Wo) */
    long in_stride;           /* bytes per sample of the input buffer (dense: in_pad; else in_size rounded up to 4) */
    float lo, hi;             /* the calibrated input range (0 included) */
    float in_scale, in_inv;   /* input quantization: x ~ in_scale * (q - in_zero); in_inv = 1 / in_scale */
    int in_zero;
    int8_t *w;                /* out x in_pad, row-major, zero in the padding */
    float *w_scale;           /* out: max|w[j]| / 127 */
    float *mult;              /* out: in_scale * w_scale[j] */
    int32_t *zsum;            /* out: in_zero * sum_k w[j][k] */
    const float *wf, *bias;   /* the float weights (out x in) and bias (borrowed) */
    int n_acts;
    plan_act acts[HP_Q8_MAX_ACTS]; /* applied in order; never softmax (final_softmax) */
} hp_q8_layer;

typedef struct hp_q8_model {
    int n;                    /* steps (dense, conv and pool layers) */
    hp_q8_layer *layers;
    long features, classes;   /* floats per sample in and out */
    float scale;              /* the data's scale */
    const float *mean, *std;  /* normalize = standard (NULL: none; borrowed) */
    bool final_softmax;       /* the outputs are probabilities */
    long calibrated;          /* samples the ranges were seen on */
    float *folded;            /* the params with each batchnorm folded into its dense/conv layer (owned) */
} hp_q8_model;

/* The model's dense and conv layers with their weights quantized, and its
 * pools, from the trained float params.  -1 when the int8 path does not
 * cover the model: msg then says so as "FILE:LINE: ..." (normalisation and
 * recurrent layers are refused, not left float; a batchnorm right after a
 * dense or conv layer without an activation is folded into it first, as the
 * float artifact does), or when out of memory. */
int hp_q8_plan(const plan_experiment *e, const cg_layout *l, const float *params, hp_q8_model *m, char *msg,
               size_t n);
/* One layer by hand (tests): quantizes wf (out x in) per output channel. */
int hp_q8_layer_init(hp_q8_layer *L, long in, long out, const float *wf, const float *bias);
/* A conv layer by hand (tests): wf is filters x C x k x k, the input [C, H, W]. */
int hp_q8_conv_init(hp_q8_layer *L, int C, int H, int W, int filters, int k, int stride, int pad, const float *wf,
                    const float *bias);
/* A pool (HP_Q8_MAXPOOL or HP_Q8_AVGPOOL) of size k over [C, H, W]. */
void hp_q8_pool_init(hp_q8_layer *L, hp_q8_kind kind, int C, int H, int W, int k, int stride);
/* Sets the input range of layer L and its quantization parameters. */
void hp_q8_set_range(hp_q8_layer *L, float lo, float hi);
/* Calibrates every layer's input range on n samples x (preprocessed, as the
 * model sees them: n x features) with the float forward pass.  A pool's bytes
 * are in the quantization of the dense or conv layer its output reaches: the
 * range of that layer's input and of each pool's input before it, joined. */
int hp_q8_calibrate(hp_q8_model *m, const float *x, long n);
void hp_q8_free(hp_q8_model *m);

/* The C reference of one sample (x preprocessed): the float model, and the
 * int8 arithmetic exactly as the artifact does it (bit for bit for ReLU and
 * linear layers; tanh, sigmoid and gelu use libm here and the kit's code in
 * the artifact).  out: classes floats.  -1 when out of memory. */
int hp_q8_forward_float(const hp_q8_model *m, const float *x, float *out);
int hp_q8_forward_int8(const hp_q8_model *m, const float *x, float *out);
/* One dense layer of the reference: qx (in_pad bytes) -> acc (out int32). */
void hp_q8_layer_acc(const hp_q8_layer *L, const uint8_t *qx, int32_t *acc);
/* A pool of the bytes q ([C, H, W]) into out ([C, Ho, Wo]). */
void hp_q8_pool(const hp_q8_layer *L, const uint8_t *q, uint8_t *out);
/* acc -> y (float, the layer's activations applied) */
float hp_q8_dequant(const hp_q8_layer *L, long j, int32_t acc);
/* y -> the byte the next layer reads (scale inv, zero point z) */
uint8_t hp_q8_quant(float y, float inv, int z);

/* The scratch NAME_predict_with needs: two byte buffers of HP_Q8_TILE rows
 * of the widest input (at offsets 0 and *qb), then HP_Q8_TILE rows of int32
 * accumulators (at *acc; the last layer's, of the last tile, stay there),
 * then the widest conv layer's im2col matrix of one sample (Ho*Wo rows of
 * in_pad bytes). */
long hp_q8_scratch_bytes(const hp_q8_model *m, long *qb, long *acc);

/* The ISA a target CPU (an LLVM CPU name, and a feature string or NULL) gives the kernel. */
hp_q8_isa hp_q8_isa_for(const char *cpu, const char *features);
const char *hp_q8_isa_name(hp_q8_isa isa);

/* Emits into g's module `int fname(const float *in, float *out, size_t n,
 * void *scratch)`: NAME_predict_with of the float artifact, for the int8
 * model, with the kernel for isa.  t_size: size_t's type.  0, or -1 when out
 * of memory. */
int hp_q8_emit(cg *g, const hp_q8_model *m, hp_q8_isa isa, const char *fname, LLVMTypeRef t_size);

#endif
