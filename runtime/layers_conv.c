/* layers_conv.c - reference 2-D convolution and pooling, NCHW.
 *
 * Direct loops, each output computed as a gather with a double accumulator:
 * slow for wide layers but plainly the textbook definition, which is what a
 * reference is for.  Index helpers keep the loops readable.
 */
#include "hprt_kernels.h"

#include <math.h>
#include <string.h>

/* ---- geometry ---------------------------------------------------------------- */

static int out_size(int n, int k, int stride, int pad_total)
{
    if (stride <= 0 || n + pad_total < k)
        return 0;
    return (n + pad_total - k) / stride + 1;
}

hprt_conv2d_geom hprt_conv2d_geom_make(int C, int H, int W, int F, int k,
                                       int stride, int pad_lo, int pad_hi)
{
    hprt_conv2d_geom g = {
        .C = C, .H = H, .W = W, .F = F, .k = k, .stride = stride, .pad = pad_lo,
        .Ho = out_size(H, k, stride, pad_lo + pad_hi),
        .Wo = out_size(W, k, stride, pad_lo + pad_hi),
    };
    return g;
}

hprt_pool2d_geom hprt_pool2d_geom_make(int C, int H, int W, int size, int stride)
{
    hprt_pool2d_geom g = {
        .C = C, .H = H, .W = W, .size = size, .stride = stride,
        .Ho = out_size(H, size, stride, 0),
        .Wo = out_size(W, size, stride, 0),
    };
    return g;
}

/* Offset of element (c, y, x) of sample b in a [B×C×H×W] tensor. */
static size_t at4(int b, int c, int y, int x, int C, int H, int W)
{
    return (((size_t)b * C + c) * H + y) * W + x;
}

/* ---- convolution ------------------------------------------------------------- */

/* Y[b,f,oy,ox] = b[f] + Σ_{c,ky,kx} W[f,c,ky,kx]·X[b,c,oy·s−pad+ky,ox·s−pad+kx],
 * with X outside the image read as 0. */
static double conv_out(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                       int b, int f, int oy, int ox)
{
    double acc = 0.0;
    for (int c = 0; c < g->C; c++)
        for (int ky = 0; ky < g->k; ky++) {
            int iy = oy * g->stride - g->pad + ky;
            if (iy < 0 || iy >= g->H)
                continue;
            for (int kx = 0; kx < g->k; kx++) {
                int ix = ox * g->stride - g->pad + kx;
                if (ix < 0 || ix >= g->W)
                    continue;
                acc += (double)Wt[at4(f, c, ky, kx, g->C, g->k, g->k)] *
                       X[at4(b, c, iy, ix, g->C, g->H, g->W)];
            }
        }
    return acc;
}

void hprt_conv2d_forward(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                         const float *bias, float *Y, int B)
{
    for (int b = 0; b < B; b++)
        for (int f = 0; f < g->F; f++)
            for (int oy = 0; oy < g->Ho; oy++)
                for (int ox = 0; ox < g->Wo; ox++) {
                    double v = conv_out(g, X, Wt, b, f, oy, ox) + (bias ? bias[f] : 0.0);
                    Y[at4(b, f, oy, ox, g->F, g->Ho, g->Wo)] = (float)v;
                }
}

/* dX[b,c,iy,ix] = Σ over every (f, oy, ox, ky, kx) with oy·s−pad+ky = iy and
 * ox·s−pad+kx = ix of dY[b,f,oy,ox]·W[f,c,ky,kx].  For each kernel offset at
 * most one output position matches, found by solving for oy. */
static double conv_dx(const hprt_conv2d_geom *g, const float *Wt, const float *dY,
                      int b, int c, int iy, int ix)
{
    double acc = 0.0;
    for (int ky = 0; ky < g->k; ky++) {
        int ny = iy + g->pad - ky; /* = oy·stride */
        if (ny < 0 || ny % g->stride != 0 || ny / g->stride >= g->Ho)
            continue;
        int oy = ny / g->stride;
        for (int kx = 0; kx < g->k; kx++) {
            int nx = ix + g->pad - kx;
            if (nx < 0 || nx % g->stride != 0 || nx / g->stride >= g->Wo)
                continue;
            int ox = nx / g->stride;
            for (int f = 0; f < g->F; f++)
                acc += (double)dY[at4(b, f, oy, ox, g->F, g->Ho, g->Wo)] *
                       Wt[at4(f, c, ky, kx, g->C, g->k, g->k)];
        }
    }
    return acc;
}

