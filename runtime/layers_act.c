/* layers_act.c - activations and dropout.
 *
 * Each value is computed in double from the float input and rounded once, so
 * the reference is as accurate as float storage allows.
 */
#include "hprt_kernels.h"

#include <math.h>

/* ---- elementwise ------------------------------------------------------------ */

void hprt_relu_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] <= 0.0f ? 0.0f : x[i]; /* NaN passes, as torch.relu: a NaN must surface */
}

void hprt_tanh_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (float)tanh((double)x[i]);
}

void hprt_sigmoid_forward(const float *x, float *y, size_t n)
{
    /* In double exp(-x) overflows only to +inf, and 1/(1+inf) = 0: no NaN. */
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

static const double SQRT1_2 = 0.70710678118654752440;      /* 1/√2 */
static const double INV_SQRT_2PI = 0.39894228040143267794; /* 1/√(2π) */

void hprt_gelu_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v * SQRT1_2)));
    }
}

void hprt_relu_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] <= 0.0f ? 0.0f : dy[i]; /* torch's threshold_backward */
}

void hprt_tanh_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double t = y[i];
        dx[i] = (float)(dy[i] * (1.0 - t * t));
    }
}

void hprt_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = y[i];
        dx[i] = (float)(dy[i] * (s * (1.0 - s)));
    }
}

void hprt_gelu_backward(const float *x, const float *dy, float *dx, size_t n)
{
    /* d/dx [x·Φ(x)] = Φ(x) + x·φ(x) */
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * (1.0 + erf(v * SQRT1_2));
        double pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
        dx[i] = (float)(dy[i] * (cdf + v * pdf));
    }
}

/* ---- softmax ------------------------------------------------------------------ */

void hprt_softmax_forward(const float *x, float *y, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        /* Subtracting the row maximum keeps every exp() <= 1. */
        float m = xr[0];
        for (int j = 1; j < cols; j++)
            if (xr[j] > m)
                m = xr[j];
        double sum = 0.0;
        for (int j = 0; j < cols; j++)
            sum += exp((double)xr[j] - m);
        /* Second pass recomputes exp() instead of buffering it: y may alias x,
         * and the first pass must not destroy the input. */
        for (int j = 0; j < cols; j++)
            yr[j] = (float)(exp((double)xr[j] - m) / sum);
    }
}

void hprt_softmax_backward(const float *y, const float *dy, float *dx, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        const float *yr = y + (size_t)r * cols;
        const float *gr = dy + (size_t)r * cols;
        float *dr = dx + (size_t)r * cols;
        double dot = 0.0;
        for (int j = 0; j < cols; j++)
            dot += (double)gr[j] * yr[j];
        for (int j = 0; j < cols; j++)
            dr[j] = (float)(yr[j] * ((double)gr[j] - dot));
    }
}

/* ---- dispatch ------------------------------------------------------------------ */

void hprt_act_forward(hprt_act kind, const float *x, float *y, int rows, int cols)
{
    size_t n = (size_t)rows * (size_t)cols;
    switch (kind) {
    case HPRT_ACT_NONE:
        if (y != x)
            for (size_t i = 0; i < n; i++)
                y[i] = x[i];
        break;
    case HPRT_ACT_RELU: hprt_relu_forward(x, y, n); break;
    case HPRT_ACT_TANH: hprt_tanh_forward(x, y, n); break;
    case HPRT_ACT_SIGMOID: hprt_sigmoid_forward(x, y, n); break;
    case HPRT_ACT_GELU: hprt_gelu_forward(x, y, n); break;
    case HPRT_ACT_SOFTMAX: hprt_softmax_forward(x, y, rows, cols); break;
    }
}

void hprt_act_backward(hprt_act kind, const float *x, const float *y,
                       const float *dy, float *dx, int rows, int cols)
{
    size_t n = (size_t)rows * (size_t)cols;
    switch (kind) {
    case HPRT_ACT_NONE:
        if (dx != dy)
            for (size_t i = 0; i < n; i++)
                dx[i] = dy[i];
        break;
    case HPRT_ACT_RELU: hprt_relu_backward(y, dy, dx, n); break;
    case HPRT_ACT_TANH: hprt_tanh_backward(y, dy, dx, n); break;
    case HPRT_ACT_SIGMOID: hprt_sigmoid_backward(y, dy, dx, n); break;
    case HPRT_ACT_GELU: hprt_gelu_backward(x, dy, dx, n); break;
    case HPRT_ACT_SOFTMAX: hprt_softmax_backward(y, dy, dx, rows, cols); break;
    }
}

/* ---- dropout ------------------------------------------------------------------- */

/* splitmix64's finaliser: a bijection on 64 bits with full avalanche. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hprt_dropout_key(uint64_t seed, uint64_t step, uint32_t layer)
{
    /* Chained mixing: each argument goes through a full avalanche before the
     * next is added, so (step, layer) pairs cannot cancel out the way a plain
     * XOR of the three would.  The constant separates these keys from other
     * uses of the run seed (hprt_rng_seed(seed) starts from the same value). */
    uint64_t k = mix64(seed ^ 0xD1B54A32D192ED03ull);
    k = mix64(k + step);
    return mix64(k + layer);
}

void hprt_dropout_forward(const float *x, float *y, size_t n, float p,
                          uint64_t key, uint64_t index0)
{
    uint32_t thr = hprt_dropout_threshold(p);
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        y[i] = hprt_hash_u32(key, index0 + i) >= thr ? x[i] * scale : 0.0f;
}

void hprt_dropout_backward(const float *dy, float *dx, size_t n, float p,
                           uint64_t key, uint64_t index0)
{
    /* The same mask and scale as the forward: d(x·s)/dx = s. */
    hprt_dropout_forward(dy, dx, n, p, key, index0);
}
