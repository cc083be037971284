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

/* Flat offset (within one plane) of the first maximum of window (oy, ox). */
static size_t max_at(const hprt_pool2d_geom *g, const float *plane, int oy, int ox)
{
    size_t best = (size_t)(oy * g->stride) * g->W + (size_t)(ox * g->stride);
    for (int ky = 0; ky < g->size; ky++)
        for (int kx = 0; kx < g->size; kx++) {
            size_t i = (size_t)(oy * g->stride + ky) * g->W + (size_t)(ox * g->stride + kx);
            /* strict >: the first maximum wins; a NaN wins too (PyTorch's
             * test), so it propagates instead of vanishing */
            if (plane[i] > plane[best] || isnan(plane[i]))
                best = i;
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
