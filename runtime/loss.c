/* loss.c - cross-entropy (fused with softmax), mean squared error, accuracy.
 *
 * Sums run in double: a loss is a mean over a whole batch (or B·T tokens),
 * and it is the number the logs, early stopping and the tests all compare.
 */
#include "hprt_kernels.h"

#include <math.h>

static bool label_ok(int32_t y, int K) { return y >= 0 && y < K; }

/* One row: returns logsumexp(z) − z_y and, if d != NULL, writes
 * (softmax(z) − onehot(y))·inv_b. */
static double xent_row(const float *z, int32_t y, int K, double inv_b, float *d)
{
    if (!label_ok(y, K)) {
        if (d)
            for (int j = 0; j < K; j++)
                d[j] = NAN;
        return NAN;
    }
    float m = z[0];
    for (int j = 1; j < K; j++)
        if (z[j] > m)
            m = z[j];
    double sum = 0.0;
    for (int j = 0; j < K; j++)
        sum += exp((double)z[j] - m);
    if (d)
        for (int j = 0; j < K; j++) {
            double p = exp((double)z[j] - m) / sum;
            d[j] = (float)((p - (j == y ? 1.0 : 0.0)) * inv_b);
        }
    /* log Σ exp(z − m) + m − z_y, without forming the probabilities: stays
     * finite however confident the wrong answer is. */
    return log(sum) + ((double)m - z[y]);
}

double hprt_softmax_xent(const float *logits, const int32_t *labels, int B, int K,
                         float *dlogits)
{
    if (B <= 0)
        return 0.0;
    double inv_b = 1.0 / B, total = 0.0;
    for (int b = 0; b < B; b++)
        total += xent_row(logits + (size_t)b * K, labels[b], K, inv_b,
                          dlogits ? dlogits + (size_t)b * K : NULL);
    return total * inv_b;
}

double hprt_mse(const float *y, const float *target, size_t n, float *dy)
{
    if (n == 0)
        return 0.0;
    double total = 0.0, scale = 2.0 / (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = (double)y[i] - target[i];
        total += e * e;
        if (dy)
            dy[i] = (float)(scale * e);
    }
    return total / (double)n;
}

double hprt_mse_onehot(const float *y, const int32_t *labels, int B, int K, float *dy)
{
    size_t n = (size_t)B * (size_t)K;
    if (n == 0)
        return 0.0;
    double total = 0.0, scale = 2.0 / (double)n;
    bool bad = false;
    for (int b = 0; b < B; b++) {
        const float *yr = y + (size_t)b * K;
        bool ok = label_ok(labels[b], K);
        bad |= !ok;
        for (int j = 0; j < K; j++) {
            double e = (double)yr[j] - (j == labels[b] ? 1.0 : 0.0);
            total += e * e;
            if (dy)
                dy[(size_t)b * K + j] = ok ? (float)(scale * e) : NAN;
        }
    }
    return bad ? NAN : total / (double)n;
}

int hprt_accuracy_count(const float *scores, const int32_t *labels, int B, int K)
{
    int correct = 0;
    for (int b = 0; b < B; b++) {
        const float *s = scores + (size_t)b * K;
        int best = 0;
        for (int j = 1; j < K; j++)
            if (s[j] > s[best]) /* strict: ties keep the first, as torch.argmax */
                best = j;
        correct += best == labels[b];
    }
    return correct;
}
