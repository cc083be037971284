/* layers_rnn.c - the recurrent layers (rnn, gru, lstm) and embeddings of
 * hprt_rnn.h.
 *
 * Every matrix product goes through hprt_gemm, as training does, except
 * those with W_ih and W_hh when the caller lends a buffer to pack them into,
 * once per pass (gemm_pack.c: 1.4-1.7x OpenBLAS, which re-packs W_hh at every
 * step); the gates are float loops over H.  Row (b, t) of a B·T-row buffer is
 * row b·T + t, so the B rows of one step are a strided matrix with leading
 * dimension T·width.
 *
 * Back through time, dY doubles as the running dL/dh: the gradient reaching
 * h_{t-1} from step t (through W_hh, and for the GRU through z) is added into
 * dY's row of step t − 1 before that step is processed.
 */
#include "hprt_rnn.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hprt_kernels.h"

int hprt_rnn_gates(hprt_cell c)
{
    return c == HPRT_CELL_LSTM ? 4 : c == HPRT_CELL_GRU ? 3 : 1;
}

size_t hprt_rnn_params(const hprt_rnn_geom *g)
{
    return (size_t)hprt_rnn_gates(g->cell) * g->hidden * (g->in + g->hidden + 2);
}

size_t hprt_rnn_pack_floats(const hprt_rnn_geom *g)
{
    int GH = hprt_rnn_gates(g->cell) * g->hidden, K = g->in > g->hidden ? g->in : g->hidden;
    size_t a = hprt_pack_floats(GH, K), b = hprt_pack_floats(K, GH);
    return a > b ? a : b;
}

/* exp, tanh and the sigmoid as straight-line float code the compiler
 * vectorises (libm's expf and tanhf are calls, one lane at a time, and were
 * 40% of a char-LSTM's training time).  exp: Cody-Waite reduction to
 * r in [-ln2/2, ln2/2] and Cephes' degree-7 polynomial, < 2 ulp. */
static inline float vexpf(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float k = x * 1.44269504088896341f;
    k = (k + 12582912.0f) - 12582912.0f; /* round to nearest (no -ffast-math: kept as written) */
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {((int32_t)k + 127) << 23}; /* 2^k */
    return p * scale.f;
}

/* Overflow-free: exp of a non-positive argument only. */
static inline float sigmoidf(float x)
{
    float e = vexpf(-fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* tanh x = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); near 0, where 1 - e
 * cancels, its Taylor series to x^9 (error < 1e-11 below 0.125). */
static inline float vtanhf(float x)
{
    float ax = fabsf(x), e = vexpf(-2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = ax * ax;
    float small = ax * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835)))));
    float t = ax < 0.125f ? small : big;
    return x < 0.0f ? -t : t;
}

/* The gate loops are built three times, for AVX-512, for AVX2+FMA and for the
 * baseline, and the loader picks one for the CPU (GCC's function
 * multi-versioning). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

/* Offset of row (b, t) in a buffer of rows `width` floats wide. */
static inline size_t at(int T, int b, int t, int width)
{
    return ((size_t)b * T + t) * width;
}

/* ---- forward ----------------------------------------------------------------- */

/* One row of one step.  a: the input projection + b_ih (overwritten with the
 * activated gates), s: the recurrent projection without b_hh, hp/cp: the
 * previous state, y/c: the new state.  Only cp and c may be the same
 * buffer (a zero initial cell state); restrict lets the loops vectorise. */
VECTOR_CLONES static void rnn_cell(int H, float *restrict a, const float *restrict s, const float *restrict bhh, float *restrict y)
{
    for (int k = 0; k < H; k++) {
        a[k] = vtanhf(a[k] + s[k] + bhh[k]);
        y[k] = a[k];
    }
}