/* dW[f,c,ky,kx] = Σ_{b,oy,ox} dY[b,f,oy,ox]·X[b,c,oy·s−pad+ky,ox·s−pad+kx] */
static double conv_dw(const hprt_conv2d_geom *g, const float *X, const float *dY, int B,
                      int f, int c, int ky, int kx)
{
    double acc = 0.0;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < g->Ho; oy++) {
            int iy = oy * g->stride - g->pad + ky;
            if (iy < 0 || iy >= g->H)
                continue;
            for (int ox = 0; ox < g->Wo; ox++) {
                int ix = ox * g->stride - g->pad + kx;
                if (ix < 0 || ix >= g->W)
                    continue;
                acc += (double)dY[at4(b, f, oy, ox, g->F, g->Ho, g->Wo)] *
                       X[at4(b, c, iy, ix, g->C, g->H, g->W)];
            }
        }
    return acc;
}

void hprt_conv2d_backward(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                          const float *dY, float *dX, float *dW, float *db, int B)
{
    if (dX)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < g->C; c++)
                for (int iy = 0; iy < g->H; iy++)
                    for (int ix = 0; ix < g->W; ix++)
                        dX[at4(b, c, iy, ix, g->C, g->H, g->W)] =
                            (float)conv_dx(g, Wt, dY, b, c, iy, ix);
    if (dW)
        for (int f = 0; f < g->F; f++)
            for (int c = 0; c < g->C; c++)
                for (int ky = 0; ky < g->k; ky++)
                    for (int kx = 0; kx < g->k; kx++)
                        dW[at4(f, c, ky, kx, g->C, g->k, g->k)] =
                            (float)conv_dw(g, X, dY, B, f, c, ky, kx);
    if (db)
        for (int f = 0; f < g->F; f++) {
            double acc = 0.0;
            size_t plane = (size_t)g->Ho * g->Wo;
            for (int b = 0; b < B; b++) {
                const float *d = dY + at4(b, f, 0, 0, g->F, g->Ho, g->Wo);
                for (size_t i = 0; i < plane; i++)
                    acc += d[i];
            }
            db[f] = (float)acc;
        }
}

/* ---- pooling ------------------------------------------------------------------ */

/* Flat offset (within one plane) of the first maximum of window (oy, ox).
 * The index is updated with a mask instead of a branch (compilers kept the
 * branch for `?:` here): on real data the comparison is a coin flip, and the
 * mispredictions cost about half the time of max pooling. */
static size_t max_at(const hprt_pool2d_geom *g, const float *plane, int oy, int ox)
{
    size_t row = (size_t)(oy * g->stride) * g->W + (size_t)(ox * g->stride);
    size_t best = row;
    float bv = plane[best];
    for (int ky = 0; ky < g->size; ky++, row += (size_t)g->W)
        for (int kx = 0; kx < g->size; kx++) {
            size_t i = row + (size_t)kx;
            float v = plane[i];
            /* strict >: the first maximum wins; a NaN wins too (PyTorch's
             * test), so it propagates instead of vanishing */
            size_t take = (size_t)((v > bv) | (v != v)); /* 0 or 1 */
            best ^= (best ^ i) & (0 - take); /* take ? i : best, without a branch */
            bv = plane[best];
        }
    return best;
}

void hprt_maxpool2d_forward(const hprt_pool2d_geom *g, const float *X, float *Y, int B)
{
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    for (size_t p = 0; p < (size_t)B * g->C; p++) {
        const float *x = X + p * in_plane;
        float *y = Y + p * out_plane;
        for (int oy = 0; oy < g->Ho; oy++)
            for (int ox = 0; ox < g->Wo; ox++)
                y[(size_t)oy * g->Wo + ox] = x[max_at(g, x, oy, ox)];
    }
}

