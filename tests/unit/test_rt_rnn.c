/* test_rt_rnn.c - the recurrent layers (rnn, gru, lstm) and embeddings of
 * hprt_rnn.h.
 *
 * The worked numbers of docs/policies.md §11 pin PyTorch's equations and gate
 * order.  Beyond them the float kernels are checked against a double-precision
 * forward written here from the same equations: the outputs within 1e-5, and
 * the gradients of L = Σ r·Y (fixed random r) against central finite
 * differences through time (h = 1e-4 in double), for one layer and for a
 * stack of two.  Shapes are not multiples of 8; the initial state is random
 * and nonzero except where the zero-state path is under test.
 */
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_kernels.h"
#include "hprt_rnn.h"

#define FWD_TOL 1e-5
#define WORKED_TOL 1e-6

enum { NB = 3, NT = 5, NIN = 4, NH1 = 6, NH2 = 5 }; /* the shapes of the random cases */

static const hprt_cell CELLS[3] = {HPRT_CELL_RNN, HPRT_CELL_GRU, HPRT_CELL_LSTM};

/* ---- helpers ------------------------------------------------------------------------ */

static double *dnew(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* Uniform in [-bound, bound). */
static void rand_fill(hprt_rng *r, float *x, size_t n, double bound)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(bound * (2.0 * hprt_rng_uniform(r) - 1.0));
}

static float *fcopy(const float *x, size_t n)
{
    float *p = tu_fnew(n);
    memcpy(p, x, n * sizeof *p);
    return p;
}

static void check_forward(const float *y, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_close_abs(y[i], want[i], 0.0, FWD_TOL);
}

/* ---- the double-precision reference ------------------------------------------------------ */

typedef struct {
    hprt_rnn_geom g;
    double *Wih, *Whh, *bih, *bhh, *h0, *c0; /* h0, c0: NULL for zeros */
} dlayer;

static double sigm(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* out[rows] = W[rows × cols]·x + b */
static void daffine(const double *W, const double *b, const double *x, int rows, int cols, double *out)
{
    for (int j = 0; j < rows; j++) {
        double s = b[j];
        for (int k = 0; k < cols; k++)
            s += W[(size_t)j * cols + k] * x[k];
        out[j] = s;
    }
}

/* The state (h, c) after one step, from gi = W_ih x + b_ih and gh = W_hh h + b_hh. */
static void dcell(hprt_cell cell, int H, const double *gi, const double *gh, double *h, double *c)
{
    for (int k = 0; k < H; k++) {
        if (cell == HPRT_CELL_RNN) {
            h[k] = tanh(gi[k] + gh[k]);
        } else if (cell == HPRT_CELL_GRU) {
            double r = sigm(gi[k] + gh[k]), z = sigm(gi[H + k] + gh[H + k]);
            double n = tanh(gi[2 * H + k] + r * gh[2 * H + k]);
            h[k] = (1.0 - z) * n + z * h[k];
        } else {
            double i = sigm(gi[k] + gh[k]), f = sigm(gi[H + k] + gh[H + k]);
            double g = tanh(gi[2 * H + k] + gh[2 * H + k]), o = sigm(gi[3 * H + k] + gh[3 * H + k]);
            c[k] = f * c[k] + i * g;
            h[k] = o * tanh(c[k]);
        }
    }
}

/* Y [B·T × H] from X [B·T × in]; hT, cT (B × H, NULL: not wanted) the final state. */
static void dforward(const dlayer *l, int B, const double *X, double *Y, double *hT, double *cT)
{
    int in = l->g.in, H = l->g.hidden, T = l->g.T, GH = hprt_rnn_gates(l->g.cell) * H;
    double *gi = dnew(GH), *gh = dnew(GH), *h = dnew(H), *c = dnew(H);
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < H; k++) {
            h[k] = l->h0 ? l->h0[(size_t)b * H + k] : 0.0;
            c[k] = l->c0 ? l->c0[(size_t)b * H + k] : 0.0;
        }
        for (int t = 0; t < T; t++) {
            size_t row = (size_t)b * T + t;
            daffine(l->Wih, l->bih, X + row * in, GH, in, gi);
            daffine(l->Whh, l->bhh, h, GH, H, gh);
            dcell(l->g.cell, H, gi, gh, h, c);
            memcpy(Y + row * H, h, (size_t)H * sizeof *h);
        }
        if (hT)
            memcpy(hT + (size_t)b * H, h, (size_t)H * sizeof *h);
        if (cT)
            memcpy(cT + (size_t)b * H, c, (size_t)H * sizeof *c);
    }
    free(gi), free(gh), free(h), free(c);
}

/* ---- a float layer with its buffers, and its widened copy ----------------------------------- */

