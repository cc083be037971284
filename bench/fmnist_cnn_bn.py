#!/usr/bin/python3
"""bench/fmnist_cnn_bn.py - ../shared/peers/fmnist_cnn.py with batch norm:
examples/fashion_cnn.hp's network, Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d
twice, then the peer's dropout and dense layers.

It runs the shared peer itself (same data, optimizer, batch, timing and JSON
line), with one change: the peer's `nn` is replaced by a namespace whose
`Sequential` puts a torch.nn.BatchNorm2d(C) (PyTorch's defaults: eps 1e-5,
momentum 0.1, the conv keeps its bias, as hpc's) after every Conv2d.  So
the only difference between the two peers is the batch norm.
Usage: bench/fmnist_cnn_bn.py [--peer PATH] [the peer's arguments].
"""
import importlib.util
import os
import sys
import types

here = os.path.dirname(os.path.abspath(__file__))
peer = os.path.join(here, "..", "..", "shared", "peers", "fmnist_cnn.py")
if len(sys.argv) > 2 and sys.argv[1] == "--peer":
    peer = sys.argv[2]
    del sys.argv[1:3]
if not os.path.isfile(peer):
    sys.exit(f"bench/fmnist_cnn_bn.py: no peer program at {peer} (--peer PATH)")
spec = importlib.util.spec_from_file_location("fmnist_cnn_peer", peer)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
nn = mod.nn


def sequential(*layers):
    out = []
    for layer in layers:
        out.append(layer)
        if isinstance(layer, nn.Conv2d):
            out.append(nn.BatchNorm2d(layer.out_channels))
    if not any(isinstance(x, nn.BatchNorm2d) for x in out):
        sys.exit(f"bench/fmnist_cnn_bn.py: the peer at {peer} builds no Conv2d")
    return nn.Sequential(*out)


shim = types.SimpleNamespace(**{k: getattr(nn, k) for k in dir(nn) if not k.startswith("_")})
shim.Sequential = sequential
mod.nn = shim
mod.main()
