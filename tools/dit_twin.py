#!/usr/bin/env python3
"""PyTorch twin of the millivid video DiT (universal and FramePack), written from
OFFICIAL_MODULES.md §0 and §2 (fp32, no bf16 rounding of q/k).

usage: dit_twin.py IN.safetensors OUT.safetensors

IN holds the parameters under their official names, the inputs (in.*) and, in its metadata, the
sizes ("kind", "C", "D", "depth", "heads", "levels", "grid0", "fp_context", "fp_denoise",
"context_cache"). The twin runs one forward pass, the masked v-prediction MSE loss and its backward,
and writes out.v, out.loss and grad.<name> for every parameter to OUT.
Used by tests/test_dit.c and bench/torch_dit.py (import).
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

from stfile import st_load, st_save  # tools/stfile.py (this script's directory is on sys.path)


# ----------------------------------------------------------------------------- layers

def lin(P, name, x):
    return F.linear(x, P[name + ".weight"], P[name + ".bias"])


def layernorm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def rmsnorm(x, w):
    eps = torch.finfo(torch.float32).eps
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


def attention(P, pre, x, heads, mask):
    B, T, D = x.shape
    dh = D // heads
    qkv = lin(P, pre + "qkv", x)
    q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]
    q = q.reshape(B, T, heads, dh).transpose(1, 2)
    k = k.reshape(B, T, heads, dh).transpose(1, 2)
    v = v.reshape(B, T, heads, dh).transpose(1, 2)
    q = rmsnorm(q, P[pre + "q_norm.weight"])
    k = rmsnorm(k, P[pre + "k_norm.weight"])
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if mask is not None:
        s = s.masked_fill(~mask[:, None], float("-inf"))
    o = torch.softmax(s, -1) @ v
    o = o.transpose(1, 2).reshape(B, T, D)
    return lin(P, pre + "proj", o)


def block(P, pre, x, c, heads, mask):
    m = lin(P, pre + "adaLN_modulation.1", F.silu(c))
    sh1, sc1, g1, sh2, sc2, g2 = m.chunk(6, -1)
    x = x + g1 * attention(P, pre + "attn.", modulate(layernorm(x), sh1, sc1), heads, mask)
    h = lin(P, pre + "mlp.fc1", modulate(layernorm(x), sh2, sc2))
    h = F.gelu(h, approximate="tanh")
    return x + g2 * lin(P, pre + "mlp.fc2", h)


def timestep_embedding(t):
    # arguments in float64 (up to 1000 rad: fp32 rounding of s*freq alone would be ~6e-5), then fp32
    s = 1000.0 * t.to(torch.float64)
    k = torch.arange(128, dtype=torch.float64)
    freqs = torch.exp(-math.log(10000.0) * k / 127.0)
    a = s[..., None] * freqs
    return torch.cat([torch.cos(a), torch.sin(a)], -1).to(torch.float32)


def pos3d(f, i, j, D):
    n = D // 6
    k = torch.arange(n, dtype=torch.float64)
    w = 10000.0 ** (-k / (n - 1))
    parts = []
    for v in (f, i, j):
        a = v.to(torch.float64)[..., None] * w
        parts += [torch.sin(a), torch.cos(a)]
    pe = torch.cat(parts, -1).to(torch.float32)
    if pe.shape[-1] < D:
        pe = F.pad(pe, (0, D - pe.shape[-1]))
    return pe


def core(P, cfg, e, frame, level, row, col, t, action, keep, ctx):
    """e [B,T,D] patch embeddings; returns v [B,T,C]."""
    D, heads = cfg["D"], cfg["heads"]
    rel = frame - frame.min(dim=1, keepdim=True).values
    x = e + pos3d(rel, row, col, D)
    te = lin(P, "dit.dit.time_embedding.mlp.2", F.silu(lin(P, "dit.dit.time_embedding.mlp.0", timestep_embedding(t))))
    c = te + P["dit.dit.level_embedding.weight"][level.long()]
    act = P["dit.dit.action_encoder.action_embedding.weight"][action.clamp(min=0).long()]
    use = (keep[:, None] != 0) & (action >= 0)
    c = c + act * use[..., None].to(act.dtype)
    mask = None
    if cfg.get("context_cache", 0) and ctx is not None:
        cb = ctx != 0
        mask = (~cb[:, :, None]) | cb[:, None, :]
    for b in range(cfg["depth"]):
        x = block(P, "dit.dit.dit.blocks.%d." % b, x, c, heads, mask)
    sh, sc = lin(P, "dit.unpatchify.adaLN_modulation.1", F.silu(c)).chunk(2, -1)
    return lin(P, "dit.unpatchify.linear", modulate(layernorm(x), sh, sc))


def fp_layout(cfg):
    L, g0 = cfg["levels"], cfg["grid0"]
    ctx, nd = cfg["fp_context"], cfg["fp_denoise"]
    runs, fr = [], 0  # (level, first frame, frames)
    for l in range(L - 1, -1, -1):
        n = ctx[l] + (nd if l == 0 else 0)
        runs.append((l, fr, n))
        fr += n
    return runs, fr


def fp_forward(P, cfg, x, t, action):
    """x [B,F,T0,C] token-major level-0 latents; returns v [B,nd,T0,C]."""
    B, Fr, T0, C = x.shape
    g0, D = cfg["grid0"], cfg["D"]
    grid = x.reshape(B, Fr, g0, g0, C).permute(0, 1, 4, 2, 3)  # B F C h w
    runs, _ = fp_layout(cfg)
    es, meta = [], []
    for l, f0, n in runs:
        if n == 0:
            continue
        k, g = 1 << l, g0 >> l
        xs = grid[:, f0:f0 + n]  # B n C h w
        xs = xs.reshape(B, n, C, g, k, g, k).permute(0, 1, 3, 5, 2, 4, 6).reshape(B, n * g * g, C * k * k)
        es.append(lin(P, "dit.patchify.%d" % l, xs))
        ff = torch.arange(f0, f0 + n).repeat_interleave(g * g)
        ii = torch.arange(g).repeat_interleave(g).repeat(n)
        jj = torch.arange(g).repeat(g * n)
        meta.append((ff, torch.full_like(ff, l), ii, jj))
    e = torch.cat(es, 1)
    ff, ll, ii, jj = (torch.cat([m[q] for m in meta])[None].expand(B, -1) for q in range(4))
    tt = torch.gather(t, 1, ff)
    aa = torch.gather(action, 1, ff)
    nd_tok = cfg["fp_denoise"] * T0
    ctx = torch.ones_like(ff)
    ctx[:, -nd_tok:] = 0
    v = core(P, cfg, e, ff, ll, ii, jj, tt, aa, torch.ones(B, dtype=torch.int32), ctx)
    return v[:, -nd_tok:].reshape(B, cfg["fp_denoise"], T0, C)


def uni_forward(P, cfg, x, frame, level, row, col, t, action, keep, ctx):
    e = lin(P, "dit.patchify", x)
    return core(P, cfg, e, frame, level, row, col, t, action, keep, ctx)


def run(inp, outp):
    T, meta = st_load(inp)
    cfg = {k: json.loads(v) for k, v in meta.items()}
    P = {k: torch.tensor(v, requires_grad=True) for k, v in T.items() if k.startswith("dit.")}
    I = {k[3:]: torch.tensor(v) for k, v in T.items() if k.startswith("in.")}
    if cfg["kind"] == "framepack":
        v = fp_forward(P, cfg, I["x"], I["t"], I["action"])
        loss = ((v - I["target"]) ** 2).mean()
    else:
        v = uni_forward(P, cfg, I["x"], I["frame"], I["level"], I["row"], I["col"], I["t"], I["action"],
                        I["keep"], I.get("ctx"))
        m = I["lossmask"][..., None].to(torch.float32)
        loss = (((v - I["target"]) ** 2) * m).sum() / (m.sum() * v.shape[-1])
    loss.backward()
    out = {"out.v": v.detach().numpy(), "out.loss": np.array([loss.item()], dtype=np.float32)}
    for k, p in P.items():
        out["grad." + k] = p.grad.numpy() if p.grad is not None else np.zeros_like(p.detach().numpy())
    st_save(outp, out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    run(sys.argv[1], sys.argv[2])