VECTOR_CLONES static void gru_cell(int H, float *restrict a, const float *restrict s, const float *restrict bhh,
                                   const float *restrict hp, float *restrict hn, float *restrict y)
{
    float *ar = a, *az = a + H, *an = a + 2 * H;
    for (int k = 0; k < H; k++) {
        float r = sigmoidf(ar[k] + s[k] + bhh[k]);
        float z = sigmoidf(az[k] + s[H + k] + bhh[H + k]);
        hn[k] = s[2 * H + k] + bhh[2 * H + k];
        float n = vtanhf(an[k] + r * hn[k]);
        ar[k] = r, az[k] = z, an[k] = n;
        y[k] = (1.0f - z) * n + z * hp[k];
    }
}

/* The activations of the four gates first, each a short loop of its own,
 * then the state: the same operations on the same values as one fused loop
 * over k (bit for bit), but each loop's body is short enough for the CPU to
 * overlap the long exp/divide chains of many iterations (the fused body,
 * ~290 AVX-512 instructions an iteration, waited on them: 8% slower on hot
 * data). */
VECTOR_CLONES static void lstm_cell(int H, float *restrict a, const float *restrict s, const float *restrict bhh,
                                    const float *cp, float *c, float *restrict y)
{
    const float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
    for (int k = 0; k < 2 * H; k++) /* i, f */
        a[k] = sigmoidf(a[k] + s[k] + bhh[k]);
    for (int k = 2 * H; k < 3 * H; k++) /* g */
        a[k] = vtanhf(a[k] + s[k] + bhh[k]);
    for (int k = 3 * H; k < 4 * H; k++) /* o */
        a[k] = sigmoidf(a[k] + s[k] + bhh[k]);
    for (int k = 0; k < H; k++) {
        c[k] = af[k] * cp[k] + ai[k] * ag[k];
        y[k] = ao[k] * vtanhf(c[k]);
    }
}

/* Hprev rows of step t: h_{t-1} from Y, or h0, or zeros. */
static void gather_hprev(int H, int T, int B, int t, const float *h0, const float *Y, float *Hprev)
{
    size_t bytes = (size_t)H * sizeof(float);
    for (int b = 0; b < B; b++) {
        float *dst = Hprev + at(T, b, t, H);
        if (t > 0)
            memcpy(dst, Y + at(T, b, t - 1, H), bytes);
        else if (h0)
            memcpy(dst, h0 + (size_t)b * H, bytes);
        else
            memset(dst, 0, bytes);
    }
}

/* The cache lines of the n floats at p, asked for ahead of their use (for
 * writing when `write`).  A row of the gates of a B·T-row buffer is a page
 * of its own in the char-LSTM (G·H = 1,024 floats), T rows from the next
 * row of its step, and the hardware prefetchers stop at pages: the gate
 * loops waited on these rows' loads (4 MiB per buffer and thread, long out
 * of L2).  Each row is asked for while the row before it is computed. */
static inline void prefetch_row(const float *p, int n, bool write)
{
    for (int k = 0; k < n; k += 16) {
        if (write)
            __builtin_prefetch(p + k, 1);
        else
            __builtin_prefetch(p + k, 0);
    }
}

/* The gates of every row of step t, given the recurrent projection in s;
 * with Q, row (b, t)'s input projection is first copied from Q's row of its
 * id (a folded embedding: the row is then in L1 for the cell, where the
 * gathering of all B·T rows before the time loop wrote them out to memory and
 * the cells read them back). */