void hprt_maxpool2d_backward(const hprt_pool2d_geom *g, const float *X, const float *dY,
                             float *dX, int B)
{
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    memset(dX, 0, (size_t)B * g->C * in_plane * sizeof *dX);
    for (size_t p = 0; p < (size_t)B * g->C; p++) {
        const float *x = X + p * in_plane;
        const float *dy = dY + p * out_plane;
        float *dx = dX + p * in_plane;
        for (int oy = 0; oy < g->Ho; oy++)
            for (int ox = 0; ox < g->Wo; ox++)
                dx[max_at(g, x, oy, ox)] += dy[(size_t)oy * g->Wo + ox];
    }
}

void hprt_avgpool2d_forward(const hprt_pool2d_geom *g, const float *X, float *Y, int B)
{
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    double inv_area = 1.0 / ((double)g->size * g->size);
    for (size_t p = 0; p < (size_t)B * g->C; p++) {
        const float *x = X + p * in_plane;
        float *y = Y + p * out_plane;
        for (int oy = 0; oy < g->Ho; oy++)
            for (int ox = 0; ox < g->Wo; ox++) {
                double s = 0.0;
                for (int ky = 0; ky < g->size; ky++)
                    for (int kx = 0; kx < g->size; kx++)
                        s += x[(size_t)(oy * g->stride + ky) * g->W + (size_t)(ox * g->stride + kx)];
                y[(size_t)oy * g->Wo + ox] = (float)(s * inv_area);
            }
    }
}

void hprt_avgpool2d_backward(const hprt_pool2d_geom *g, const float *dY, float *dX, int B)
{
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    double inv_area = 1.0 / ((double)g->size * g->size);
    memset(dX, 0, (size_t)B * g->C * in_plane * sizeof *dX);
    for (size_t p = 0; p < (size_t)B * g->C; p++) {
        const float *dy = dY + p * out_plane;
        float *dx = dX + p * in_plane;
        for (int oy = 0; oy < g->Ho; oy++)
            for (int ox = 0; ox < g->Wo; ox++) {
                float share = (float)(dy[(size_t)oy * g->Wo + ox] * inv_area);
                for (int ky = 0; ky < g->size; ky++)
                    for (int kx = 0; kx < g->size; kx++)
                        dx[(size_t)(oy * g->stride + ky) * g->W + (size_t)(ox * g->stride + kx)] += share;
            }
    }
}

/* ---- convolution, fast path: im2col + GEMM -------------------------------------- */

/* The same sums as above, reorganised so hprt_gemm does the work.  For one
 * sample, cols[C·k·k × Ho·Wo] holds in row (c, ky, kx) and column (oy, ox)
 * the input value X[c, oy·s−pad+ky, ox·s−pad+kx] (0 outside the image), so
 *   Y_s   = W[F × Ckk] · cols + b
 *   dW   += dY_s[F × HoWo] · colsᵀ
 *   dcols = Wᵀ · dY_s,  then dX_s = col2im(dcols) (the adjoint of im2col).
 * Accumulation is in float inside the GEMM, so results differ from the
 * double reference by rounding only. */

/* The ox range [*lo, *hi) whose input column ox·s − pad + kx lies in [0, W). */
static void valid_range(int n_out, int n_in, int stride, int pad, int kofs, int *lo, int *hi)
{
    int off = kofs - pad; /* input index = o·stride + off */
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = n_in - off <= 0 ? 0 : (n_in - off - 1) / stride + 1; /* first o with o·s+off >= n_in */
    if (a > n_out)
        a = n_out;
    if (b > n_out)
        b = n_out;
    if (b < a)
        b = a;
    *lo = a, *hi = b;
}