typedef struct {
    hprt_rnn_geom g;
    int B;
    float *Wih, *Whh, *bih, *bhh, *h0, *c0;            /* h0, c0 NULL: zero state */
    float *Y, *hT, *cT, *A, *C, *Hprev, *scratch;      /* forward */
    float *pack;                                       /* W_hh packed: the training path */
    float *dGi, *dGh, *dX, *dWih, *dWhh, *dbih, *dbhh; /* backward; dGh may be dGi */
    dlayer d;
    double *Yd; /* the reference output */
} layer;

static void layer_new(layer *l, hprt_rng *r, hprt_cell cell, int B, int in, int H, bool state,
                      bool shared_dG)
{
    hprt_rnn_geom g = {cell, in, H, NT};
    size_t GH = (size_t)hprt_rnn_gates(cell) * H, rows = (size_t)B * NT, BH = (size_t)B * H;
    *l = (layer){.g = g, .B = B};
    l->Wih = tu_fnew(GH * in), l->Whh = tu_fnew(GH * H), l->bih = tu_fnew(GH), l->bhh = tu_fnew(GH);
    rand_fill(r, l->Wih, GH * in, 0.5);
    rand_fill(r, l->Whh, GH * H, 0.5);
    rand_fill(r, l->bih, GH, 0.5);
    rand_fill(r, l->bhh, GH, 0.5);
    if (state) {
        l->h0 = tu_fnew(BH), l->c0 = tu_fnew(BH);
        rand_fill(r, l->h0, BH, 1.0);
        rand_fill(r, l->c0, BH, 1.0);
    }
    l->Y = tu_fnew(rows * H), l->hT = tu_fnew(BH), l->cT = tu_fnew(BH);
    l->A = tu_fnew(rows * GH), l->C = tu_fnew(rows * H), l->Hprev = tu_fnew(rows * H);
    l->scratch = tu_fnew(GH > 2 * (size_t)H ? B * GH : 2 * BH); /* B·G·H, or 2·B·H for rnn */
    l->pack = tu_fnew(hprt_rnn_pack_floats(&g));
    l->dGi = tu_fnew(rows * GH), l->dGh = shared_dG ? l->dGi : tu_fnew(rows * GH);
    l->dX = tu_fnew(rows * in), l->dWih = tu_fnew(GH * in), l->dWhh = tu_fnew(GH * H);
    l->dbih = tu_fnew(GH), l->dbhh = tu_fnew(GH);
    l->d = (dlayer){g, tu_to_double(l->Wih, GH * in), tu_to_double(l->Whh, GH * H), tu_to_double(l->bih, GH),
                    tu_to_double(l->bhh, GH), tu_to_double(l->h0, BH), tu_to_double(l->c0, BH)};
    l->Yd = dnew(rows * H);
}

static void layer_free(layer *l)
{
    float *f[] = {l->Wih, l->Whh, l->bih, l->bhh, l->h0, l->c0, l->Y, l->hT, l->cT, l->A, l->C,
                  l->Hprev, l->scratch, l->pack, l->dX, l->dWih, l->dWhh, l->dbih, l->dbhh};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        free(f[i]);
    if (l->dGh != l->dGi)
        free(l->dGh);
    free(l->dGi);
    double *d[] = {l->d.Wih, l->d.Whh, l->d.bih, l->d.bhh, l->d.h0, l->d.c0, l->Yd};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        free(d[i]);
}

static size_t layer_gh(const layer *l)
{
    return (size_t)hprt_rnn_gates(l->g.cell) * l->g.hidden;
}

static void layer_forward(layer *l, const float *X)
{
    size_t rows = (size_t)l->B * NT, H = l->g.hidden;
    tu_poison(l->Y, rows * H), tu_poison(l->A, rows * layer_gh(l)), tu_poison(l->C, rows * H);
    tu_poison(l->Hprev, rows * H), tu_poison(l->hT, l->B * H), tu_poison(l->cT, l->B * H);
    hprt_rnn_forward(&l->g, l->B, X, l->Wih, l->Whh, l->bih, l->bhh, l->h0, l->c0, l->Y, l->hT,
                     l->cT, l->A, l->C, l->Hprev, l->scratch, l->pack);
}

/* Back through time from dY (consumed), then the weight gradients in two
 * uneven halves of the gate outputs, as two threads would: the upper half
 * first, so that a write outside [j0, j1) would show. */
static void layer_backward(layer *l, const float *X, float *dY)
{
    size_t rows = (size_t)l->B * NT, GH = layer_gh(l), in = l->g.in, H = l->g.hidden;
    tu_poison(l->dGi, rows * GH), tu_poison(l->dGh, rows * GH), tu_poison(l->dX, rows * in);
    tu_poison(l->dWih, GH * in), tu_poison(l->dWhh, GH * H), tu_poison(l->dbih, GH), tu_poison(l->dbhh, GH);
    hprt_rnn_backward_data(&l->g, l->B, l->Wih, l->Whh, l->A, l->C, l->Hprev, l->c0, dY, l->dGi,
                           l->dGh, l->dX, l->scratch, l->pack);
    int half = (int)GH / 2 + 1;
    hprt_rnn_weight_grads(&l->g, l->B, X, l->Hprev, l->dGi, l->dGh, half, (int)GH, l->dWih,
                          l->dWhh, l->dbih, l->dbhh, l->pack);
    hprt_rnn_weight_grads(&l->g, l->B, X, l->Hprev, l->dGi, l->dGh, 0, half, l->dWih, l->dWhh,
                          l->dbih, l->dbhh, l->pack);
}