static void forward_step(const hprt_rnn_geom *g, int B, int t, const float *bhh, const float *c0,
                         const float *Q, const unsigned char *ids,
                         float *Y, float *A, float *C, const float *Hprev, const float *s)
{
    int H = g->hidden, T = g->T, GH = hprt_rnn_gates(g->cell) * H;
    for (int b = 0; b < B; b++, s += GH) {
        float *a = A + at(T, b, t, GH), *y = Y + at(T, b, t, H);
        if (b + 1 < B)
            prefetch_row(A + at(T, b + 1, t, GH), GH, true);
        if (Q)
            memcpy(a, Q + (size_t)ids[(size_t)b * T + t] * GH, (size_t)GH * sizeof *a);
        if (g->cell == HPRT_CELL_RNN) {
            rnn_cell(H, a, s, bhh, y);
        } else if (g->cell == HPRT_CELL_GRU) {
            gru_cell(H, a, s, bhh, Hprev + at(T, b, t, H), C + at(T, b, t, H), y);
        } else {
            float *c = C + at(T, b, t, H);
            const float *cp = t > 0 ? C + at(T, b, t - 1, H) : c0 ? c0 + (size_t)b * H : NULL;
            if (!cp) { /* c_{-1} = 0: the cell reads cp[k] before writing c[k] */
                memset(c, 0, (size_t)H * sizeof *c);
                cp = c;
            }
            lstm_cell(H, a, s, bhh, cp, c, y);
        }
    }
}

/* dst[b] = row (b, T − 1) of src: the final state (none when T = 0). */
static void copy_last_step(int H, int T, int B, const float *src, float *dst)
{
    for (int b = 0; b < B && T > 0; b++)
        memcpy(dst + (size_t)b * H, src + at(T, b, T - 1, H), (size_t)H * sizeof *dst);
}

/* ---- the products with W_ih and W_hh ------------------------------------------------ */

/* W [rows × cols] packed into pack for products with op(W) (Wᵀ when trans),
 * or NULL (no pack: the products go to OpenBLAS). */
static const float *packed(float *pack, bool trans, const float *W, int rows, int cols)
{
    if (!pack)
        return NULL;
    if (trans)
        hprt_pack_bt(W, cols, rows, cols, pack);
    else
        hprt_pack_b(W, cols, rows, cols, pack);
    return pack;
}

/* C[M×N] = A·op(W) + bias (a row; NULL: none) (+ C when acc), from P when W
 * is packed there, else through OpenBLAS with W's row stride ldw. */
static void product(const float *P, bool trans, int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                    const float *bias, bool acc, float *C, int ldc)
{
    if (P) {
        hprt_gemm_packed(M, N, K, A, lda, P, bias, acc, C, ldc);
        return;
    }
    hprt_gemm(false, trans, M, N, K, 1.0f, A, lda, W, ldw, acc ? 1.0f : 0.0f, C, ldc);
    for (int r = 0; r < M && bias; r++)
        for (int j = 0; j < N; j++)
            C[(size_t)r * ldc + j] += bias[j];
}

/* The caller's pack buffer, when packing pays: the CPU has the packed kernel
 * and W is used for more than `uses` products. */
static float *pack_for(float *pack, int B, int uses, int more_than)
{
    return pack && B > 0 && uses > more_than && hprt_packed_fast() ? pack : NULL;
}

/* hprt_rnn_forward, and with Q and ids hprt_rnn_forward_fold. */
static void forward(const hprt_rnn_geom *g, int B, const float *X, const float *Q, const unsigned char *ids,
                    const float *Wih, const float *Whh, const float *bih, const float *bhh,
                    const float *h0, const float *c0,
                    float *Y, float *hT, float *cT,
                    float *A, float *C, float *Hprev, float *scratch, float *pack)
{
    int H = g->hidden, T = g->T, GH = hprt_rnn_gates(g->cell) * H, in = g->in;
    float *use = pack_for(pack, B, T, 1);
    /* A = X·W_ihᵀ + b_ih for all steps at once (unless an embedding is folded
     * in: then A or Q holds it) */
    if (X)
        product(packed(use, true, Wih, GH, in), true, B * T, GH, in, X, in, Wih, in, bih, false, A, GH);
    const float *P = packed(use, true, Whh, GH, H); /* W_hhᵀ once for the T products below */
    for (int t = 0; t < T; t++) {
        gather_hprev(H, T, B, t, h0, Y, Hprev);
        /* scratch = h_{t-1}·W_hhᵀ for the B rows of step t */
        product(P, true, B, GH, H, Hprev + at(T, 0, t, H), T * H, Whh, H, NULL, false, scratch, GH);
        forward_step(g, B, t, bhh, c0, Q, ids, Y, A, C, Hprev, scratch);
    }
    /* last, as hT, cT may alias h0, c0 */
    if (hT)
        copy_last_step(H, T, B, Y, hT);
    if (cT && g->cell == HPRT_CELL_LSTM)
        copy_last_step(H, T, B, C, cT);
}

