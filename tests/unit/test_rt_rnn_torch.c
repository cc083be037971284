/* test_rt_rnn_torch.c - the recurrent layers against PyTorch.
 *
 * tests/fixtures/rnn_torch.txt (written by bench/rnn_fixture.py; its format is
 * described at the top of the file) holds a 2-layer torch.nn.LSTM and GRU
 * (batch_first) with float32 weights and inputs, evaluated in float64: the
 * outputs, final states, dL/dX and every parameter gradient of L = Σ Y·R.
 * The stack is run here one layer at a time with hprt_rnn_forward (layer 1
 * reads layer 0's outputs, each layer has its own h0/c0), then backwards with
 * dY = R for the top layer and, below it, dY = the dX of the layer above:
 * hprt_rnn_backward_data followed by hprt_rnn_weight_grads.  Everything is
 * compared within 1e-5 (|got − ref| ≤ 1e-5 + 1e-5·|ref|).
 *
 * Each model is run twice: over the whole batch at once, and as two threads
 * would, rows [0, 1) and [1, B) separately with the pointers advanced, the
 * weight gradients in two ranges of gate outputs, the outputs poisoned first
 * to show they are overwritten.  PyTorch differentiates neither h0 nor the
 * final state here, like hpc's truncated BPTT.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_rnn.h"

#define FIXTURE HPC_SOURCE_DIR "/tests/fixtures/rnn_torch.txt"
#define RTOL 1e-5
#define ATOL 1e-5

/* ---- the fixture ------------------------------------------------------------------ */

typedef tu_fixture fixture; /* testutil.h reads it */

static fixture load_fixture(void) { return tu_fixture_load(FIXTURE); }
static void free_fixture(fixture *fx) { tu_fixture_free(fx); }

/* The array MODEL.lK.FIELD (layer < 0: MODEL.FIELD), which must hold n numbers. */
static const double *get(const fixture *fx, const char *model, int layer, const char *field, size_t n)
{
    char name[64];
    if (layer < 0)
        snprintf(name, sizeof name, "%s.%s", model, field);
    else
        snprintf(name, sizeof name, "%s.l%d.%s", model, layer, field);
    return tu_fixture_get(fx, name, (int)n);
}

/* ---- helpers ---------------------------------------------------------------------- */

static float *to_float(const double *x, size_t n)
{
    float *f = tu_fnew(n);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)x[i];
    return f;
}

/* got[0..n) against the reference, naming the array and index of the first miss. */
static void compare(const char *model, int layer, const char *what, const float *got,
                    const double *ref, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double tol = ATOL + RTOL * fabs(ref[i]);
        if (!(fabs((double)got[i] - ref[i]) <= tol)) {
            fail_msg("%s layer %d %s[%zu]: hpc %.9g, torch %.9g (|diff| %.3g > %.3g)", model,
                     layer, what, i, (double)got[i], ref[i], fabs((double)got[i] - ref[i]), tol);
        }
    }
}

/* ---- the stack -------------------------------------------------------------------- */

enum { MAXL = 4 };

typedef struct {
    hprt_rnn_geom g;
    int G;
    float *Wih, *Whh, *bih, *bhh, *h0, *c0;       /* inputs */
    float *X;                                     /* layer input (not owned above 0) */
    float *Y, *hT, *cT, *A, *C, *Hprev;           /* forward */
    float *dY, *dGi, *dGh, *dX;                   /* backward_data */
    float *dWih, *dWhh, *dbih, *dbhh;             /* weight_grads */
} layer;

/* Runs the model's stack and compares it with the fixture.  split: the rows
 * as two ranges [0, 1), [1, B) and the gate outputs as two ranges, else one. */
