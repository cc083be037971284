/* handwritten_mlp.c - the Fashion-MNIST MLP of ../shared/peers/fmnist_mlp.py
 * trained by a hand-written, specialised C loop: the yardstick
 * performance.md measures generated code against ("the generated code must
 * be at least as good as hand-written C").
 *
 * It does what performance.md §1-4 found fast, by hand, for exactly this
 * model (784-256-256-10, ReLU, dropout 0.2, softmax cross-entropy, Adam 1e-3,
 * batch 128, reshuffled each epoch): one worker thread per core, each calling
 * single-threaded OpenBLAS on its own part of the step (forward and data
 * gradients by batch rows, weight gradients and the Adam update by output
 * neuron, so nothing needs reducing), two barriers per step, fused
 * elementwise loops built with -O3 -march=native -fno-math-errno
 * -fno-trapping-math, and dropout masks from a counter hash.
 *
 *   cc -O3 -march=native -fno-math-errno -fno-trapping-math bench/handwritten_mlp.c \
 *      -lopenblas -lz -lpthread -lm -o handwritten_mlp
 *   ./handwritten_mlp [EPOCHS]
 *
 * Prints one JSON line like the peers: samples_per_s over the training loop
 * only, and the test accuracy.  bench/fmnist_mlp.sh runs it beside hpc and
 * PyTorch.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

enum { IN = 784, H = 256, K = 10, B = 128, THREADS = 2 };
#define DIR "/usr/share/datasets/fashion-mnist/"
#define P_DROP 0.2f

static unsigned char *read_gz(const char *path, size_t *n)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        exit(1);
    }
    size_t cap = 1 << 24, len = 0;
    unsigned char *buf = malloc(cap);
    int got;
    while (buf && (got = gzread(f, buf + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    gzclose(f);
    if (!buf)
        exit(1);
    *n = len;
    return buf;
}

static float *images(const char *path, int *count)
{
    size_t n;
    unsigned char *raw = read_gz(path, &n);
    *count = raw[4] << 24 | raw[5] << 16 | raw[6] << 8 | raw[7];
    float *x = malloc(sizeof(float) * (size_t)*count * IN);
    if (!x)
        exit(1);
    for (size_t i = 0; i < (size_t)*count * IN; i++)
        x[i] = raw[16 + i] / 255.0f;
    free(raw);
    return x;
}

static int *labels(const char *path)
{
    size_t n;
    unsigned char *raw = read_gz(path, &n);
    int *y = malloc(sizeof(int) * (n - 8));
    if (!y)
        exit(1);
    for (size_t i = 8; i < n; i++)
        y[i - 8] = raw[i];
    free(raw);
    return y;
}

/* splitmix64: the seeded shuffle and initialisation */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s) { return (float)((next(s) >> 40) * (1.0 / 16777216.0)); }

/* the dropout mask: a hash of (step, index), no state */
static inline float keep(uint32_t step, uint32_t i)
{
    uint32_t h = i * 0x9e3779b1u ^ step * 0x85ebca6bu;
    h ^= h >> 16, h *= 0x7feb352du, h ^= h >> 15, h *= 0x846ca68bu, h ^= h >> 16;
    return h >= (uint32_t)(P_DROP * 4294967296.0) ? 1.0f / (1.0f - P_DROP) : 0.0f;
}

typedef struct {
    atomic_int count, sense;
} barrier;

static void wait_all(barrier *b)
{
    int s = atomic_load(&b->sense);
    if (atomic_fetch_add(&b->count, 1) == THREADS - 1) {
        atomic_store(&b->count, 0);
        atomic_store(&b->sense, !s);
        return;
    }
    while (atomic_load(&b->sense) == s)
        ;
}

typedef struct {
    float *W[3], *b[3], *dW[3], *db[3], *m[3], *v[3], *mb[3], *vb[3];
    int fan_in[3], fan_out[3];
    float *X, *H1, *H2, *Z, *dH1, *dH2, *dZ; /* [B x width] */
    const float *xtr;
    const int *ytr;
    const int *perm;
    int n, steps;
    double loss[THREADS];
    barrier bar;
} net;

typedef struct {
    net *n;
    int t;
} worker_arg;

static void adam_rows(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                      float c1, float c2)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = 0.9f * m[i] + 0.1f * g[i];
        v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
        w[i] -= 1e-3f * (m[i] / c1) / (sqrtf(v[i] / c2) + 1e-8f);
    }
}

