#!/usr/bin/python3
"""rnn_fixture.py - PyTorch reference values for hpc's recurrent layers.

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 bench/rnn_fixture.py [OUT]      # OUT: tests/fixtures/rnn_torch.txt

Builds a 2-layer torch.nn.LSTM and a 2-layer torch.nn.GRU (batch_first=True,
no dropout) with random float32 weights (uniform in [-0.5, 0.5), so exactly
representable as float), random float32 inputs X, initial states h0 (and c0),
and a fixed random R (uniform in [-4, 4), so that the gradients are of order
1); runs the forward and the backward of the loss L = sum(Y * R) (Y the top
layer's outputs) in float64 (the module converted to double), so the
reference is exact to ~1e-15 and only the output printing (%.9g) rounds it.
The output is deterministic (fixed seed, CPU, float64).

The layers are run as two chained 1-layer modules carrying the weights of the
2-layer module, so that the intermediate output (l0.Y) and the gradient
reaching it (l1.dX) can be written too; the script checks that the chain gives
the 2-layer module's results.  As in hpc's truncated BPTT, h0/c0 are constants
(not differentiated) and no gradient enters through the final state.

Fixture format (plain text, also described at the top of the file):
  * lines starting with '#' are comments;
  * otherwise a sequence of records, each a header line `NAME N` followed by
    N numbers (whitespace-separated, several per line, printed with %.9g);
  * NAME is MODEL.FIELD or MODEL.lK.FIELD with MODEL in {lstm, gru}, K the
    layer (0 = bottom);
  * MODEL.dims (5 numbers): in H B T layers;
  * per model: X [B*T*in] (batch-major, step t of row b at (b*T+t)*in),
    R [B*T*H], Y [B*T*H] (top layer outputs), dX [B*T*in] (dL/dX of layer 0);
  * per layer K: W_ih [G*H x in_K], W_hh [G*H x H], b_ih [G*H], b_hh [G*H]
    (row-major, exactly as PyTorch stores weight_ih_lK etc.; gate order
    lstm i,f,g,o, gru r,z,n; in_0 = in, in_K = H above), h0 [B*H], c0 [B*H]
    (lstm only), hT [B*H], cT [B*H] (lstm only; the final state h_n/c_n),
    Y [B*T*H] (that layer's outputs), dX [B*T*in_K] (dL/d(that layer's
    input)), dW_ih, dW_hh, db_ih, db_hh (shapes as the parameters).
"""
import sys

import torch

IN, H, B, T, L = 4, 5, 3, 4, 2
SEED = 20240611
PER_LINE = 6


def uniform(*shape):
    # float32 values, exactly representable, in [-0.5, 0.5)
    return (torch.rand(*shape, dtype=torch.float32) - 0.5)


def emit(out, name, t):
    v = t.detach().reshape(-1).tolist()
    out.append("%s %d" % (name, len(v)))
    for i in range(0, len(v), PER_LINE):
        out.append(" ".join("%.9g" % x for x in v[i:i + PER_LINE]))