/* ---- a stack of layers: float passes, reference objective ----------------------------------- */

typedef struct {
    int nl;
    layer *l;
    double *X; /* layer 0's input, widened: varied for dX */
    double *R; /* dL/dY of the last layer */
} net;

static double net_obj(void *v)
{
    net *n = v;
    const double *x = n->X;
    for (int i = 0; i < n->nl; i++) {
        dforward(&n->l[i].d, n->l[i].B, x, n->l[i].Yd, NULL, NULL);
        x = n->l[i].Yd;
    }
    const layer *last = &n->l[n->nl - 1];
    return tu_dot(n->R, x, (size_t)last->B * NT * last->g.hidden);
}

/* Forward through every layer, then backward from R, each layer's dX being
 * the dY of the one below. */
static void net_float(net *n, const float *X, const float *R)
{
    for (int i = 0; i < n->nl; i++)
        layer_forward(&n->l[i], i ? n->l[i - 1].Y : X);
    const layer *last = &n->l[n->nl - 1];
    float *dY = fcopy(R, (size_t)last->B * NT * last->g.hidden);
    for (int i = n->nl - 1; i >= 0; i--) {
        layer *l = &n->l[i];
        layer_backward(l, i ? n->l[i - 1].Y : X, dY);
        free(dY);
        dY = fcopy(l->dX, (size_t)l->B * NT * l->g.in);
    }
    free(dY);
}

/* Float outputs within FWD_TOL of the reference; the final state equal to
 * the last step and to the reference's. */
static void check_layer_forward(layer *l, const double *X)
{
    size_t BH = (size_t)l->B * l->g.hidden, H = l->g.hidden;
    double *hT = dnew(BH), *cT = dnew(BH);
    dforward(&l->d, l->B, X, l->Yd, hT, cT);
    check_forward(l->Y, l->Yd, (size_t)l->B * NT * H);
    check_forward(l->hT, hT, BH);
    for (int b = 0; b < l->B; b++) {
        size_t last = ((size_t)b * NT + NT - 1) * H;
        assert_memory_equal(l->hT + b * H, l->Y + last, H * sizeof(float));
        if (l->g.cell == HPRT_CELL_LSTM)
            assert_memory_equal(l->cT + b * H, l->C + last, H * sizeof(float));
    }
    if (l->g.cell == HPRT_CELL_LSTM)
        check_forward(l->cT, cT, BH);
    free(hT), free(cT);
}

static void check_layer_grads(net *n, layer *l)
{
    size_t GH = layer_gh(l), in = l->g.in, H = l->g.hidden;
    tu_check_grad(net_obj, n, l->d.Wih, GH * in, l->dWih);
    tu_check_grad(net_obj, n, l->d.Whh, GH * H, l->dWhh);
    tu_check_grad(net_obj, n, l->d.bih, GH, l->dbih);
    tu_check_grad(net_obj, n, l->d.bhh, GH, l->dbhh);
    if (l->dGh != l->dGi && l->g.cell != HPRT_CELL_GRU)
        assert_memory_equal(l->dGh, l->dGi, (size_t)l->B * NT * GH * sizeof(float));
}

/* nl layers of `cell` (NIN → NH1 → NH2); the first starts from a random
 * state, the second from zeros. */
