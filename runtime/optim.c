/* optim.c - the optimizer table and torch.optim's SGD, Adam, AdamW, Adagrad,
 * RMSprop and Adamax, and clip_grad_norm_ (docs/policies.md §10).
 *
 * Each update is written once, as a macro over the element type T, and
 * instantiated for float (the vector path) and double (the scalar path used
 * to check the worked numbers).  The per-step scalars are computed in double
 * in `coef` and converted to T where they meet the data, as PyTorch converts
 * Python scalars to the tensor's type.  Expressions follow PyTorch's
 * operation order (e.g. addcmul is a + (s·b)·c, addcdiv a + (s·b)/c), so the
 * float path rounds like torch's CPU kernels up to vectorisation details.
 */
#include "hprt_optim.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- the table ------------------------------------------------------------------ */

#define OFF(f) offsetof(hprt_optimizer, f)
#define LR(name, def) {name, HPRT_HP_LR, OFF(lr), def, 0, INFINITY, true, false}
#define NUM(name, f, def, lo, lo_open, hi, hi_open) {name, HPRT_HP_NUM, OFF(f), def, lo, hi, lo_open, hi_open}
#define FLAG(name, f, def) {name, HPRT_HP_BOOL, OFF(f), def, 0, 1, false, false}
#define WD(def) NUM("weight_decay", weight_decay, def, 0, false, INFINITY, false)
#define BETAS NUM("beta1", beta1, 0.9, 0, false, 1, true), NUM("beta2", beta2, 0.999, 0, false, 1, true)
#define EPS(def) NUM("eps", eps, def, 0, true, INFINITY, false)
#define BIT(a) (1u << HPRT_STATE_##a)
#define NO_STATE HPRT_STATE__COUNT

static const hprt_opt_desc opt_table[] = {
#define X(e, name, torch, states, cond, cond_field, b1, ...)                                                  \
    [HPRT_OPT_##e] = {name, torch, {__VA_ARGS__},                                                           \
                      (int)(sizeof((hprt_opt_param[]){__VA_ARGS__}) / sizeof(hprt_opt_param)), states, cond, \
                      OFF(cond_field), b1},
#include "hprt_optimizers.def"
#undef X
};
_Static_assert(sizeof opt_table / sizeof opt_table[0] == HPRT_OPT__COUNT, "a row per optimizer");

const hprt_opt_desc *hprt_opt_info(hprt_opt_kind k)
{
    return (unsigned)k < HPRT_OPT__COUNT && opt_table[k].name ? &opt_table[k] : NULL;
}

bool hprt_opt_has_state(const hprt_optimizer *o, hprt_state_array a)
{
    const hprt_opt_desc *d = hprt_opt_info(o->kind);
    if (!d || (unsigned)a >= HPRT_STATE__COUNT)
        return false;
    if (d->states & (1u << a))
        return true;
    return d->cond_state == a && *(const bool *)((const char *)o + d->cond_offset);
}

bool hprt_opt_can_cycle(const hprt_optimizer *o)
{
    const hprt_opt_desc *d = hprt_opt_info(o->kind);
    if (!d)
        return false;
    if (d->cycles_beta1)
        return true;
    for (int i = 0; i < d->n_params; i++)
        if (d->params[i].offset == offsetof(hprt_optimizer, momentum))
            return o->momentum > 0;
    return false;
}

/* ---- per-step numbers ------------------------------------------------------------ */