/* cols[Ckk × HoWo] from one sample x[C×H×W]. */
static void im2col(const hprt_conv2d_geom *g, const float *x, float *cols)
{
    const int k = g->k, s = g->stride, Ho = g->Ho, Wo = g->Wo;
    for (int c = 0; c < g->C; c++) {
        const float *xc = x + (size_t)c * g->H * g->W;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *row = cols + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
                int lo, hi;
                valid_range(Wo, g->W, s, g->pad, kx, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++) {
                    float *dst = row + (size_t)oy * Wo;
                    int iy = oy * s - g->pad + ky;
                    if (iy < 0 || iy >= g->H) {
                        memset(dst, 0, (size_t)Wo * sizeof *dst);
                        continue;
                    }
                    /* x[c, iy, ox·s−pad+kx] is xc[base + ox·s]; no pointer
                     * is formed outside the image */
                    ptrdiff_t base = (ptrdiff_t)iy * g->W - g->pad + kx;
                    for (int ox = 0; ox < lo; ox++)
                        dst[ox] = 0.0f;
                    if (s == 1) {
                        if (hi > lo)
                            memcpy(dst + lo, xc + (base + lo), (size_t)(hi - lo) * sizeof *dst);
                    } else
                        for (int ox = lo; ox < hi; ox++)
                            dst[ox] = xc[base + (ptrdiff_t)ox * s];
                    for (int ox = hi; ox < Wo; ox++)
                        dst[ox] = 0.0f;
                }
            }
    }
}

/* dx[C×H×W] (already zeroed) += the adjoint of im2col applied to dcols. */
static void col2im_add(const hprt_conv2d_geom *g, const float *dcols, float *dx)
{
    const int k = g->k, s = g->stride, Ho = g->Ho, Wo = g->Wo;
    for (int c = 0; c < g->C; c++) {
        float *dxc = dx + (size_t)c * g->H * g->W;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *row = dcols + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
                int lo, hi;
                valid_range(Wo, g->W, s, g->pad, kx, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++) {
                    int iy = oy * s - g->pad + ky;
                    if (iy < 0 || iy >= g->H)
                        continue;
                    const float *src = row + (size_t)oy * Wo;
                    ptrdiff_t base = (ptrdiff_t)iy * g->W - g->pad + kx;
                    for (int ox = lo; ox < hi; ox++)
                        dxc[base + (ptrdiff_t)ox * s] += src[ox];
                }
            }
    }
}

/* A 1×1 kernel with stride 1 and no padding: cols is the sample itself. */
static bool im2col_is_identity(const hprt_conv2d_geom *g)
{
    return g->k == 1 && g->stride == 1 && g->pad == 0 && g->Ho == g->H && g->Wo == g->W;
}

static void im2col_backward(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                            const float *dP, const float *dY, float *dYw, float *dX, float *dW, float *db, int B,
                            float *scratch, int epi, const double *bn);

size_t hprt_conv2d_scratch(const hprt_conv2d_geom *g)
{
    if (g->Ho <= 0 || g->Wo <= 0 || g->C <= 0 || g->k <= 0)
        return 0;
    if (hprt_conv2d_wino_pays(g))
        return hprt_conv2d_wino_scratch(g);
    return (size_t)g->C * g->k * g->k * g->Ho * g->Wo;
}

/* The epilogue of one output plane yf[Ho×Wo] (filter f of one sample), just
 * written by the GEMM and still in cache: the bias, relu, and the 2×2 max pool
 * into pf.  The bias and relu are the unfused chain's operations (y + b in
 * float, then y < 0 ? 0 : y), so every value is the same. */
static void epi_plane(const hprt_conv2d_geom *g, float *yf, const float *bias, int f, int epi, float *pf)
{
    const size_t n = (size_t)g->Ho * g->Wo;
    if (bias) {
        const float bf = bias[f];
        if (epi & HPRT_CONV_RELU)
            for (size_t i = 0; i < n; i++) {
                float v = yf[i] + bf;
                yf[i] = v < 0.0f ? 0.0f : v;
            }
        else
            for (size_t i = 0; i < n; i++)
                yf[i] += bf;
    } else if (epi & HPRT_CONV_RELU)
        for (size_t i = 0; i < n; i++)
            yf[i] = yf[i] < 0.0f ? 0.0f : yf[i];
    if (epi & HPRT_CONV_POOL2)
        hprt_maxpool22_plane(yf, g->Ho, g->Wo, pf);
}

void hprt_conv2d_epi_dy(const hprt_conv2d_geom *g, int epi, const float *y, const float *dp, float *dy)
{
    hprt_conv2d_epi_dy_bn(g, epi & ~HPRT_CONV_BN, y, dp, dy, NULL);
}

