#!/usr/bin/env python3
"""PyTorch twin of millivid's transformer block and hierarchical autoencoder (fp32, written from
OFFICIAL_MODULES.md §0-§1). Used by tests/test_block.c, tests/test_ae.c and bench/torch_ae.py.

  ae_twin.py block IN OUT   IN holds the block weights ("blk.<name>"), x [B,T,D], optional c, dout
                            and metadata heads/adaln/per_sample; OUT gets y, dx, dc, "grad.<name>".
  ae_twin.py step IN OUT    IN holds an AE state dict, "batch.images" [B,H,W,3] in [0,1],
                            "batch.levels" [B] (I32) and metadata config (json: levels, patch,
                            latent, width, depth, heads, variant); OUT gets "loss" [1], per-level
                            losses "loss_levels" [L] and "grad.<name>" for every parameter.
  ae_twin.py fakedata DIR N T S   writes a small synthetic data set (N videos x T frames of SxS
                            smooth moving colour patterns) in the millivid layout.
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from stfile import st_load, st_save  # tools/stfile.py (this script's directory is on sys.path)


# ---------------------------------------------------------------- modules (official names)

class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        eps = torch.finfo(torch.float32).eps
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.weight


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm = RMSNorm(d // heads)
        self.k_norm = RMSNorm(d // heads)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        q, k = self.q_norm(q), self.k_norm(k)
        s = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        o = s.softmax(-1) @ v
        return self.proj(o.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def ln(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


class Block(nn.Module):
    def __init__(self, d, heads, adaln):
        super().__init__()
        self.attn = Attention(d, heads)
        self.mlp = Mlp(d)
        self.adaln = adaln
        if adaln:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c=None):
        if not self.adaln:
            x = x + self.attn(ln(x))
            return x + self.mlp(ln(x))
        m = self.adaLN_modulation(c)
        if m.dim() == 2:
            m = m[:, None, :]
        sa, ca, ga, sm, cm, gm = m.chunk(6, dim=-1)
        x = x + ga * self.attn(ln(x) * (1 + ca) + sa)
        return x + gm * self.mlp(ln(x) * (1 + cm) + sm)


class Stack(nn.Module):
    def __init__(self, d, depth, heads, adaln):
        super().__init__()
        self.blocks = nn.ModuleList([Block(d, heads, adaln) for _ in range(depth)])


def pe2d(rows, cols, d):
    n = d // 4
    om = 10000.0 ** (-torch.arange(n, dtype=torch.float64) / (n - 1))
    r, c = rows.double()[:, None] * om, cols.double()[:, None] * om
    return torch.cat([c.sin(), c.cos(), r.sin(), r.cos()], -1).float()


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, p = cfg["width"], cfg["patch"]
        self.transformer = Stack(d, cfg["depth"], cfg["heads"], False)
        self.level_embedding = nn.Embedding(cfg["levels"], d)
        self.patchify = nn.Linear(3 * p * p, d)
        self.bottleneck = nn.Linear(d, cfg["latent"])


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, p = cfg["width"], cfg["patch"]
        self.transformer = Stack(d, cfg["depth"], cfg["heads"], True)
        self.level_embedding = nn.Embedding(cfg["levels"], d)
        self.unpatchify = nn.Linear(d, 3 * p * p)
        self.unbottleneck = nn.Linear(cfg["latent"], d)


class AE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def pyramid(self, img):
        """img [B,H,W,3] -> patches [B, T_pyr, 3P^2] ((c,py,px) layout), level/row/col per token."""
        p, L = self.cfg["patch"], self.cfg["levels"]
        x = img.permute(0, 3, 1, 2)
        out, lv, rr, cc = [], [], [], []
        for l in range(L):
            if l:
                x = F.avg_pool2d(x, 2)
            b, c, h, w = x.shape
            t = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
            out.append(t.reshape(b, (h // p) * (w // p), c * p * p))
            gi, gj = torch.meshgrid(torch.arange(h // p), torch.arange(w // p), indexing="ij")
            lv.append(torch.full((gi.numel(),), l))
            rr.append(gi.reshape(-1))
            cc.append(gj.reshape(-1))
        return torch.cat(out, 1), torch.cat(lv), torch.cat(rr), torch.cat(cc)

    def encode(self, patches, lv, rr, cc):
        e = self.encoder
        d = self.cfg["width"]
        x = e.patchify(patches) + pe2d(rr, cc, d) + e.level_embedding(lv)
        for blk in e.transformer.blocks:
            x = blk(x)
        z = torch.tanh(e.bottleneck(x))
        if self.cfg.get("variant", "adaptive") == "cascaded":
            z = self.cascade(z, lv)
        return z

    def cascade(self, z, lv):
        t0 = int((lv == 0).sum())
        g = int(round(math.sqrt(t0)))
        b, _, ch = z.shape
        grid = z[:, :t0].reshape(b, g, g, ch).permute(0, 3, 1, 2)
        parts = [z[:, :t0]]
        pooled = grid.detach()
        for _ in range(1, self.cfg["levels"]):
            pooled = F.avg_pool2d(pooled, 2)
            parts.append(pooled.permute(0, 2, 3, 1).reshape(b, -1, ch))
        return torch.cat(parts, 1)

    def decode(self, z, keep, lv, rr, cc):
        dm = self.decoder
        d = self.cfg["width"]
        mask = (lv[None, :] == keep[:, None]).float()[..., None]
        x = dm.unbottleneck(z * mask) + pe2d(rr, cc, d) + dm.level_embedding(lv)
        c = dm.level_embedding(keep)
        for blk in dm.transformer.blocks:
            x = blk(x, c)
        return dm.unpatchify(x)

    def loss(self, img, keep):
        patches, lv, rr, cc = self.pyramid(img)
        z = self.encode(patches, lv, rr, cc)
        out = self.decode(z, keep, lv, rr, cc)
        err = (out - patches).pow(2).mean(-1)  # [B, T]
        wt = (4.0 ** lv.float())[None, :]
        loss = (err * wt).mean()
        per_level = torch.stack([err[:, lv == l].mean() for l in range(self.cfg["levels"])])
        return loss, per_level


# ---------------------------------------------------------------- commands

def load_into(module, tensors, prefix=""):
    sd = {k: torch.from_numpy(tensors[prefix + k]) for k in module.state_dict()}
    module.load_state_dict(sd, strict=True)


def cmd_block(inp, outp):
    t, meta = st_load(inp)
    x = torch.from_numpy(t["x"]).requires_grad_(True)
    d = x.shape[-1]
    adaln = int(meta["adaln"])
    blk = Block(d, int(meta["heads"]), bool(adaln))
    load_into(blk, t, "blk.")
    c = torch.from_numpy(t["c"]).requires_grad_(True) if adaln else None
    y = blk(x, c)
    y.backward(torch.from_numpy(t["dout"]))
    res = {"y": y.detach().numpy(), "dx": x.grad.numpy()}
    if adaln:
        res["dc"] = c.grad.numpy()
    for k, p in blk.named_parameters():
        res["grad." + k] = p.grad.numpy()
    st_save(outp, res)


def cmd_step(inp, outp):
    t, meta = st_load(inp)
    cfg = json.loads(meta["config"])
    ae = AE(cfg)
    load_into(ae, t)
    img = torch.from_numpy(t["batch.images"])
    keep = torch.from_numpy(t["batch.levels"]).long()
    loss, per_level = ae.loss(img, keep)
    loss.backward()
    res = {"loss": loss.detach().reshape(1).numpy(), "loss_levels": per_level.detach().numpy()}
    for k, p in ae.named_parameters():
        res["grad." + k] = p.grad.numpy() if p.grad is not None else np.zeros(p.shape, np.float32)
    st_save(outp, res)


def cmd_fakedata(d, n, t, s):
    import os
    n, t, s = int(n), int(t), int(s)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:s, 0:s] / s
    frames = np.zeros((n, t, s, s, 3), np.uint8)
    for v in range(n):
        f = rng.uniform(1, 4, size=(3, 2))
        ph = rng.uniform(0, 6.28, size=3)
        for k in range(t):
            for c in range(3):
                img = 0.5 + 0.45 * np.sin(6.28 * (f[c, 0] * xx + f[c, 1] * yy) + ph[c] + 0.2 * k)
                frames[v, k, :, :, c] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    actions = np.zeros((n, t, 6), np.float32)
    actions[:, :, 0] = rng.integers(0, 3, size=(n, t))
    np.save(os.path.join(d, "frames.npy"), frames)
    np.save(os.path.join(d, "actions.npy"), actions)
    with open(os.path.join(d, "index.json"), "w") as fh:
        json.dump({"format_version": 1, "videos": n, "frames_per_video": t, "image_size": s,
                   "split": "train", "has_poses": False}, fh)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "fakedata":
        cmd_fakedata(*sys.argv[2:])
        sys.exit(0)
    torch.set_num_threads(1)
    cmds = {"block": cmd_block, "step": cmd_step}
    if len(sys.argv) != 4 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2], sys.argv[3])
