/* layers_catembed.c - the reference for embedded categorical CSV columns
 * (docs/language.md, "Categorical CSV data"; hprt_kernels.h): a gather of
 * table rows forward, a scatter-add of the gradient backward.  The compiled
 * step (compiler/codegen.c, catembed_*) computes the same sums in the same
 * order: test_codegen_catembed holds it to these. */
#include <string.h>

#include "hprt_kernels.h"

int hprt_catembed_id(float v, int n)
{
    return v >= 1.0f && v < (float)n + 1.0f ? (int)v : 0;
}

void hprt_catembed_forward(const hprt_catembed_geom *g, const float *W, const float *X, int rows, float *Y)
{
    for (int r = 0; r < rows; r++) {
        const float *x = X + (size_t)r * (size_t)g->in_width;
        float *y = Y + (size_t)r * (size_t)g->out_width;
        int p = 0, q = 0; /* read and write positions */
        for (int c = 0; c < g->n_cols; c++) {
            const hprt_catembed_col *col = &g->cols[c];
            while (p < col->in_pos)
                y[q++] = x[p++];
            int id = hprt_catembed_id(x[p++], col->n);
            memcpy(y + q, W + col->w + (size_t)id * (size_t)col->dim, sizeof *y * (size_t)col->dim);
            q += col->dim;
        }
        while (p < g->in_width)
            y[q++] = x[p++];
    }
}

void hprt_catembed_backward(const hprt_catembed_geom *g, const float *X, const float *dY, int rows, float *dW)
{
    for (int c = 0; c < g->n_cols; c++) {
        const hprt_catembed_col *col = &g->cols[c];
        memset(dW + col->w, 0, sizeof *dW * (size_t)(col->n + 1) * (size_t)col->dim);
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < g->n_cols; c++) {
            const hprt_catembed_col *col = &g->cols[c];
            int id = hprt_catembed_id(X[(size_t)r * (size_t)g->in_width + (size_t)col->in_pos], col->n);
            float *dw = dW + col->w + (size_t)id * (size_t)col->dim;
            const float *dy = dY + (size_t)r * (size_t)g->out_width + (size_t)col->out_pos;
            for (int j = 0; j < col->dim; j++)
                dw[j] += dy[j];
        }
}