static void grad_case(hprt_cell cell, int nl, bool shared_dG)
{
    hprt_rng r;
    hprt_rng_seed(&r, 100 + 10 * (uint64_t)cell + (uint64_t)nl);
    layer L[2];
    layer_new(&L[0], &r, cell, NB, NIN, NH1, true, shared_dG);
    if (nl == 2)
        layer_new(&L[1], &r, cell, NB, NH1, NH2, false, shared_dG);
    size_t nx = (size_t)NB * NT * NIN, ny = (size_t)NB * NT * L[nl - 1].g.hidden;
    float *X = tu_fnew(nx), *R = tu_fnew(ny);
    rand_fill(&r, X, nx, 1.0);
    rand_fill(&r, R, ny, 1.0);
    net n = {nl, L, tu_to_double(X, nx), tu_to_double(R, ny)};

    net_float(&n, X, R);
    check_layer_forward(&L[0], n.X);
    if (nl == 2)
        check_layer_forward(&L[1], L[0].Yd);
    tu_check_grad(net_obj, &n, n.X, nx, L[0].dX);
    for (int i = 0; i < nl; i++)
        check_layer_grads(&n, &L[i]);

    for (int i = 0; i < nl; i++)
        layer_free(&L[i]);
    free(X), free(R), free(n.X), free(n.R);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_rnn_sizes(void **state)
{
    (void)state;
    assert_int_equal(hprt_rnn_gates(HPRT_CELL_RNN), 1);
    assert_int_equal(hprt_rnn_gates(HPRT_CELL_GRU), 3);
    assert_int_equal(hprt_rnn_gates(HPRT_CELL_LSTM), 4);
    hprt_rnn_geom g = {HPRT_CELL_LSTM, 65, 128, 100};
    assert_int_equal(hprt_rnn_params(&g), 4 * 128 * (65 + 128 + 2));
    g.cell = HPRT_CELL_GRU;
    assert_int_equal(hprt_rnn_params(&g), 3 * 128 * (65 + 128 + 2));
    g.cell = HPRT_CELL_RNN;
    assert_int_equal(hprt_rnn_params(&g), 128 * (65 + 128 + 2));
}

/* One sequence of T ≤ 2 steps with in = H = 1: Y and C. */
static void run_scalar(hprt_cell cell, int T, const float *Wih, const float *Whh, const float *bih,
                       const float *bhh, const float *h0, const float *c0, float *Y, float *C)
{
    hprt_rnn_geom g = {cell, 1, 1, T};
    const float X[2] = {1.0f, 1.0f};
    float A[8], Hprev[2], scratch[4], hT, cT, pack[128];
    assert_true(hprt_rnn_pack_floats(&g) <= sizeof pack / sizeof *pack);
    hprt_rnn_forward(&g, 1, X, Wih, Whh, bih, bhh, h0, c0, Y, &hT, &cT, A, C, Hprev, scratch, pack);
}

/* docs/policies.md §11, worked. */
static void test_rnn_worked(void **state)
{
    (void)state;
    float Y[2], C[2];
    const float half[4] = {0.5f, 0.5f, 0.5f, 0.5f}, zero[4] = {0};
    run_scalar(HPRT_CELL_LSTM, 2, half, half, zero, zero, NULL, NULL, Y, C);
    assert_close_abs(C[0], 0.28764913664496794, 0, WORKED_TOL);
    assert_close_abs(Y[0], 0.17426971865610508, 0, WORKED_TOL);
    assert_close_abs(Y[1], 0.3090589306416473, 0, WORKED_TOL);

    /* gate order i, f, g, o; both biases */
    const float wi[4] = {0.1f, 0.2f, 0.3f, 0.4f}, wh[4] = {-0.1f, -0.2f, -0.3f, -0.4f};
    const float bhh[4] = {0.05f, 1.0f, 0.0f, 0.0f}, h0 = 0.5f, c0 = 0.2f;
    run_scalar(HPRT_CELL_LSTM, 1, wi, wh, zero, bhh, &h0, &c0, Y, C);
    assert_close_abs(C[0], 0.22821356509836768, 0, WORKED_TOL);
    assert_close_abs(Y[0], 0.12334563589819526, 0, WORKED_TOL);

    /* GRU: r multiplies (W_hn h + b_hn) */
    const float quarter[3] = {0.25f, 0.25f, 0.25f}, gbhh[3] = {0.0f, 0.0f, 0.1f}, one = 1.0f;
    run_scalar(HPRT_CELL_GRU, 1, half, quarter, zero, gbhh, &one, NULL, Y, C);
    assert_close_abs(Y[0], 0.880577846517179, 0, WORKED_TOL);
}

static void test_rnn_grad(void **state)
{
    (void)state;
    grad_case(HPRT_CELL_RNN, 1, false);
    grad_case(HPRT_CELL_RNN, 1, true);
}

static void test_gru_grad(void **state)
{
    (void)state;
    grad_case(HPRT_CELL_GRU, 1, false);
}

static void test_lstm_grad(void **state)
{
    (void)state;
    grad_case(HPRT_CELL_LSTM, 1, false);
    grad_case(HPRT_CELL_LSTM, 1, true);
}

static void test_stack_grad(void **state)
{
    (void)state;
    grad_case(HPRT_CELL_GRU, 2, false);
    grad_case(HPRT_CELL_LSTM, 2, true);
}

/* Rows [0, 1) and [1, 3) as two threads would pass them: the same bits as one call. */
static void split_case(hprt_cell cell)
{
    hprt_rng r, r2;
    hprt_rng_seed(&r, 7), hprt_rng_seed(&r2, 7);
    layer whole, part;
    layer_new(&whole, &r, cell, NB, NIN, NH1, true, false);
    layer_new(&part, &r2, cell, NB, NIN, NH1, true, false);
    size_t nx = (size_t)NB * NT * NIN, ny = (size_t)NB * NT * NH1;
    float *X = tu_fnew(nx), *dY = tu_fnew(ny);
    rand_fill(&r, X, nx, 1.0);
    rand_fill(&r, dY, ny, 1.0);
    float *dY2 = fcopy(dY, ny);
    layer_forward(&whole, X);
    layer_backward(&whole, X, dY);

    hprt_rnn_geom *g = &part.g;
    size_t GH = layer_gh(&part), H = NH1, in = NIN;
    const int cut[3] = {0, 1, NB};
    for (int p = 0; p < 2; p++) {
        size_t r0 = (size_t)cut[p], rows = r0 * NT;
        int B = cut[p + 1] - cut[p];
        hprt_rnn_forward(g, B, X + rows * in, part.Wih, part.Whh, part.bih, part.bhh, part.h0 + r0 * H,
                         part.c0 + r0 * H, part.Y + rows * H, part.hT + r0 * H, part.cT + r0 * H,
                         part.A + rows * GH, part.C + rows * H, part.Hprev + rows * H, part.scratch,
                         part.pack);
        hprt_rnn_backward_data(g, B, part.Wih, part.Whh, part.A + rows * GH, part.C + rows * H,
                               part.Hprev + rows * H, part.c0 + r0 * H, dY2 + rows * H,
                               part.dGi + rows * GH, part.dGh + rows * GH, part.dX + rows * in, part.scratch,
                               part.pack);
    }
    assert_memory_equal(part.Y, whole.Y, ny * sizeof(float));
    assert_memory_equal(part.hT, whole.hT, NB * H * sizeof(float));
    assert_memory_equal(part.A, whole.A, NB * NT * GH * sizeof(float));
    assert_memory_equal(part.Hprev, whole.Hprev, ny * sizeof(float));
    if (cell != HPRT_CELL_RNN)
        assert_memory_equal(part.C, whole.C, ny * sizeof(float));
    if (cell == HPRT_CELL_LSTM)
        assert_memory_equal(part.cT, whole.cT, NB * H * sizeof(float));
    assert_memory_equal(part.dGi, whole.dGi, NB * NT * GH * sizeof(float));
    assert_memory_equal(part.dGh, whole.dGh, NB * NT * GH * sizeof(float));
    assert_memory_equal(part.dX, whole.dX, nx * sizeof(float));
    layer_free(&whole), layer_free(&part);
    free(X), free(dY), free(dY2);
}

static void test_rnn_batch_split(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++)
        split_case(CELLS[c]);
}

