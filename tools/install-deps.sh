#!/bin/sh
# Installs every Debian package millivid needs to build, test and benchmark (run as root).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  build-essential pkg-config libdnnl-dev libpng-dev libcjson-dev \
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
  ffmpeg python3-numpy python3-torch python3-skimage \
  chromium libopenblas0-openmp fonts-dejavu-core \
  clang libclang-rt-14-dev libomp-14-dev \
  libopenmpi-dev openmpi-bin