hprt_optim_coef hprt_optim_coefs(const hprt_optimizer *o, double lr, double override, long t)
{
    hprt_optim_coef c = {0};
    c.lr = lr;
    c.eps = o->eps;
    switch (o->kind) {
    case HPRT_OPT_SGD:
        c.wd = o->weight_decay;
        c.mu = isnan(override) ? o->momentum : override;
        c.damp_keep = 1.0 - o->dampening;
        c.first = t <= 1;
        c.nesterov = o->nesterov;
        c.has_momentum = o->momentum != 0;
        break;
    case HPRT_OPT_ADAM:
    case HPRT_OPT_ADAMW:
    case HPRT_OPT_ADAMAX: {
        double b1 = isnan(override) ? o->beta1 : override;
        c.decoupled = o->kind == HPRT_OPT_ADAMW;
        c.wd = c.decoupled ? 0.0 : o->weight_decay;
        c.decay_keep = c.decoupled ? 1.0 - lr * o->weight_decay : 1.0;
        c.b1_weight = 1.0 - b1;
        c.b2 = o->beta2;
        c.one_minus_b2 = 1.0 - o->beta2;
        c.step_size = lr / (1.0 - pow(b1, (double)t));
        if (o->kind == HPRT_OPT_ADAMAX)
            break;
        c.bc2_sqrt = sqrt(1.0 - pow(o->beta2, (double)t));
        c.amsgrad = o->amsgrad;
        break;
    }
    case HPRT_OPT_ADAGRAD:
        c.wd = o->weight_decay;
        c.clr = lr / (1.0 + (double)(t - 1) * o->lr_decay);
        break;
    case HPRT_OPT_RMSPROP:
        c.wd = o->weight_decay;
        c.mu = isnan(override) ? o->momentum : override;
        c.alpha = o->alpha;
        c.one_minus_alpha = 1.0 - o->alpha;
        c.centered = o->centered;
        c.has_momentum = o->momentum > 0;
        break;
    case HPRT_OPT__COUNT:
        break;
    }
    return c;
}

/* torch.lerp(a, b, w): two forms so that w near 1 stays accurate. */
#define DEFINE_LERP(T, SFX)                                              \
    static inline T lerp_##SFX(T a, T b, T w)                            \
    {                                                                    \
        return (w < (T)0.5 && w > (T)-0.5) ? a + w * (b - a)             \
                                           : b - (b - a) * ((T)1 - w);   \
    }

/* g += wd·θ; buf = first ? g : μ·buf + (1−τ)·g; g = nesterov ? g + μ·buf : buf;
 * θ −= lr·g */
#define DEFINE_SGD(T, SFX)                                               \
    static inline T sgd_##SFX(const hprt_optim_coef *c, T th, T g, T *buf)          \
    {                                                                    \
        if (c->wd != 0.0)                                                \
            g = g + (T)c->wd * th;                                       \
        if (c->mu != 0.0) {                                              \
            *buf = c->first ? g : *buf * (T)c->mu + (T)c->damp_keep * g; \
            g = c->nesterov ? g + (T)c->mu * *buf : *buf;                \
        }                                                                \
        return th - (T)c->lr * g;                                        \
    }

/* AdamW: θ·(1−lr·λ) first.  Adam: g += λθ.  m = lerp(m, g, 1−β1);
 * v = β2v + (1−β2)g²; denom = √(v or vmax)/√(1−β2^t) + eps;
 * θ −= lr/(1−β1^t)·m/denom */
#define DEFINE_ADAM(T, SFX, SQRT)                                        \
    static inline T adam_##SFX(const hprt_optim_coef *c, T th, T g, T *m, T *v,     \
                               T *vmax)                                  \
    {                                                                    \
        if (c->decoupled)                                                \
            th = th * (T)c->decay_keep;                                  \
        else if (c->wd != 0.0)                                           \
            g = g + (T)c->wd * th;                                       \
        *m = lerp_##SFX(*m, g, (T)c->b1_weight);                         \
        *v = *v * (T)c->b2 + (T)c->one_minus_b2 * g * g;                 \
        T vhat = *v;                                                     \
        if (c->amsgrad) {                                                \
            *vmax = *vmax > *v ? *vmax : *v;                             \
            vhat = *vmax;                                                \
        }                                                                \
        T denom = SQRT(vhat) / (T)c->bc2_sqrt + (T)c->eps;               \
        return th - (T)c->step_size * *m / denom;                        \
    }

/* g += wd·θ; m = lerp(m, g, 1−β1); u = max(β2·u, |g| + eps) (NaN-propagating,
 * as torch.maximum); θ −= (lr/(1−β1^t))·m/u */
#define DEFINE_ADAMAX(T, SFX, FABS)                                      \
    static inline T adamax_##SFX(const hprt_optim_coef *c, T th, T g, T *m, T *u)   \
    {                                                                    \
        if (c->wd != 0.0)                                                \
            g = g + (T)c->wd * th;                                       \
        *m = lerp_##SFX(*m, g, (T)c->b1_weight);                         \
        T a = *u * (T)c->b2, b = FABS(g) + (T)c->eps;                    \
        *u = (a > b || a != a) ? a : b;                                  \
        return th - (T)c->step_size * *m / *u;                           \
    }

