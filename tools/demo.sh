#!/bin/sh
# The main job in one command on a fresh Debian 12 machine (run as root, from the repository root):
# installs the packages, builds millivid, renders a Loopcraft test world and, when the shipped mini
# models are present in models/, rolls out a video from it with MilliVid. The context is the mini
# evaluation context (the MilliVid reach + 1 = 86 frames), the default of `world --split test` and
# `generate`; 86 + 256 generated = 342 frames.
set -e
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then sh tools/install-deps.sh >/dev/null; fi
make -j"$(nproc)" >/dev/null
build/millivid --version
build/millivid world --out out/demo_world --split test --videos 2 --frames 384 --size 64 --seed 7 \
    --mp4 --force --quiet
build/millivid info out/demo_world
if [ -f models/ae_mini.safetensors ]; then
    build/millivid ae-eval --ae models/ae_mini.safetensors --data out/demo_world --videos 2 \
        --frames-per-video 8 --png out/demo_ae_sheet.png
    echo "autoencoder contact sheet (ground truth, then each level alone): out/demo_ae_sheet.png"
fi
if [ -f models/ae_mini.safetensors ] && [ -f models/dit_millivid_mini.safetensors ]; then
    build/millivid generate --ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors \
        --method millivid --data out/demo_world --video 0 --frames 342 \
        --out out/demo_millivid.mp4 --png-dir out/demo_png
    echo "rollout written to out/demo_millivid.mp4 (86 ground-truth context frames, then 256 generated)"
else
    echo "no trained mini DiT shipped in models/ yet: the world video is out/demo_world/videos/"
fi
