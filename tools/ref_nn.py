#!/usr/bin/env python3
"""PyTorch (float64) references for the layers of src/nn (tests/test_nn.c).

Usage: ref_nn.py OUTDIR
Generates random inputs with a fixed numpy seed, computes forward outputs and gradients for a random
upstream gradient, and writes every array as OUTDIR/<name>.bin: raw little-endian float32
(int32 for index arrays, uint8 for masks). The shapes are fixed here and mirrored in test_nn.c."""
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = sys.argv[1]
rng = np.random.default_rng(1234)


def save(name, a, dtype=np.float32):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    a.astype(dtype).tofile(os.path.join(OUT, name + ".bin"))


def rand(name, *shape, lo=-1.0, hi=1.0):
    """A random float32-representable input, saved and returned as a float64 leaf tensor."""
    a = rng.uniform(lo, hi, size=shape).astype(np.float32)
    save(name, a)
    return torch.tensor(a.astype(np.float64), requires_grad=True)


def backward(y, name):
    g = rand(name + "_dout", *y.shape).detach()
    y.backward(g)


def ref_linear():
    N, I, O = 7, 12, 10
    x, w, b = rand("lin_x", N, I), rand("lin_w", O, I), rand("lin_b", O)
    y = x @ w.T + b
    save("lin_out", y)
    backward(y, "lin")
    save("lin_dx", x.grad), save("lin_dw", w.grad), save("lin_db", b.grad)


def ref_layernorm():
    N, C = 6, 16
    for tag, affine in (("ln", True), ("ln0", False)):
        x = rand(tag + "_x", N, C, lo=-2, hi=3)
        w, b = (rand(tag + "_w", C), rand(tag + "_b", C)) if affine else (None, None)
        y = torch.nn.functional.layer_norm(x, (C,), w, b, eps=1e-6)
        save(tag + "_out", y)
        save(tag + "_mean", x.mean(-1))
        save(tag + "_rstd", 1 / torch.sqrt(x.var(-1, unbiased=False) + 1e-6))
        backward(y, tag)
        save(tag + "_dx", x.grad)
        if affine:
            save(tag + "_dw", w.grad), save(tag + "_db", b.grad)


def ref_rmsnorm():
    N, C, eps = 9, 8, 1.1920928955078125e-07
    x, w = rand("rms_x", N, C), rand("rms_w", C, lo=0.5, hi=1.5)
    y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w
    save("rms_out", y)
    backward(y, "rms")
    save("rms_dx", x.grad), save("rms_dw", w.grad)


def ref_elementwise():
    n = 257
    fns = {
        "gelu": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        "silu": torch.nn.functional.silu,
        "tanh": torch.tanh,
    }
    for name, fn in fns.items():
        x = rand(name + "_x", n, lo=-6, hi=6)
        y = fn(x)
        save(name + "_out", y)
        backward(y, name)
        save(name + "_dx", x.grad)


def attention_ref(q, k, v, mask, H):
    B, T, D = q.shape
    dh = D // H
    qh, kh, vh = (t.view(B, T, H, dh).permute(0, 2, 1, 3) for t in (q, k, v))
    s = qh @ kh.transpose(-1, -2) / math.sqrt(dh)
    if mask is not None:
        s = s.masked_fill(~mask[:, None], float("-inf"))
    lse = torch.logsumexp(s, -1)
    o = torch.softmax(s, -1) @ vh
    return o.permute(0, 2, 1, 3).reshape(B, T, D), lse


def context_mask(B, T, nctx):
    """Context tokens (the first nctx) attend only to context; the others attend to everything."""
    m = np.ones((B, T, T), dtype=bool)
    m[:, :nctx, nctx:] = False
    return m


