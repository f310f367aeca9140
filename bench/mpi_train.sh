#!/bin/sh
# Data-parallel training speed: the mini DiT (`millivid train`) on 1 rank x 2 threads against
# `mpirun -np 2` ranks x 1 thread, at the same global batch, each run ROUNDS times in alternation.
# Prints one markdown row per run: tokens/s over the whole run (from the progress line), and for the
# 2-rank runs the time in the gradient all-reduce and in waiting for the slower rank, and the machine's
# 1-minute load average after the run (other jobs on the machine change the numbers).
#
#   sh bench/mpi_train.sh [BUILD] [DATA] [LATENTS] [STEPS] [BATCH] [ROUNDS]
#   defaults: build data/lc1k_train data/lc1k_train_latents.safetensors 20 32 3
#   OPTS: more train options [--bf16]; OPTS= for fp32
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
DATA=${2:-data/lc1k_train}
LAT=${3:-data/lc1k_train_latents.safetensors}
STEPS=${4:-20}
BATCH=${5:-32}
ROUNDS=${6:-3}
EXTRA=${OPTS---bf16}
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
BIN="$(pwd)/$BUILD/millivid"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
COMMON="train --method millivid --latents $LAT --data $DATA --steps $STEPS --batch $BATCH --log-every 1000 \
  --checkpoint-every 100000 --force $EXTRA"

# run LABEL COMMAND...: one run, one table row
row() {
  label=$1
  shift
  "$@" > /dev/null 2> "$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
  tps=$(tr '\r' '\n' < "$TMP/err" | grep -o '[0-9.]* tokens/s' | tail -n 1 | cut -d' ' -f1)
  red=$(sed -n 's/.*gradient all-reduce \([0-9.]*\) s (\([0-9.]*\) MB per step, \([0-9.]*\)%.*/\1 s, \2 MB, \3%/p' "$TMP/err")
  wait=$(sed -n 's/.*waiting for the slowest rank \([0-9.]*\) s.*/\1 s/p' "$TMP/err")
  echo "| $label | $tps | ${red:-–} | ${wait:-–} | $(cut -d' ' -f1 /proc/loadavg) |"
}

echo "mini DiT (millivid), global batch $BATCH x 320 tokens, $STEPS steps per run, options: ${EXTRA:-(fp32)}"
echo "| run | tokens/s | all-reduce (s, size, share of the run) | waiting for the slower rank | load after |"
echo "|---|---:|---|---|---:|"
for r in $(seq "$ROUNDS"); do
  row "1 rank x 2 threads" "$BIN" $COMMON --threads 2 --out "$TMP/one"
  row "2 ranks x 1 thread" mpirun -np 2 "$BIN" $COMMON --threads 1 --out "$TMP/two"
done
