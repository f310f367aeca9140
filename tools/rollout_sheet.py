#!/usr/bin/python3
"""A picture of an evaluation: for one test video, the ground truth and every method's rollout at the
same frames, with the first column the context frame that the camera later comes back to.

Usage: rollout_sheet.py EVAL_DIR DATA_DIR VIDEO OUT.png [--cols N] [--scale K]
EVAL_DIR is a `millivid eval --out` folder (its metrics.json and cache/<method>/video_<V>.npy);
DATA_DIR the test data set it evaluated (frames.npy, actions.npy with poses).
Columns: the remembered context frame, then N generated frames spread over the rollout, always
including the revisit frame closest in pose to that context frame (marked with a yellow bar)."""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw


def pose_dist(a, b, wrap=256.0):
    """Horizontal distance (blocks, world wraps) and yaw difference (degrees) of poses [.., 6]."""
    d = np.abs(a[..., 1:4:2] - b[..., 1:4:2]) % wrap
    d = np.minimum(d, wrap - d)
    yaw = np.abs(a[..., 4] - b[..., 4]) % 360.0
    return np.hypot(d[..., 0], d[..., 1]), np.minimum(yaw, 360.0 - yaw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_dir")
    ap.add_argument("data_dir")
    ap.add_argument("video", type=int)
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, default=7)
    ap.add_argument("--scale", type=int, default=2)
    a = ap.parse_args()
    with open(os.path.join(a.eval_dir, "metrics.json")) as f:
        met = json.load(f)
    C, T, v = met["context"], met["frames"], a.video
    frames = np.load(os.path.join(a.data_dir, "frames.npy"), mmap_mode="r")[v]
    poses = np.load(os.path.join(a.data_dir, "actions.npy"), mmap_mode="r")[v]
    methods = [m for m, x in met["methods"].items() if not x.get("is_bound")]
    gens = {m: np.load(os.path.join(a.eval_dir, "cache", m, "video_%d.npy" % v)) for m in methods}

    # the revisit: the generated frame nearest (in pose) to some context frame at least 32 frames back
    revisits = met.get("revisit_frames", [[]] * (v + 1))[v]
    best = None
    for r in revisits:
        dist, yaw = pose_dist(poses[:C], poses[r])
        score = dist + yaw / 15.0
        k = int(np.argmin(score))
        if best is None or score[k] < best[0]:
            best = (score[k], r, k)
    if best is None:
        sys.exit("rollout_sheet.py: video %d has no revisit frames in %s" % (v, a.eval_dir))
    _, rev, ctx = best
    cols = sorted(set(np.linspace(C, T - 1, a.cols - 1).round().astype(int).tolist()) | {rev})
    H = frames.shape[1]
    rows = [("ground truth", [frames[ctx]] + [frames[i] for i in cols])]
    for m in methods:
        rows.append((m, [frames[ctx]] + [gens[m][i - C] for i in cols]))
    label_w, pad, top = 90, 2, 14
    W = label_w + (len(cols) + 1) * (H * a.scale + pad) + pad
    Ht = top + len(rows) * (H * a.scale + pad) + pad
    sheet = Image.new("RGB", (W, Ht), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    xs = [label_w + c * (H * a.scale + pad) for c in range(len(cols) + 1)]
    draw.text((xs[0], 1), "ctx %d" % ctx, fill=(0, 0, 0))
    for c, i in enumerate(cols):
        draw.text((xs[c + 1], 1), ("revisit %d" if i == rev else "frame %d") % i, fill=(0, 0, 0))
    for r, (name, ims) in enumerate(rows):
        y = top + r * (H * a.scale + pad)
        draw.text((4, y + H * a.scale // 2 - 5), name, fill=(0, 0, 0))
        for c, im in enumerate(ims):
            sheet.paste(Image.fromarray(np.asarray(im)).resize((H * a.scale,) * 2, Image.NEAREST), (xs[c], y))
    c = cols.index(rev) + 1
    draw.rectangle([xs[c], Ht - pad - 1, xs[c] + H * a.scale, Ht - 1], fill=(230, 190, 0))
    sheet.save(a.out)
    print("%s: video %d, context frame %d revisited at frame %d, columns %s" % (a.out, v, ctx, rev, cols))


if __name__ == "__main__":
    main()
