#!/usr/bin/env python3
"""PyTorch side of `make bench`: times the layers of bench/layers_bench.c at the same shapes and
prints "seconds name" lines (best of repeated calls). Usage: torch_layers.py THREADS [MIN_TIME]"""
import math
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
MIN_TIME = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
torch.manual_seed(0)


def best(fn):
    fn()
    t_best, start, rep = 1e30, time.perf_counter(), 0
    while rep < 3 or (time.perf_counter() - start < MIN_TIME and rep < 200):
        t0 = time.perf_counter()
        fn()
        t_best = min(t_best, time.perf_counter() - t0)
        rep += 1
    return t_best


def linear(prefix, N, I, O):
    x = torch.randn(N, I, requires_grad=True)
    lin = torch.nn.Linear(I, O)
    g = torch.randn(N, O)
    with torch.no_grad():
        print(best(lambda: lin(x)), prefix + " fwd", flush=True)
    y = lin(x)
    params = (x, lin.weight, lin.bias)
    print(best(lambda: torch.autograd.grad(y, params, g, retain_graph=True)), prefix + " bwd",
          flush=True)


def attention(q, k, v, H):
    B, T, D = q.shape
    dh = D // H
    qh, kh, vh = (t.view(B, T, H, dh).permute(0, 2, 1, 3) for t in (q, k, v))
    p = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(dh), -1)
    return (p @ vh).permute(0, 2, 1, 3).reshape(B, T, D)


def attn(prefix, B, T, H, dh):
    q, k, v = (torch.randn(B, T, H * dh, requires_grad=True) for _ in range(3))
    g = torch.randn(B, T, H * dh)
    with torch.no_grad():
        print(best(lambda: attention(q, k, v, H)), prefix + " fwd", flush=True)
    o = attention(q, k, v, H)
    print(best(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True)), prefix + " bwd",
          flush=True)


def main():
    linear("mini linear D->4D", 8 * 320, 256, 1024)
    linear("mini linear D->3D", 8 * 320, 256, 768)
    attn("mini attention", 8, 320, 4, 64)
    linear("paper linear D->4D", 3840, 768, 3072)
    linear("paper linear D->3D", 3840, 768, 2304)
    attn("paper attention", 1, 3840, 12, 64)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    print(best(lambda: a @ b), "sgemm 2048^3 (oneDNN | torch)", flush=True)


main()
