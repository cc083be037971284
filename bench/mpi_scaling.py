#!/usr/bin/python3
"""bench/mpi_scaling.py - the scaling model of docs/distributed.md, from its inputs.

A data-parallel step of hpc on N nodes (global batch B kept, each node B/N
rows) takes the node's compute for its rows, then a blocking allreduce of
the S-byte gradient (ring: 2(N-1) steps, each moving S/N bytes):

    t(N) = c * B / N  +  2 (N - 1) * alpha  +  2 (N - 1) / N * S / bw
    efficiency(N) = t(1) / (N * t(N)),   t(1) = c * B

c: the compute per row on one node (seconds), measured with hpc on this
machine; alpha: the latency of one ring step; bw: the link in bytes/s.
Prints, per model and link, the efficiency at 2..64 nodes and the rows per
node below which a node spends more time communicating than computing
(c * b = 2 S / bw), and those it needs for 90% (c * b >= 9 * allreduce).

usage: mpi_scaling.py [ALPHA_US]   (default 25 us per ring step on Ethernet)
"""
import sys

ALPHA = (float(sys.argv[1]) if len(sys.argv) > 1 else 25.0) * 1e-6

# Measured on this machine (bench/RESULTS.md, 2 threads on the 2-core AMD EPYC):
# the MLP 118.2k samples/s at batch 128; the char-LSTM 33.6k tokens/s at
# batch 32 streams of 64 tokens.  Gradient sizes: `hpc explain` parameters x 4.
MODELS = [
    # name, global batch, compute per row on one node (s), gradient bytes
    ("Fashion-MNIST MLP 784-256-256-10 (bench/fmnist_mlp.hp)", 128, 1 / 118.2e3, 269322 * 4),
    ("char-LSTM 64/256x2 (bench/charlm.hp), rows = streams of 64 tokens", 32, 64 / 33.6e3, 890732 * 4),
]
LINKS = [("10 Gbit/s", 10e9 / 8), ("100 Gbit/s", 100e9 / 8)]
NODES = [2, 4, 8, 16, 32, 64]


def allreduce(n, S, bw):
    return 2 * (n - 1) * ALPHA + 2 * (n - 1) / n * S / bw


for name, B, c, S in MODELS:
    print(f"\n{name}: batch {B}, {c * 1e6:.1f} us per row, gradient {S / 1e6:.2f} MB per step")
    print(f"| link | " + " | ".join(f"N={n}" for n in NODES) + " | rows/node at 64 nodes: break-even | ... 90% |")
    print("|---|" + "---|" * len(NODES) + "---|---|")
    for lname, bw in LINKS:
        effs = []
        for n in NODES:
            if B < n:
                effs.append("-")
                continue
            t = c * B / n + allreduce(n, S, bw)
            effs.append(f"{c * B / (n * t) * 100:.0f}%")
        big = allreduce(64, S, bw)
        print(f"| {lname} | " + " | ".join(effs) + f" | {big / c:.0f} | {9 * big / c:.0f} |")