static void *worker(void *arg)
{
    net *N = ((worker_arg *)arg)->n;
    int t = ((worker_arg *)arg)->t;
    int r0 = B * t / THREADS, r1 = B * (t + 1) / THREADS;
    double loss = 0;
    for (int s = 0; s < N->steps; s++) {
        int first = s * B, rows = N->n - first < B ? N->n - first : B;
        int a0 = r0 < rows ? r0 : rows, a1 = r1 < rows ? r1 : rows, na = a1 - a0;
        /* forward, my rows */
        for (int r = a0; r < a1; r++)
            memcpy(N->X + (size_t)r * IN, N->xtr + (size_t)N->perm[first + r] * IN, sizeof(float) * IN);
        float *Hs[2] = {N->H1, N->H2}, *in = N->X;
        for (int l = 0; l < 2; l++) {
            float *Y = Hs[l];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, na, H, N->fan_in[l], 1.0f, in + (size_t)a0 * N->fan_in[l],
                        N->fan_in[l], N->W[l], N->fan_in[l], 0.0f, Y + (size_t)a0 * H, H);
            for (int r = a0; r < a1; r++)
                for (int j = 0; j < H; j++) {
                    float y = Y[r * H + j] + N->b[l][j];
                    Y[r * H + j] = (y > 0.0f ? y : 0.0f) * keep((uint32_t)(2 * s + l), (uint32_t)(r * H + j));
                }
            in = Y;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, na, K, H, 1.0f, N->H2 + (size_t)a0 * H, H, N->W[2], H, 0.0f,
                    N->Z + (size_t)a0 * K, K);
        for (int r = a0; r < a1; r++) {
            float *z = N->Z + r * K, *dz = N->dZ + r * K, mx = -INFINITY, sum = 0;
            for (int k = 0; k < K; k++)
                z[k] += N->b[2][k], mx = z[k] > mx ? z[k] : mx;
            for (int k = 0; k < K; k++)
                sum += dz[k] = expf(z[k] - mx);
            int y = N->ytr[N->perm[first + r]];
            loss += mx + logf(sum) - z[y];
            for (int k = 0; k < K; k++)
                dz[k] = (dz[k] / sum - (k == y)) / (float)rows;
        }
        /* data gradients, my rows: through W3, then W2 (dropout and ReLU masks from the outputs) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, na, H, K, 1.0f, N->dZ + (size_t)a0 * K, K, N->W[2], H, 0.0f,
                    N->dH2 + (size_t)a0 * H, H);
        for (int r = a0; r < a1; r++)
            for (int j = 0; j < H; j++)
                N->dH2[r * H + j] *= N->H2[r * H + j] > 0.0f ? keep((uint32_t)(2 * s + 1), (uint32_t)(r * H + j)) : 0.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, na, H, H, 1.0f, N->dH2 + (size_t)a0 * H, H, N->W[1], H, 0.0f,
                    N->dH1 + (size_t)a0 * H, H);
        for (int r = a0; r < a1; r++)
            for (int j = 0; j < H; j++)
                N->dH1[r * H + j] *= N->H1[r * H + j] > 0.0f ? keep((uint32_t)(2 * s), (uint32_t)(r * H + j)) : 0.0f;
        wait_all(&N->bar);
        /* weight gradients and Adam, my output neurons, over all rows */
        float c1 = 1.0f - powf(0.9f, (float)(s + 1)), c2 = 1.0f - powf(0.999f, (float)(s + 1));
        const float *dY[3] = {N->dH1, N->dH2, N->dZ}, *Xin[3] = {N->X, N->H1, N->H2};
        for (int l = 0; l < 3; l++) {
            int U = N->fan_out[l], F = N->fan_in[l], j0 = U * t / THREADS, j1 = U * (t + 1) / THREADS;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j1 - j0, F, rows, 1.0f, dY[l] + j0, U, Xin[l], F, 0.0f,
                        N->dW[l] + (size_t)j0 * F, F);
            for (int j = j0; j < j1; j++) {
                float g = 0;
                for (int r = 0; r < rows; r++)
                    g += dY[l][r * U + j];
                N->db[l][j] = g;
            }
            adam_rows(N->W[l] + (size_t)j0 * F, N->dW[l] + (size_t)j0 * F, N->m[l] + (size_t)j0 * F, N->v[l] + (size_t)j0 * F,
                      (size_t)(j1 - j0) * F, c1, c2);
            adam_rows(N->b[l] + j0, N->db[l] + j0, N->mb[l] + j0, N->vb[l] + j0, (size_t)(j1 - j0), c1, c2);
        }
        wait_all(&N->bar);
    }
    N->loss[t] = loss;
    return NULL;
}

