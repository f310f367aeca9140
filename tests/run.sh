#!/bin/sh
# Runs the test programs in BUILD/tests (or only the names given) from the repository root.
# Each program exits 0 on success. Prints one line per test and ends with "N passed, N failed".
BUILD=${1:-build}
shift
cd "$(dirname "$0")/.." || exit 2
mkdir -p "$BUILD/testout"
pass=0 fail=0 failed=""
if [ $# -gt 0 ]; then list="$*"; else list=$(ls "$BUILD/tests" | grep '^test_' | grep -v '\.'); fi
for name in $list; do
  bin="$BUILD/tests/$name"
  log="$BUILD/testout/$name.log"
  t0=$(date +%s)
  if MV_BUILD="$BUILD" OMP_WAIT_POLICY=passive "$bin" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "PASS $name ($(( $(date +%s) - t0 ))s)"
  else
    fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name ($(( $(date +%s) - t0 ))s), last lines of $log:"
    tail -n 15 "$log" | sed 's/^/    /'
  fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
