/* hprt_optim.h - the reference optimizers and gradient clipping
 * (docs/policies.md §10; the formulas of torch.optim, single-tensor path).
 *
 * Two forms of every update, from one definition in optim.c:
 *  - the float path (hprt_optim_step) over float32 parameter vectors, with the
 *    per-step scalars (bias corrections, step sizes, 1 − β, ...) computed in
 *    double, rounded to float once, and then float arithmetic per element in
 *    PyTorch's order, as torch does for float32 tensors;
 *  - a double-precision scalar path (hprt_optim_step_scalar), the same
 *    expressions in double, so the worked numbers of docs/policies.md can be
 *    asserted to ~1e-12.
 *
 * Hyperparameters come from hprt_optimizer, except the two that schedules
 * change per step: the learning rate (always passed in; o->lr is not read)
 * and the momentum (SGD, RMSprop) or β1 (Adam, AdamW), which cyclic and
 * one-cycle schedules cycle (pass NAN to use the optimizer's own value).
 */
#ifndef HPRT_OPTIM_H
#define HPRT_OPTIM_H

#include <stddef.h>

#include "hprt_base.h"
#include "hprt_policy.h"

/* Per-element optimizer state of n parameters, allocated once (64-byte
 * aligned).  Which buffers exist depends on the kind; the others are NULL.
 * The buffers are public so checkpoints can save and restore them. */
typedef struct {
    hprt_opt_kind kind;
    size_t n;
    union {
        struct {
            float *buf;  /* sgd, rmsprop: momentum buffer (always allocated: a schedule
                          * may cycle the momentum of an optimizer declared without) */
            float *m;    /* adam, adamw, adamax: exp_avg */
            float *v;    /* adam, adamw: exp_avg_sq; rmsprop: square_avg; adamax: exp_inf */
            float *vmax; /* adam, adamw with amsgrad: max_exp_avg_sq */
            float *sum;  /* adagrad: state_sum, starting at o->initial */
            float *ga;   /* rmsprop centered: grad_avg */
        };
        float *arrays[HPRT_STATE__COUNT]; /* the same, indexed by hprt_state_array */
    };
} hprt_optim_state;

/* Everything an update needs that does not vary per element, computed in
 * double once per step.  The generated code receives the same numbers (as
 * floats, converted where they meet the data, as here) so that it rounds like
 * the reference. */
typedef struct {
    double lr;
    double wd;          /* L2 weight decay added to g (not AdamW) */
    double mu;          /* momentum (sgd, rmsprop) */
    double damp_keep;   /* sgd: 1 − dampening */
    bool first;         /* sgd: t == 1, the momentum buffer starts as g */
    bool nesterov;
    double b1_weight;   /* adam, adamax: 1 − β1, the lerp weight of exp_avg */
    double b2, one_minus_b2;
    double step_size;   /* adam, adamax: lr / (1 − β1^t) */
    double bc2_sqrt;    /* adam: √(1 − β2^t) */
    double decay_keep;  /* adamw: 1 − lr·λ */
    bool decoupled, amsgrad;
    double eps;
    double clr;         /* adagrad: lr / (1 + (t − 1)·lr_decay) */
    double alpha, one_minus_alpha; /* rmsprop */
    bool centered;
    bool has_momentum;  /* sgd: momentum != 0; rmsprop: momentum > 0 (as declared; the
                         * compiled step keeps its buffer when set or when a schedule
                         * cycles the momentum) */
} hprt_optim_coef;

hprt_optim_coef hprt_optim_coefs(const hprt_optimizer *o, double lr, double momentum_or_beta1_override, long t);

/* State for nparams parameters (the total length of the parameter vector the
 * steps will cover), the arrays the optimizer's table row names (hprt_opt_info).
 * NULL when out of memory.  nparams = 0 is allowed. */
hprt_optim_state *hprt_optim_state_new(const hprt_optimizer *o, size_t nparams);
void hprt_optim_state_free(hprt_optim_state *s);

/* One update of theta[0..n) with grad[0..n), using state elements [0, n).
 *   lr: the scheduled learning rate of this step.
 *   momentum_or_beta1_override: NAN, or the momentum (sgd, rmsprop) / β1
 *     (adam, adamw, adamax) of this step; ignored by adagrad.
 *   t: the 1-based step count (Adam's bias corrections, Adagrad's lr decay;
 *     SGD's first step, which sets buf = g, is t == 1).
 * Returns HPRT_E_RUN (and changes nothing) if s was made for another kind or
 * n exceeds its size; HPRT_OK otherwise. */
hprt_status hprt_optim_step(const hprt_optimizer *o, hprt_optim_state *s, float *theta,
                            const float *grad, size_t n, double lr,
                            double momentum_or_beta1_override, long t);

/* The same on a slice: theta and grad point at parameter `offset`, and state
 * elements [offset, offset + n) are used.  For threads that each update their
 * own part of one parameter vector, or one call per parameter tensor. */
hprt_status hprt_optim_step_range(const hprt_optimizer *o, hprt_optim_state *s,
                                  size_t offset, float *theta, const float *grad,
                                  size_t n, double lr,
                                  double momentum_or_beta1_override, long t);

/* The state of one scalar parameter, in double. */
typedef struct {
    double buf, m, v, vmax, sum, ga; /* as in hprt_optim_state */
} hprt_optim_scalar;

/* Zeroes s, then sum = o->initial (Adagrad's initial_accumulator_value). */
void hprt_optim_scalar_init(const hprt_optimizer *o, hprt_optim_scalar *s);

/* One update of a scalar parameter in double; returns the new theta.
 * Arguments as hprt_optim_step. */
double hprt_optim_step_scalar(const hprt_optimizer *o, hprt_optim_scalar *s, double theta,
                              double grad, double lr, double momentum_or_beta1_override,
                              long t);

/* Global-norm gradient clipping, torch.nn.utils.clip_grad_norm_ (L2):
 * norm = ‖concat(grads)‖₂ (summed in double); coef = max_norm/(norm + 1e-6);
 * when coef < 1 every gradient is multiplied by (float)coef.  (PyTorch
 * multiplies by clamp(coef, max=1), which is the same; note it already
 * scales slightly when max_norm − 1e-6 < norm <= max_norm.)  grads[i] has
 * sizes[i] elements.  Returns the norm before clipping; a NaN/Inf norm leaves
 * the gradients unchanged, for the caller to report. */
double hprt_clip_grad_norm(float **grads, const size_t *sizes, int n, double max_norm);

#endif
