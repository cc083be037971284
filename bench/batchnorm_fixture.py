#!/usr/bin/python3
"""batchnorm_fixture.py - PyTorch reference values for hpc's `batchnorm`.

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 bench/batchnorm_fixture.py [OUT]   # OUT: tests/fixtures/batchnorm_torch.txt

Two cases, as hpc applies the layer:
  vec: torch.nn.BatchNorm1d(N) on batches of vectors [B, N]      (S = 1)
  img: torch.nn.BatchNorm2d(C) on batches of images [B, C, H, W] (S = H*W)
each with two float32 training batches X1, X2 (uniform in [-2, 2) plus a
per-channel offset and scale, so that mean and variance matter), weights w
and biases b (uniform in [0.5, 1.5) and [-0.5, 0.5)), fixed random R1, R2
(uniform in [-2, 2)) and a momentum and eps that are not the defaults.  Two
training steps (module.train()): step k runs the forward on Xk, which moves
the running statistics, and the backward of L = sum(Yk * Rk).  Then the
evaluation forward (module.eval()) on X2 with the running statistics after
the two steps.  Everything runs in float64 (the module converted to double),
so only the printing (%.9g) rounds it; the output is deterministic.

Fixture format (plain text, also described at the top of the file):
  * lines starting with '#' are comments;
  * otherwise records, each a header line `NAME N` followed by N numbers
    (whitespace-separated, several per line, printed with %.9g);
  * NAME is CASE.FIELD, CASE in {vec, img};
  * CASE.dims (5 numbers): B C S momentum eps, so X is [B x C x S] row-major;
  * CASE.X1, X2, R1, R2, Y1, Y2, dX1, dX2, Yeval [B*C*S]; CASE.w, b, dw1,
    db1, dw2, db2 [C]; CASE.run1, CASE.run2 [2*C]: running_mean then
    running_var after step 1 and after step 2 (from 0 and 1).
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


def case(out, name, shape, momentum, eps):
    C = shape[1]
    S = 1
    for s in shape[2:]:
        S *= s
    bshape = [1, C] + [1] * (len(shape) - 2)
    offset = (torch.rand(*bshape, dtype=torch.float32) * 6 - 3)
    scale = torch.rand(*bshape, dtype=torch.float32) * 2 + 0.25
    xs = [(torch.rand(*shape, dtype=torch.float32) * 4 - 2) * scale + offset for _ in range(2)]
    rs = [torch.rand(*shape, dtype=torch.float32) * 4 - 2 for _ in range(2)]
    w = torch.rand(C, dtype=torch.float32) + 0.5
    b = torch.rand(C, dtype=torch.float32) - 0.5
    bn = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(C, eps=eps, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(w.double())
        bn.bias.copy_(b.double())
    emit(out, name + ".dims", torch.tensor([shape[0], C, S, momentum, eps], dtype=torch.float64))
    emit(out, name + ".w", w)
    emit(out, name + ".b", b)
    bn.train()
    for k in range(2):
        x, r = xs[k], rs[k]
        bn.zero_grad()
        xd = x.double().requires_grad_(True)
        y = bn(xd)
        (y * r.double()).sum().backward()
        s = str(k + 1)
        emit(out, name + ".X" + s, x)
        emit(out, name + ".R" + s, r)
        emit(out, name + ".Y" + s, y)
        emit(out, name + ".dX" + s, xd.grad)
        emit(out, name + ".dw" + s, bn.weight.grad)
        emit(out, name + ".db" + s, bn.bias.grad)
        emit(out, name + ".run" + s, torch.cat([bn.running_mean, bn.running_var]))
    bn.eval()
    with torch.no_grad():
        emit(out, name + ".Yeval", bn(xs[1].double()))


def main():
    torch.manual_seed(SEED)
    out = [
        "# batchnorm_torch.txt - PyTorch reference for hpc's batchnorm; written by",
        "# bench/batchnorm_fixture.py (do not edit; rerun: /usr/bin/python3 bench/batchnorm_fixture.py).",
        "# torch.nn.BatchNorm1d/2d in float64 on float32 inputs; two training steps, loss L = sum(Yk*Rk),",
        "# then eval on X2 with the running statistics.  Cases: vec [B,N]; img [B,C,H,W].",
        "#",
        "# Format: '#' lines are comments.  Records: a line `NAME N`, then N numbers",
        "# (whitespace-separated, %.9g).  NAME = CASE.FIELD; CASE.dims = B C S momentum eps;",
        "# X1 X2 R1 R2 Y1 Y2 dX1 dX2 Yeval [B*C*S]; w b dw1 db1 dw2 db2 [C]; run1 run2 [2*C] (mean, var).",
    ]
    case(out, "vec", (6, 5), 0.3, 1e-5)
    case(out, "img", (3, 4, 3, 5), 0.1, 1e-3)
    text = "\n".join(out) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
