#!/usr/bin/env bash
# Runs libFuzzer harnesses built by `make fuzz-build`.
#   tests/fuzz/run.sh BUILD SECONDS HARNESS...
# Each harness fuzzes for SECONDS, FUZZ_JOBS (default: the cores) at a time,
# starting from its committed corpus tests/fuzz/corpus/<harness> (read only;
# new inputs go to BUILD/fuzz-corpus/<harness>, crashes to
# BUILD/fuzz-crashes/). SECONDS=0 only runs the committed corpus once (the
# regression inputs included). Prints executions per harness and the known
# (already reported) defects that were hit; exits 1 when any harness found a
# crash, a sanitizer report or a failed property.
set -u
cd "$(dirname "$0")/../.."

[ $# -ge 3 ] || { echo "usage: $0 BUILD SECONDS HARNESS..." >&2; exit 2; }
build=$1
seconds=$2
shift 2
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
logs=$build/fuzz-logs
mkdir -p "$logs" "$build/fuzz-crashes"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

one() { # harness
  local h=$1 bin=$build/bin/fuzz_$1 seeds=tests/fuzz/corpus/$1 work=$build/fuzz-corpus/$1
  local args=(-timeout=20 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
              "-artifact_prefix=$build/fuzz-crashes/$h-")
  mkdir -p "$work" "$seeds"
  if [ "$seconds" = 0 ]; then
    "$bin" "${args[@]}" -runs=0 "$seeds" >"$logs/$h.log" 2>&1
  else
    "$bin" "${args[@]}" -max_total_time="$seconds" "$work" "$seeds" >"$logs/$h.log" 2>&1
  fi
  echo $? >"$logs/$h.rc"
}

started=$(date +%s)
running=0
for h in "$@"; do
  [ -x "$build/bin/fuzz_$h" ] || { echo "fuzz: $build/bin/fuzz_$h is missing (make fuzz-build)" >&2; exit 2; }
  rm -f "$logs/$h.rc"
  one "$h" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=0
nfailed=0
total=0
printf '%-20s %12s %10s %8s  %s\n' harness executions exec/s corpus result
for h in "$@"; do
  log=$logs/$h.log
  rc=$(cat "$logs/$h.rc" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  result=ok
  if [ "$rc" != 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|property failed' "$log"; then
    result="FAILED (rc $rc; $log)"
    failed=1
    nfailed=$((nfailed + 1))
  fi
  printf '%-20s %12s %10s %8s  %s\n' "$h" "${execs:-?}" "${speed:-?}" "${corpus:-?}" "$result"
  total=$((total + ${execs:-0}))
done
echo "fuzz: $total executions in $(( $(date +%s) - started )) s"
known=$(for h in "$@"; do grep -h '^fuzz: known defect' "$logs/$h.log"; done 2>/dev/null |
  sed 's/ (reported:.*//' | sort | uniq -c)
if [ -n "$known" ]; then
  echo "fuzz: known defects hit (reported, see tests/fuzz/README.md; FUZZ_STRICT=1 makes them fail):"
  echo "$known"
fi
if [ "$failed" != 0 ]; then
  for h in "$@"; do
    log=$logs/$h.log
    if [ "$(cat "$logs/$h.rc" 2>/dev/null)" != 0 ]; then
      echo "---- $h (last lines of $log)"
      grep -E 'property failed|ERROR:|runtime error|SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20
    fi
  done
  echo "fuzz: $(( $# - nfailed )) passed, $nfailed failed"
  exit 1
fi
echo "fuzz: $# passed, 0 failed"