/* hT, cT aliasing h0, c0 (the carried state): the same outputs, and the
 * state buffers end holding the final state. */
static void test_rnn_state_alias(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++) {
        hprt_rng r;
        hprt_rng_seed(&r, 11);
        layer l;
        layer_new(&l, &r, CELLS[c], NB, NIN, NH1, true, false);
        size_t nx = (size_t)NB * NT * NIN, ny = (size_t)NB * NT * NH1, BH = (size_t)NB * NH1;
        float *X = tu_fnew(nx);
        rand_fill(&r, X, nx, 1.0);
        layer_forward(&l, X);
        float *Y = fcopy(l.Y, ny), *h = fcopy(l.h0, BH), *cs = fcopy(l.c0, BH);
        hprt_rnn_forward(&l.g, NB, X, l.Wih, l.Whh, l.bih, l.bhh, h, cs, l.Y, h, cs, l.A, l.C,
                         l.Hprev, l.scratch, l.pack);
        assert_memory_equal(l.Y, Y, ny * sizeof(float));
        assert_memory_equal(h, l.hT, BH * sizeof(float));
        if (CELLS[c] == HPRT_CELL_LSTM)
            assert_memory_equal(cs, l.cT, BH * sizeof(float));
        layer_free(&l);
        free(X), free(Y), free(h), free(cs);
    }
}

static void assert_arrays_close(const float *a, const float *b, size_t n)
{
    double big = 0;
    for (size_t i = 0; i < n; i++)
        big = fabs(b[i]) > big ? fabs(b[i]) : big;
    for (size_t i = 0; i < n; i++)
        assert_close_abs(a[i], b[i], 0.0, 1e-5 * big + 1e-30);
}

/* W_hh and W_ih packed (the training path) and every product through OpenBLAS give
 * the same outputs and gradients, on shapes past one tile (9 rows, H = 40:
 * 160 gate columns, 5 panels). */
