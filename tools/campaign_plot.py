"""Plots a training campaign (tools/campaign.sh): loss and memory probes against training tokens.

    /usr/bin/python3 tools/campaign_plot.py runs/campaign1 docs/campaign.png [--tokens-per-step 10240]

Reads RUN/dit_<name>.log.jsonl (the loss log of every run) and RUN/probes/step_<N>.json (`millivid
probe` on the validation split), draws three panels (v-loss, revisit recall PSNR with 95% intervals,
teacher-forced next-frame PSNR, each with the probe's bounds) and prints the latest probe as a
Markdown table."""
import argparse
import glob
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"millivid": "#d62728", "framepack": "#1f77b4", "fullres": "#2ca02c", "ab_adamw_millivid": "#ff9896"}


def read_log(path):
    steps, loss = [], []
    with open(path) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            steps.append(o["step"])
            loss.append(o["loss"])
    return steps, loss


def smooth(x, n):
    out, acc = [], []
    for v in x:
        acc.append(v)
        if len(acc) > n:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def read_probes(run):
    probes = []
    for p in glob.glob(os.path.join(run, "probes", "step_*.json")):
        m = re.search(r"step_(\d+)\.json$", p)
        with open(p) as f:
            probes.append((int(m.group(1)), json.load(f)))
    return sorted(probes, key=lambda t: t[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--tokens-per-step", type=float, default=32 * 320)
    a = ap.parse_args()
    tps = a.tokens_per_step
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.5))

    for path in sorted(glob.glob(os.path.join(a.run, "dit_*.log.jsonl"))):
        name = os.path.basename(path)[4:-len(".log.jsonl")]
        steps, loss = read_log(path)
        if not steps:
            continue
        label = "millivid, AdamW (optimizer twin)" if name.startswith("ab_adamw") else name
        ax[0].plot([s * tps / 1e6 for s in steps], smooth(loss, 20), label=label, color=COLORS.get(name),
                   linestyle="--" if name.startswith("ab_") else "-", linewidth=1.2)
    ax[0].set_title("training v-loss (mean of 20 log lines)")
    ax[0].set_xlabel("training tokens (M)")
    ax[0].set_yscale("log")
    ax[0].legend(fontsize=8)

    probes = read_probes(a.run)
    series = {}
    bounds = {}
    for step, pj in probes:
        for m in pj["methods"]:
            series.setdefault(m["method"], []).append((m["step"] * tps / 1e6, m["recall"]["psnr"], m["next_frame"]))
        for b in pj["bounds"]:
            bounds[b["name"]] = b
    for name, pts in series.items():
        x = [p[0] for p in pts]
        y = [p[1]["mean"] for p in pts]
        err = [[p[1]["mean"] - p[1]["lo"] for p in pts], [p[1]["hi"] - p[1]["mean"] for p in pts]]
        ax[1].errorbar(x, y, yerr=err, marker="o", capsize=3, label=name, color=COLORS.get(name))
        ax[2].plot(x, [p[2]["random_psnr"]["mean"] for p in pts], marker="o", label=name + " (random frames)",
                   color=COLORS.get(name))
        ax[2].plot(x, [p[2]["revisit_psnr"]["mean"] for p in pts], marker="x", linestyle=":",
                   label=name + " (revisit frames)", color=COLORS.get(name))
    styles = {"hold last": ":", "autoencoded": "--", "random video": "-."}
    for bname, b in bounds.items():
        ls = next((v for k, v in styles.items() if k in bname.lower().replace("_", " ")), ":")
        ax[1].axhline(b["recall"]["psnr"]["mean"], color="gray", linestyle=ls, linewidth=1, label=bname)
        if "hold" in bname.lower():
            ax[2].axhline(b["next_frame"]["random_psnr"]["mean"], color="gray", linestyle=ls, linewidth=1,
                          label=bname + " (random frames)")
    ax[1].set_title("revisit recall: PSNR of the next K frames (95% CI)")
    ax[1].set_xlabel("training tokens (M)")
    ax[1].set_ylabel("dB")
    ax[1].legend(fontsize=8)
    ax[2].set_title("teacher-forced next frame")
    ax[2].set_xlabel("training tokens (M)")
    ax[2].set_ylabel("dB")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    tmp = a.out + ".tmp.png"
    fig.savefig(tmp, dpi=90)
    os.replace(tmp, a.out)

    if probes:
        step, pj = probes[-1]
        print(f"probe at step {step} ({pj['counts']['points']} revisit points, {pj['counts']['random_frames']} "
              f"random frames, horizon {pj['settings']['horizon']}, {pj['settings']['sample_steps']} sampler steps):")
        print("| method | tokens (M) | recall PSNR [95% CI] | recall SSIM | next frame (random) | next frame (revisit) |")
        print("|---|---:|---:|---:|---:|---:|")
        for m in pj["methods"] + pj["bounds"]:
            r, n = m["recall"], m["next_frame"]
            tok = f"{m['step'] * tps / 1e6:.1f}" if "step" in m else "–"
            print(f"| {m['name']} | {tok} | {r['psnr']['mean']:.2f} [{r['psnr']['lo']:.2f}, {r['psnr']['hi']:.2f}] | "
                  f"{r['ssim']['mean']:.3f} | {n['random_psnr']['mean']:.2f} | {n['revisit_psnr']['mean']:.2f} |")


if __name__ == "__main__":
    main()
