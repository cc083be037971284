#!/usr/bin/python3
"""loss_fixture.py - PyTorch reference values for hpc's losses (compiler/losses.def).

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 bench/loss_fixture.py [OUT]   # OUT: tests/fixtures/loss_torch.txt

One fixed batch of B = 6 rows of K = 4 float32 scores z (uniform in [-3, 3),
with z[0, y0] = 1 exactly and z[1, 0] = 0 exactly, so that mae meets d = 0),
labels y, and class weights w; for bce with one output, 6 scores z1 and 0/1
labels y1.  Each case is the module with reduction 'mean', run in float64 on
the float32 inputs; its loss and dL/dz:

  ce       CrossEntropyLoss()
  ce_s     CrossEntropyLoss(label_smoothing=0.1)
  ce_w     CrossEntropyLoss(weight=w)
  ce_sw    CrossEntropyLoss(weight=w, label_smoothing=0.25)
  mse      MSELoss()(z, one_hot(y))
  mae      L1Loss()(z, one_hot(y))
  huber    HuberLoss(delta=1)(z, one_hot(y))
  huber05  HuberLoss(delta=0.5)(z, one_hot(y))
  bce      BCEWithLogitsLoss()(z, one_hot(y))
  bce1     BCEWithLogitsLoss()(z1, y1)
  bcem     BCEWithLogitsLoss()(z, tm): multi-label, tm a fixed 0/1 matrix
           [B, K] (rows with none, one, several and all labels on), written
           as ym, each row's bit set sum_j tm[b, j] 2^j (hpc's int32 label)

and `balanced`: sklearn's compute_class_weight('balanced') formula,
n / (K * bincount(yb)), for 20 labels yb of 4 classes.
"""
import sys

import torch
import torch.nn.functional as F

SEED = 20261204
PER_LINE = 6
B, K = 6, 4


def emit(out, name, t):
    v = torch.as_tensor(t).detach().reshape(-1).tolist()
    out.append("%s %d" % (name, len(v)))
    for i in range(0, len(v), PER_LINE):
        out.append(" ".join("%.9g" % x for x in v[i:i + PER_LINE]))


def case(out, name, z, loss_fn):
    zd = z.double().requires_grad_(True)
    loss = loss_fn(zd)
    loss.backward()
    emit(out, name + ".loss", loss.reshape(1))
    emit(out, name + ".grad", zd.grad)


def main():
    torch.manual_seed(SEED)
    z = (torch.rand(B, K, dtype=torch.float32) * 6 - 3)
    y = torch.randint(0, K, (B,))
    y[2] = y[0]  # a repeated class: the weighted mean's denominator counts it twice
    z[0, y[0]] = 1.0
    z[1, 0] = 0.0 if y[1] != 0 else 1.0
    w = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float32)
    z1 = (torch.rand(B, dtype=torch.float32) * 8 - 4)
    y1 = torch.tensor([0, 1, 1, 0, 1, 0])
    yb = torch.randint(0, K, (20,))
    yb[:K] = torch.arange(K)  # every class present
    onehot = F.one_hot(y, K).double()
    out = [
        "# loss_torch.txt - PyTorch reference for hpc's losses; written by",
        "# bench/loss_fixture.py (do not edit; rerun: /usr/bin/python3 bench/loss_fixture.py).",
        "# One batch z [B=6, K=4] (float32), labels y, class weights w; z1, y1 for bce with one output.",
        "# Each CASE: CASE.loss (reduction 'mean', float64) and CASE.grad = dL/dz.",
        "#",
        "# Format: '#' lines are comments.  Records: a line `NAME N`, then N numbers",
        "# (whitespace-separated, %.9g).",
    ]
    emit(out, "z", z)
    emit(out, "y", y)
    emit(out, "w", w)
    emit(out, "z1", z1)
    emit(out, "y1", y1)
    wd = w.double()
    case(out, "ce", z, lambda t: F.cross_entropy(t, y))
    case(out, "ce_s", z, lambda t: F.cross_entropy(t, y, label_smoothing=0.1))
    case(out, "ce_w", z, lambda t: F.cross_entropy(t, y, weight=wd))
    case(out, "ce_sw", z, lambda t: F.cross_entropy(t, y, weight=wd, label_smoothing=0.25))
    case(out, "mse", z, lambda t: F.mse_loss(t, onehot))
    case(out, "mae", z, lambda t: F.l1_loss(t, onehot))
    case(out, "huber", z, lambda t: F.huber_loss(t, onehot, delta=1.0))
    case(out, "huber05", z, lambda t: F.huber_loss(t, onehot, delta=0.5))
    case(out, "bce", z, lambda t: F.binary_cross_entropy_with_logits(t, onehot))
    case(out, "bce1", z1, lambda t: F.binary_cross_entropy_with_logits(t, y1.double()))
    emit(out, "yb", yb)
    emit(out, "balanced", len(yb) / (K * torch.bincount(yb, minlength=K).double()))
    tm = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 1], [1, 0, 1, 0]],
                      dtype=torch.float64)
    emit(out, "ym", (tm * (2 ** torch.arange(K, dtype=torch.float64))).sum(1).long())
    case(out, "bcem", z, lambda t: F.binary_cross_entropy_with_logits(t, tm))
    text = "\n".join(out) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