void hprt_rnn_forward(const hprt_rnn_geom *g, int B, const float *X,
                      const float *Wih, const float *Whh, const float *bih, const float *bhh,
                      const float *h0, const float *c0,
                      float *Y, float *hT, float *cT,
                      float *A, float *C, float *Hprev, float *scratch, float *pack)
{
    forward(g, B, X, NULL, NULL, Wih, Whh, bih, bhh, h0, c0, Y, hT, cT, A, C, Hprev, scratch, pack);
}

void hprt_rnn_forward_fold(const hprt_rnn_geom *g, int B, const float *Q, const unsigned char *ids,
                           const float *Whh, const float *bhh, const float *h0, const float *c0,
                           float *Y, float *hT, float *cT,
                           float *A, float *C, float *Hprev, float *scratch, float *pack)
{
    forward(g, B, NULL, Q, ids, NULL, Whh, NULL, bhh, h0, c0, Y, hT, cT, A, C, Hprev, scratch, pack);
}

/* ---- back through time --------------------------------------------------------- */

/* One row of one step, given dh = dL/dh_t.  Writes the pre-activation
 * gradients dgi (and dgh where it differs). */
VECTOR_CLONES static void rnn_cell_back(int H, const float *a, const float *dh, float *dgi)
{
    for (int k = 0; k < H; k++)
        dgi[k] = dh[k] * (1.0f - a[k] * a[k]);
}

/* dhp: dY's row of step t − 1 (NULL at t = 0), receiving dh ⊙ z. */
VECTOR_CLONES static void gru_cell_back(int H, const float *restrict a, const float *restrict hn, const float *restrict hp,
                                        const float *restrict dh, float *restrict dhp, float *restrict dgi,
                                        float *restrict dgh)
{
    const float *ar = a, *az = a + H, *an = a + 2 * H;
    for (int k = 0; k < H; k++) {
        float r = ar[k], z = az[k], n = an[k];
        float dn = dh[k] * (1.0f - z) * (1.0f - n * n);
        float dr = dn * hn[k] * r * (1.0f - r);
        float dz = dh[k] * (hp[k] - n) * z * (1.0f - z);
        dgi[k] = dgh[k] = dr;
        dgi[H + k] = dgh[H + k] = dz;
        dgi[2 * H + k] = dn;
        dgh[2 * H + k] = dn * r;
    }
    if (dhp)
        for (int k = 0; k < H; k++)
            dhp[k] += dh[k] * az[k];
}

/* dc: dL/dc_t from step t + 1 on entry, dL/dc_{t-1} on return. */
VECTOR_CLONES static void lstm_cell_back(int H, const float *restrict a, const float *restrict c, const float *restrict cp,
                                         const float *restrict dh, float *restrict dc, float *restrict dgi)
{
    const float *ai = a, *af = a + H, *ag = a + 2 * H, *ao = a + 3 * H;
    for (int k = 0; k < H; k++) {
        float i = ai[k], f = af[k], gg = ag[k], o = ao[k];
        float tc = vtanhf(c[k]);
        float dct = dc[k] + dh[k] * o * (1.0f - tc * tc);
        dgi[k] = dct * gg * i * (1.0f - i);
        dgi[H + k] = dct * cp[k] * f * (1.0f - f);
        dgi[2 * H + k] = dct * i * (1.0f - gg * gg);
        dgi[3 * H + k] = dh[k] * tc * o * (1.0f - o);
        dc[k] = dct * f;
    }
}