def ref_attention():
    # (tag, B, T, H, dh, masked)
    for tag, B, T, H, dh, masked in (("att1", 2, 37, 2, 8, False), ("att2", 1, 150, 2, 40, False),
                                     ("att3", 2, 150, 3, 16, True), ("att4", 1, 70, 1, 72, True)):
        q, k, v = (rand(tag + n, B, T, H * dh, lo=-2, hi=2) for n in ("_q", "_k", "_v"))
        mask = None
        if masked:
            m = context_mask(B, T, T // 3)
            save(tag + "_mask", m, np.uint8)
            mask = torch.tensor(m)
        o, lse = attention_ref(q, k, v, mask, H)
        save(tag + "_out", o), save(tag + "_lse", lse)
        backward(o, tag)
        save(tag + "_dq", q.grad), save(tag + "_dk", k.grad), save(tag + "_dv", v.grad)


def ref_modulate_gate():
    N, C = 5, 8
    x, m = rand("mod_x", N, C), rand("mod_m", N, 3 * C)  # shift = m[:, :C], scale = m[:, C:2C]
    y = x * (1 + m[:, C:2 * C]) + m[:, :C]
    save("mod_out", y)
    backward(y, "mod")
    save("mod_dx", x.grad), save("mod_dm", m.grad)
    x, g, z = rand("gate_x", N, C), rand("gate_g", N, 2 * C), rand("gate_y", N, C)
    out = x + g[:, C:] * z  # gate = g[:, C:2C]
    save("gate_out", out)
    backward(out, "gate")
    save("gate_dg", g.grad), save("gate_dy", z.grad)


def sincos(p, n):
    w = 10000.0 ** (-np.arange(n) / (n - 1))
    a = np.asarray(p, dtype=np.float64)[:, None] * w[None]
    return [np.sin(a), np.cos(a)]


def ref_embeddings():
    N = 11
    t = rng.uniform(0, 1, size=N).astype(np.float32)
    t[0], t[1] = 0.0, 1.0
    save("temb_t", t)
    s = 1000.0 * t.astype(np.float64)
    f = np.exp(-math.log(10000.0) * np.arange(128) / 127)
    save("temb_out", np.concatenate([np.cos(s[:, None] * f), np.sin(s[:, None] * f)], 1))
    row, col, frame = (rng.integers(0, 40, size=N).astype(np.int32) for _ in range(3))
    save("pos_row", row, np.int32), save("pos_col", col, np.int32), save("pos_frame", frame, np.int32)
    D = 32  # 2-D: column (w) first, then row (h)
    save("pos2d_out", np.concatenate(sincos(col, D // 4) + sincos(row, D // 4), 1))
    for D in (24, 26):  # 3-D: frame, row, column; zero pad to D
        n = D // 6
        pe = np.concatenate(sincos(frame, n) + sincos(row, n) + sincos(col, n), 1)
        save("pos3d_%d_out" % D, np.pad(pe, ((0, 0), (0, D - 6 * n))))


def ref_lookup_images_loss():
    N, D, V = 9, 6, 5
    table = rand("emb_table", V, D)
    idx = rng.integers(0, V, size=N).astype(np.int32)
    idx[:3] = 2  # repeated rows accumulate
    save("emb_idx", idx, np.int32)
    y = table[torch.tensor(idx, dtype=torch.long)]
    save("emb_out", y)
    backward(y, "emb")
    save("emb_dtable", table.grad)
    H, W, P = 8, 12, 4
    img = rand("patch_img", H, W, 3)
    p = img.view(H // P, P, W // P, P, 3).permute(0, 2, 4, 1, 3).reshape(-1, 3 * P * P)
    save("patch_out", p)
    H, W, Ch = 6, 8, 3
    x = rand("pool_x", H, W, Ch)
    y = x.view(H // 2, 2, W // 2, 2, Ch).mean((1, 3))
    save("pool_out", y)
    backward(y, "pool")
    save("pool_dx", x.grad)
    N, C = 6, 5
    pred, target = rand("mse_pred", N, C), rand("mse_target", N, C).detach()
    mask = np.array([1, 0, 1, 1, 0, 1], dtype=np.float32)
    wt = rng.uniform(0.5, 2, size=N).astype(np.float32)
    save("mse_mask", mask), save("mse_wt", wt)
    mk, wk = torch.tensor(mask.astype(np.float64)), torch.tensor(wt.astype(np.float64))
    loss = ((wk * mk)[:, None] * (pred - target) ** 2).sum() / (C * mk.sum())
    (1.7 * loss).backward()
    save("mse_loss", loss.reshape(1)), save("mse_dpred", pred.grad)


def ref_optim():
    n, wd, base_lr, warmup = 50, 0.01, 1e-3, 2
    p0 = rand("adam_p0", n).detach()
    p = torch.nn.Parameter(p0.clone().float())
    opt = torch.optim.AdamW([p], lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    for step in (1, 2, 3):
        g = rand("adam_g%d" % step, n, lo=-0.1, hi=0.1).detach()
        p.grad = g.float()
        for group in opt.param_groups:
            group["lr"] = base_lr * min(step / warmup, 1.0)
        opt.step()
        save("adam_p%d" % step, p.detach().double())
    for tag, max_norm in (("clip1", 1.0), ("clip2", 100.0)):
        g = torch.nn.Parameter(rand(tag + "_g", 100).detach().clone())
        g.grad = g.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_([g], max_norm)
        save(tag + "_norm", norm.reshape(1)), save(tag + "_out", g.grad)


for f in (ref_linear, ref_layernorm, ref_rmsnorm, ref_elementwise, ref_attention, ref_modulate_gate,
          ref_embeddings, ref_lookup_images_loss, ref_optim):
    f()
print("ref_nn: wrote references to", OUT)
