/* conv_wino.c - Winograd F(2×2, 3×3) for 3×3, stride-1 convolutions.
 *
 * The output is cut into 2×2 tiles; each reads a 4×4 input tile d.  With
 * U = G g Gᵀ (the 3×3 filter g transformed to 4×4), V = Bᵀ d B and
 * Y_tile = Aᵀ [U ⊙ V] A, the 36 multiplications per tile and channel pair of
 * the direct sum become 16, and across channels the elementwise products are
 * 16 independent GEMMs (one per position of the 4×4 tile):
 *   M[p] (F × T) = U[p] (F × C) · V[p] (C × T)
 * over T tiles (all tiles of a chunk of samples).  Backward uses the exact
 * adjoint of that forward, with Ŷ = A dY_tile Aᵀ (the 2×2 output gradient,
 * zero past Ho/Wo, spread to 4×4):
 *   dV[p] (C × T) = U[p]ᵀ · Ŷ[p],   dX tile += B dV Bᵀ   (overlapping tiles add)
 *   dU[p] (F × C) = Σ_T Ŷ[p] · V[p]ᵀ,   dW = Gᵀ dU G
 * so one transform of dY serves both gradients, and the weight gradient's
 * GEMMs have K = T (a chunk of samples) instead of one sample's Ho·Wo.
 *
 * The algebra is exact; the rounding is not the direct sum's: the transforms
 * add up to 4 inputs before multiplying, so the float error bound grows by a
 * small constant factor (about 4× the direct GEMM's for F(2×2, 3×3), Lavin &
 * Gray 2016, "Fast Algorithms for Convolutional Neural Networks", section 5).
 * test_rt_conv_wino holds it to the double reference within 1e-4 relative to
 * the size of the terms summed (docs/internals.md, "Convolutions").
 *
 * Geometry: any C, F, H, W and pad with k = 3 and stride 1; the input is
 * zero outside the image (both the padding and, when Ho/Wo are odd, the last
 * tile's overhang), and outputs past Ho/Wo are dropped.
 */
#include "hprt_kernels.h"

#include <string.h>

/* Tiles of one chunk: whole samples, about this many tiles per chunk (the
 * GEMMs' N; more amortises OpenBLAS's call and packing, fewer stays in L2). */
#define WINO_CHUNK_TILES 98

typedef struct {
    int th, tw, tiles; /* tile rows, columns, tiles per sample */
    int S, T;          /* samples per chunk, tiles per chunk */
    int Hp, Wp;        /* the padded plane: input row iy is plane row iy + pad */
} wino_plan;

static wino_plan plan_of(const hprt_conv2d_geom *g)
{
    wino_plan w;
    w.th = (g->Ho + 1) / 2;
    w.tw = (g->Wo + 1) / 2;
    w.tiles = w.th * w.tw;
    w.S = w.tiles >= WINO_CHUNK_TILES ? 1 : WINO_CHUNK_TILES / w.tiles;
    w.T = w.S * w.tiles;
    w.Hp = 2 * w.th + 2 > g->H + g->pad ? 2 * w.th + 2 : g->H + g->pad;
    w.Wp = 2 * w.tw + 2 > g->W + g->pad ? 2 * w.tw + 2 : g->W + g->pad;
    return w;
}

bool hprt_conv2d_wino_fits(const hprt_conv2d_geom *g)
{
    return g->k == 3 && g->stride == 1 && g->Ho > 0 && g->Wo > 0 && g->C > 0 && g->F > 0 && g->pad >= 0;
}

/* Where it pays (measured, docs/internals.md): enough channels both ways that
 * the 16 GEMMs are GEMMs and not vector loops. */
bool hprt_conv2d_wino_pays(const hprt_conv2d_geom *g)
{
    return hprt_conv2d_wino_fits(g) && g->C >= 16 && g->F >= 16;
}

/* Scratch layout (floats): U[16·F·C] dU[16·F·C] V[16·C·T] dV[16·C·T]
 * M[16·F·T] plane[Hp·Wp] rows[16·tw]. */
