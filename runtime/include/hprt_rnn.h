/* hprt_rnn.h - the recurrent layers (rnn, gru, lstm) and embeddings.
 *
 * The cells are PyTorch's exactly (docs/policies.md §11): weights stored as
 * torch.nn.RNN/GRU/LSTM store them, one layer at a time,
 *
 *     W_ih [G·H × in]   W_hh [G·H × H]   b_ih [G·H]   b_hh [G·H]
 *
 * with G gate blocks of H rows each: rnn G = 1 (tanh), gru G = 3 in the order
 * r, z, n, lstm G = 4 in the order i, f, g, o.  Both biases are added; the GRU
 * reset gate multiplies (W_hn h + b_hn), after the matmul.
 *
 * Layout.  A batch of B sequences of T steps is batch-major, like every other
 * layer of hpc: row b of the input is X[b·T·in .. (b+1)·T·in), step t of it at
 * X[(b·T + t)·in].  So a thread that owns rows [r0, r1) of the batch passes
 * the pointers advanced by r0 rows and B = r1 − r0, and the (B·T) × in matrix
 * of all steps is one GEMM operand.
 *
 * Forward, per layer: one GEMM for the input projections of all steps
 * (A = X·W_ihᵀ + b_ih, (B·T) × G·H), then per step one GEMM for the recurrent
 * projection of the B rows and a loop over the gates.  What the backward pass
 * needs is kept in caller-provided buffers (their sizes below), so the
 * backward is split in two like dense layers in the generated code:
 *
 *   hprt_rnn_backward_data   per row range: back through time, giving the
 *                            gate gradients dGi, dGh and dX;
 *   hprt_rnn_weight_grads    over all rows, per range of gate outputs j:
 *                            dW_ih, dW_hh, db_ih, db_hh as GEMMs over B·T rows.
 *
 * Truncated backpropagation through time: the initial state (h0, c0) is an
 * input, not differentiated (the carried state of the previous batch is
 * detached, as in char-rnn and the PyTorch peer).  dY is the gradient of the
 * loss with respect to every step's output h_t; no gradient enters through
 * the final state.
 *
 * Sums and transcendental functions are evaluated in float, in the order the
 * generated code uses, except where the comment says otherwise; tests compare
 * against double-precision references within 1e-5.
 */
#ifndef HPRT_RNN_H
#define HPRT_RNN_H

#include <stddef.h>

typedef enum { HPRT_CELL_RNN = 0, HPRT_CELL_GRU, HPRT_CELL_LSTM } hprt_cell;

typedef struct {
    hprt_cell cell;
    int in;      /* input features per step */
    int hidden;  /* H */
    int T;       /* steps per sequence */
} hprt_rnn_geom;

/* G: 1, 3 or 4. */
int hprt_rnn_gates(hprt_cell c);
/* Trainable floats of one layer: G·H·(in + H + 2). */
size_t hprt_rnn_params(const hprt_rnn_geom *g);
/* Floats of the pack buffer of the forward and backward below (W_hh packed
 * either way round). */
size_t hprt_rnn_pack_floats(const hprt_rnn_geom *g);

/* Buffers of a batch of B rows (floats; every one B·T rows of the width given):
 *   A      B·T·G·H  the activated gates of every step (lstm i,f,g,o after σ/tanh;
 *                   gru r,z,n; rnn: h itself) — also the pre-activation scratch
 *   C      B·T·H    lstm: the cell state c_t; gru: W_hn h_{t−1} + b_hn; rnn: unused (may be NULL)
 *   Hprev  B·T·H    h_{t−1} of every step (h0 at t = 0)
 *   Y      B·T·H    the outputs h_t
 *   scratch B·G·H   one step's recurrent projection
 *   pack   hprt_rnn_pack_floats(g), or NULL: W_hh packed once per call for the
 *          per-step products (hprt_gemm_packed) where the CPU makes that
 *          faster; NULL leaves every product to hprt_gemm.  Not shared
 *          between threads that run at the same time.
 */

/* Forward of one layer over rows [0, B) (X NULL: A already holds X·W_ihᵀ +
 * b_ih, see the folded embedding below).  h0, c0 (B·H; NULL: zeros) is the
 * initial state; hT, cT (B·H; NULL: not wanted) receive the final state and
 * may alias h0, c0.  c0/cT are used by lstm only. */
void hprt_rnn_forward(const hprt_rnn_geom *g, int B, const float *X,
                      const float *Wih, const float *Whh, const float *bih, const float *bhh,
                      const float *h0, const float *c0,
                      float *Y, float *hT, float *cT,
                      float *A, float *C, float *Hprev, float *scratch, float *pack);

