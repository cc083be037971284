/* init.c - default and explicit parameter initialisation (docs/policies.md §12).
 *
 * The bounds are computed exactly as PyTorch computes them, so a bound can be
 * compared with PyTorch's to the last bit; the random draws come from hprt_rng
 * (PyTorch's own generator is not reproduced, only its distributions).
 */
#include "hprt_kernels.h"

#include <math.h>
#include <stdlib.h>

double hprt_init_default_weight_bound(long fan_in)
{
    /* torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5)):
     *   gain = sqrt(2 / (1 + a²)); std = gain / sqrt(fan_in); bound = sqrt(3)·std
     * The rounding of this chain is why fan_in = 1 gives 1 − 2^-53. */
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1.0 + a * a));
    double std = gain / sqrt((double)fan_in);
    return sqrt(3.0) * std;
}

double hprt_init_inv_sqrt(long n)
{
    return 1.0 / sqrt((double)n);
}

void hprt_init_uniform(hprt_rng *r, float *w, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(lo + (hi - lo) * hprt_rng_uniform(r));
}

void hprt_init_normal(hprt_rng *r, float *w, size_t n, double mean, double std)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(mean + std * hprt_rng_normal(r));
}

static void fill_zero(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = 0.0f;
}

/* Weight then bias of a layer with the given fans; shared by dense and conv. */
static void init_affine(hprt_rng *r, hprt_init_kind kind, float *W, size_t nw,
                        float *b, size_t nb, long fan_in, long fan_out)
{
    double bound;
    switch (kind) {
    case HPRT_INIT_DEFAULT:
        bound = hprt_init_default_weight_bound(fan_in);
        hprt_init_uniform(r, W, nw, -bound, bound);
        if (b) {
            /* torch: bound = 1/math.sqrt(fan_in) if fan_in > 0 else 0 */
            double bb = fan_in > 0 ? hprt_init_inv_sqrt(fan_in) : 0.0;
            hprt_init_uniform(r, b, nb, -bb, bb);
        }
        return;
    case HPRT_INIT_XAVIER_UNIFORM:
        /* xavier_uniform_, gain 1: std = gain·√(2/(fan_in+fan_out)), bound √3·std
         * (= √(6/(fan_in+fan_out)), rounded as torch rounds it) */
        bound = sqrt(3.0) * (1.0 * sqrt(2.0 / (double)(fan_in + fan_out)));
        break;
    case HPRT_INIT_KAIMING_UNIFORM:
        /* kaiming_uniform_(nonlinearity='relu'): gain √2, std = gain/√fan_in,
         * bound √3·std (= √(6/fan_in)) */
        bound = sqrt(3.0) * (sqrt(2.0) / sqrt((double)fan_in));
        break;
    case HPRT_INIT_ZEROS:
    default:
        fill_zero(W, nw);
        if (b)
            fill_zero(b, nb);
        return;
    }
    /* An explicit scheme sets the bias to zero (the usual PyTorch idiom
     * `init.xavier_uniform_(m.weight); init.zeros_(m.bias)`, and Keras). */
    hprt_init_uniform(r, W, nw, -bound, bound);
    if (b)
        fill_zero(b, nb);
}

void hprt_init_dense(hprt_rng *r, hprt_init_kind kind, float *W, float *b, int in, int out)
{
    init_affine(r, kind, W, (size_t)out * in, b, (size_t)out, in, out);
}

void hprt_init_conv(hprt_rng *r, hprt_init_kind kind, float *W, float *b, int C, int F, int k)
{
    long kk = (long)k * k;
    init_affine(r, kind, W, (size_t)F * C * kk, b, (size_t)F, C * kk, F * kk);
}

void hprt_init_embedding(hprt_rng *r, float *E, int vocab, int dim, int padding_idx)
{
    hprt_init_normal(r, E, (size_t)vocab * dim, 0.0, 1.0);
    if (padding_idx >= 0 && padding_idx < vocab)
        fill_zero(E + (size_t)padding_idx * dim, (size_t)dim);
}

void hprt_init_recurrent(hprt_rng *r, float *p, size_t n, int hidden)
{
    double bound = hprt_init_inv_sqrt(hidden);
    hprt_init_uniform(r, p, n, -bound, bound);
}

hprt_status hprt_init_orthogonal(hprt_rng *r, float *W, int rows, int cols, double gain)
{
    if (rows <= 0 || cols <= 0)
        return HPRT_OK;
    bool wide = rows < cols;
    size_t m = (size_t)(wide ? cols : rows), n = (size_t)(wide ? rows : cols); /* the matrix QR'd: m x n, m >= n */
    double *A = malloc(sizeof(double) * m * n);
    if (!A)
        return HPRT_E_RUN;
    /* drawn as torch draws `flattened` (rows x cols, row by row); A is kept
     * column-major (A[j*m + i]: column j) with the columns those of the
     * rows x cols matrix, or of its transpose when wide */
    for (size_t i = 0; i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)cols; j++) {
            double g = hprt_rng_normal(r);
            if (wide)
                A[i * m + j] = g; /* transposed: row i of the draw is column i */
            else
                A[j * m + i] = g;
        }
    /* modified Gram-Schmidt, each column orthogonalised twice ("twice is
     * enough"), in double: Q with R's diagonal (the norms) positive */
    for (size_t j = 0; j < n; j++) {
        double *q = A + j * m;
        for (int pass = 0; pass < 2; pass++)
            for (size_t k = 0; k < j; k++) {
                const double *p = A + k * m;
                double d = 0;
                for (size_t i = 0; i < m; i++)
                    d += p[i] * q[i];
                for (size_t i = 0; i < m; i++)
                    q[i] -= d * p[i];
            }
        double norm = 0;
        for (size_t i = 0; i < m; i++)
            norm += q[i] * q[i];
        norm = sqrt(norm);
        for (size_t i = 0; i < m; i++)
            q[i] = norm > 0 ? q[i] / norm : 0.0;
    }
    for (size_t i = 0; i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)cols; j++)
            W[i * (size_t)cols + j] = (float)(gain * (wide ? A[i * m + j] : A[j * m + i]));
    free(A);
    return HPRT_OK;
}