size_t hprt_conv2d_wino_scratch(const hprt_conv2d_geom *g)
{
    if (!hprt_conv2d_wino_fits(g))
        return 0;
    wino_plan w = plan_of(g);
    size_t F = (size_t)g->F, C = (size_t)g->C, T = (size_t)w.T;
    return 32 * F * C + 32 * C * T + 16 * F * T + (size_t)w.Hp * w.Wp + 16 * (size_t)w.tw;
}

/* ---- transforms ---------------------------------------------------------------- */

/* U[p][f][c] = (G g Gᵀ)[p] for g = W[f][c], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]. */
static void filter_transform(const hprt_conv2d_geom *g, const float *Wt, float *U)
{
    const size_t FC = (size_t)g->F * g->C;
    for (int f = 0; f < g->F; f++)
        for (int c = 0; c < g->C; c++) {
            const float *w = Wt + ((size_t)f * g->C + c) * 9;
            float t[4][3]; /* G g */
            for (int j = 0; j < 3; j++) {
                t[0][j] = w[j];
                t[1][j] = 0.5f * (w[j] + w[3 + j] + w[6 + j]);
                t[2][j] = 0.5f * (w[j] - w[3 + j] + w[6 + j]);
                t[3][j] = w[6 + j];
            }
            float *u = U + (size_t)f * g->C + c;
            for (int i = 0; i < 4; i++) { /* (G g) Gᵀ */
                u[(4 * i + 0) * FC] = t[i][0];
                u[(4 * i + 1) * FC] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[(4 * i + 2) * FC] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[(4 * i + 3) * FC] = t[i][2];
            }
        }
}

/* dW[f][c] = Gᵀ dU[·][f][c] G (the adjoint of filter_transform). */
static void filter_adjoint(const hprt_conv2d_geom *g, const float *dU, float *dW)
{
    const size_t FC = (size_t)g->F * g->C;
    for (int f = 0; f < g->F; f++)
        for (int c = 0; c < g->C; c++) {
            const float *u = dU + (size_t)f * g->C + c;
            float t[4][3]; /* row i: dU[i][·] G */
            for (int i = 0; i < 4; i++) {
                float x0 = u[(4 * i) * FC], x1 = u[(4 * i + 1) * FC], x2 = u[(4 * i + 2) * FC],
                      x3 = u[(4 * i + 3) * FC];
                t[i][0] = x0 + 0.5f * (x1 + x2);
                t[i][1] = 0.5f * (x1 - x2);
                t[i][2] = 0.5f * (x1 + x2) + x3;
            }
            float *w = dW + ((size_t)f * g->C + c) * 9;
            for (int j = 0; j < 3; j++) {
                w[j] = t[0][j] + 0.5f * (t[1][j] + t[2][j]);
                w[3 + j] = 0.5f * (t[1][j] - t[2][j]);
                w[6 + j] = 0.5f * (t[1][j] + t[2][j]) + t[3][j];
            }
        }
}

/* V[p][c][t0 + t] = (Bᵀ d B)[p] for every tile t of one sample x[C×H×W],
 * Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].  Each channel is first copied
 * into `plane` with its zero padding, so the tile loop has no bounds. */
static void input_transform(const hprt_conv2d_geom *g, const wino_plan *w, const float *x, float *V, int t0,
                            float *plane)
{
    const size_t CT = (size_t)g->C * w->T, Wp = (size_t)w->Wp;
    for (int c = 0; c < g->C; c++) {
        const float *xc = x + (size_t)c * g->H * g->W;
        for (int r = 0; r < w->Hp; r++) {
            float *row = plane + (size_t)r * Wp;
            int iy = r - g->pad;
            memset(row, 0, Wp * sizeof *row);
            if (iy >= 0 && iy < g->H)
                memcpy(row + g->pad, xc + (size_t)iy * g->W, (size_t)g->W * sizeof *row);
        }
        for (int ty = 0; ty < w->th; ty++) {
            const float *r0 = plane + (size_t)(2 * ty) * Wp, *r1 = r0 + Wp, *r2 = r1 + Wp, *r3 = r2 + Wp;
            float *v = V + (size_t)c * w->T + (size_t)t0 + (size_t)ty * w->tw;
            for (int tx = 0; tx < w->tw; tx++) {
                const int o = 2 * tx;
                float t[4][4];
                for (int j = 0; j < 4; j++) {
                    t[0][j] = r0[o + j] - r2[o + j];
                    t[1][j] = r1[o + j] + r2[o + j];
                    t[2][j] = r2[o + j] - r1[o + j];
                    t[3][j] = r1[o + j] - r3[o + j];
                }
                for (int i = 0; i < 4; i++) {
                    v[(4 * i + 0) * CT + tx] = t[i][0] - t[i][2];
                    v[(4 * i + 1) * CT + tx] = t[i][1] + t[i][2];
                    v[(4 * i + 2) * CT + tx] = t[i][2] - t[i][1];
                    v[(4 * i + 3) * CT + tx] = t[i][1] - t[i][3];
                }
            }
        }
    }
}

