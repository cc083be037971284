/* aot.h - ahead-of-time compilation of a trained model for inference
 * (`hpc build`): an object file, a static library and a header that a C or
 * C++ program links with nothing but libc and libm. */
#ifndef HP_AOT_H
#define HP_AOT_H

#include <stddef.h>

#include "codegen.h"
#include "plan.h"

typedef struct {
    const char *name;     /* the C prefix: NAME_predict, NAME.h */
    const char *out_dir;  /* OUT: NAME.o, libNAME.a, NAME.h */
    const char *triple;   /* NULL: the host's */
    const char *cpu;      /* NULL or "portable": x86-64-v2, v3 and v4 dispatched at run time on x86-64
                           * (generic elsewhere); "native": the build machine's; else that CPU only */
    const float *params;  /* the trained weights, in the layout's order */
    const float *mean, *std; /* normalize = standard: the training statistics (NULL: none) */
    const unsigned char *vocab; /* a language model: the byte of each token id (vocab_size of them) */
    int vocab_size;
    const struct hp_q8_model *q8; /* --quantize int8: the quantized model (aot_int8.h), else NULL */
    const char *q8_note;  /* int8: a line for the header (the accuracy measured), or NULL */
    const char *accuracy; /* the header's "Accuracy:" of float32 weights, as measured at training (NULL: not measured) */
} hp_aot_options;

/* Writes OUT/NAME.o, OUT/NAME.h and OUT/libNAME.a.  A model of text data (an
 * output at every step) gets NAME_state_size/NAME_reset/NAME_step and its
 * vocabulary in the header instead of NAME_predict.  0 on success, else -1
 * with the reason in err (CG_E_USAGE: an unknown target or CPU; CG_E_IO: an
 * output cannot be written).  The layout is one made for a single thread and a
 * batch of one. */
int hp_aot_build(const plan_experiment *e, const cg_layout *l, const hp_aot_options *o, cg_error *err);

/* A layer of this kind can be part of a sequence classifier (`input [T, F]`)
 * that hp_aot_build compiles into NAME_predict (compiler/aot_seq.c). */
bool hp_aot_seq_supports(plan_layer_kind k);

#endif
