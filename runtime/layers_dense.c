/* layers_dense.c - the fully connected layer, W stored [out×in] (torch Linear).
 *
 * Both passes go through hprt_gemm because this is also what training calls;
 * only the bias work is written out.
 */
#include "hprt_kernels.h"

void hprt_dense_forward(const float *X, const float *W, const float *b, float *Y,
                        int B, int in, int out)
{
    /* Y = X·Wᵀ: op(B) = Wᵀ, W stored [out×in] so ldb = in. */
    hprt_gemm(false, true, B, out, in, 1.0f, X, in, W, in, 0.0f, Y, out);
    if (!b)
        return;
    for (int r = 0; r < B; r++) {
        float *y = Y + (size_t)r * out;
        for (int j = 0; j < out; j++)
            y[j] += b[j];
    }
}

void hprt_dense_backward(const float *X, const float *W, const float *dY,
                         float *dX, float *dW, float *db, int B, int in, int out)
{
    /* dX[B×in] = dY[B×out]·W[out×in] */
    if (dX)
        hprt_gemm(false, false, B, in, out, 1.0f, dY, out, W, in, 0.0f, dX, in);
    /* dW[out×in] = dYᵀ·X: op(A) = dYᵀ is out×B, stored [B×out]. */
    if (dW)
        hprt_gemm(true, false, out, in, B, 1.0f, dY, out, X, in, 0.0f, dW, in);
    if (db) {
        /* Column sums in double: the batch can be long and the reference
         * should not carry float summation error. */
        for (int j = 0; j < out; j++) {
            double s = 0.0;
            for (int r = 0; r < B; r++)
                s += dY[(size_t)r * out + j];
            db[j] = (float)s;
        }
    }
}
