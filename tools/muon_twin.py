"""PyTorch twin of millivid's optimizer (src/nn/optim.c), for tests/test_optim.c.

Reads DIR/in.json (tensor names, shapes, steps, lr, weight decay) and DIR/<name>.p0.npy,
DIR/<name>.g<k>.npy; writes DIR/<name>.p<k>.npy and DIR/<name>.mom<k>.npy after every step k.

Muon follows torch.optim.Muon (PyTorch 2.9, torch/optim/_muon.py) as the official MilliVid code
configures it: momentum 0.95, Nesterov, 5 Newton-Schulz steps with coefficients (3.4445, -4.7750,
2.0315) on the update normalised by its Frobenius norm (clamped at 1e-7), transposed so the Gram
matrix is the smaller side, lr adjusted by 0.2 * sqrt(max(rows, cols)) ("match_rms_adamw"), decoupled
weight decay lr * wd with the unadjusted lr. Debian's torch has no Muon, so the formula is written
here. --ns-dtype picks the Newton-Schulz precision: float32 (compared with millivid's fp32 path) or
bfloat16 (what torch.optim.Muon runs). Tensors Muon does not take (not 2-D, or embedding tables) go to
the real torch.optim.AdamW (betas 0.9/0.999, eps 1e-8)."""
import json
import sys

import numpy as np
import torch


def newton_schulz(g, steps, dtype):
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.to(dtype)
    wide = g.size(0) <= g.size(1)
    if not wide:
        x = x.T
    x = x / x.norm().clamp(min=1e-7)
    for _ in range(steps):
        gram = x @ x.T
        upd = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, upd, x, beta=a)
    if not wide:
        x = x.T
    return x.to(torch.float32)


def is_muon(name, shape):
    return len(shape) == 2 and not name.endswith("embedding.weight")


def main():
    d = sys.argv[1]
    ns_dtype = torch.bfloat16 if "--ns-dtype=bfloat16" in sys.argv else torch.float32
    cfg = json.load(open(f"{d}/in.json"))
    lr, wd, steps = cfg["lr"], cfg["weight_decay"], cfg["steps"]
    params = {t["name"]: torch.from_numpy(np.load(f"{d}/{t['name']}.p0.npy")).clone() for t in cfg["tensors"]}
    muon = {n: p for n, p in params.items() if is_muon(n, p.shape)}
    adam_list = [p for n, p in params.items() if n not in muon]
    adam = torch.optim.AdamW(adam_list, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    mom = {n: torch.zeros_like(p) for n, p in muon.items()}
    for k in range(1, steps + 1):
        for n, p in params.items():
            p.grad = torch.from_numpy(np.load(f"{d}/{n}.g{k}.npy"))
        adam.step()
        with torch.no_grad():
            for n, p in muon.items():
                g = p.grad
                mom[n].lerp_(g, 1 - 0.95)
                u = g.lerp(mom[n], 0.95)
                x = newton_schulz(u, 5, ns_dtype)
                adj = lr * 0.2 * max(p.shape) ** 0.5
                p.mul_(1 - lr * wd)
                p.add_(x, alpha=-adj)
        for n, p in params.items():
            np.save(f"{d}/{n}.p{k}.npy", p.detach().numpy())
            if n in mom:
                np.save(f"{d}/{n}.mom{k}.npy", mom[n].numpy())


if __name__ == "__main__":
    main()