static void test_rnn_packed(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++) {
        hprt_rng r;
        hprt_rng_seed(&r, 13);
        enum { B = 9, IN = 7, H = 40 };
        layer l;
        layer_new(&l, &r, CELLS[c], B, IN, H, true, false);
        size_t nx = (size_t)B * NT * IN, ny = (size_t)B * NT * H, GH = layer_gh(&l);
        float *X = tu_fnew(nx), *dY = tu_fnew(ny);
        rand_fill(&r, X, nx, 1.0);
        rand_fill(&r, dY, ny, 1.0);
        float *dY2 = fcopy(dY, ny);
        layer_forward(&l, X);
        layer_backward(&l, X, dY);
        float *Y = fcopy(l.Y, ny), *dGh = fcopy(l.dGh, ny / H * GH), *dX = fcopy(l.dX, nx);
        float *dWhh = fcopy(l.dWhh, GH * H);
        float *pack = l.pack;
        l.pack = NULL;
        layer_forward(&l, X);
        layer_backward(&l, X, dY2);
        l.pack = pack;
        /* each within 1e-5 of its array's largest magnitude: sums that cancel
         * keep the rounding of their terms */
        assert_arrays_close(Y, l.Y, ny);
        assert_arrays_close(dGh, l.dGh, ny / H * GH);
        assert_arrays_close(dX, l.dX, nx);
        assert_arrays_close(dWhh, l.dWhh, GH * H);
        layer_free(&l);
        free(X), free(dY), free(dY2), free(Y), free(dGh), free(dX), free(dWhh);
    }
}

/* The LSTM's forward gate loop is split into passes (layers_rnn.c's
 * lstm_cell); it must give, bit for bit, what the fused loop of PyTorch's
 * equations gave (training is unchanged: tools/baseline.sh).  The reference
 * below is that loop, one element at a time, with the runtime's exp, sigmoid
 * and tanh as written there.  W_hh = 0 makes the recurrent projection ±0
 * exactly, so A (X = NULL: the projections as given, as with a folded
 * embedding), b_hh and the carried c are the cell's only inputs; H = 37
 * leaves vector remainders. */
static float ref_exp(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float k = x * 1.44269504088896341f;
    k = (k + 12582912.0f) - 12582912.0f;
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {((int32_t)k + 127) << 23};
    return p * scale.f;
}

static float ref_sigmoid(float x)
{
    float e = ref_exp(-fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

static float ref_tanh(float x)
{
    float ax = fabsf(x), e = ref_exp(-2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = ax * ax;
    float small = ax * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835)))));
    float t = ax < 0.125f ? small : big;
    return x < 0.0f ? -t : t;
}

static void test_lstm_cell_exact(void **state)
{
    (void)state;
    enum { B = 3, T = 4, H = 37, GH = 4 * H };
    hprt_rng r;
    hprt_rng_seed(&r, 29);
    hprt_rnn_geom g = {HPRT_CELL_LSTM, H, H, T};
    size_t na = (size_t)B * T * GH, nh = (size_t)B * T * H;
    float *A = tu_fnew(na), *C = tu_fnew(nh), *Y = tu_fnew(nh), *Hp = tu_fnew(nh), *Whh = tu_fnew((size_t)GH * H);
    float *bhh = tu_fnew(GH), *h0 = tu_fnew((size_t)B * H), *c0 = tu_fnew((size_t)B * H);
    float *scratch = tu_fnew((size_t)B * GH);
    float *pack = tu_fnew(hprt_rnn_pack_floats(&g));
    rand_fill(&r, A, na, 6.0); /* past both ends of the tanh's small-|x| series */
    rand_fill(&r, bhh, GH, 1.0);
    rand_fill(&r, h0, (size_t)B * H, 1.0);
    rand_fill(&r, c0, (size_t)B * H, 3.0);
    memset(Whh, 0, (size_t)GH * H * sizeof *Whh);
    float *A0 = fcopy(A, na);
    for (int use_pack = 0; use_pack < 2; use_pack++) {
        memcpy(A, A0, na * sizeof *A);
        hprt_rnn_forward(&g, B, NULL, NULL, Whh, NULL, bhh, h0, c0, Y, NULL, NULL, A, C, Hp, scratch,
                         use_pack ? pack : NULL);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *a0 = A0 + ((size_t)b * T + t) * GH, *a = A + ((size_t)b * T + t) * GH;
                const float *cp = t ? C + ((size_t)b * T + t - 1) * H : c0 + (size_t)b * H;
                for (int k = 0; k < H; k++) {
                    float i = ref_sigmoid(a0[k] + 0.0f + bhh[k]);
                    float f = ref_sigmoid(a0[H + k] + 0.0f + bhh[H + k]);
                    float gg = ref_tanh(a0[2 * H + k] + 0.0f + bhh[2 * H + k]);
                    float o = ref_sigmoid(a0[3 * H + k] + 0.0f + bhh[3 * H + k]);
                    float c = f * cp[k] + i * gg;
                    float y = o * ref_tanh(c);
                    size_t at = ((size_t)b * T + t) * H + k;
                    assert_true(a[k] == i && a[H + k] == f && a[2 * H + k] == gg && a[3 * H + k] == o);
                    assert_true(C[at] == c && Y[at] == y);
                }
            }
    }
    free(A), free(C), free(Y), free(Hp), free(Whh), free(bhh), free(h0), free(c0), free(scratch), free(pack);
    free(A0);
}

/* An embedding folded into the first layer (hprt_embed_rnn_*, S by
 * hprt_embed_backward; the forward both ways, A gathered first and
 * hprt_rnn_forward_fold): the same
 * forward and the same gradients of E, W_ih and b_ih as through the
 * embedding's output, with the rows shared out over two "threads" as the
 * compiled step does; ids 0 and V − 1 occur, id 2 does not. */
