#!/usr/bin/env python3
"""PyTorch side of bench/ae_bench.c: the autoencoder twin (tools/ae_twin.py) at the mini shapes.
Times one AdamW training step (pyramid + loss + backward + update) at batch B and the encoder at
batch 32; prints "seconds name" lines (best of repeated calls; "<name>_cpu" = process CPU seconds).
Usage: torch_ae.py THREADS BATCH REPS"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import ae_twin  # noqa: E402

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 16
REPS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.set_num_threads(THREADS)
torch.manual_seed(0)

CFG = {"levels": 4, "patch": 8, "latent": 16, "width": 192, "depth": 4, "heads": 4, "variant": "adaptive"}
ae = ae_twin.AE(CFG)
opt = torch.optim.AdamW(ae.parameters(), lr=1e-4, weight_decay=0.01)
imgs = torch.rand(BATCH, 64, 64, 3)
keep = torch.randint(0, 4, (BATCH,))


def best(fn, reps):
    """Best wall-clock and best CPU (process, all threads) seconds of one call."""
    fn()
    t, c = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        t.append(time.perf_counter() - t0)
        c.append(time.process_time() - c0)
    return min(t), min(c)


def train_step():
    opt.zero_grad(set_to_none=False)
    loss, _ = ae.loss(imgs, keep)
    loss.backward()
    opt.step()


enc_imgs = torch.rand(32, 64, 64, 3)


def encode():
    with torch.no_grad():
        patches, lv, rr, cc = ae.pyramid(enc_imgs)
        ae.encode(patches, lv, rr, cc)


for fn, name in ((train_step, "train_step"), (encode, "encode32")):
    wall, cpu = best(fn, REPS)
    print(wall, name, flush=True)
    print(cpu, name + "_cpu", flush=True)
