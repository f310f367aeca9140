#!/bin/sh
# `make bench`: layer GFLOP/s of millivid (C) next to PyTorch, same shapes, same thread count.
# Usage: sh bench/run.sh BUILD [THREADS]
BUILD=${1:-build}
THREADS=${2:-2}
cd "$(dirname "$0")/.." || exit 2
out="$BUILD/bench"
mkdir -p "$out"
# PyTorch links OpenBLAS, which misdetects this CPU; SkylakeX was the fastest kernel set measured
# (2048^3 matmul, 2 threads). This environment applies to the PyTorch process only.
echo "PyTorch ($THREADS threads) ..." >&2
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
  OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS="$THREADS" \
  /usr/bin/python3 bench/torch_layers.py "$THREADS" >"$out/torch_layers.txt" || {
  echo "bench/run.sh: bench/torch_layers.py failed" >&2; exit 1; }
echo "C ($THREADS threads) ..." >&2
OMP_NUM_THREADS="$THREADS" "$BUILD/bench/layers_bench" --threads "$THREADS" --torch "$out/torch_layers.txt"
