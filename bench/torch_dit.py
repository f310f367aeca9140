#!/usr/bin/env python3
"""PyTorch side of bench/dit_bench.c: the video DiT twin (tools/dit_twin.py) at the mini shapes
(D 256, depth 6, heads 4, C 16, 320 tokens per sample). Times one training step (forward, masked v
loss, backward, update) with AdamW and with Muon (tools/muon_twin.py's Newton-Schulz in bf16 under
autocast, as torch.optim.Muon runs it, else fp32; AdamW on the tensors Muon does not take) at batch B and one forward of a single 320-token sequence; prints
"seconds name" lines (best of repeated calls).
Usage: torch_dit.py THREADS BATCH REPS
With MV_TORCH_AUTOCAST=bf16 in the environment (dit_bench --bf16) both run under CPU autocast to bf16,
PyTorch's own way of training with bf16 matmuls, to compare with millivid's --bf16 linear layers."""
import contextlib
import os

import torch

from torchbench import best, setup  # bench/torchbench.py, also puts tools/ on the path
import dit_twin  # noqa: E402
import muon_twin  # noqa: E402

BATCH, REPS = setup(8, 3)

D, DEPTH, HEADS, C, L, T = 256, 6, 4, 16, 4, 320
CFG = {"kind": "universal", "C": C, "D": D, "depth": DEPTH, "heads": HEADS, "levels": L, "grid0": 8,
       "context_cache": 0}


def make_params():
    shapes = {}
    for i in range(DEPTH):
        p = "dit.dit.dit.blocks.%d." % i
        shapes.update({p + "attn.qkv.weight": (3 * D, D), p + "attn.qkv.bias": (3 * D,),
                       p + "attn.q_norm.weight": (D // HEADS,), p + "attn.k_norm.weight": (D // HEADS,),
                       p + "attn.proj.weight": (D, D), p + "attn.proj.bias": (D,),
                       p + "mlp.fc1.weight": (4 * D, D), p + "mlp.fc1.bias": (4 * D,),
                       p + "mlp.fc2.weight": (D, 4 * D), p + "mlp.fc2.bias": (D,),
                       p + "adaLN_modulation.1.weight": (6 * D, D), p + "adaLN_modulation.1.bias": (6 * D,)})
    shapes.update({"dit.dit.time_embedding.mlp.0.weight": (D, 256), "dit.dit.time_embedding.mlp.0.bias": (D,),
                   "dit.dit.time_embedding.mlp.2.weight": (D, D), "dit.dit.time_embedding.mlp.2.bias": (D,),
                   "dit.dit.level_embedding.weight": (L, D), "dit.dit.action_encoder.action_embedding.weight": (3, D),
                   "dit.patchify.weight": (D, C), "dit.patchify.bias": (D,),
                   "dit.unpatchify.linear.weight": (C, D), "dit.unpatchify.linear.bias": (C,),
                   "dit.unpatchify.adaLN_modulation.1.weight": (2 * D, D),
                   "dit.unpatchify.adaLN_modulation.1.bias": (2 * D,)})
    return {k: (0.02 * torch.randn(s)).requires_grad_() for k, s in shapes.items()}


P = make_params()
opt = torch.optim.AdamW(list(P.values()), lr=1e-4, weight_decay=0.01)


def tokens(B):
    lv = torch.randint(0, L, (B, T), dtype=torch.int32)
    g = (8 >> lv.long())
    return dict(x=torch.randn(B, T, C), frame=torch.randint(0, 149, (B, T), dtype=torch.int32), level=lv,
                row=(torch.rand(B, T) * g).int(), col=(torch.rand(B, T) * g).int(), t=torch.rand(B, T),
                action=torch.randint(0, 3, (B, T), dtype=torch.int32), keep=torch.ones(B, dtype=torch.int32))


TB, T1 = tokens(BATCH), tokens(1)
AUTOCAST = os.environ.get("MV_TORCH_AUTOCAST") == "bf16"


def precision():
    return torch.autocast("cpu", dtype=torch.bfloat16) if AUTOCAST else contextlib.nullcontext()
target = torch.randn(BATCH, T, C)
mask = (torch.rand(BATCH, T) < 0.2).float()[..., None]


def train_step():
    opt.zero_grad(set_to_none=False)
    k = TB
    with precision():
        v = dit_twin.uni_forward(P, CFG, k["x"], k["frame"], k["level"], k["row"], k["col"], k["t"], k["action"],
                                 k["keep"], None)
    loss = (((v.float() - target) ** 2) * mask).sum() / (mask.sum() * C)
    loss.backward()
    opt.step()


MUON = {k: p for k, p in P.items() if muon_twin.is_muon(k, p.shape)}
MUON_MOM = {k: torch.zeros_like(p) for k, p in MUON.items()}
muon_adam = torch.optim.AdamW([p for k, p in P.items() if k not in MUON], lr=1e-4, weight_decay=0.01)


def train_step_muon():
    for p in P.values():
        if p.grad is not None:
            p.grad.zero_()
    k = TB
    with precision():
        v = dit_twin.uni_forward(P, CFG, k["x"], k["frame"], k["level"], k["row"], k["col"], k["t"], k["action"],
                                 k["keep"], None)
    loss = (((v.float() - target) ** 2) * mask).sum() / (mask.sum() * C)
    loss.backward()
    muon_adam.step()
    lr, wd, ns = 1e-4, 0.01, torch.bfloat16 if AUTOCAST else torch.float32
    with torch.no_grad():
        for name, p in MUON.items():
            MUON_MOM[name].lerp_(p.grad, 1 - 0.95)
            x = muon_twin.newton_schulz(p.grad.lerp(MUON_MOM[name], 0.95), 5, ns)
            p.mul_(1 - lr * wd)
            p.add_(x, alpha=-lr * 0.2 * max(p.shape) ** 0.5)


def forward1():
    with torch.no_grad(), precision():
        k = T1
        dit_twin.uni_forward(P, CFG, k["x"], k["frame"], k["level"], k["row"], k["col"], k["t"], k["action"],
                             k["keep"], None)


print(best(train_step_muon, REPS)[0], "train_step_muon", flush=True)
print(best(train_step, REPS)[0], "train_step", flush=True)
print(best(forward1, REPS + 2)[0], "forward320", flush=True)
