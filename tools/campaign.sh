#!/bin/sh
# The memory training campaign: MilliVid, FramePack and full-resolution rollout trained at equal steps,
# batch, data and optimizer, in rounds, with the memory probe on the validation split logged as they go.
#
#   sh tools/campaign.sh            start or resume everything (idempotent; returns at once if a
#                                   campaign is already running); runs in the background, niced
#   sh tools/campaign.sh status     steps, loss and latest probes of every run
#   sh tools/campaign.sh stop       stop the running campaign (it resumes from its last checkpoint)
#
# What it does, each step skipped when its output exists (everything is deterministic from seeds):
#   1. data/lc1k_train: 1,024 training videos x 384 frames (world seed 11), its latents through the
#      shipped autoencoder (data/lc1k_train_latents.safetensors), and data/lc_val: 32 loop-biased
#      validation videos (seed 12, cut at the mini evaluation context 86) for the probes. The test split
#      is not touched here.
#   2. rounds: each method trains SEGMENT more steps (`train --resume`), in turn, so all three are at
#      equal steps after every round; every PROBE_EVERY steps `millivid probe` runs on the validation
#      split and its JSON goes to RUN/probes/. An AdamW twin of the MilliVid run trains for the first
#      AB_STEPS steps to compare the optimizers at equal steps and data.
#   3. a run missing from runs/ but committed under models/campaign/ (a new machine) continues from
#      those weights with `train --init` (fresh optimizer, short warm-up), noted in the campaign log.
# The binary is a private build of the last commit (RUN/bin/millivid), made at start with that commit's
# presets (RUN/bin/configs), so rebuilding or editing the working tree does not disturb it.
set -eu
cd "${CAMPAIGN_ROOT:-$(dirname "$0")/..}"   # the running copy (RUN/bin/) is given the repository root
RUN=${CAMPAIGN_RUN:-runs/campaign1}
METHODS="millivid framepack fullres"
BATCH=32
TOTAL_STEPS=10000      # 10,000 x 32 x 320 tokens = 102 M training tokens per method
SEGMENT=250
PROBE_EVERY=1000
AB_STEPS=1000
THREADS=${CAMPAIGN_THREADS:-2}
AE=models/ae_mini.safetensors
TRAIN=data/lc1k_train
LAT=data/lc1k_train_latents.safetensors
VAL=data/lc_val
COMMON="--batch $BATCH --lr 1e-3 --bf16 --threads $THREADS --checkpoint-every 250 --log-every 10"

mkdir -p "$RUN/probes" "$RUN/bin"
LOG="$RUN/campaign.log"
say() { echo "$(date -u '+%Y-%m-%d %H:%M:%S') $*" | tee -a "$LOG" >&2; }

case "${1:-start}" in
status)
  for m in $METHODS ab_adamw_millivid; do
    f="$RUN/dit_$m.log.jsonl"
    [ -f "$f" ] || continue
    tail -n 1 "$f" | sed "s/^/$m: /"
  done
  ls "$RUN/probes" 2>/dev/null | tail -n 6
  exit 0 ;;
stop)
  if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    kill -- "-$(cat "$RUN/pid")" 2>/dev/null || kill "$(cat "$RUN/pid")"
    say "stopped"
  fi
  exit 0 ;;
start) ;;
run) ;;
*) echo "usage: sh tools/campaign.sh [start|status|stop]" >&2; exit 2 ;;
esac

if [ "${1:-start}" = start ]; then
  if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "campaign already running (pid $(cat "$RUN/pid")); log: $LOG" >&2
    exit 0
  fi
  # the binary of the last commit, built apart from the working tree (uncommitted edits stay out)
  rev=$(git rev-parse --short HEAD)
  rm -rf "$RUN/src" && mkdir -p "$RUN/src"
  git archive HEAD | tar -x -C "$RUN/src"
  make -s -C "$RUN/src" -j2 build/millivid >"$RUN/build.log" 2>&1 || { echo "build failed: $RUN/build.log" >&2; exit 1; }
  cp "$RUN/src/build/millivid" "$RUN/bin/millivid.new" && mv "$RUN/bin/millivid.new" "$RUN/bin/millivid"
  # the presets of the same commit: the binary reads these, not the working tree's (MILLIVID_CONFIGS)
  rm -rf "$RUN/bin/configs" && cp -r "$RUN/src/configs" "$RUN/bin/configs"
  rm -rf "$RUN/src"
  # its own process group, niced, passive OpenMP waiting (the binary's default)
  # the loop runs from a copy of this script, so editing the script does not disturb a running campaign
  cp "$0" "$RUN/bin/campaign.sh"
  CAMPAIGN_ROOT=$(pwd) setsid nice -n 19 sh "$RUN/bin/campaign.sh" run >>"$RUN/campaign.out" 2>&1 &
  echo $! >"$RUN/pid"
  say "started (pid $!, binary of commit $rev, $THREADS threads)"
  exit 0
