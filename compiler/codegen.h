/* codegen.h - from a Plan to native training code (LLVM, ORC JIT).
 *
 * cg_layout_new() plans the memory of an experiment: every parameter tensor's
 * place in one parameter arena, every activation and gradient buffer's place
 * in one activation arena (for the largest batch), the dropout sites.  The
 * runtime allocates the arenas; cg_compile() then emits one LLVM module with
 * a training step and an evaluation step per batch size (shapes, strides and
 * hyperparameters as constants, the buffers as distinct globals so LLVM knows
 * they do not alias), optimises it for the host, and JIT-compiles it.
 */
#ifndef HP_CODEGEN_H
#define HP_CODEGEN_H

#include <stdbool.h>
#include <stdio.h>

#include "cg_error.h"
#include "hprt_kernels.h"
#include "hprt_prof.h"
#include "hprt_rnn.h"
#include "hprt_sched.h"
#include "hprt_step.h"
#include "plan.h"

/* One layer of a recurrent stack (offsets in the activation arena, for b_max
 * rows; hprt_rnn.h names the buffers). */
typedef struct {
    hprt_rnn_geom geom;
    long w;             /* its W_ih, W_hh, b_ih, b_hh, from this offset of the layer's block */
    long A, C, Hprev;   /* what the forward keeps for the backward */
    long Y, dY;         /* its output and gradient (the last layer of the stack: the layer's out/dout) */
    long dGi, dGh;      /* gate gradients (dGh == dGi but for the GRU) */
    long D;             /* its input after the dropout between stacked layers (-1: none) */
    long h, c;          /* the state carried from batch to batch, [b_max x H] */
    long h_next, c_next;/* the final state of this batch, copied to h, c at the end of the step */
    int site;           /* the dropout site of D, else -1 */
} cg_rnn_layer;

/* Where one layer's tensors live.  Offsets count floats; -1: none. */
typedef struct {
    long w, w_size;     /* weights (dense: [out x in]; conv: [F x C x k x k]) */
    long b, b_size;     /* bias */
    int fan_in;         /* for initialisation */
    hprt_init_kind init;
    long out;           /* output, [rows x out_size] in the activation arena */
    long dout;          /* gradient of the output */
    long pre;           /* dense/conv with gelu: the pre-activation */
    long scratch;       /* conv: per-thread weight/bias gradients, threads x (w_size + b_size) */
    long cols;          /* conv: per-thread im2col buffers, threads x cols_size */
    long cols_size;
    int out_size;       /* floats per row */
    int in_layer;       /* the layer whose output is this one's input (-1 for input) */
    int dropout_site;   /* dropout: its index in hprt_step_io.dropout_*, else -1 */
    bool logits;        /* its output are the scores the loss reads (a fused softmax is skipped) */
    bool skip;          /* a final softmax folded into cross_entropy: not run */
    int steps;          /* rows of work per sample: T for a layer applied at every time step, else 1 */
    int width;          /* dense on a sequence: units (out_size = steps * width) */
    cg_rnn_layer *rnn;  /* rnn, gru, lstm: the stack's layers */
    int n_rnn;
    long rscratch;      /* ... and their per-row step scratch, [b_max x rscratch_w] */
    int rscratch_w;
    long rpack;         /* ... and per thread, W_hh packed: [threads x rpack_n] */
    long rpack_n;
    long fold;          /* rnn fed by an embedding: per thread, Q then S of hprt_rnn.h, [threads x fold_n] */
    long fold_n;        /* ... fold_v x G*H floats */
    int fold_v;         /* ... the vocabulary */
    int fold_by;        /* embed: the rnn layer it is folded into, else -1 */
    long norm;          /* layernorm: each row's mean and 1/std, [b_max * steps x 2];
                         * batchnorm: the threads' statistics (cg_batchnorm_stats_floats) */
    long running;       /* batchnorm: running_mean then running_var [2 x width], in the parameter
                         * arena (checkpointed) but in no range the optimizer updates */
} cg_layer_layout;

typedef struct {
    int n_layers;
    cg_layer_layout *layers;
    long n_params;      /* floats in the parameter (and gradient, optimizer state) arenas */
    long n_acts;        /* floats in the activation arena */
    long x;             /* the gathered input batch, [b_max x features] */
    int features;       /* floats per input sample */
    bool x_bytes;       /* the samples are bytes (IDX images): gather converts, scales, normalises */
    float x_scale;
    bool x_normalize;
    int b_max;
    int threads;
    int n_dropout;
    int scores;         /* the layer whose output the loss reads */
    int classes;        /* its width */
    int train_sizes[32];/* the batch sizes to compile a training step for */
    int n_train_sizes;
    int eval_sizes[32]; /* ... and an evaluation step */
    int n_eval_sizes;
    float site_p[HPRT_MAX_DROPOUT]; /* the dropout rate of each site */
    /* text: token ids and next-token targets gathered from the streams */
    bool text;
    int seq;            /* T */
    long ids;           /* [b_max x T] bytes (offset in floats) */
    long labels;        /* [b_max x T] int32 */
    int loss_steps;     /* rows of the loss per sample: T for a per-step output, else 1 */
    /* HPC_PROFILE set (and not "0") when the layout was made: per thread, per
     * layer and pass (CG_PROF_*), the thread CPU nanoseconds the training
     * steps spent, int64 at this offset of the activation arena (-1: off,
     * and the steps time nothing); each thread's block is prof_stride floats */
    long prof;
    long prof_stride;
    /* data-parallel (mpirun, docs/distributed.md): the training steps are a
     * rank's share of each batch; dropout masks are keyed by the global row
     * (io->row0), and the weight phase computes every gradient, lets thread 0
     * sum them over the ranks (io->dp_reduce: this rank's slice of the
     * arena), updates that slice only and lets thread 0 gather every rank's
     * (io->dp_gather; hprt_step.h).  Set by the session after cg_layout_new;
     * false: the steps are as before. */
    bool dp;
} cg_layout;

