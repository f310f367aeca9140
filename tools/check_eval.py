"""Checks DIR/metrics.json of `millivid eval` (used by tests/test_eval.c).
usage: check_eval.py DIR N_METHODS N_VIDEOS CONTEXT FRAMES [OTHER_METRICS_JSON]
With OTHER_METRICS_JSON: the per-frame curves of every method must be identical to it.
Recomputes from the data set: the revisit frames, the revisits within reach (from each method's S and A in
metrics.json's "reach") and the hold-last bound (PSNR of the last context frame against every generated frame)."""
import json, math, os, sys

d, nm, nv, ctx, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
m = json.load(open(os.path.join(d, "metrics.json")))
g = frames - ctx
assert m["videos"] == nv and m["context"] == ctx and m["frames"] == frames, (m["videos"], m["context"], m["frames"])
assert m["config"]["context"] == ctx and len(m["config"]["methods"]) == nm
assert len(m["checkpoint_hashes"]) == nm + 1 and all(len(h) == 16 for h in m["checkpoint_hashes"].values())
assert m["long_horizon"] == {"from": ctx + g // 2, "to": frames}, m["long_horizon"]
assert len(m["revisit_frames"]) == nv and len(m["random_partners"]) == nv
assert m["revisit_counts"] == [len(f) for f in m["revisit_frames"]]
assert m["revisit_reach_counts"] == [len(f) for f in m["revisit_reach_frames"]]
assert all(set(a) <= set(b) for a, b in zip(m["revisit_reach_frames"], m["revisit_frames"]))
assert len(m["reach"]["methods"]) == nm and m["reach"]["furthest"] in m["reach"]["methods"] and m["reach"]["definition"]
assert all(p != i for i, p in enumerate(m["random_partners"]))
meths = m["methods"]
assert len(meths) == nm + 3 and all(b in meths for b in ("autoencoded", "random", "hold_last")), list(meths)
for name, x in meths.items():
    for met in ("psnr", "ssim"):
        for k in ("mean", "long_horizon", "revisit", "revisit_reach"):
            ci = x[met + "_" + k]
            assert set(ci) == {"mean", "lo", "hi"}, (name, met, k, ci)
            frames_of = {"revisit": "revisit_frames", "revisit_reach": "revisit_reach_frames"}
            if k not in frames_of or any(m[frames_of[k]]):
                assert ci["mean"] is not None and ci["lo"] <= ci["mean"] <= ci["hi"], (name, met, k, ci)
        c = x["curves"][met]
        assert len(c) == g and all(v is not None and math.isfinite(v) for v in c), (name, met)
        pv = x["curves"]["per_video_" + met]
        assert len(pv) == nv and all(len(r) == g for r in pv)
        mean_all = sum(sum(r) / g for r in pv) / nv
        assert abs(mean_all - x[met + "_mean"]["mean"]) < 1e-9 * max(1, abs(mean_all)), (name, met)
        # long horizon: the last half of the generated frames
        lh = sum(sum(r[g // 2:]) / (g - g // 2) for r in pv) / nv
        assert abs(lh - x[met + "_long_horizon"]["mean"]) < 1e-9 * max(1, abs(lh)), (name, met, lh)
    assert 0 < x["ssim_mean"]["mean"] <= 1 and 0 < x["psnr_mean"]["mean"] < 100, name
    if x["is_bound"]:
        assert x["dit_calls"] is None and x["tokens_per_step"] is None, name
    else:
        assert x["dit_calls"] > 0 and x["tokens_per_step"] > 0 and x["wall_seconds"] >= 0, name
# revisit frames recomputed from the poses in the data set (x, z within the radius, yaw within the angle,
# matching a context frame at least revisit_min_gap frames earlier; x and z periodic with revisit_wrap)
cfg = m["config"]
if cfg["revisit"]:
    import numpy as np
    acts = np.load(os.path.join(cfg["data"], "actions.npy"))
    def pdist(a, b, p):
        d = abs(a - b)
        if p > 0:
            d = d % p
            d = min(d, p - d)
        return d
    def near(q, c):
        dx, dz = pdist(q[1], c[1], cfg["revisit_wrap"]), pdist(q[3], c[3], cfg["revisit_wrap"])
        return dx * dx + dz * dz <= cfg["revisit_radius"] ** 2 and pdist(q[4], c[4], 360.0) <= cfg["revisit_yaw"]
    reach = m["reach"]["methods"].values()
    for v in range(nv):
        want, want_reach = [], []
        for t in range(ctx, frames):
            last = min(ctx - 1, t - cfg["revisit_min_gap"])
            # the chunk that generates t starts at ctx + k*A and sees the S frames before it
            first = min(ctx + (t - ctx) // r["advance"] * r["advance"] - r["back"] for r in reach)
            if any(near(acts[v, t], acts[v, s]) for s in range(0, last + 1)):
                want.append(t)
            if any(near(acts[v, t], acts[v, s]) for s in range(max(0, first), last + 1)):
                want_reach.append(t)
        assert m["revisit_frames"][v] == want, ("revisit frames", v, m["revisit_frames"][v], want)
        assert m["revisit_reach_frames"][v] == want_reach, ("in reach", v, m["revisit_reach_frames"][v], want_reach)
# hold_last: the last ground-truth context frame against every generated frame (PSNR capped at 100 dB)
import numpy as np
vids = np.load(os.path.join(cfg["data"], "frames.npy"), mmap_mode="r")
for v in range(nv):
    last = vids[v, ctx - 1].astype(np.float64) / 255
    for t in (ctx, (ctx + frames) // 2, frames - 1):
        mse = np.mean((vids[v, t].astype(np.float64) / 255 - last) ** 2)
        want = min(100.0, -10 * math.log10(mse)) if mse > 0 else 100.0
        got = meths["hold_last"]["curves"]["per_video_psnr"][v][t - ctx]
        assert abs(got - want) < 1e-9 * max(1.0, want), ("hold_last psnr", v, t, got, want)
if len(sys.argv) > 6:
    o = json.load(open(sys.argv[6]))["methods"]
    for name, x in meths.items():
        for met in ("psnr", "ssim"):
            assert x["curves"]["per_video_" + met] == o[name]["curves"]["per_video_" + met], ("resume differs", name)
print("metrics.json ok:", ", ".join("%s %.2f dB" % (k, v["psnr_mean"]["mean"]) for k, v in meths.items()))