/* Step t of back through time for every row.  scratch: dc, then zeros for c0. */
static void backward_step(const hprt_rnn_geom *g, int B, int t, const float *A, const float *C,
                          const float *Hprev, const float *c0, float *dY, float *dGi, float *dGh,
                          float *scratch)
{
    int H = g->hidden, T = g->T, GH = hprt_rnn_gates(g->cell) * H;
    const float *zeros = scratch + (size_t)B * H;
    for (int b = 0; b < B; b++) {
        size_t rg = at(T, b, t, GH), rh = at(T, b, t, H);
        if (b + 1 < B) { /* as forward_step */
            prefetch_row(A + at(T, b + 1, t, GH), GH, false);
            prefetch_row(dGi + at(T, b + 1, t, GH), GH, true);
        }
        if (g->cell == HPRT_CELL_GRU) {
            float *dhp = t > 0 ? dY + at(T, b, t - 1, H) : NULL;
            gru_cell_back(H, A + rg, C + rh, Hprev + rh, dY + rh, dhp, dGi + rg, dGh + rg);
            continue;
        }
        if (g->cell == HPRT_CELL_RNN) {
            rnn_cell_back(H, A + rg, dY + rh, dGi + rg);
        } else {
            const float *cp = t > 0 ? C + at(T, b, t - 1, H) : c0 ? c0 + (size_t)b * H : zeros;
            lstm_cell_back(H, A + rg, C + rh, cp, dY + rh, scratch + (size_t)b * H, dGi + rg);
        }
        if (dGh != dGi)
            memcpy(dGh + rg, dGi + rg, (size_t)GH * sizeof *dGh);
    }
}

void hprt_rnn_backward_data(const hprt_rnn_geom *g, int B,
                            const float *Wih, const float *Whh,
                            const float *A, const float *C, const float *Hprev, const float *c0,
                            float *dY, float *dGi, float *dGh, float *dX, float *scratch, float *pack)
{
    int H = g->hidden, T = g->T, GH = hprt_rnn_gates(g->cell) * H, in = g->in;
    float *use = pack_for(pack, B, T - 1, 1);
    const float *P = packed(use, false, Whh, GH, H); /* W_hh once for the T − 1 products below */
    /* no gradient enters through the final state */
    memset(scratch, 0, 2 * (size_t)B * H * sizeof *scratch);
    for (int t = T - 1; t >= 0; t--) {
        backward_step(g, B, t, A, C, Hprev, c0, dY, dGi, dGh, scratch);
        /* dL/dh_{t-1} += dGh_t·W_hh */
        if (t > 0)
            product(P, false, B, H, GH, dGh + at(T, 0, t, GH), T * GH, Whh, H, NULL, true, dY + at(T, 0, t - 1, H),
                    T * H);
    }
    if (dX)
        product(packed(use, false, Wih, GH, in), false, B * T, in, GH, dGi, GH, Wih, in, NULL, false, dX, in);
}

/* ---- parameter gradients --------------------------------------------------------- */

/* The thread's part of the weight gradients: dW[j0..j1) = dG[:, j0..j1)ᵀ·input
 * over all B·T rows (op(A) stored [rows × GH]) and db[j0..j1) = the column
 * sums of dG, in row order.  hprt_gemm_tn reads dG's columns once for both
 * products of rnn and lstm (dGh is dGi) and sums them as it goes; with work
 * it is AVX-512 code with OpenBLAS's sums (gemm_tn.c), in the pack buffer
 * as it is (in the char-LSTM both products fit; a part at a time, or
 * OpenBLAS, where not). */