/* hprt_rnn_forward of the first layer of a folded embedding (below), X =
 * NULL: row (b, t)'s input projection is Q's row ids[b·T + t] (Q: V × G·H,
 * hprt_embed_rnn_forward's with A = NULL), copied into A as its step comes;
 * the same result as gathering all rows into A first, bit for bit. */
void hprt_rnn_forward_fold(const hprt_rnn_geom *g, int B, const float *Q, const unsigned char *ids,
                           const float *Whh, const float *bhh, const float *h0, const float *c0,
                           float *Y, float *hT, float *cT,
                           float *A, float *C, float *Hprev, float *scratch, float *pack);

/* Back through time over rows [0, B), given dY (B·T·H; it is used as
 * scratch and left modified).  Overwrites
 *   dGi  B·T·G·H  dL/d(W_ih x + b_ih) of every step and gate
 *   dGh  B·T·G·H  dL/d(W_hh h + b_hh); equal to dGi but for the GRU n block,
 *                 so for rnn and lstm dGh may be the same pointer as dGi
 *   dX   B·T·in   (NULL: not wanted, e.g. over an embedding's ids)
 * A, C, Hprev, c0 are what the forward produced and was given; scratch holds
 * 2·B·H floats (the running dh and dc); pack as for the forward. */
void hprt_rnn_backward_data(const hprt_rnn_geom *g, int B,
                            const float *Wih, const float *Whh,
                            const float *A, const float *C, const float *Hprev, const float *c0,
                            float *dY, float *dGi, float *dGh, float *dX, float *scratch, float *pack);

/* The parameter gradients from all B rows (X NULL: all but dWih and dbih,
 * which must then already hold theirs), for gate outputs [j0, j1) of
 * [0, G·H) (a thread's share): overwrites rows j0..j1 of dWih [G·H × in] and
 * dWhh [G·H × H] and entries j0..j1 of dbih, dbhh.  work: a buffer of
 * hprt_rnn_pack_floats(g) (the thread's pack buffer: free once its backward
 * has run), or NULL; the same sums either way (hprt_gemm_tn). */
void hprt_rnn_weight_grads(const hprt_rnn_geom *g, int B, const float *X, const float *Hprev,
                           const float *dGi, const float *dGh, int j0, int j1,
                           float *dWih, float *dWhh, float *dbih, float *dbhh, float *work);

/* ---- an embedding folded into the first recurrent layer ----------------------
 * When token ids feed embed → rnn, X·W_ihᵀ has one distinct row per
 * vocabulary entry: Q = E·W_ihᵀ + b_ih (V × G·H) once per step, then gathered
 * by id; and back, the gate gradients summed per token, S (V × G·H: the
 * embedding gradient of dG, hprt_embed_backward(ids, n, G·H, dG, 0, V, S)), give
 * dE = S·W_ih, dW_ih = Sᵀ·E and db_ih = Σ_v S.  The same sums as through the
 * embedding's B·T rows of output, with V rows instead (about a hundred for
 * bytes of text, against 1,024 rows per thread in the char-LSTM).
 * hprt_rnn_forward is then called with X = NULL (A holds the projection;
 * or hprt_rnn_forward_fold with Q, as training does),
 * hprt_rnn_backward_data with dX = NULL and
 * hprt_rnn_weight_grads with X = NULL (dW_ih and db_ih come from here; call
 * hprt_embed_rnn_grad_W first, as db_hh copies db_ih for rnn and lstm). */

/* Q = E·W_ihᵀ + b_ih; A's n rows = Q's rows of ids (A NULL: none, for
 * hprt_rnn_forward_fold). */
void hprt_embed_rnn_forward(const float *E, int V, int D, const float *Wih, const float *bih, int GH,
                            const unsigned char *ids, int n, float *Q, float *A);
/* From nS threads' S (V·GH floats apart): rows [v0, v1) of dE [V × D]... */
void hprt_embed_rnn_grad_E(const float *S, int nS, int V, int GH, int D, const float *Wih, int v0, int v1, float *dE);
/* ... and rows [j0, j1) of dW_ih [GH × D] and entries of db_ih.  Overwrite. */
void hprt_embed_rnn_grad_W(const float *S, int nS, int V, int GH, int D, const float *E, int j0, int j1,
                           float *dWih, float *dbih);

/* ---- embedding -------------------------------------------------------------- */

/* Y[n × dim] = E[ids[i]] for the n ids (uint8 token ids, each < vocab). */
void hprt_embed_forward(const float *E, const unsigned char *ids, int n, int dim, float *Y);

/* Rows [v0, v1) of dE [vocab × dim] (a thread's share) = Σ of dY's rows whose id
 * is in range; rows of ids that do not occur are zero.  Overwrites. */
void hprt_embed_backward(const unsigned char *ids, int n, int dim, const float *dY,
                         int v0, int v1, float *dE);

#endif