static float *zeros(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p)
        exit(1);
    memset(p, 0, n * sizeof(float));
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 1, n, nte;
    openblas_set_num_threads(1);
    float *xtr = images(DIR "train-images-idx3-ubyte.gz", &n), *xte = images(DIR "t10k-images-idx3-ubyte.gz", &nte);
    int *ytr = labels(DIR "train-labels-idx1-ubyte.gz"), *yte = labels(DIR "t10k-labels-idx1-ubyte.gz");
    net N = {0};
    int fi[3] = {IN, H, H}, fo[3] = {H, H, K};
    uint64_t seed = 0;
    for (int l = 0; l < 3; l++) { /* PyTorch's Linear default: U(±1/sqrt(fan_in)) */
        N.fan_in[l] = fi[l], N.fan_out[l] = fo[l];
        size_t w = (size_t)fi[l] * fo[l];
        N.W[l] = zeros(w), N.dW[l] = zeros(w), N.m[l] = zeros(w), N.v[l] = zeros(w);
        N.b[l] = zeros(fo[l]), N.db[l] = zeros(fo[l]), N.mb[l] = zeros(fo[l]), N.vb[l] = zeros(fo[l]);
        float bound = 1.0f / sqrtf((float)fi[l]);
        for (size_t i = 0; i < w; i++)
            N.W[l][i] = (2 * uniform(&seed) - 1) * bound;
        for (int i = 0; i < fo[l]; i++)
            N.b[l][i] = (2 * uniform(&seed) - 1) * bound;
    }
    N.X = zeros((size_t)B * IN), N.H1 = zeros(B * H), N.H2 = zeros(B * H), N.Z = zeros(B * K);
    N.dH1 = zeros(B * H), N.dH2 = zeros(B * H), N.dZ = zeros(B * K);
    N.xtr = xtr, N.ytr = ytr, N.n = n, N.steps = (n + B - 1) / B;
    int *perm = malloc(sizeof(int) * (size_t)n);
    if (!perm)
        return 1;
    double train = 0, loss = 0;
    for (int e = 0; e < epochs; e++) {
        for (int i = 0; i < n; i++)
            perm[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(next(&seed) % (uint64_t)(i + 1)), tmp = perm[i];
            perm[i] = perm[j], perm[j] = tmp;
        }
        N.perm = perm;
        double t0 = now();
        pthread_t th[THREADS];
        worker_arg wa[THREADS];
        for (int t = 0; t < THREADS; t++) {
            wa[t] = (worker_arg){&N, t};
            if (t > 0 && pthread_create(&th[t], NULL, worker, &wa[t]) != 0)
                return 1;
        }
        worker(&wa[0]);
        for (int t = 1; t < THREADS; t++)
            pthread_join(th[t], NULL);
        train += now() - t0;
        loss = (N.loss[0] + N.loss[1]) / n;
    }
    /* test accuracy, no dropout */
    int correct = 0;
    float *h1 = zeros(H), *h2 = zeros(H), z[K];
    for (int i = 0; i < nte; i++) {
        const float *x = xte + (size_t)i * IN;
        float *hs[2] = {h1, h2};
        const float *in = x;
        for (int l = 0; l < 2; l++) {
            for (int j = 0; j < H; j++) {
                float s = N.b[l][j];
                for (int k = 0; k < fi[l]; k++)
                    s += N.W[l][(size_t)j * fi[l] + k] * in[k];
                hs[l][j] = s > 0 ? s : 0;
            }
            in = hs[l];
        }
        int best = 0;
        for (int k = 0; k < K; k++) {
            z[k] = N.b[2][k];
            for (int j = 0; j < H; j++)
                z[k] += N.W[2][k * H + j] * h2[j];
            best = z[k] > z[best] ? k : best;
        }
        correct += best == yte[i];
    }
    printf("{\"workload\": \"fmnist_mlp\", \"program\": \"handwritten_c\", \"epochs\": %d, \"train_seconds\": %.3f, "
           "\"samples_per_s\": %.1f, \"test_accuracy\": %.4f, \"final_train_loss\": %.4f}\n",
           epochs, train, epochs * (double)n / train, (double)correct / nte, loss);
    return 0;
}