/* y[F×Ho×Wo] of one sample = Aᵀ M A + b, Aᵀ = [1 1 1 0; 0 1 −1 −1]; the
 * last tile's row or column past Ho/Wo is dropped.  rows: 4·tw floats.
 * The epilogue (hprt_conv2d_forward_epi): relu on each pair of rows as it
 * is formed, and each filter's plane max-pooled into p[F×(Ho/2)×(Wo/2)]
 * right after it is written (in L1). */
static void output_transform(const hprt_conv2d_geom *g, const wino_plan *w, const float *M, int t0, const float *bias,
                             float *y, float *rows, int epi, float *p, double *stats, int first)
{
    const size_t pp = (size_t)(g->Ho / 2) * (g->Wo / 2);
    const size_t FT = (size_t)g->F * w->T;
    const int tw = w->tw;
    float *o0 = rows, *o1 = rows + 2 * tw;
    for (int f = 0; f < g->F; f++) {
        const float bf = bias ? bias[f] : 0.0f;
        float *yf = y + (size_t)f * g->Ho * g->Wo;
        for (int ty = 0; ty < w->th; ty++) {
            const float *m = M + (size_t)f * w->T + (size_t)t0 + (size_t)ty * tw;
            for (int tx = 0; tx < tw; tx++) {
                float a[2][4];
                for (int j = 0; j < 4; j++) {
                    float m0 = m[(0 + j) * FT + tx], m1 = m[(4 + j) * FT + tx], m2 = m[(8 + j) * FT + tx],
                          m3 = m[(12 + j) * FT + tx];
                    a[0][j] = m0 + m1 + m2;
                    a[1][j] = m1 - m2 - m3;
                }
                o0[2 * tx] = a[0][0] + a[0][1] + a[0][2] + bf;
                o0[2 * tx + 1] = a[0][1] - a[0][2] - a[0][3] + bf;
                o1[2 * tx] = a[1][0] + a[1][1] + a[1][2] + bf;
                o1[2 * tx + 1] = a[1][1] - a[1][2] - a[1][3] + bf;
            }
            if (epi & HPRT_CONV_RELU)
                for (int j = 0; j < 4 * tw; j++)
                    rows[j] = rows[j] < 0.0f ? 0.0f : rows[j];
            memcpy(yf + (size_t)(2 * ty) * g->Wo, o0, (size_t)g->Wo * sizeof *yf);
            if (2 * ty + 1 < g->Ho)
                memcpy(yf + (size_t)(2 * ty + 1) * g->Wo, o1, (size_t)g->Wo * sizeof *yf);
        }
        if (epi & HPRT_CONV_POOL2)
            hprt_maxpool22_plane(yf, g->Ho, g->Wo, p + (size_t)f * pp);
        if (stats) /* a batchnorm's sums (hprt_conv2d_forward_bn), while the plane is in L1 */
            hprt_bn_plane_stats(yf, (size_t)g->Ho * g->Wo, first, stats + f, stats + g->F + f, stats + 2 * g->F + f);
    }
}

/* M[p][f][t0 + t] = (A g Aᵀ)[p] for the 2×2 tile g of dy[F×Ho×Wo] (zero past
 * Ho/Wo): the adjoint of output_transform.  rows: 4·tw floats. */