void hprt_rnn_weight_grads(const hprt_rnn_geom *g, int B, const float *X, const float *Hprev,
                           const float *dGi, const float *dGh, int j0, int j1,
                           float *dWih, float *dWhh, float *dbih, float *dbhh, float *work)
{
    int H = g->hidden, in = g->in, GH = hprt_rnn_gates(g->cell) * H, rows = B * g->T;
    if (j1 <= j0)
        return;
    size_t wn = work ? hprt_rnn_pack_floats(g) : 0;
    hprt_tn_part ih = {in, X, in, dWih + (size_t)j0 * in, in}, hh = {H, Hprev, H, dWhh + (size_t)j0 * H, H};
    if (dGh == dGi) { /* rnn, lstm: the same sums for both biases */
        hprt_tn_part both[2] = {ih, hh};
        if (X)
            hprt_gemm_tn(j1 - j0, rows, dGi + j0, GH, both, 2, dbih + j0, work, wn);
        else /* db_ih is the folded embedding's (hprt_embed_rnn_grad_W) */
            hprt_gemm_tn(j1 - j0, rows, dGh + j0, GH, &hh, 1, NULL, work, wn);
        memcpy(dbhh + j0, dbih + j0, (size_t)(j1 - j0) * sizeof *dbhh);
        return;
    }
    if (X)
        hprt_gemm_tn(j1 - j0, rows, dGi + j0, GH, &ih, 1, dbih + j0, work, wn);
    hprt_gemm_tn(j1 - j0, rows, dGh + j0, GH, &hh, 1, dbhh + j0, work, wn);
}

/* ---- embedding ------------------------------------------------------------------- */

void hprt_embed_forward(const float *E, const unsigned char *ids, int n, int dim, float *Y)
{
    for (int i = 0; i < n; i++)
        memcpy(Y + (size_t)i * dim, E + (size_t)ids[i] * dim, (size_t)dim * sizeof *Y);
}

void hprt_embed_backward(const unsigned char *ids, int n, int dim, const float *dY,
                         int v0, int v1, float *dE)
{
    if (v1 <= v0)
        return;
    memset(dE + (size_t)v0 * dim, 0, (size_t)(v1 - v0) * dim * sizeof *dE);
    for (int i = 0; i < n; i++) {
        if (ids[i] < v0 || ids[i] >= v1)
            continue;
        float *de = dE + (size_t)ids[i] * dim;
        const float *dy = dY + (size_t)i * dim;
        for (int k = 0; k < dim; k++)
            de[k] += dy[k];
    }
}

/* ---- an embedding folded into the first recurrent layer ---------------------------- */

void hprt_embed_rnn_forward(const float *E, int V, int D, const float *Wih, const float *bih, int GH,
                            const unsigned char *ids, int n, float *Q, float *A)
{
    product(NULL, true, V, GH, D, E, D, Wih, D, bih, false, Q, GH);
    if (A)
        hprt_embed_forward(Q, ids, n, GH, A);
}

void hprt_embed_rnn_grad_E(const float *S, int nS, int V, int GH, int D, const float *Wih, int v0, int v1, float *dE)
{
    for (int t = 0; t < nS && v1 > v0; t++)
        hprt_gemm(false, false, v1 - v0, D, GH, 1.0f, S + ((size_t)t * V + v0) * GH, GH, Wih, D, t ? 1.0f : 0.0f,
                  dE + (size_t)v0 * D, D);
}

void hprt_embed_rnn_grad_W(const float *S, int nS, int V, int GH, int D, const float *E, int j0, int j1,
                           float *dWih, float *dbih)
{
    if (j1 <= j0)
        return;
    for (int t = 0; t < nS; t++) {
        const float *St = S + (size_t)t * V * GH;
        hprt_gemm(true, false, j1 - j0, D, V, 1.0f, St + j0, GH, E, D, t ? 1.0f : 0.0f, dWih + (size_t)j0 * D, D);
    }
    for (int j = j0; j < j1; j++)
        dbih[j] = 0.0f;
    for (int t = 0; t < nS; t++)
        for (int v = 0; v < V; v++)
            for (int j = j0; j < j1; j++)
                dbih[j] += S[((size_t)t * V + v) * GH + j];
}
