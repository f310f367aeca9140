"""Checks an evaluation report directory as a person would, with headless Chromium.

usage: check_report.py DIR --videos N --duration SECONDS --rows N --curves N [--screenshot PNG]
                       [--training-rows N --training-series LOSS RECALL]

- DIR/summary.md has a table with N rows (--rows); DIR/plot_psnr.svg and plot_ssim.svg are well-formed
  SVG with axes labels, ticks, a legend and --curves lines each;
- DIR/report.html is self-contained (no external scripts, styles or images) and, opened in Chromium as
  report.html?selftest=1, renders the table (N rows) and both plots at a visible size, and every
  <video> (--videos of them) fires loadedmetadata with the expected duration (+-0.1 s) and a size;
- with --training-rows (a report of `millivid eval --training`): summary.md has a second table (the runs)
  with that many rows, DIR/plot_training_loss.svg and plot_training_recall.svg are well-formed SVG with
  the training-tokens axis, ticks and at least LOSS / RECALL series (<g class="series">), and the page
  shows the training table and both plots at a visible size; without it the page has no training section;
- with --screenshot, saves a 1280x2000 screenshot of the page.
Exits 0 when everything holds, 1 with one line per problem otherwise.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
SVG_NS = "{http://www.w3.org/2000/svg}"


def chromium(args, timeout=90):
    """Runs Chromium with a fresh profile; returns (exit code, stdout)."""
    profile = tempfile.mkdtemp(prefix="mv-chromium-")
    try:
        p = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + profile] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def check_svg(path, curves, problems):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        problems.append(f"{path}: not a well-formed SVG: {e}")
        return
    texts = [t.text or "" for t in root.iter(SVG_NS + "text")]
    lines = [p for p in root.iter(SVG_NS + "polyline") if "curve" in p.get("class", "")]
    if len(lines) < curves:
        problems.append(f"{path}: {len(lines)} curve lines, expected at least {curves}")
    if "frame index" not in texts:
        problems.append(f"{path}: no x-axis label")
    if sum(1 for t in texts if re.fullmatch(r"-?[0-9.]+", t.strip())) < 6:
        problems.append(f"{path}: fewer than 6 numeric tick labels")


def markdown_tables(path, problems):
    """The tables of a Markdown file: lists of consecutive lines starting with '|'."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        problems.append(f"{path}: {e}")
        return []
    tables, cur = [], []
    for ln in lines + [""]:
        if ln.startswith("|"):
            cur.append(ln)
        elif cur:
            tables.append(cur)
            cur = []
    return tables


def check_markdown(path, rows, training_rows, problems):
    tables = markdown_tables(path, problems)
    if not tables:
        problems.append(f"{path}: no table")
        return
    if len(tables[0]) != rows + 2:
        problems.append(f"{path}: table has {len(tables[0]) - 2} rows, expected {rows}")
    want = 1 if training_rows is None else 2
    if len(tables) != want:
        problems.append(f"{path}: {len(tables)} tables, expected {want}")
    elif training_rows is not None and len(tables[1]) != training_rows + 2:
        problems.append(f"{path}: training table has {len(tables[1]) - 2} rows, expected {training_rows}")


def check_training_svg(path, series, problems):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        problems.append(f"{path}: not a well-formed SVG: {e}")
        return
    texts = [t.text or "" for t in root.iter(SVG_NS + "text")]
    groups = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "series"]
    if len(groups) < series:
        problems.append(f"{path}: {len(groups)} series, expected at least {series}")
    if "training tokens (millions)" not in texts:
        problems.append(f"{path}: no x-axis label")
    if sum(1 for t in texts if re.fullmatch(r"-?[0-9.]+", t.strip())) < 4:
        problems.append(f"{path}: fewer than 4 numeric tick labels")


