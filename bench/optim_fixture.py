#!/usr/bin/python3
"""optim_fixture.py - PyTorch reference numbers for hpc's adamax.

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 bench/optim_fixture.py

Prints, for each case, theta after each of three steps of torch.optim.Adamax
on one float64 parameter starting at 1.0, with the gradients 0.5, -0.2, 0.1
(the sequence policies.md uses for Adam).  The numbers are pasted, as
printed, into tests/unit/test_rt_optim.c (test_adamax_*), which checks hpc's
double path to 1e-12 and its float path to 1e-6.
"""
import torch

GRADS = [0.5, -0.2, 0.1]

CASES = [
    ("defaults, lr = 2e-3", dict(lr=2e-3)),
    ("lr = 0.1", dict(lr=0.1)),
    ("lr = 0.1, weight_decay = 0.1", dict(lr=0.1, weight_decay=0.1)),
    ("lr = 0.05, betas = (0.5, 0.9), eps = 1e-3", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3)),
]


def run(kw):
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.Adamax([p], **kw)
    out = []
    for g in GRADS:
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        out.append(p.item())
    return out


def main():
    print("# torch", torch.__version__)
    for name, kw in CASES:
        print("%s: %s" % (name, ", ".join("%.17g" % v for v in run(kw))))


if __name__ == "__main__":
    main()
