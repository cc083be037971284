#!/usr/bin/python3
"""layernorm_fixture.py - PyTorch reference values for hpc's `layernorm`.

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 bench/layernorm_fixture.py [OUT]   # OUT: tests/fixtures/layernorm_torch.txt

Three cases of torch.nn.LayerNorm, as hpc applies it:
  vec: a batch of vectors [B, N], normalised over N        (LayerNorm(N))
  seq: a batch of sequences [B, T, N], over N at each step (LayerNorm(N))
  img: a batch of images [B, C, H, W], over C*H*W          (LayerNorm([C, H, W]))
each with random float32 inputs X (uniform in [-2, 2) plus a per-row offset,
so that the mean matters), weights w and biases b (uniform in [0.5, 1.5) and
[-0.5, 0.5): not the initial 1 and 0, so that they matter), and a fixed
random R (uniform in [-2, 2)).  The forward and the backward of the loss
L = sum(Y * R) run in float64 (the module converted to double), so the
reference is exact to ~1e-15 and only the printing (%.9g) rounds it.  The
output is deterministic (fixed seed, CPU, float64).

Fixture format (plain text, also described at the top of the file):
  * lines starting with '#' are comments;
  * otherwise records, each a header line `NAME N` followed by N numbers
    (whitespace-separated, several per line, printed with %.9g);
  * NAME is CASE.FIELD, CASE in {vec, seq, img};
  * CASE.dims (3 numbers): rows D eps -- rows of D normalised values
    (vec: B; seq: B*T; img: B), so X is [rows x D] row-major;
  * CASE.X, CASE.R, CASE.Y, CASE.dX [rows*D]; CASE.w, CASE.b, CASE.dw,
    CASE.db [D] (an image's w is [C, H, W] flattened).
"""
import sys

import torch

SEED = 20261204
PER_LINE = 6


def emit(out, name, t):
    v = t.detach().reshape(-1).tolist()
    out.append("%s %d" % (name, len(v)))
    for i in range(0, len(v), PER_LINE):
        out.append(" ".join("%.9g" % x for x in v[i:i + PER_LINE]))


def case(out, name, x_shape, norm_shape, eps):
    x = (torch.rand(*x_shape, dtype=torch.float32) * 4 - 2)
    # a per-row offset (rows: everything but the normalised dimensions)
    lead = x_shape[:len(x_shape) - len(norm_shape)]
    x = x + (torch.rand(*lead, dtype=torch.float32) * 6 - 3).reshape(*lead, *([1] * len(norm_shape)))
    w = torch.rand(*norm_shape, dtype=torch.float32) + 0.5
    b = torch.rand(*norm_shape, dtype=torch.float32) - 0.5
    r = torch.rand(*x_shape, dtype=torch.float32) * 4 - 2
    ln = torch.nn.LayerNorm(norm_shape, eps=eps).double()
    with torch.no_grad():
        ln.weight.copy_(w.double())
        ln.bias.copy_(b.double())
    xd = x.double().requires_grad_(True)
    y = ln(xd)
    (y * r.double()).sum().backward()
    d = 1
    for s in norm_shape:
        d *= s
    rows = x.numel() // d
    emit(out, name + ".dims", torch.tensor([rows, d, eps], dtype=torch.float64))
    emit(out, name + ".X", x)
    emit(out, name + ".w", w)
    emit(out, name + ".b", b)
    emit(out, name + ".R", r)
    emit(out, name + ".Y", y)
    emit(out, name + ".dX", xd.grad)
    emit(out, name + ".dw", ln.weight.grad)
    emit(out, name + ".db", ln.bias.grad)


def main():
    torch.manual_seed(SEED)
    out = [
        "# layernorm_torch.txt - PyTorch reference for hpc's layernorm; written by",
        "# bench/layernorm_fixture.py (do not edit; rerun: /usr/bin/python3 bench/layernorm_fixture.py).",
        "# torch.nn.LayerNorm in float64 on float32 inputs; loss L = sum(Y*R).",
        "# Cases: vec [B,N] over N; seq [B,T,N] over N per step; img [B,C,H,W] over C*H*W.",
        "#",
        "# Format: '#' lines are comments.  Records: a line `NAME N`, then N numbers",
        "# (whitespace-separated, %.9g).  NAME = CASE.FIELD; CASE.dims = rows D eps;",
        "# X, R, Y, dX [rows*D] row-major; w, b, dw, db [D].",
    ]
    case(out, "vec", (5, 7), (7,), 1e-5)
    case(out, "seq", (3, 4, 6), (6,), 1e-5)
    case(out, "img", (2, 2, 3, 5), (2, 3, 5), 1e-3)
    text = "\n".join(out) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
