/* loss.c - the losses of compiler/losses.def (cross-entropy fused with softmax,
 * with label smoothing and class weights; mse, mae, huber, bce) and accuracy.
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

double hprt_softmax_xent_opts(const float *logits, const int32_t *labels, int B, int K, double eps, const float *w,
                              float *dlogits)
{
    if (B <= 0)
        return 0.0;
    double wsum_k = 0.0, denom = 0.0; /* Σ_j w_j; Σ_b w_y */
    for (int j = 0; j < K; j++)
        wsum_k += w ? w[j] : 1.0;
    bool bad = false;
    for (int b = 0; b < B; b++) {
        bad |= !label_ok(labels[b], K);
        if (!bad)
            denom += w ? w[labels[b]] : 1.0;
    }
    if (bad || !(denom > 0)) {
        if (dlogits)
            for (size_t i = 0; i < (size_t)B * K; i++)
                dlogits[i] = NAN;
        return NAN;
    }
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        int y = labels[b];
        double m = z[0];
        for (int j = 1; j < K; j++)
            if (z[j] > m)
                m = z[j];
        double sum = 0.0;
        for (int j = 0; j < K; j++)
            sum += exp((double)z[j] - m);
        double lse = m + log(sum), wy = w ? w[y] : 1.0, smooth = 0.0;
        for (int j = 0; j < K; j++)
            smooth += (w ? w[j] : 1.0) * (lse - z[j]);
        total += (1.0 - eps) * wy * (lse - z[y]) + eps / K * smooth;
        if (dlogits)
            for (int j = 0; j < K; j++) {
                double p = exp((double)z[j] - m) / sum, wj = w ? w[j] : 1.0;
                double g = (1.0 - eps) * wy * (p - (j == y ? 1.0 : 0.0)) + eps / K * (wsum_k * p - wj);
                dlogits[(size_t)b * K + j] = (float)(g / denom);
            }
    }
    return total / denom;
}

/* The target of element j of a row: the label itself with one output, else
 * onehot; multi-label (the label a bit set of K bits): bit j. */
static double target_of(int32_t y, int j, int K, bool multi)
{
    return multi ? (double)(((uint32_t)y >> j) & 1u) : K == 1 ? (double)y : (j == y ? 1.0 : 0.0);
}
static bool target_ok(int32_t y, int K, bool multi)
{
    return multi ? K >= 1 && K < 32 && y >= 0 && ((uint32_t)y >> K) == 0 : K == 1 ? (y == 0 || y == 1) : label_ok(y, K);
}

typedef enum { ELEM_MAE, ELEM_HUBER, ELEM_BCE } elem_loss;

static double elem_onehot(elem_loss kind, const float *y, const int32_t *labels, int B, int K, double delta, bool multi,
                          float *dy)
{
    size_t n = (size_t)B * (size_t)K;
    if (n == 0)
        return 0.0;
    double total = 0.0, inv_n = 1.0 / (double)n;
    bool bad = false;
    for (int b = 0; b < B; b++) {
        bool ok = target_ok(labels[b], K, multi);
        bad |= !ok;
        for (int j = 0; j < K; j++) {
            size_t i = (size_t)b * K + j;
            double z = y[i], t = target_of(labels[b], j, K, multi), d = z - t, l = 0, g = 0;
            switch (kind) {
            case ELEM_MAE:
                l = fabs(d);
                g = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
                break;
            case ELEM_HUBER:
                l = fabs(d) < delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
                g = d > delta ? delta : d < -delta ? -delta : d;
                break;
            case ELEM_BCE:
                l = (z > 0 ? z : 0.0) - z * t + log1p(exp(-fabs(z)));
                g = 1.0 / (1.0 + exp(-z)) - t;
                break;
            }
            total += l;
            if (dy)
                dy[i] = ok ? (float)(g * inv_n) : NAN;
        }
    }
    return bad ? NAN : total * inv_n;
}

double hprt_mae_onehot(const float *y, const int32_t *labels, int B, int K, float *dy)
{
    return elem_onehot(ELEM_MAE, y, labels, B, K, 0, false, dy);
}

double hprt_huber_onehot(const float *y, const int32_t *labels, int B, int K, double delta, float *dy)
{
    return elem_onehot(ELEM_HUBER, y, labels, B, K, delta, false, dy);
}

double hprt_bce_onehot(const float *y, const int32_t *labels, int B, int K, float *dy)
{
    return elem_onehot(ELEM_BCE, y, labels, B, K, 0, false, dy);
}

double hprt_bce_multi(const float *y, const int32_t *labels, int B, int K, float *dy)
{
    return elem_onehot(ELEM_BCE, y, labels, B, K, 0, true, dy);
}

long hprt_multi_correct(const float *y, const int32_t *labels, int B, int K)
{
    long correct = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < K; j++)
            correct += (y[(size_t)b * K + j] > 0) == ((((uint32_t)labels[b] >> j) & 1u) == 1u);
    return correct;
}

int hprt_binary_correct(const float *y, const int32_t *labels, int B)
{
    int correct = 0;
    for (int b = 0; b < B; b++)
        correct += (y[b] > 0) == (labels[b] == 1);
    return correct;
}

int hprt_class_weights_balanced(const int32_t *labels, long n, int K, float *w)
{
    for (int k = 0; k < K; k++)
        w[k] = 0;
    for (long i = 0; i < n; i++)
        if (label_ok(labels[i], K))
            w[labels[i]] += 1;
    for (int k = 0; k < K; k++) {
        if (w[k] == 0)
            return k;
        w[k] = (float)((double)n / ((double)K * w[k]));
    }
    return -1;
}
