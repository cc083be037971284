/* hprt_step.h - the contract between the generated training code and the
 * runtime.
 *
 * The code generator emits, per batch size B the run can meet, a training step
 * and an evaluation step:
 *
 *     void hp_train_B(hprt_step_io *io, int32_t tid);
 *     void hp_eval(hprt_step_io *io, int32_t tid);      (io->rows rows, at most the largest batch)
 *
 * Every worker thread calls the same function with its own tid in
 * [0, threads); the function partitions the work (rows of the batch, then
 * output neurons of each weight gradient) and meets the other threads at
 * hprt_barrier_wait() inside.  It ends without a barrier: the caller's next
 * barrier separates steps.  io is read by every thread and written only in the
 * per-thread slots, so the driver double-buffers it (it fills step k+1's io
 * while threads may still finish step k).
 */
#ifndef HPRT_STEP_H
#define HPRT_STEP_H

#include <stdint.h>

#define HPRT_MAX_THREADS 64
#define HPRT_MAX_DROPOUT 64

/* A spinning barrier for the worker threads (sense-reversing; yields after a
 * while so an oversubscribed machine still makes progress). */
typedef struct hprt_barrier hprt_barrier;
hprt_barrier *hprt_barrier_new(int threads);
void hprt_barrier_free(hprt_barrier *b);
void hprt_barrier_wait(hprt_barrier *b);

/* Per-step inputs (filled by the driver) and outputs (per-thread slots).
 * The generated code reads fields at their offsetof(): keep them plain. */
typedef struct {
    /* the batch: rows order[start .. start + B) of x / y */
    const float *x;           /* samples, n x features, row-major (float storage) */
    const uint8_t *x8;        /* ... or their bytes (hprt_dataset.x8): scaled by a constant, then */
    const float *mean, *std;  /* normalised with these (NULL: not normalised) */
    const int32_t *y;         /* labels */
    const uint32_t *order;    /* the epoch's order */
    int64_t start;
    int64_t rows;             /* hp_eval: the rows of this batch (training steps know theirs) */
    /* text: row r of the batch is the window at tokens[r * stream + start]
     * (x8 holds the token ids); reset: the recurrent state starts from zero
     * (the first batch of an epoch or an evaluation), else it continues from
     * the previous batch of the same rows */
    int64_t stream;
    int32_t reset;
    int32_t pad1;
    /* the optimizer's per-step numbers: hprt_optim_coefs() of this step */
    float lr;                 /* sgd, rmsprop */
    float mu;                 /* momentum of this step (sgd, rmsprop) */
    float damp_keep;          /* sgd: 1 - dampening */
    int32_t first;            /* sgd: this is update 1: the momentum buffer starts as g */
    float b1_weight;          /* adam, adamax: 1 - beta1 of this step */
    float step_size;          /* adam, adamax: lr / (1 - beta1^t) */
    float bc2_sqrt;           /* adam: sqrt(1 - beta2^t) */
    float decay_keep;         /* adamw: 1 - lr * weight_decay */
    float clr;                /* adagrad: lr / (1 + (t - 1) lr_decay) */
    /* the hyperparameters, run-time inputs rather than constants of the code
     * (a trial that changes only them reuses the compiled step) */
    float wd;                 /* L2 weight decay added to g (not adamw's) */
    float b2, one_minus_b2;   /* adam, adamax: beta2; adam: 1 - beta2 */
    float eps;
    float alpha, one_minus_alpha; /* rmsprop */
    int32_t use_wd;           /* wd is on (weight_decay != 0, not adamw) */
    int32_t use_momentum;     /* sgd: momentum != 0; rmsprop: momentum > 0 (a cycled momentum is always on) */
    int32_t nesterov;         /* sgd */
    int32_t pad0;
    float l1;                 /* regularize = l1(lambda): lambda (the term is compiled in only when it is set) */
    int32_t pad2;
    /* dropout: per dropout site, the mask key of this step, the keep
     * threshold (hprt_dropout_threshold) and the scale 1/(1 - p) */
    uint64_t dropout_key[HPRT_MAX_DROPOUT];
    uint32_t dropout_threshold[HPRT_MAX_DROPOUT];
    float dropout_scale[HPRT_MAX_DROPOUT];
    /* outputs, one slot per thread */
    double loss[HPRT_MAX_THREADS];     /* sum of the rows' losses */
    int64_t correct[HPRT_MAX_THREADS]; /* rows whose argmax is the label */
    double sqnorm[HPRT_MAX_THREADS];   /* clip: sum of squared gradients of the thread's part */
    double grad_norm;                  /* clip: the global norm before clipping (every thread writes the same) */
    /* data-parallel training (a layout compiled with `dp`, docs/distributed.md):
     * the step's rows are rows row0 .. row0 + rows of the global batch (dropout
     * masks are keyed by the global index); after the weight gradients, thread
     * 0 calls dp_reduce(io), which sums the loss into dp_loss over the ranks
     * and the gradients of this rank's slice [shard_lo, shard_hi) of the
     * parameter arena (ZeRO stage 1) into dp_grads (element 0: the arena's
     * shard_lo; the gradient arena itself stays unsummed), to be multiplied
     * by dp_gscale; the NaN guard then reads dp_loss.  With clipping every
     * thread writes the sum of squares of its part of dp_grads into sqnorm
     * and thread 0 calls dp_norm(io), which puts the global norm (of the
     * scaled sums) in grad_norm.  The threads update the slice only (each its
     * part); then thread 0 calls dp_gather(io), which copies every rank's
     * updated slice to the others. */
    int64_t row0;
    void (*dp_reduce)(void *io);
    void *dp_ctx;
    double dp_loss;
    int64_t shard_lo, shard_hi;
    void (*dp_norm)(void *io);
    void (*dp_gather)(void *io);
    const float *dp_grads;
    float dp_gscale;
    int32_t pad3;
} hprt_step_io;

typedef void (*hprt_step_fn)(hprt_step_io *io, int32_t tid);

#endif