static void grad_transform(const hprt_conv2d_geom *g, const wino_plan *w, const float *dy, float *M, int t0,
                           float *rows)
{
    const size_t FT = (size_t)g->F * w->T;
    const int tw = w->tw;
    float *g0 = rows, *g1 = rows + 2 * tw;
    for (int f = 0; f < g->F; f++) {
        const float *df = dy + (size_t)f * g->Ho * g->Wo;
        for (int ty = 0; ty < w->th; ty++) {
            memset(rows, 0, (size_t)4 * tw * sizeof *rows);
            memcpy(g0, df + (size_t)(2 * ty) * g->Wo, (size_t)g->Wo * sizeof *rows);
            if (2 * ty + 1 < g->Ho)
                memcpy(g1, df + (size_t)(2 * ty + 1) * g->Wo, (size_t)g->Wo * sizeof *rows);
            float *m = M + (size_t)f * w->T + (size_t)t0 + (size_t)ty * tw;
            for (int tx = 0; tx < tw; tx++) {
                float a = g0[2 * tx], b = g0[2 * tx + 1], c = g1[2 * tx], d = g1[2 * tx + 1];
                float h[4][2] = {{a, b}, {a + c, b + d}, {a - c, b - d}, {-c, -d}}; /* A g */
                for (int i = 0; i < 4; i++) {                                       /* (A g) Aᵀ */
                    m[(4 * i + 0) * FT + tx] = h[i][0];
                    m[(4 * i + 1) * FT + tx] = h[i][0] + h[i][1];
                    m[(4 * i + 2) * FT + tx] = h[i][0] - h[i][1];
                    m[(4 * i + 3) * FT + tx] = -h[i][1];
                }
            }
        }
    }
}

/* dx[C×H×W] of one sample = Σ over tiles of B dV Bᵀ placed at the tile's
 * input window (the adjoint of input_transform): accumulated in `plane`,
 * then its image part copied out.  res: 16·tw floats. */
static void input_adjoint(const hprt_conv2d_geom *g, const wino_plan *w, const float *dV, int t0, float *dx,
                          float *plane, float *res)
{
    const size_t CT = (size_t)g->C * w->T, Wp = (size_t)w->Wp;
    const int tw = w->tw;
    for (int c = 0; c < g->C; c++) {
        memset(plane, 0, (size_t)w->Hp * Wp * sizeof *plane);
        for (int ty = 0; ty < w->th; ty++) {
            const float *v = dV + (size_t)c * w->T + (size_t)t0 + (size_t)ty * tw;
            for (int tx = 0; tx < tw; tx++) {
                float z[4][4]; /* B x per column */
                for (int j = 0; j < 4; j++) {
                    float x0 = v[(0 + j) * CT + tx], x1 = v[(4 + j) * CT + tx], x2 = v[(8 + j) * CT + tx],
                          x3 = v[(12 + j) * CT + tx];
                    z[0][j] = x0;
                    z[1][j] = x1 - x2 + x3;
                    z[2][j] = x1 + x2 - x0;
                    z[3][j] = -x3;
                }
                for (int i = 0; i < 4; i++) { /* then Bᵀ on the right */
                    res[(4 * i + 0) * tw + tx] = z[i][0];
                    res[(4 * i + 1) * tw + tx] = z[i][1] - z[i][2] + z[i][3];
                    res[(4 * i + 2) * tw + tx] = z[i][1] + z[i][2] - z[i][0];
                    res[(4 * i + 3) * tw + tx] = -z[i][3];
                }
            }
            /* neighbouring tiles overlap by two columns and two rows: add the
             * left half of every tile, then the right half */
            for (int i = 0; i < 4; i++) {
                float *row = plane + (size_t)(2 * ty + i) * Wp;
                const float *e0 = res + (4 * i) * tw, *e1 = e0 + tw, *e2 = e1 + tw, *e3 = e2 + tw;
                for (int tx = 0; tx < tw; tx++) {
                    row[2 * tx] += e0[tx];
                    row[2 * tx + 1] += e1[tx];
                }
                for (int tx = 0; tx < tw; tx++) {
                    row[2 * tx + 2] += e2[tx];
                    row[2 * tx + 3] += e3[tx];
                }
            }
        }
        float *dxc = dx + (size_t)c * g->H * g->W;
        for (int iy = 0; iy < g->H; iy++)
            memcpy(dxc + (size_t)iy * g->W, plane + (size_t)(iy + g->pad) * Wp + g->pad, (size_t)g->W * sizeof *dxc);
    }
}