/* g += wd·θ; sum += g²; θ −= clr·g/(√sum + eps) */
#define DEFINE_ADAGRAD(T, SFX, SQRT)                                     \
    static inline T adagrad_##SFX(const hprt_optim_coef *c, T th, T g, T *sum)      \
    {                                                                    \
        if (c->wd != 0.0)                                                \
            g = g + (T)c->wd * th;                                       \
        *sum = *sum + g * g;                                             \
        T std = SQRT(*sum) + (T)c->eps;                                  \
        return th - (T)c->clr * g / std;                                 \
    }

/* g += wd·θ; v = αv + (1−α)g²; avg = √(v − ga²) with ga = lerp(ga, g, 1−α)
 * if centered, else √v; avg += eps; with momentum buf = μ·buf + g/avg and
 * θ −= lr·buf, else θ −= lr·g/avg */
#define DEFINE_RMSPROP(T, SFX, SQRT)                                     \
    static inline T rmsprop_##SFX(const hprt_optim_coef *c, T th, T g, T *v, T *ga, \
                                  T *buf)                                \
    {                                                                    \
        if (c->wd != 0.0)                                                \
            g = g + (T)c->wd * th;                                       \
        *v = *v * (T)c->alpha + (T)c->one_minus_alpha * g * g;           \
        T avg;                                                           \
        if (c->centered) {                                               \
            *ga = lerp_##SFX(*ga, g, (T)c->one_minus_alpha);             \
            avg = SQRT(*v - *ga * *ga);                                  \
        } else {                                                         \
            avg = SQRT(*v);                                              \
        }                                                                \
        avg = avg + (T)c->eps;                                           \
        if (c->mu > 0.0) {                                               \
            *buf = *buf * (T)c->mu + g / avg;                            \
            return th - (T)c->lr * *buf;                                 \
        }                                                                \
        return th - (T)c->lr * g / avg;                                  \
    }

DEFINE_LERP(float, f)
DEFINE_LERP(double, d)
DEFINE_SGD(float, f)
DEFINE_SGD(double, d)
DEFINE_ADAM(float, f, sqrtf)
DEFINE_ADAM(double, d, sqrt)
DEFINE_ADAMAX(float, f, fabsf)
DEFINE_ADAMAX(double, d, fabs)
DEFINE_ADAGRAD(float, f, sqrtf)
DEFINE_ADAGRAD(double, d, sqrt)
DEFINE_RMSPROP(float, f, sqrtf)
DEFINE_RMSPROP(double, d, sqrt)

/* ---- state ---------------------------------------------------------------------- */

/* n floats, NULL for n == 0; *ok cleared when an allocation fails. */
static float *alloc_buf(size_t n, bool *ok)
{
    if (n == 0)
        return NULL;
    if (n > SIZE_MAX / sizeof(float)) {
        *ok = false;
        return NULL;
    }
    float *p = hprt_alloc(n * sizeof(float));
    if (!p)
        *ok = false;
    return p;
}

hprt_optim_state *hprt_optim_state_new(const hprt_optimizer *o, size_t nparams)
{
    hprt_optim_state *s = hprt_alloc(sizeof *s);
    if (!s)
        return NULL;
    s->kind = o->kind;
    s->n = nparams;
    bool ok = hprt_opt_info(o->kind) != NULL;
    for (int a = 0; ok && a < HPRT_STATE__COUNT; a++)
        if (hprt_opt_has_state(o, (hprt_state_array)a))
            s->arrays[a] = alloc_buf(nparams, &ok);
    if (s->sum) /* adagrad's initial_accumulator_value */
        for (size_t i = 0; i < nparams; i++)
            s->sum[i] = (float)o->initial;
    if (!ok) {
        hprt_optim_state_free(s);
        return NULL;
    }
    return s;
}

void hprt_optim_state_free(hprt_optim_state *s)
{
    if (!s)
        return;
    for (int a = 0; a < HPRT_STATE__COUNT; a++)
        hprt_free(s->arrays[a]);
    hprt_free(s);
}

/* ---- the float path ---------------------------------------------------------------- */

