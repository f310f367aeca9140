#!/usr/bin/env python3
"""PyTorch side of bench/ae_bench.c: the autoencoder twin (tools/ae_twin.py) at the mini shapes.
Times one AdamW training step (pyramid + loss + backward + update) at batch B and the encoder at
batch 32; prints "seconds name" lines (best of repeated calls; "<name>_cpu" = process CPU seconds).
Usage: torch_ae.py THREADS BATCH REPS"""
import torch

from torchbench import best, setup  # bench/torchbench.py, also puts tools/ on the path
import ae_twin  # noqa: E402

BATCH, REPS = setup(16, 5)

CFG = {"levels": 4, "patch": 8, "latent": 16, "width": 192, "depth": 4, "heads": 4, "variant": "adaptive"}
ae = ae_twin.AE(CFG)
opt = torch.optim.AdamW(ae.parameters(), lr=1e-4, weight_decay=0.01)
imgs = torch.rand(BATCH, 64, 64, 3)
keep = torch.randint(0, 4, (BATCH,))


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