/* ---- the passes ------------------------------------------------------------------ */

static void wino_backward(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y, const float *dP,
                          const float *dY, float *dYw, float *dX, float *dW, float *db, int B, float *scratch, int epi,
                          const double *bn);
static void wino_forward(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                         float *P, int B, float *scratch, int epi, double *stats);

typedef struct {
    float *U, *dU, *V, *dV, *M, *plane, *rows;
} wino_bufs;

static wino_bufs bufs_of(const hprt_conv2d_geom *g, const wino_plan *w, float *scratch)
{
    size_t FC = (size_t)g->F * g->C, CT = (size_t)g->C * w->T, FT = (size_t)g->F * w->T;
    wino_bufs b;
    b.U = scratch;
    b.dU = b.U + 16 * FC;
    b.V = b.dU + 16 * FC;
    b.dV = b.V + 16 * CT;
    b.M = b.dV + 16 * CT;
    b.plane = b.M + 16 * FT;
    b.rows = b.plane + (size_t)w->Hp * w->Wp;
    return b;
}

void hprt_conv2d_forward_wino(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                              int B, float *scratch)
{
    hprt_conv2d_forward_wino_epi(g, X, Wt, bias, Y, NULL, B, scratch, 0);
}

void hprt_conv2d_forward_wino_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias,
                                  float *Y, float *P, int B, float *scratch, int epi)
{
    if (!P)
        epi &= ~HPRT_CONV_POOL2;
    wino_forward(g, X, Wt, bias, Y, P, B, scratch, epi & ~HPRT_CONV_BN, NULL);
}

void hprt_conv2d_forward_wino_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                                 int B, float *scratch, double *stats)
{
    wino_forward(g, X, Wt, bias, Y, NULL, B, scratch, 0, stats);
}

/* stats: NULL, or the batchnorm's sums (hprt_conv2d_forward_bn, which zeroed them) */
static void wino_forward(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *bias, float *Y,
                         float *P, int B, float *scratch, int epi, double *stats)
{
    if (!hprt_conv2d_wino_fits(g) || B <= 0)
        return;
    const size_t pool_s = (size_t)g->F * (g->Ho / 2) * (g->Wo / 2);
    const wino_plan w = plan_of(g);
    const wino_bufs b = bufs_of(g, &w, scratch);
    const size_t in_s = (size_t)g->C * g->H * g->W, out_s = (size_t)g->F * g->Ho * g->Wo;
    const size_t FC = (size_t)g->F * g->C, CT = (size_t)g->C * w.T, FT = (size_t)g->F * w.T;
    filter_transform(g, Wt, b.U);
    for (int n0 = 0; n0 < B; n0 += w.S) {
        int ns = B - n0 < w.S ? B - n0 : w.S, Tn = ns * w.tiles;
        for (int s = 0; s < ns; s++)
            input_transform(g, &w, X + (size_t)(n0 + s) * in_s, b.V, s * w.tiles, b.plane);
        for (int p = 0; p < 16; p++)
            hprt_gemm(false, false, g->F, Tn, g->C, 1.0f, b.U + p * FC, g->C, b.V + p * CT, w.T, 0.0f, b.M + p * FT,
                      w.T);
        for (int s = 0; s < ns; s++)
            output_transform(g, &w, b.M, s * w.tiles, bias, Y + (size_t)(n0 + s) * out_s, b.rows, epi,
                             epi & HPRT_CONV_POOL2 ? P + (size_t)(n0 + s) * pool_s : NULL, stats, n0 + s == 0);
    }
}

void hprt_conv2d_backward_wino(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *dY, float *dX,
                               float *dW, float *db, int B, float *scratch)
{
    wino_backward(g, X, Wt, NULL, NULL, dY, NULL, dX, dW, db, B, scratch, 0, NULL);
}