def model(out, kind):
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    lstm = kind == "lstm"
    full = cls(IN, H, num_layers=L, batch_first=True, dropout=0.0)
    with torch.no_grad():
        for p in full.parameters():
            p.copy_(uniform(*p.shape))
    full = full.double()
    X = uniform(B, T, IN).double()
    h0 = uniform(L, B, H).double()
    c0 = uniform(L, B, H).double() if lstm else None
    R = (8 * uniform(B, T, H)).double()  # [-4, 4): gradients of order 1

    # the 2-layer module, for the check
    Xf = X.clone().requires_grad_(True)
    Yf, st = full(Xf, (h0, c0) if lstm else h0)
    (Yf * R).sum().backward()

    # the same weights as a chain of 1-layer modules
    layers = []
    for k in range(L):
        m = cls(IN if k == 0 else H, H, num_layers=1, batch_first=True).double()
        with torch.no_grad():
            for nm in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(m, nm + "_l0").copy_(getattr(full, "%s_l%d" % (nm, k)))
        layers.append(m)
    xs, ys, finals = [], [], []
    x = X.clone().requires_grad_(True)
    for k, m in enumerate(layers):
        if k > 0:
            x.retain_grad()
        xs.append(x)
        hk = h0[k:k + 1].contiguous()
        y, s = m(x, (hk, c0[k:k + 1].contiguous()) if lstm else hk)
        ys.append(y)
        finals.append(s)
        x = y
    (ys[-1] * R).sum().backward()

    # the chain is the 2-layer module
    tol = 1e-12
    assert (ys[-1] - Yf).abs().max() < tol
    assert (xs[0].grad - Xf.grad).abs().max() < tol
    for k, m in enumerate(layers):
        for nm in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            a = getattr(m, nm + "_l0").grad
            b = getattr(full, "%s_l%d" % (nm, k)).grad
            assert (a - b).abs().max() < tol
        hT = finals[k][0] if lstm else finals[k]
        assert (hT[0] - (st[0] if lstm else st)[k]).abs().max() < tol
        if lstm:
            assert (finals[k][1][0] - st[1][k]).abs().max() < tol

    p = kind + "."
    emit(out, p + "dims", torch.tensor([IN, H, B, T, L], dtype=torch.float64))
    emit(out, p + "X", X)
    emit(out, p + "R", R)
    emit(out, p + "Y", ys[-1])
    emit(out, p + "dX", xs[0].grad)
    for k, m in enumerate(layers):
        q = "%sl%d." % (p, k)
        emit(out, q + "W_ih", m.weight_ih_l0)
        emit(out, q + "W_hh", m.weight_hh_l0)
        emit(out, q + "b_ih", m.bias_ih_l0)
        emit(out, q + "b_hh", m.bias_hh_l0)
        emit(out, q + "h0", h0[k])
        if lstm:
            emit(out, q + "c0", c0[k])
        emit(out, q + "hT", (finals[k][0] if lstm else finals[k])[0])
        if lstm:
            emit(out, q + "cT", finals[k][1][0])
        if k < L - 1:
            emit(out, q + "Y", ys[k])
        if k > 0:
            emit(out, q + "dX", xs[k].grad)
        emit(out, q + "dW_ih", m.weight_ih_l0.grad)
        emit(out, q + "dW_hh", m.weight_hh_l0.grad)
        emit(out, q + "db_ih", m.bias_ih_l0.grad)
        emit(out, q + "db_hh", m.bias_hh_l0.grad)


HEADER = """\
# rnn_torch.txt - PyTorch reference for hpc's recurrent layers; written by
# bench/rnn_fixture.py (do not edit; rerun: /usr/bin/python3 bench/rnn_fixture.py).
# A 2-layer torch.nn.LSTM and torch.nn.GRU (batch_first, no dropout), float32
# weights/inputs (uniform in [-0.5,0.5)), R uniform in [-4,4), computed in
# float64; loss L = sum(Y*R).
# h0/c0 are constants; no gradient enters through the final state.
#
# Format: '#' lines are comments.  Records: a line `NAME N`, then N numbers
# (whitespace-separated, %.9g).  NAME = MODEL.FIELD or MODEL.lK.FIELD,
# MODEL in {lstm, gru}, K the layer (0 = bottom).
#   MODEL.dims   in H B T layers
#   MODEL.X      [B*T*in]  batch-major: step t of row b at (b*T+t)*in
#   MODEL.R      [B*T*H]   dL/dY of the top layer
#   MODEL.Y      [B*T*H]   top layer outputs
#   MODEL.dX     [B*T*in]  dL/dX (input of layer 0)
#   MODEL.lK.W_ih [G*H x in_K], W_hh [G*H x H], b_ih [G*H], b_hh [G*H]
#                 row-major as PyTorch stores them; G = 4 (i,f,g,o) for lstm,
#                 3 (r,z,n) for gru; in_0 = in, in_K = H for K > 0
#   MODEL.lK.h0, c0 (lstm)   [B*H]  initial state of layer K
#   MODEL.lK.hT, cT (lstm)   [B*H]  final state h_n, c_n of layer K
#   MODEL.lK.Y    [B*T*H]    outputs of layer K (below the top only)
#   MODEL.lK.dX   [B*T*in_K] dL/d(input of layer K) (above the bottom only)
#   MODEL.lK.dW_ih, dW_hh, db_ih, db_hh   parameter gradients
"""


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/rnn_torch.txt"
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    out = []
    model(out, "lstm")
    model(out, "gru")
    with open(path, "w") as f:
        f.write(HEADER)
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