static void test_embed_fold(void **state)
{
    (void)state;
    enum { V = 9, D = 4, H = 5, B = 3, N = B * NT };
    for (int c = 0; c < 3; c++) {
        hprt_rng r;
        hprt_rng_seed(&r, 17);
        layer l;
        layer_new(&l, &r, CELLS[c], B, D, H, true, true);
        size_t GH = layer_gh(&l), ny = (size_t)N * H;
        float *E = tu_fnew((size_t)V * D), *X = tu_fnew((size_t)N * D), *dY = tu_fnew(ny);
        unsigned char ids[N];
        rand_fill(&r, E, (size_t)V * D, 1.0);
        rand_fill(&r, dY, ny, 1.0);
        for (int i = 0; i < N; i++) {
            do
                ids[i] = (unsigned char)hprt_rng_below(&r, V);
            while (ids[i] == 2);
        }
        ids[0] = 0, ids[1] = V - 1;
        /* through the embedding's rows */
        hprt_embed_forward(E, ids, N, D, X);
        layer_forward(&l, X);
        float *Y = fcopy(l.Y, ny), *dY2 = fcopy(dY, ny);
        hprt_rnn_backward_data(&l.g, B, l.Wih, l.Whh, l.A, l.C, l.Hprev, l.c0, dY, l.dGi, l.dGh, l.dX, l.scratch,
                               l.pack);
        hprt_rnn_weight_grads(&l.g, B, X, l.Hprev, l.dGi, l.dGh, 0, (int)GH, l.dWih, l.dWhh, l.dbih, l.dbhh, l.pack);
        float *dE = tu_fnew((size_t)V * D);
        hprt_embed_backward(ids, N, D, l.dX, 0, V, dE);
        float *dWih = fcopy(l.dWih, GH * D), *dbih = fcopy(l.dbih, GH), *dbhh = fcopy(l.dbhh, GH);
        float *dWhh = fcopy(l.dWhh, GH * H);
        /* folded: rows [0, 1) and [1, 3) as two threads */
        float *Q = tu_fnew(2 * V * GH), *dE2 = tu_fnew((size_t)V * D);
        const int cut[3] = {0, 1, B};
        for (int t = 0; t < 2; t++) {
            size_t r0 = (size_t)cut[t], rows = r0 * NT;
            int nb = cut[t + 1] - cut[t];
            hprt_embed_rnn_forward(E, V, D, l.Wih, l.bih, (int)GH, ids + rows, nb * NT, Q + t * V * GH,
                                   l.A + rows * GH);
            hprt_rnn_forward(&l.g, nb, NULL, l.Wih, l.Whh, l.bih, l.bhh, l.h0 + r0 * H, l.c0 + r0 * H, l.Y + rows * H,
                             l.hT + r0 * H, l.cT + r0 * H, l.A + rows * GH, l.C + rows * H, l.Hprev + rows * H,
                             l.scratch, l.pack);
        }
        assert_arrays_close(l.Y, Y, ny);
        /* hprt_rnn_forward_fold (Q's rows read by id as each step comes, as
         * training does): the same floats as gathering A first, bit for bit */
        size_t na = (size_t)N * GH, nc = (size_t)N * H, BH = (size_t)B * H;
        float *A1 = fcopy(l.A, na), *C1 = fcopy(l.C, nc), *Y1 = fcopy(l.Y, ny), *P1 = fcopy(l.Hprev, ny);
        float *hT1 = fcopy(l.hT, BH), *cT1 = fcopy(l.cT, BH);
        tu_poison(l.A, na), tu_poison(l.C, nc), tu_poison(l.Y, ny), tu_poison(l.hT, BH), tu_poison(l.cT, BH);
        for (int t = 0; t < 2; t++) {
            size_t r0 = (size_t)cut[t], rows = r0 * NT;
            int nb = cut[t + 1] - cut[t];
            hprt_embed_rnn_forward(E, V, D, l.Wih, l.bih, (int)GH, ids + rows, nb * NT, Q + t * V * GH, NULL);
            hprt_rnn_forward_fold(&l.g, nb, Q + t * V * GH, ids + rows, l.Whh, l.bhh, l.h0 + r0 * H, l.c0 + r0 * H,
                                  l.Y + rows * H, l.hT + r0 * H, l.cT + r0 * H, l.A + rows * GH, l.C + rows * H,
                                  l.Hprev + rows * H, l.scratch, l.pack);
        }
        assert_memory_equal(l.A, A1, na * sizeof *A1);
        assert_memory_equal(l.Y, Y1, ny * sizeof *Y1);
        assert_memory_equal(l.Hprev, P1, ny * sizeof *P1);
        assert_memory_equal(l.hT, hT1, BH * sizeof *hT1);
        if (CELLS[c] != HPRT_CELL_RNN) /* the GRU's W_hn h + b_hn, the LSTM's cells */
            assert_memory_equal(l.C, C1, nc * sizeof *C1);
        if (CELLS[c] == HPRT_CELL_LSTM)
            assert_memory_equal(l.cT, cT1, BH * sizeof *cT1);
        free(A1), free(C1), free(Y1), free(P1), free(hT1), free(cT1);
        for (int t = 0; t < 2; t++) {
            size_t r0 = (size_t)cut[t], rows = r0 * NT;
            int nb = cut[t + 1] - cut[t];
            hprt_rnn_backward_data(&l.g, nb, l.Wih, l.Whh, l.A + rows * GH, l.C + rows * H, l.Hprev + rows * H,
                                   l.c0 + r0 * H, dY2 + rows * H, l.dGi + rows * GH, l.dGh + rows * GH, NULL,
                                   l.scratch, l.pack);
            hprt_embed_backward(ids + rows, nb * NT, (int)GH, l.dGi + rows * GH, 0, V, Q + t * V * GH);
        }
        tu_poison(l.dWih, GH * D), tu_poison(l.dbih, GH), tu_poison(l.dbhh, GH), tu_poison(dE2, (size_t)V * D);
        hprt_embed_rnn_grad_E(Q, 2, V, (int)GH, D, l.Wih, 0, 4, dE2);
        hprt_embed_rnn_grad_E(Q, 2, V, (int)GH, D, l.Wih, 4, V, dE2);
        hprt_embed_rnn_grad_W(Q, 2, V, (int)GH, D, E, 0, (int)GH / 2, l.dWih, l.dbih);
        hprt_embed_rnn_grad_W(Q, 2, V, (int)GH, D, E, (int)GH / 2, (int)GH, l.dWih, l.dbih);
        hprt_rnn_weight_grads(&l.g, B, NULL, l.Hprev, l.dGi, l.dGh, 0, (int)GH, l.dWih, l.dWhh, l.dbih, l.dbhh,
                              l.pack);
        assert_arrays_close(dE2, dE, (size_t)V * D);
        for (int k = 0; k < D; k++)
            assert_true(dE2[2 * D + k] == 0.0f); /* an absent id */
        assert_arrays_close(l.dWih, dWih, GH * D);
        assert_arrays_close(l.dbih, dbih, GH);
        assert_arrays_close(l.dbhh, dbhh, GH);
        assert_arrays_close(l.dWhh, dWhh, GH * H);
        layer_free(&l);
        free(E), free(X), free(dY), free(Y), free(dY2), free(dE), free(dWih), free(dbih), free(dbhh), free(dWhh);
        free(Q), free(dE2);
    }
}

