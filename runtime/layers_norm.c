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

/* ---- batch normalisation, the reference for `batchnorm` ----
 *
 * X is [N x C x S]: channel c of sample r is X[(r·C + c)·S .. +S).  Per
 * channel over all n = N·S of its values, in double, rounded once when
 * stored (as the layer normalisation above and compiler/layer_batchnorm.c):
 *   mean = Σx/n, var = Σ(x − mean)²/n, rstd = 1/√(var + eps), x̂ = (x − mean)·rstd,
 *   y = x̂·w + b;  dx = w·rstd·(dy − Σdy/n − x̂·Σ(dy·x̂)/n), dw = Σ dy·x̂, db = Σ dy;
 *   running_mean ← (1 − m)·running_mean + m·mean,
 *   running_var ← (1 − m)·running_var + m·var·n/(n − 1). */

static void bn_stats(const float *X, int N, int C, int S, int c, double eps, double *mean, double *var, double *rstd)
{
    double s = 0, q = 0, n = (double)N * S;
    for (int r = 0; r < N; r++)
        for (int k = 0; k < S; k++)
            s += X[((size_t)r * (size_t)C + (size_t)c) * (size_t)S + (size_t)k];
    double m = s / n;
    for (int r = 0; r < N; r++)
        for (int k = 0; k < S; k++) {
            double d = (double)X[((size_t)r * (size_t)C + (size_t)c) * (size_t)S + (size_t)k] - m;
            q += d * d;
        }
    *mean = m;
    *var = q / n;
    *rstd = 1.0 / sqrt(q / n + eps);
}

void hprt_batchnorm_forward(const float *X, const float *w, const float *b, float *Y, int N, int C, int S, double eps,
                            float *running, double momentum)
{
    double n = (double)N * S;
    for (int c = 0; c < C; c++) {
        double mean, var, rstd;
        bn_stats(X, N, C, S, c, eps, &mean, &var, &rstd);
        for (int r = 0; r < N; r++)
            for (int k = 0; k < S; k++) {
                size_t i = ((size_t)r * (size_t)C + (size_t)c) * (size_t)S + (size_t)k;
                Y[i] = (float)(((double)X[i] - mean) * rstd * w[c] + b[c]);
            }
        if (running && n > 1) {
            running[c] = (float)((1 - momentum) * running[c] + momentum * mean);
            running[C + c] = (float)((1 - momentum) * running[C + c] + momentum * (var * (n / (n - 1))));
        }
    }
}

void hprt_batchnorm_forward_eval(const float *X, const float *w, const float *b, const float *running, float *Y, int N,
                                 int C, int S, double eps)
{
    for (int c = 0; c < C; c++) {
        double rstd = 1.0 / sqrt((double)running[C + c] + eps);
        for (int r = 0; r < N; r++)
            for (int k = 0; k < S; k++) {
                size_t i = ((size_t)r * (size_t)C + (size_t)c) * (size_t)S + (size_t)k;
                Y[i] = (float)(((double)X[i] - running[c]) * rstd * w[c] + b[c]);
            }
    }
}

void hprt_batchnorm_backward(const float *X, const float *w, const float *dY, float *dX, float *dw, float *db, int N,
                             int C, int S, double eps)
{
    double n = (double)N * S;
    for (int c = 0; c < C; c++) {
        double mean, var, rstd, g1 = 0, g2 = 0;
        bn_stats(X, N, C, S, c, eps, &mean, &var, &rstd);
        for (int r = 0; r < N; r++)
            for (int k = 0; k < S; k++) {
                size_t i = ((size_t)r * (size_t)C + (size_t)c) * (size_t)S + (size_t)k;
                g1 += dY[i];
                g2 += (double)dY[i] * (((double)X[i] - mean) * rstd);
            }
        if (dw)
            dw[c] = (float)g2;
        if (db)
            db[c] = (float)g1;
        if (!dX)
            continue;
        double m1 = g1 / n, m2 = g2 / n;
        for (int r = 0; r < N; r++)
            for (int k = 0; k < S; k++) {
                size_t i = ((size_t)r * (size_t)C + (size_t)c) * (size_t)S + (size_t)k;
                double xhat = ((double)X[i] - mean) * rstd;
                dX[i] = (float)((double)w[c] * rstd * ((double)dY[i] - m1 - xhat * m2));
            }
    }
}
