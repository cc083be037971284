#!/usr/bin/python3
"""conv_fixture.py - PyTorch reference values for hpc's conv and max pooling kernels.

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 bench/conv_fixture.py [OUT]   # OUT: tests/fixtures/conv_torch.txt

Convolution cases (torch.nn.functional.conv2d; padding as hpc's `pad = same`
for odd kernels, or 0 = valid): strides 1 and 2, odd image sizes, channel
counts that are not multiples of 16 (the AVX-512 width), kernels 1, 3 and 5,
and layers like examples/fashion_cnn.hp's (1 -> 32 channels, and 20 -> 24,
3x3 same; smaller images, to keep the file small).  Max pooling cases (torch.nn.functional.max_pool2d, floor mode):
2x2 stride 2 on even and odd sizes, and 3x3 stride 2.  Inputs are random
float32 X, W, b and a fixed random R; the forward and the backward of
L = sum(Y * R) run in float64, so the reference is exact to ~1e-15 and only
the printing (%.9g) rounds it.  Deterministic (fixed seed, CPU, float64).

Fixture format (plain text, also described at the top of the file):
  * lines starting with '#' are comments;
  * otherwise records, each a header line `NAME N` followed by N numbers
    (whitespace-separated, several per line, printed with %.9g);
  * conv cases: NAME.dims (8 numbers) B C H W F k stride pad;
    NAME.X [B*C*H*W], NAME.W [F*C*k*k], NAME.b [F], NAME.R, NAME.Y [B*F*Ho*Wo],
    NAME.dX, NAME.dW, NAME.db: NCHW, row-major;
  * pool cases: NAME.dims (6 numbers) B C H W size stride; NAME.X, NAME.R,
    NAME.Y, NAME.dX.
"""
import sys

import torch
import torch.nn.functional as F

SEED = 20261204
PER_LINE = 6

CONV = [  # name, B, C, H, W, F, k, stride, pad
    ("c1same", 2, 1, 9, 8, 5, 3, 1, 1),
    ("c3s2", 2, 3, 9, 7, 4, 3, 2, 1),
    ("c17k1", 2, 17, 5, 6, 18, 1, 1, 0),
    ("c5k5", 1, 5, 8, 9, 3, 5, 1, 2),
    ("c2valid", 2, 2, 7, 8, 3, 3, 1, 0),
    ("c3k5s2", 1, 3, 11, 10, 6, 5, 2, 0),
    ("wide1", 1, 1, 12, 13, 32, 3, 1, 1),
    ("wide2", 1, 20, 6, 7, 24, 3, 1, 1),
]
POOL = [  # name, B, C, H, W, size, stride
    ("p22", 2, 3, 8, 10, 2, 2),
    ("p22odd", 2, 2, 7, 9, 2, 2),
    ("p33s2", 1, 2, 9, 8, 3, 2),
]


def emit(out, name, t):
    v = t.detach().reshape(-1).tolist()
    out.append("%s %d" % (name, len(v)))
    for i in range(0, len(v), PER_LINE):
        out.append(" ".join("%.9g" % x for x in v[i:i + PER_LINE]))


def f32(*shape):
    return torch.rand(*shape, dtype=torch.float32) * 2 - 1


def conv_case(out, name, B, C, H, W, Fo, k, stride, pad):
    x, w, b = f32(B, C, H, W), f32(Fo, C, k, k), f32(Fo)
    xd, wd, bd = (t.double().requires_grad_() for t in (x, w, b))
    y = F.conv2d(xd, wd, bd, stride=stride, padding=pad)
    r = f32(*y.shape)
    (y * r.double()).sum().backward()
    emit(out, name + ".dims", torch.tensor([B, C, H, W, Fo, k, stride, pad]))
    for field, t in (("X", x), ("W", w), ("b", b), ("R", r), ("Y", y), ("dX", xd.grad), ("dW", wd.grad),
                     ("db", bd.grad)):
        emit(out, name + "." + field, t)


def pool_case(out, name, B, C, H, W, size, stride):
    x = f32(B, C, H, W)
    xd = x.double().requires_grad_()
    y = F.max_pool2d(xd, size, stride)
    r = f32(*y.shape)
    (y * r.double()).sum().backward()
    emit(out, name + ".dims", torch.tensor([B, C, H, W, size, stride]))
    for field, t in (("X", x), ("R", r), ("Y", y), ("dX", xd.grad)):
        emit(out, name + "." + field, t)


def main():
    torch.manual_seed(SEED)
    out = [
        "# conv_torch.txt - PyTorch reference for hpc's conv and max pooling kernels; written by",
        "# bench/conv_fixture.py (do not edit; rerun: /usr/bin/python3 bench/conv_fixture.py).",
        "# conv2d and max_pool2d in float64 on float32 inputs; loss L = sum(Y*R).",
        "#",
        "# Format: '#' lines are comments.  Records: a line `NAME N`, then N numbers",
        "# (whitespace-separated, %.9g).  conv: NAME.dims = B C H W F k stride pad; X, W, b, R, Y,",
        "# dX, dW, db (NCHW).  pool: NAME.dims = B C H W size stride; X, R, Y, dX.",
    ]
    for c in CONV:
        conv_case(out, *c)
    for c in POOL:
        pool_case(out, *c)
    text = "\n".join(out) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