void hprt_conv2d_epi_dy_bn(const hprt_conv2d_geom *g, int epi, const float *y, const float *dp, float *dy,
                           const double *bn)
{
    const size_t howo = (size_t)g->Ho * g->Wo, pp = (size_t)(g->Ho / 2) * (g->Wo / 2);
    for (int f = 0; f < g->F; f++) {
        const float *yf = y + (size_t)f * howo;
        float *df = dy + (size_t)f * howo;
        if (epi & HPRT_CONV_BN) /* the batchnorm's dx pass, on this plane */
            hprt_bn_plane_dx(yf, dp + (size_t)f * howo, howo, bn, (size_t)g->F, (size_t)f, df);
        else if (epi & HPRT_CONV_POOL2)
            hprt_maxpool22_plane_backward(yf, g->Ho, g->Wo, dp + (size_t)f * pp, df, (epi & HPRT_CONV_RELU) != 0);
        else if (epi & HPRT_CONV_RELU) /* relu's backward: y > 0 ? dy : 0 */
            for (size_t i = 0; i < howo; i++)
                df[i] = yf[i] > 0.0f ? df[i] : 0.0f;
    }
}

void hprt_conv2d_forward_fast(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                              const float *bias, float *Y, int B, float *scratch)
{
    hprt_conv2d_forward_epi(g, X, Wt, bias, Y, NULL, B, scratch, 0);
}

static void forward_im2col(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                           float *P, int B, float *scratch, int epi, double *stats);

void hprt_conv2d_forward_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                             float *P, int B, float *scratch, int epi)
{
    if (g->Ho <= 0 || g->Wo <= 0 || g->F <= 0)
        return;
    if (!P)
        epi &= ~HPRT_CONV_POOL2;
    if (hprt_conv2d_wino_pays(g)) {
        hprt_conv2d_forward_wino_epi(g, X, Wt, bias, Y, P, B, scratch, epi);
        return;
    }
    forward_im2col(g, X, Wt, bias, Y, P, B, scratch, epi & ~HPRT_CONV_BN, NULL);
}

void hprt_conv2d_forward_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y, int B,
                            float *scratch, double *stats)
{
    if (g->F > 0)
        memset(stats, 0, (size_t)3 * g->F * sizeof *stats);
    if (g->Ho <= 0 || g->Wo <= 0 || g->F <= 0)
        return;
    if (hprt_conv2d_wino_pays(g)) {
        hprt_conv2d_forward_wino_bn(g, X, Wt, bias, Y, B, scratch, stats);
        return;
    }
    forward_im2col(g, X, Wt, bias, Y, NULL, B, scratch, 0, stats);
}

/* stats: NULL, or the batchnorm's sums (hprt_conv2d_forward_bn), each plane's
 * added right after its epilogue */
static void forward_im2col(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                           float *P, int B, float *scratch, int epi, double *stats)
{
    const size_t pool_s = (size_t)g->F * (g->Ho / 2) * (g->Wo / 2);
    const int ckk = g->C * g->k * g->k, howo = g->Ho * g->Wo;
    const size_t in_s = (size_t)g->C * g->H * g->W, out_s = (size_t)g->F * howo;
    const bool ident = im2col_is_identity(g);
    for (int n = 0; n < B; n++) {
        const float *x = X + n * in_s;
        float *y = Y + n * out_s;
        const float *cols = x;
        if (!ident) {
            im2col(g, x, scratch);
            cols = scratch;
        }
        hprt_gemm(false, false, g->F, howo, ckk, 1.0f, Wt, ckk, cols, howo, 0.0f, y, howo);
        if (bias || epi || stats)
            for (int f = 0; f < g->F; f++) {
                epi_plane(g, y + (size_t)f * howo, bias, f, epi,
                          epi & HPRT_CONV_POOL2 ? P + n * pool_s + (size_t)f * (g->Ho / 2) * (g->Wo / 2) : NULL);
                if (stats)
                    hprt_bn_plane_stats(y + (size_t)f * howo, (size_t)howo, n == 0, stats + f, stats + g->F + f,
                                        stats + 2 * g->F + f);
            }
    }
}