static void test_embed(void **state)
{
    (void)state;
    enum { V = 11, D = 5, N = 23, ABSENT = 3, CUT = 6 };
    hprt_rng r;
    hprt_rng_seed(&r, 5);
    float E[V * D], Y[N * D], dY[N * D], dE[V * D];
    unsigned char ids[N];
    rand_fill(&r, E, V * D, 1.0);
    rand_fill(&r, dY, N * D, 1.0);
    for (int i = 0; i < N; i++) {
        do
            ids[i] = (unsigned char)hprt_rng_below(&r, V);
        while (ids[i] == ABSENT);
    }
    ids[0] = V - 1, ids[1] = 0; /* both ends of the vocabulary */

    tu_poison(Y, N * D);
    hprt_embed_forward(E, ids, N, D, Y);
    for (int i = 0; i < N; i++)
        assert_memory_equal(Y + i * D, E + ids[i] * D, D * sizeof(float));

    tu_poison(dE, V * D);
    hprt_embed_backward(ids, N, D, dY, CUT, V, dE); /* upper half first: writes stay in range */
    hprt_embed_backward(ids, N, D, dY, 0, CUT, dE);
    for (int v = 0; v < V; v++)
        for (int k = 0; k < D; k++) {
            double s = 0.0;
            for (int i = 0; i < N; i++)
                s += ids[i] == v ? dY[i * D + k] : 0.0;
            assert_close_abs(dE[v * D + k], s, 1e-6, 1e-6);
        }
    for (int k = 0; k < D; k++)
        assert_true(dE[ABSENT * D + k] == 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rnn_sizes),
        cmocka_unit_test(test_rnn_worked),
        cmocka_unit_test(test_rnn_grad),
        cmocka_unit_test(test_gru_grad),
        cmocka_unit_test(test_lstm_grad),
        cmocka_unit_test(test_stack_grad),
        cmocka_unit_test(test_rnn_batch_split),
        cmocka_unit_test(test_rnn_state_alias),
        cmocka_unit_test(test_rnn_packed),
        cmocka_unit_test(test_lstm_cell_exact),
        cmocka_unit_test(test_embed_fold),
        cmocka_unit_test(test_embed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
