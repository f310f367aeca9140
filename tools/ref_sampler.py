#!/usr/bin/env python3
"""Reference for src/rollout/diffusion.c: the §3.1 schedule and the §3.4/§3.5 DDIM sampler in numpy
(float64), run with a fixed toy "model" on inputs written by tests/test_diffusion.c.

Usage: ref_sampler.py DIR N C STEPS GUIDANCE
Reads DIR/in.bin (float32, concatenated): xhat [N, C], eps [N, C], is_denoised [N] (0/1),
toy A [C, C], b [C], d [C], m [1]. Writes DIR/out.bin: xhat [N, C] then eps [N, C] (float32).
Toy model: v[i] = A @ x_t[i] + b * t[i] + m * mean_j x_t[j] + keep_cond * d.
Also writes DIR/schedule.bin: logsnr, alpha, sigma at t = k/49, k = 0..49 (float64)."""
import sys

import numpy as np

T_MIN = np.arctan(np.exp(-7.5))
T_MAX = np.arctan(np.exp(7.5))


def logsnr(t):
    return -2.0 * np.log(np.tan(T_MIN + t * (T_MAX - T_MIN)))


def alpha(t):
    return np.sqrt(1.0 / (1.0 + np.exp(-logsnr(t))))


def sigma(t):
    return np.sqrt(1.0 / (1.0 + np.exp(logsnr(t))))


def toy(x_t, t, keep_cond, A, b, d, m):
    return x_t @ A.T + t[:, None] * b[None, :] + m * x_t.mean(axis=0, keepdims=True) + keep_cond * d[None, :]


def noised(xhat, eps, den, t, other):
    tau = np.where(den, t, other).astype(np.float32).astype(np.float64)
    return alpha(tau)[:, None] * xhat + sigma(tau)[:, None] * eps, tau


def sample(xhat, eps, den, steps, guidance, model):
    xhat, eps = xhat.copy(), eps.copy()
    ts = np.linspace(1.0, 0.0, steps) if steps > 1 else np.array([1.0])
    for t in ts:
        x_t, tau = noised(xhat, eps, den, t, 0.0)
        v = model(x_t, tau, 1.0)
        if guidance != 1.0:
            x_uc, tau_uc = noised(xhat, eps, den, t, 1.0)
            v_uc = model(x_uc, tau_uc, 0.0)
            v = v_uc + guidance * (v - v_uc)
        tf = float(np.float32(t))
        a, s = alpha(tf), sigma(tf)
        xhat = np.where(den[:, None], a * x_t - s * v, xhat)
        eps = np.where(den[:, None], a * v + s * x_t, eps)
    return xhat, eps


def main():
    d_ir, n, c, steps, guidance = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    raw = np.fromfile(d_ir + "/in.bin", dtype="<f4").astype(np.float64)
    sizes = [n * c, n * c, n, c * c, c, c, 1]
    if raw.size != sum(sizes):
        sys.exit("ref_sampler.py: %s/in.bin has %d floats, expected %d" % (d_ir, raw.size, sum(sizes)))
    parts = np.split(raw, np.cumsum(sizes)[:-1])
    xhat, eps = parts[0].reshape(n, c), parts[1].reshape(n, c)
    den = parts[2] > 0.5
    A, b, d, m = parts[3].reshape(c, c), parts[4], parts[5], parts[6][0]
    guidance = float(np.float32(guidance))
    out_x, out_e = sample(xhat, eps, den, steps, guidance, lambda x, t, k: toy(x, t, k, A, b, d, m))
    np.concatenate([out_x.ravel(), out_e.ravel()]).astype("<f4").tofile(d_ir + "/out.bin")
    t = np.arange(50) / 49.0
    np.concatenate([logsnr(t), alpha(t), sigma(t)]).astype("<f8").tofile(d_ir + "/schedule.bin")


if __name__ == "__main__":
    main()
