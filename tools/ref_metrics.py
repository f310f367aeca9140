"""Reference PSNR / SSIM for tests/test_metrics.c, computed with scikit-image.

usage: ref_metrics.py DIR
DIR/manifest.txt has one line per case: "NAME DTYPE N H W" with DTYPE u8 or f32. The frames are raw
C-order arrays DIR/NAME.a.bin and DIR/NAME.b.bin of shape [N, H, W, 3] (u8 values are scaled by 1/255,
f32 values are clipped to [0, 1]). Writes DIR/NAME.ref.bin: float64 [N, 2] = (PSNR, SSIM) per frame.
SSIM is skimage.metrics.structural_similarity(channel_axis=-1, data_range=1.0, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False) on float64 images.
"""
import os
import sys

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def load(path, dtype, shape):
    a = np.fromfile(path, dtype=np.uint8 if dtype == "u8" else np.float32)
    if a.size != np.prod(shape):
        sys.exit(f"{path}: expected {np.prod(shape)} values, found {a.size}")
    a = a.reshape(shape)
    if dtype == "u8":
        return a.astype(np.float64) / 255.0
    return np.clip(a.astype(np.float64), 0.0, 1.0)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "manifest.txt")) as f:
        cases = [line.split() for line in f if line.strip()]
    for name, dtype, n, h, w in cases:
        shape = (int(n), int(h), int(w), 3)
        a = load(os.path.join(d, name + ".a.bin"), dtype, shape)
        b = load(os.path.join(d, name + ".b.bin"), dtype, shape)
        out = np.zeros((shape[0], 2), dtype=np.float64)
        for i in range(shape[0]):
            mse = np.mean((a[i] - b[i]) ** 2)
            out[i, 0] = -10.0 * np.log10(mse) if mse > 0 else np.inf
            if mse > 0:  # cross-check our PSNR formula against scikit-image's
                p = peak_signal_noise_ratio(a[i], b[i], data_range=1.0)
                assert abs(p - out[i, 0]) < 1e-9, (name, i, p, out[i, 0])
            out[i, 1] = structural_similarity(a[i], b[i], channel_axis=-1, data_range=1.0,
                                              gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False)
        out.tofile(os.path.join(d, name + ".ref.bin"))
    print(f"ref_metrics: {len(cases)} cases")


if __name__ == "__main__":
    main()