void hprt_conv2d_backward_wino_epi(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                                   const float *dP, float *dY, float *dX, float *dW, float *db, int B,
                                   float *scratch, int epi)
{
    if (!dP)
        epi &= ~HPRT_CONV_POOL2;
    wino_backward(g, X, Wt, Y, dP, dY, epi ? dY : NULL, dX, dW, db, B, scratch, epi & ~HPRT_CONV_BN, NULL);
}

/* epi and bn as hprt_conv2d_backward_bn left them */
void hprt_conv2d_backward_wino_bn(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y,
                                  const float *dP, float *dY, float *dX, float *dW, float *db, int B, float *scratch,
                                  int epi, const double *bn)
{
    wino_backward(g, X, Wt, Y, dP, dY, epi ? dY : NULL, dX, dW, db, B, scratch, epi, bn);
}

/* dY is read; with an epilogue each chunk's samples' dY are first formed in
 * dYw (the same buffer) from Y and dP, and stay in cache for the transform. */
static void wino_backward(const hprt_conv2d_geom *g, const float *X, const float *Wt, const float *Y, const float *dP,
                          const float *dY, float *dYw, float *dX, float *dW, float *db, int B, float *scratch, int epi,
                          const double *bn)
{
    if (!hprt_conv2d_wino_fits(g))
        return;
    const size_t in_s = (size_t)g->C * g->H * g->W, howo = (size_t)g->Ho * g->Wo, out_s = (size_t)g->F * howo;
    if (db)
        memset(db, 0, (size_t)g->F * sizeof *db);
    if (B <= 0) {
        if (dW)
            memset(dW, 0, (size_t)g->F * g->C * 9 * sizeof *dW);
        return;
    }
    const wino_plan w = plan_of(g);
    const wino_bufs b = bufs_of(g, &w, scratch);
    const size_t FC = (size_t)g->F * g->C, CT = (size_t)g->C * w.T, FT = (size_t)g->F * w.T;
    const size_t pool_s = epi & HPRT_CONV_BN ? out_s : (size_t)g->F * (g->Ho / 2) * (g->Wo / 2);
    if (dX)
        filter_transform(g, Wt, b.U);
    for (int n0 = 0; n0 < B; n0 += w.S) {
        int ns = B - n0 < w.S ? B - n0 : w.S, Tn = ns * w.tiles;
        for (int s = 0; epi && s < ns; s++)
            hprt_conv2d_epi_dy_bn(g, epi, Y + (size_t)(n0 + s) * out_s, dP ? dP + (size_t)(n0 + s) * pool_s : NULL,
                                  dYw + (size_t)(n0 + s) * out_s, bn);
        for (int s = 0; s < ns; s++)
            grad_transform(g, &w, dY + (size_t)(n0 + s) * out_s, b.M, s * w.tiles, b.rows);
        if (dX) {
            for (int p = 0; p < 16; p++)
                hprt_gemm(true, false, g->C, Tn, g->F, 1.0f, b.U + p * FC, g->C, b.M + p * FT, w.T, 0.0f,
                          b.dV + p * CT, w.T);
            for (int s = 0; s < ns; s++)
                input_adjoint(g, &w, b.dV, s * w.tiles, dX + (size_t)(n0 + s) * in_s, b.plane, b.rows);
        }
        if (dW) {
            for (int s = 0; s < ns; s++)
                input_transform(g, &w, X + (size_t)(n0 + s) * in_s, b.V, s * w.tiles, b.plane);
            for (int p = 0; p < 16; p++)
                hprt_gemm(false, true, g->F, g->C, Tn, 1.0f, b.M + p * FT, w.T, b.V + p * CT, w.T,
                          n0 == 0 ? 0.0f : 1.0f, b.dU + p * FC, g->C);
        }
        if (db)
            for (int s = 0; s < ns; s++) {
                const float *dy = dY + (size_t)(n0 + s) * out_s;
                for (int f = 0; f < g->F; f++) {
                    const float *d = dy + (size_t)f * howo;
                    float acc = 0.0f;
                    for (size_t i = 0; i < howo; i++)
                        acc += d[i];
                    db[f] += acc;
                }
            }
    }
    if (dW)
        filter_adjoint(g, b.dU, dW);
}
