/* layers_norm.c - layer normalisation, the reference for `layernorm`.
 *
 * Row by row, in double, rounded once when stored (as layers_act.c; dw and db
 * are summed over rows in their float outputs):
 *   mean = Σx / D, var = Σ(x − mean)² / D, rstd = 1/√(var + eps),
 *   x̂ = (x − mean)·rstd, y = x̂·w + b;
 *   g = dy·w, dx = rstd·(g − Σg/D − x̂·Σ(g·x̂)/D), dw = Σ_rows dy·x̂, db = Σ_rows dy.
 */
#include "hprt_kernels.h"

#include <math.h>

static void row_stats(const float *x, int D, double eps, double *mean, double *rstd)
{
    double s = 0, q = 0;
    for (int j = 0; j < D; j++)
        s += x[j];
    double m = s / D;
    for (int j = 0; j < D; j++)
        q += ((double)x[j] - m) * ((double)x[j] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(q / D + eps);
}

void hprt_layernorm_forward(const float *X, const float *w, const float *b, float *Y, int rows, int D, double eps)
{
    for (int r = 0; r < rows; r++) {
        const float *x = X + (size_t)r * (size_t)D;
        float *y = Y + (size_t)r * (size_t)D;
        double mean, rstd;
        row_stats(x, D, eps, &mean, &rstd);
        for (int j = 0; j < D; j++)
            y[j] = (float)(((double)x[j] - mean) * rstd * w[j] + b[j]);
    }
}

void hprt_layernorm_backward(const float *X, const float *w, const float *dY, float *dX, float *dw, float *db, int rows,
                             int D, double eps)
{
    for (int j = 0; dw && j < D; j++)
        dw[j] = 0;
    for (int j = 0; db && j < D; j++)
        db[j] = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = X + (size_t)r * (size_t)D, *dy = dY + (size_t)r * (size_t)D;
        double mean, rstd, s1 = 0, s2 = 0;
        row_stats(x, D, eps, &mean, &rstd);
        for (int j = 0; j < D; j++) {
            double xhat = ((double)x[j] - mean) * rstd, gw = (double)dy[j] * w[j];
            s1 += gw;
            s2 += gw * xhat;
            /* dw, db: each row's term in double, the sum over rows in the float outputs */
            if (dw)
                dw[j] = (float)((double)dw[j] + dy[j] * xhat);
            if (db)
                db[j] = (float)((double)db[j] + dy[j]);
        }
        if (!dX)
            continue;
        double m1 = s1 / D, m2 = s2 / D;
        float *dx = dX + (size_t)r * (size_t)D;
        for (int j = 0; j < D; j++) {
            double xhat = ((double)x[j] - mean) * rstd;
            dx[j] = (float)(rstd * ((double)dy[j] * w[j] - m1 - xhat * m2));
        }
    }
}