/* Does s have every buffer this step will touch? */
static bool state_fits(const hprt_optimizer *o, const hprt_optim_state *s, size_t offset, size_t n)
{
    if (!hprt_opt_info(o->kind) || s->kind != o->kind || offset > s->n || n > s->n - offset)
        return false;
    for (int a = 0; a < HPRT_STATE__COUNT; a++)
        if (hprt_opt_has_state(o, (hprt_state_array)a) && !s->arrays[a] && s->n != 0)
            return false;
    return true;
}

hprt_status hprt_optim_step_range(const hprt_optimizer *o, hprt_optim_state *s,
                                  size_t offset, float *theta, const float *grad,
                                  size_t n, double lr,
                                  double momentum_or_beta1_override, long t)
{
    hprt_optim_coef c = hprt_optim_coefs(o, lr, momentum_or_beta1_override, t);
    if (!state_fits(o, s, offset, n))
        return HPRT_E_RUN;
    if (n == 0)
        return HPRT_OK;
    size_t k = offset;
    switch (o->kind) {
    case HPRT_OPT_SGD:
        for (size_t i = 0; i < n; i++)
            theta[i] = sgd_f(&c, theta[i], grad[i], &s->buf[k + i]);
        break;
    case HPRT_OPT_ADAM:
    case HPRT_OPT_ADAMW:
        for (size_t i = 0; i < n; i++)
            theta[i] = adam_f(&c, theta[i], grad[i], &s->m[k + i], &s->v[k + i],
                              s->vmax ? &s->vmax[k + i] : NULL);
        break;
    case HPRT_OPT_ADAGRAD:
        for (size_t i = 0; i < n; i++)
            theta[i] = adagrad_f(&c, theta[i], grad[i], &s->sum[k + i]);
        break;
    case HPRT_OPT_RMSPROP:
        for (size_t i = 0; i < n; i++)
            theta[i] = rmsprop_f(&c, theta[i], grad[i], &s->v[k + i],
                                 s->ga ? &s->ga[k + i] : NULL, &s->buf[k + i]);
        break;
    case HPRT_OPT_ADAMAX:
        for (size_t i = 0; i < n; i++)
            theta[i] = adamax_f(&c, theta[i], grad[i], &s->m[k + i], &s->v[k + i]);
        break;
    case HPRT_OPT__COUNT:
        return HPRT_E_RUN;
    }
    return HPRT_OK;
}

hprt_status hprt_optim_step(const hprt_optimizer *o, hprt_optim_state *s, float *theta,
                            const float *grad, size_t n, double lr,
                            double momentum_or_beta1_override, long t)
{
    return hprt_optim_step_range(o, s, 0, theta, grad, n, lr, momentum_or_beta1_override, t);
}

/* ---- the double scalar path -------------------------------------------------------- */

void hprt_optim_scalar_init(const hprt_optimizer *o, hprt_optim_scalar *s)
{
    memset(s, 0, sizeof *s);
    s->sum = o->initial;
}

double hprt_optim_step_scalar(const hprt_optimizer *o, hprt_optim_scalar *s, double theta,
                              double grad, double lr, double momentum_or_beta1_override,
                              long t)
{
    hprt_optim_coef c = hprt_optim_coefs(o, lr, momentum_or_beta1_override, t);
    switch (o->kind) {
    case HPRT_OPT_SGD: return sgd_d(&c, theta, grad, &s->buf);
    case HPRT_OPT_ADAM:
    case HPRT_OPT_ADAMW: return adam_d(&c, theta, grad, &s->m, &s->v, &s->vmax);
    case HPRT_OPT_ADAGRAD: return adagrad_d(&c, theta, grad, &s->sum);
    case HPRT_OPT_RMSPROP: return rmsprop_d(&c, theta, grad, &s->v, &s->ga, &s->buf);
    case HPRT_OPT_ADAMAX: return adamax_d(&c, theta, grad, &s->m, &s->v);
    case HPRT_OPT__COUNT: break;
    }
    return NAN; /* a kind outside the enum */
}

/* ---- clipping ------------------------------------------------------------------------ */

double hprt_clip_grad_norm(float **grads, const size_t *sizes, int n, double max_norm)
{
    double sq = 0.0;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            sq += (double)grads[i][j] * grads[i][j];
    double norm = sqrt(sq);
    if (!isfinite(norm))
        return norm;
    double scale = max_norm / (norm + 1e-6);
    if (scale < 1.0) {
        float f = (float)scale;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < sizes[i]; j++)
                grads[i][j] *= f;
    }
    return norm;
}