void hprt_conv2d_backward_fast(const hprt_conv2d_geom *g, const float *X, const float *Wt,
                               const float *dY, float *dX, float *dW, float *db, int B,
                               float *scratch)
{
    if (hprt_conv2d_wino_pays(g)) {
        hprt_conv2d_backward_wino(g, X, Wt, dY, dX, dW, db, B, scratch);
        return;
    }
    im2col_backward(g, X, Wt, NULL, NULL, dY, NULL, dX, dW, db, B, scratch, 0, NULL);
}

void hprt_conv2d_backward_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                              const float *dP, float *dY, float *dX, float *dW, float *db, int B, float *scratch,
                              int epi)
{
    hprt_conv2d_backward_bn(g, X, Wt, Y, dP, dY, dX, dW, db, B, scratch, epi & ~HPRT_CONV_BN, NULL);
}

void hprt_conv2d_backward_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                             const float *dP, float *dY, float *dX, float *dW, float *db, int B, float *scratch,
                             int epi, const double *bn)
{
    if (epi & HPRT_CONV_BN) /* the batchnorm's input gradient, alone */
        epi = bn && dP ? HPRT_CONV_BN : 0;
    else if (!dP)
        epi &= ~HPRT_CONV_POOL2;
    if (hprt_conv2d_wino_pays(g)) {
        hprt_conv2d_backward_wino_bn(g, X, Wt, Y, dP, dY, dX, dW, db, B, scratch, epi, bn);
        return;
    }
    im2col_backward(g, X, Wt, Y, dP, dY, epi ? dY : NULL, dX, dW, db, B, scratch, epi, bn);
}

/* dY is read; with an epilogue (epi != 0) each sample's dY is first formed
 * in dYw (the same buffer) from Y and dP (hprt_conv2d_epi_dy_bn; dP is the
 * pool's output gradient, or with HPRT_CONV_BN the batchnorm's). */
static void im2col_backward(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                            const float *dP, const float *dY, float *dYw, float *dX, float *dW, float *db, int B,
                            float *scratch, int epi, const double *bn)
{
    const int ckk = g->C * g->k * g->k;
    const size_t in_s = (size_t)g->C * g->H * g->W;
    const bool empty = g->Ho <= 0 || g->Wo <= 0 || g->F <= 0;
    const int howo = empty ? 0 : g->Ho * g->Wo;
    const size_t out_s = (size_t)(empty ? 0 : g->F) * howo;

    /* The sums are empty (B = 0, or no output): every gradient is zero. */
    if (dX)
        memset(dX, 0, (size_t)B * in_s * sizeof *dX);
    if (dW && (empty || B <= 0))
        memset(dW, 0, (size_t)(g->F > 0 ? g->F : 0) * ckk * sizeof *dW);
    if (db && g->F > 0)
        memset(db, 0, (size_t)g->F * sizeof *db);
    if (empty)
        return;

    const bool ident = im2col_is_identity(g);
    const size_t pool_s = epi & HPRT_CONV_BN ? out_s : (size_t)g->F * (g->Ho / 2) * (g->Wo / 2);
    for (int n = 0; n < B; n++) {
        const float *x = X + n * in_s, *dy = dY + n * out_s;
        if (epi)
            hprt_conv2d_epi_dy_bn(g, epi, Y + n * out_s, dP ? dP + n * pool_s : NULL, dYw + n * out_s, bn);
        if (dW) {
            const float *cols = x;
            if (!ident) {
                im2col(g, x, scratch);
                cols = scratch;
            }
            hprt_gemm(false, true, g->F, ckk, howo, 1.0f, dy, howo, cols, howo,
                      n == 0 ? 0.0f : 1.0f, dW, ckk);
        }
        if (db)
            for (int f = 0; f < g->F; f++) {
                const float *d = dy + (size_t)f * howo;
                float acc = 0.0f;
                for (int i = 0; i < howo; i++)
                    acc += d[i];
                db[f] += acc;
            }
        if (dX) {
            float *dx = dX + n * in_s;
            if (ident) /* col2im is the identity too: write dX_s directly */
                hprt_gemm(true, false, ckk, howo, g->F, 1.0f, Wt, ckk, dy, howo, 0.0f, dx, howo);
            else {
                hprt_gemm(true, false, ckk, howo, g->F, 1.0f, Wt, ckk, dy, howo, 0.0f, scratch, howo);
                col2im_add(g, scratch, dx);
            }
        }
    }
}
