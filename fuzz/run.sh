#!/bin/sh
# Runs every fuzz target in BUILD/fuzz for SECONDS each on a scratch copy of its seed corpus
# (fuzz/corpus/<name without fuzz_>/); a crash, leak or sanitizer report fails the run.
# Usage: sh fuzz/run.sh [BUILD=build-fuzz] [SECONDS=10] [target ...]
# A longer campaign: sh fuzz/run.sh build-fuzz 3600 fuzz_npy   (one hour on one target)
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-10}
shift 2 2>/dev/null
cd "$(dirname "$0")/.." || exit 2
list=${*:-$(ls "$BUILD/fuzz" | grep '^fuzz_')}
fail=0
for t in $list; do
  name=${t#fuzz_}
  work="$BUILD/fuzz-work/$name"
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  cp fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
  if ASAN_OPTIONS=detect_leaks=1 OMP_WAIT_POLICY=passive "$BUILD/fuzz/$t" "$work/corpus" \
       -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -max_len=65536 -timeout=20 \
       -artifact_prefix="$work/artifacts/" >"$work/log" 2>&1; then
    echo "PASS $t: $(grep -o 'Done [0-9]* runs' "$work/log" | tail -n 1), $(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)"
  else
    fail=1
    echo "FAIL $t (log $work/log, inputs in $work/artifacts/):"
    grep -m 5 -E 'ERROR|runtime error|SUMMARY' "$work/log" | sed 's/^/    /'
  fi
done
exit $fail