def check_page(d, args, problems):
    html_path = os.path.join(d, "report.html")
    try:
        with open(html_path, encoding="utf-8") as f:
            html = f.read()
    except OSError as e:
        problems.append(f"{html_path}: {e}")
        return
    external = re.findall(r'<(?:link|script|img)[^>]+(?:href|src)="(?!data:)[^"]*"', html)
    if external:
        problems.append(f"{html_path}: not self-contained: {external[:3]}")
    url = "file://" + os.path.abspath(html_path) + "?selftest=1"
    verdict = None
    for budget in (10000, 30000):  # retry once with more virtual time if the hook had not finished
        rc, dom = chromium(["--virtual-time-budget=%d" % budget, "--dump-dom", url])
        m = re.search(r'<pre id="mv-selftest"[^>]*>(.*?)</pre>', dom, re.S)
        if m:
            verdict = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")
                                 .replace("&lt;", "<").replace("&gt;", ">"))
            if all(v.get("state") != "pending" for v in verdict["videos"]):
                break
    if verdict is None:
        problems.append(f"{html_path}: Chromium did not run the page's self-test (exit {rc})")
        return
    print("self-test:", json.dumps(verdict))
    if verdict["table_rows"] != args.rows:
        problems.append(f"page table has {verdict['table_rows']} rows, expected {args.rows}")
    if len(verdict["plots"]) != 2:
        problems.append(f"page shows {len(verdict['plots'])} plots, expected 2")
    for p in verdict["plots"]:
        if p["width"] < 300 or p["height"] < 150 or p["curves"] < args.curves:
            problems.append(f"plot {p['id']} renders at {p['width']:.0f}x{p['height']:.0f} with "
                            f"{p['curves']} curves")
    tr = verdict.get("training", {"rows": 0, "plots": []})
    want_rows = args.training_rows or 0
    if tr["rows"] != want_rows:
        problems.append(f"page training table has {tr['rows']} rows, expected {want_rows}")
    if len(tr["plots"]) != (2 if args.training_rows is not None else 0):
        problems.append(f"page shows {len(tr['plots'])} training plots")
    for p, want in zip(tr["plots"], args.training_series or [0, 0]):
        if p["width"] < 300 or p["height"] < 150 or p["series"] < want:
            problems.append(f"training plot {p['id']} renders at {p['width']:.0f}x{p['height']:.0f} with "
                            f"{p['series']} series (expected at least {want})")
    if len(verdict["videos"]) != args.videos:
        problems.append(f"page has {len(verdict['videos'])} videos, expected {args.videos}")
    for v in verdict["videos"]:
        if v["state"] != "loaded":
            problems.append(f"video {v['src']} did not load ({v['state']}, code {v.get('code')})")
        elif abs(v["duration"] - args.duration) > 0.1 or v["width"] <= 0 or v["height"] <= 0:
            problems.append(f"video {v['src']}: duration {v['duration']} s (expected {args.duration}), "
                            f"size {v['width']}x{v['height']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--videos", type=int, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--curves", type=int, required=True)
    ap.add_argument("--screenshot")
    ap.add_argument("--training-rows", type=int)
    ap.add_argument("--training-series", type=int, nargs=2, metavar=("LOSS", "RECALL"))
    args = ap.parse_args()
    problems = []
    check_markdown(os.path.join(args.dir, "summary.md"), args.rows, args.training_rows, problems)
    for name in ("plot_psnr.svg", "plot_ssim.svg"):
        check_svg(os.path.join(args.dir, name), args.curves, problems)
    if args.training_rows is not None:
        for name, series in zip(("plot_training_loss.svg", "plot_training_recall.svg"), args.training_series or [0, 0]):
            check_training_svg(os.path.join(args.dir, name), series, problems)
    check_page(args.dir, args, problems)
    if args.screenshot:
        shot = os.path.abspath(args.screenshot)
        url = "file://" + os.path.abspath(os.path.join(args.dir, "report.html"))
        chromium(["--virtual-time-budget=5000", "--window-size=1280,2000", "--screenshot=" + shot, url])
        if not os.path.exists(shot) or os.path.getsize(shot) < 10000:
            problems.append(f"{shot}: screenshot missing or empty")
        else:
            print("screenshot:", shot)
    for p in problems:
        print("check_report: " + p, file=sys.stderr)
    print("check_report: %s" % ("FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
