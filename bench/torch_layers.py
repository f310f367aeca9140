#!/usr/bin/env python3
"""PyTorch side of `make bench`: times the layers of bench/layers_bench.c at the same shapes and
prints "seconds<TAB>name" lines (best of repeated calls).
Usage: torch_layers.py THREADS [MIN_TIME] [cpu]
"cpu" (with THREADS 1) times with this thread's CPU clock: with one thread PyTorch computes in the
calling thread, and other processes on a shared machine do not inflate that clock."""
import math
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
MIN_TIME = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
CPU = len(sys.argv) > 3 and sys.argv[3] == "cpu"
if CPU and torch.get_num_threads() != 1:
    sys.exit("torch_layers.py: cpu timing needs THREADS 1")
clock = time.thread_time if CPU else time.perf_counter
torch.manual_seed(0)


def best(fn):
    fn()
    t_best, start, rep = 1e30, time.perf_counter(), 0
    while rep < 3 or (time.perf_counter() - start < MIN_TIME and rep < 200):
        t0 = clock()
        fn()
        t_best = min(t_best, clock() - t0)
        rep += 1
    return t_best


def emit(sec, name):
    print("%.9f\t%s" % (sec, name), flush=True)
    print("  %-32s %.4f s" % (name, sec), file=sys.stderr, flush=True)


def linear(prefix, N, I, O):
    x = torch.randn(N, I, requires_grad=True)
    lin = torch.nn.Linear(I, O)
    g = torch.randn(N, O)
    with torch.no_grad():
        emit(best(lambda: lin(x)), prefix + " fwd")
    y = lin(x)
    params = (x, lin.weight, lin.bias)
    emit(best(lambda: torch.autograd.grad(y, params, g, retain_graph=True)), prefix + " bwd")


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
        emit(best(lambda: attention(q, k, v, H)), prefix + " fwd")
    o = attention(q, k, v, H)
    emit(best(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True)), prefix + " bwd")


def main():
    linear("mini linear D->4D", 8 * 320, 256, 1024)
    linear("mini linear D->3D", 8 * 320, 256, 768)
    attn("mini attention", 8, 320, 4, 64)
    linear("paper linear D->4D", 3840, 768, 3072)
    linear("paper linear D->3D", 3840, 768, 2304)
    attn("paper attention", 1, 3840, 12, 64)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    emit(best(lambda: a @ b), "sgemm 2048^3 (oneDNN | torch)")


main()