static void run_model(const char *model, hprt_cell cell, int split)
{
    fixture fx = load_fixture();
    const double *dims = get(&fx, model, -1, "dims", 5);
    const int in = (int)dims[0], H = (int)dims[1], B = (int)dims[2], T = (int)dims[3],
              L = (int)dims[4];
    assert_true(in > 0 && H > 0 && B > 1 && T > 0 && L > 0 && L <= MAXL);
    const int lstm = cell == HPRT_CELL_LSTM;
    const size_t BT = (size_t)B * T, BH = (size_t)B * H;

    layer ly[MAXL];
    memset(ly, 0, sizeof ly);
    for (int k = 0; k < L; k++) {
        layer *l = &ly[k];
        l->g = (hprt_rnn_geom){.cell = cell, .in = k ? H : in, .hidden = H, .T = T};
        l->G = hprt_rnn_gates(cell);
        assert_int_equal(l->G, lstm ? 4 : 3);
        const size_t GH = (size_t)l->G * H, ink = (size_t)l->g.in;
        assert_int_equal(hprt_rnn_params(&l->g), GH * (ink + H + 2));
        l->Wih = to_float(get(&fx, model, k, "W_ih", GH * ink), GH * ink);
        l->Whh = to_float(get(&fx, model, k, "W_hh", GH * H), GH * H);
        l->bih = to_float(get(&fx, model, k, "b_ih", GH), GH);
        l->bhh = to_float(get(&fx, model, k, "b_hh", GH), GH);
        l->h0 = to_float(get(&fx, model, k, "h0", BH), BH);
        l->c0 = lstm ? to_float(get(&fx, model, k, "c0", BH), BH) : NULL;
        l->Y = tu_fnew(BT * H);
        l->hT = tu_fnew(BH);
        l->cT = lstm ? tu_fnew(BH) : NULL;
        l->A = tu_fnew(BT * GH);
        l->C = tu_fnew(BT * H);
        l->Hprev = tu_fnew(BT * H);
        l->dY = tu_fnew(BT * H);
        l->dGi = tu_fnew(BT * GH);
        /* dGh may be dGi for lstm (and rnn): use that, as the header allows */
        l->dGh = lstm ? l->dGi : tu_fnew(BT * GH);
        l->dX = tu_fnew(BT * ink);
        l->dWih = tu_fnew(GH * ink);
        l->dWhh = tu_fnew(GH * H);
        l->dbih = tu_fnew(GH);
        l->dbhh = tu_fnew(GH);
        tu_poison(l->Y, BT * H);
        tu_poison(l->hT, BH);
        if (lstm)
            tu_poison(l->cT, BH);
        tu_poison(l->A, BT * GH);
        tu_poison(l->C, BT * H);
        tu_poison(l->Hprev, BT * H);
        tu_poison(l->dGi, BT * GH);
        if (!lstm)
            tu_poison(l->dGh, BT * GH);
        tu_poison(l->dX, BT * ink);
        tu_poison(l->dWih, GH * ink);
        tu_poison(l->dWhh, GH * H);
        tu_poison(l->dbih, GH);
        tu_poison(l->dbhh, GH);
    }
    float *X0 = to_float(get(&fx, model, -1, "X", BT * in), BT * in);
    const int G = ly[0].G;
    size_t scratch_n = (size_t)B * G * H;
    if (scratch_n < 2 * BH)
        scratch_n = 2 * BH;
    float *scratch = tu_fnew(scratch_n);
    /* W_hh packed, as training does, and the weight gradients' work */
    size_t pack_n = 0;
    for (int k = 0; k < L; k++)
        pack_n = hprt_rnn_pack_floats(&ly[k].g) > pack_n ? hprt_rnn_pack_floats(&ly[k].g) : pack_n;
    float *pack = tu_fnew(pack_n);

    /* the row ranges a caller would hand to threads */
    int r0s[2] = {0, split ? 1 : B}, r1s[2] = {split ? 1 : B, B};
    const int nranges = 2;

    /* ---- forward ---- */
    for (int k = 0; k < L; k++) {
        layer *l = &ly[k];
        l->X = k ? ly[k - 1].Y : X0;
        const size_t ink = (size_t)l->g.in, GH = (size_t)G * H;
        for (int q = 0; q < nranges; q++) {
            int r0 = r0s[q], nb = r1s[q] - r0;
            if (nb <= 0)
                continue;
            tu_poison(scratch, scratch_n);
            size_t rt = (size_t)r0 * T;
            hprt_rnn_forward(&l->g, nb, l->X + rt * ink, l->Wih, l->Whh, l->bih, l->bhh,
                             l->h0 + (size_t)r0 * H, lstm ? l->c0 + (size_t)r0 * H : NULL,
                             l->Y + rt * H, l->hT + (size_t)r0 * H,
                             lstm ? l->cT + (size_t)r0 * H : NULL, l->A + rt * GH,
                             l->C + rt * H, l->Hprev + rt * H, scratch, pack);
        }
        if (k < L - 1)
            compare(model, k, "Y", l->Y, get(&fx, model, k, "Y", BT * H), BT * H);
        else
            compare(model, k, "Y", l->Y, get(&fx, model, -1, "Y", BT * H), BT * H);
        compare(model, k, "hT", l->hT, get(&fx, model, k, "hT", BH), BH);
        if (lstm)
            compare(model, k, "cT", l->cT, get(&fx, model, k, "cT", BH), BH);
    }

    /* ---- backward ---- */
    {
        const double *R = get(&fx, model, -1, "R", BT * H);
        for (size_t i = 0; i < BT * H; i++)
            ly[L - 1].dY[i] = (float)R[i];
    }
    for (int k = L - 1; k >= 0; k--) {
        layer *l = &ly[k];
        const size_t ink = (size_t)l->g.in, GH = (size_t)G * H;
        for (int q = 0; q < nranges; q++) {
            int r0 = r0s[q], nb = r1s[q] - r0;
            if (nb <= 0)
                continue;
            tu_poison(scratch, scratch_n);
            size_t rt = (size_t)r0 * T;
            hprt_rnn_backward_data(&l->g, nb, l->Wih, l->Whh, l->A + rt * GH, l->C + rt * H,
                                   l->Hprev + rt * H, lstm ? l->c0 + (size_t)r0 * H : NULL,
                                   l->dY + rt * H, l->dGi + rt * GH, l->dGh + rt * GH,
                                   l->dX + rt * ink, scratch, pack);
        }
        if (k > 0)
            compare(model, k, "dX", l->dX, get(&fx, model, k, "dX", BT * ink), BT * ink);
        else
            compare(model, k, "dX", l->dX, get(&fx, model, -1, "dX", BT * ink), BT * ink);

        /* the gate outputs in one range, or split at an odd point inside a gate block */
        int jm = split ? (int)GH / 2 + 1 : (int)GH;
        hprt_rnn_weight_grads(&l->g, B, l->X, l->Hprev, l->dGi, l->dGh, 0, jm, l->dWih,
                              l->dWhh, l->dbih, l->dbhh, pack);
        if (jm < (int)GH)
            hprt_rnn_weight_grads(&l->g, B, l->X, l->Hprev, l->dGi, l->dGh, jm, (int)GH,
                                  l->dWih, l->dWhh, l->dbih, l->dbhh, pack);
        compare(model, k, "dW_ih", l->dWih, get(&fx, model, k, "dW_ih", GH * ink), GH * ink);
        compare(model, k, "dW_hh", l->dWhh, get(&fx, model, k, "dW_hh", GH * H), GH * H);
        compare(model, k, "db_ih", l->dbih, get(&fx, model, k, "db_ih", GH), GH);
        compare(model, k, "db_hh", l->dbhh, get(&fx, model, k, "db_hh", GH), GH);

        /* the layer below receives this layer's dX as its dY */
        if (k > 0)
            memcpy(ly[k - 1].dY, l->dX, BT * H * sizeof(float));
    }

    for (int k = 0; k < L; k++) {
        layer *l = &ly[k];
        free(l->Wih); free(l->Whh); free(l->bih); free(l->bhh); free(l->h0); free(l->c0);
        free(l->Y); free(l->hT); free(l->cT); free(l->A); free(l->C); free(l->Hprev);
        free(l->dY); free(l->dGi);
        if (l->dGh != l->dGi)
            free(l->dGh);
        free(l->dX); free(l->dWih); free(l->dWhh); free(l->dbih); free(l->dbhh);
    }
    free(X0);
    free(scratch);
    free(pack);
    free_fixture(&fx);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_lstm(void **state) { run_model("lstm", HPRT_CELL_LSTM, 0); }
static void test_lstm_split(void **state) { run_model("lstm", HPRT_CELL_LSTM, 1); }
static void test_gru(void **state) { run_model("gru", HPRT_CELL_GRU, 0); }
static void test_gru_split(void **state) { run_model("gru", HPRT_CELL_GRU, 1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm),
        cmocka_unit_test(test_gru),
        cmocka_unit_test(test_lstm_split),
        cmocka_unit_test(test_gru_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
