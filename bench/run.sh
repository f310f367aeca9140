#!/bin/sh
# `make bench`: layer GFLOP/s of millivid (C) next to PyTorch, same shapes, same thread count.
# Usage: sh bench/run.sh BUILD [THREADS] [ROUNDS] [CPU1]
# First the layer tables (bench/layers_bench.c vs bench/torch_layers.py), then every other
# BUILD/bench/*_bench program with its default arguments (each compares with its own PyTorch twin);
# LAYERS_ONLY=1 skips those.
# The machine is shared, so C and PyTorch are measured alternately ROUNDS times (default 2) and the
# table keeps the best wall-clock time of each side per row. Then (CPU1 = 1, the default) both run
# once more with ONE thread timed by that thread's CPU clock, which other processes do not inflate:
# the load-independent comparison of the kernels themselves.
BUILD=${1:-build}
THREADS=${2:-2}
ROUNDS=${3:-2}
CPU1=${4:-1}
cd "$(dirname "$0")/.." || exit 2
out="$BUILD/bench"
mkdir -p "$out"

# PyTorch links OpenBLAS, which misdetects this CPU; SkylakeX was the fastest kernel set measured
# (2048^3 matmul, 2 threads: SkylakeX 232, Zen 182, Haswell 174, Prescott 36 GFLOP/s). This
# environment is for the PyTorch process only.
torch_run() { # threads min_time [cpu] >> file
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OPENBLAS_CORETYPE=SkylakeX \
    OMP_NUM_THREADS="$1" /usr/bin/python3 bench/torch_layers.py "$@" ||
    { echo "bench/run.sh: bench/torch_layers.py failed" >&2; exit 1; }
}
c_run() { # threads [--cpu-time] >> file
  t=$1; shift
  OMP_NUM_THREADS="$t" "$BUILD/bench/layers_bench" --threads "$t" "$@" ||
    { echo "bench/run.sh: layers_bench failed" >&2; exit 1; }
}

: >"$out/c_layers.txt"
: >"$out/torch_layers.txt"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "round $r/$ROUNDS: PyTorch ($THREADS threads)" >&2
  torch_run "$THREADS" 0.5 >>"$out/torch_layers.txt" || exit 1
  echo "round $r/$ROUNDS: C ($THREADS threads)" >&2
  c_run "$THREADS" --min-time 0.5 >>"$out/c_layers.txt" || exit 1
  r=$((r + 1))
done
echo
echo "== $THREADS threads, wall clock (load average $(cut -d' ' -f1-3 /proc/loadavg) on 2 shared cores)"
"$BUILD/bench/layers_bench" --table "$out/c_layers.txt" "$out/torch_layers.txt" "$THREADS"

if [ "$CPU1" = 1 ]; then
  echo "one thread, CPU clock: PyTorch" >&2
  torch_run 1 0.3 cpu >"$out/torch_layers_cpu1.txt" || exit 1
  echo "one thread, CPU clock: C" >&2
  c_run 1 --min-time 0.3 --cpu-time >"$out/c_layers_cpu1.txt" || exit 1
  echo
  echo "== 1 thread, thread CPU clock (independent of other processes)"
  "$BUILD/bench/layers_bench" --table "$out/c_layers_cpu1.txt" "$out/torch_layers_cpu1.txt" 1
fi

[ "${LAYERS_ONLY:-0}" = 1 ] && exit 0
status=0
for bin in "$BUILD"/bench/*_bench; do
  [ -x "$bin" ] || continue
  [ "$(basename "$bin")" = layers_bench ] && continue
  echo
  echo "== $(basename "$bin")"
  "$bin" || { echo "bench/run.sh: $(basename "$bin") failed" >&2; status=1; }
done
exit $status