/* The passes the profile mode times. */
enum { CG_PROF_FORWARD, CG_PROF_DGRAD, CG_PROF_WGRAD, CG_PROF_UPDATE, CG_PROF__COUNT };

/* The profile of the steps run so far as a table (layer, kind, line, and per
 * pass milliseconds per step, averaged over the threads); nothing when the
 * layout has no profile.  `steps`: training steps run. */
void cg_profile_report(const plan_experiment *e, const cg_layout *l, const float *acts, long steps, FILE *out);

/* NULL with err when the experiment has a layer hpc cannot compile yet
 * (CG_E_LIMIT, at its line) or passes a limit of the back end. */
cg_layout *cg_layout_new(const plan_experiment *e, int threads, const int *train_sizes, int n_train,
                         const int *eval_sizes, int n_eval, cg_error *err);
void cg_layout_free(cg_layout *l);
/* The layout as text (`hpc emit --dump=layout`): every layer's offsets and
 * sizes, the arenas, the dropout sites, the batch sizes. */
void cg_layout_dump(const cg_layout *l, FILE *out);

/* The parameters' initial values (every kind's initialiser, in layer order,
 * from the experiment's seed): params holds l->n_params floats.  0, or -1
 * when out of memory (an orthogonal initialiser's QR). */
int cg_init_params(const plan_experiment *e, const cg_layout *l, float *params);
/* The data's embedded categorical columns as the embed_columns layer reads
 * them (in column order; each table's offset w from the layer's first
 * parameter): fills at most cap, returns the number filled. */
int cg_embed_columns(const plan_experiment *e, hprt_catembed_col *cols, int cap);

/* The memory the generated code works on (allocated by the caller). */
typedef struct {
    float *params, *grads, *acts;
    /* optimizer state arrays (hprt_optim_state), NULL where unused */
    float *opt_buf, *opt_m, *opt_v, *opt_vmax, *opt_sum, *opt_ga;
    hprt_barrier *barrier;
} cg_memory;

typedef struct cg_program cg_program;

/* Compiles the experiment: its steps and, given the schedule resolved for the
 * run (hprt_train_resolve_schedule), the schedule as code.  NULL on failure,
 * with the reason in err. */
cg_program *cg_compile(const plan_experiment *e, const cg_layout *l, const cg_memory *mem,
                       const hprt_sched_resolved *sched, cg_error *err);
void cg_program_free(cg_program *p);

/* Compiled objects shared by the sessions of one process (a search's
 * workers): the optimised code of a key is compiled once, and each program
 * built from it links a copy against its own memory.  Thread-safe. */
typedef struct cg_objects cg_objects;
cg_objects *cg_objects_new(void);
void cg_objects_free(cg_objects *o);
/* How many objects were compiled into it. */
int cg_objects_compiles(cg_objects *o);
/* As cg_compile, for the code whose unoptimised IR hashes to key (with no
 * schedule: the program has none), compiling it only when objs has no object
 * for key yet.  objs NULL: cg_compile. */
cg_program *cg_compile_shared(const plan_experiment *e, const cg_layout *l, const cg_memory *mem,
                              cg_objects *objs, uint64_t key, cg_error *err);
/* Whether p linked an object another program compiled (its compile_ms is the link's). */
bool cg_program_linked(const cg_program *p);

/* Only the schedule as code (tests, `hpc explain`'s preview). */
cg_program *cg_compile_schedule(const hprt_sched_resolved *sched, cg_error *err);

hprt_step_fn cg_train_fn(const cg_program *p, int batch);
hprt_step_fn cg_eval_fn(const cg_program *p, int batch);
/* The compiled schedule (NULL when compiled without one). */
typedef double (*hprt_lr_fn)(int64_t t, double base);
typedef double (*hprt_momentum_fn)(int64_t t);
hprt_lr_fn cg_lr_fn(const cg_program *p);
hprt_momentum_fn cg_momentum_fn(const cg_program *p);
/* Milliseconds spent generating, optimising and JIT-compiling. */
double cg_compile_ms(const cg_program *p);

/* The module's IR, as text, optimised (`hpc emit --dump=ir`) or as generated
 * (`--dump=ir0`); returns 0 on success. */
int cg_emit_llvm(const plan_experiment *e, const cg_layout *l, const hprt_sched_resolved *sched, bool optimize,
                 FILE *out, cg_error *err);

#endif