fi

# setsid put the loop in its own scheduler autogroup, and the kernel shares CPU between groups equally
# whatever the nice values of their processes; niceness of the group itself keeps it behind other work
echo 19 >/proc/self/autogroup 2>/dev/null || true
BIN="$RUN/bin/millivid"
MILLIVID_CONFIGS="$(pwd)/$RUN/bin/configs"
export MILLIVID_CONFIGS

# ---- 1. data
if [ ! -f "$TRAIN/index.json" ]; then
  say "rendering $TRAIN"
  "$BIN" world --out "$TRAIN" --split train --videos 1024 --frames 384 --size 64 --seed 11 --threads "$THREADS" --force
fi
if [ ! -f "$LAT" ]; then
  say "encoding $TRAIN -> $LAT"
  t0=$(date +%s)
  "$BIN" encode --ae "$AE" --data "$TRAIN" --out "$LAT" --threads "$THREADS"
  say "encoded in $(( $(date +%s) - t0 )) s, $(du -h "$LAT" | cut -f1)"
fi
if [ ! -f "$VAL/index.json" ]; then
  say "rendering $VAL"
  "$BIN" world --out "$VAL" --split test --videos 32 --frames 384 --size 64 --seed 12 --context 86 \
    --threads "$THREADS" --force
fi

# ---- 2. rounds
step_of() { # the step of a checkpoint, or 0
  f="$RUN/dit_$1.safetensors"
  [ -f "$f" ] || { echo 0; return; }
  "$BIN" info "$f" 2>/dev/null | sed -n 's/^  step = \([0-9]*\).*/\1/p' | head -n 1
}

train_to() { # method run_name target [extra]
  m=$1 name=$2 target=$3 extra=${4:-}
  out="$RUN/dit_$name.safetensors"
  if [ -f "$out" ]; then
    mode="--resume"
  elif [ -f "models/campaign/dit_$name.safetensors" ]; then
    mode="--init models/campaign/dit_$name.safetensors"
    say "$name: not in $RUN; continuing from the committed weights models/campaign/dit_$name.safetensors" \
        "(fresh optimizer, warm-up restarted)"
  else
    mode=""
  fi
  say "$name: training to step $target"
  # shellcheck disable=SC2086
  "$BIN" train --method "$m" --latents "$LAT" --data "$TRAIN" --out "$out" --steps "$target" $COMMON $mode $extra \
    >>"$RUN/dit_$name.out" 2>&1 || { say "$name: train failed (see $RUN/dit_$name.out)"; return 1; }
}

probe_all() { # step
  st=$1
  [ -f "$RUN/probes/step_$st.json" ] && return 0
  "$BIN" probe --help >/dev/null 2>&1 || { say "probe: this binary has no probe command; skipped"; return 0; }
  args=""
  for m in $METHODS; do args="$args --dit $RUN/dit_$m.safetensors"; done
  say "probing step $st"
  # shellcheck disable=SC2086
  "$BIN" probe --ae "$AE" $args --data "$VAL" --out "$RUN/probes/step_$st.json" --threads "$THREADS" \
    --videos 16 --points 2 --bf16 \
    >>"$RUN/probes.out" 2>&1 || say "probe at step $st failed (see $RUN/probes.out)"
}

while :; do
  cur=$TOTAL_STEPS
  for m in $METHODS; do s=$(step_of "$m"); [ "$s" -lt "$cur" ] && cur=$s; done
  [ "$cur" -ge "$TOTAL_STEPS" ] && { say "all runs at step $TOTAL_STEPS: done"; break; }
  target=$(( (cur / SEGMENT + 1) * SEGMENT ))
  for m in $METHODS; do
    [ "$(step_of "$m")" -lt "$target" ] && train_to "$m" "$m" "$target"
  done
  if [ "$target" -le "$AB_STEPS" ] && [ "$(step_of ab_adamw_millivid)" -lt "$target" ]; then
    train_to millivid ab_adamw_millivid "$target" "--optimizer adamw"
  fi
  if [ $(( target % PROBE_EVERY )) -eq 0 ]; then
    probe_all "$target"
    # the probed weights are kept, so any later diagnostic can go back to them
    mkdir -p "$RUN/snapshots"
    for m in $METHODS; do
      snap="$RUN/snapshots/dit_${m}_step$target.safetensors"
      [ -f "$snap" ] || { cp "$RUN/dit_$m.safetensors" "$snap.tmp" && mv "$snap.tmp" "$snap"; }
    done
  fi
done
