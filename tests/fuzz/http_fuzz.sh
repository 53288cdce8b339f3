#!/usr/bin/env bash
# Black-box HTTP fuzzing of a running stack (make fuzz-http):
#   tests/fuzz/http_fuzz.sh [BIN_DIR]        (default build-asan/bin)
# Starts the seven programs of BIN_DIR (built with ASan and UBSan by
# `make asan`) with deploy/runner.sh on a free port base and a fresh data
# dir, snapshots the state (items, users, user coupons, coupons, orders,
# payments, received orders), fires FUZZ_HTTP_REQUESTS (100000) malformed
# requests with FUZZ_HTTP_THREADS (8) threads within FUZZ_HTTP_SECONDS (900),
# then requires: every program alive and its /health/live answering, the
# gateway's /health 200, every reply well formed (http_fuzz checks each),
# the same snapshot, and no sanitizer report in the programs' logs (read
# after they stopped, so LeakSanitizer's exit report counts too). Stops what
# it started, also on failure. BIN_DIR must also hold http_fuzz.
set -u
cd "$(dirname "$0")/../.."

bin=${1:-build-asan/bin}
requests=${FUZZ_HTTP_REQUESTS:-100000}
threads=${FUZZ_HTTP_THREADS:-8}
seconds=${FUZZ_HTTP_SECONDS:-900}
seed=${FUZZ_HTTP_SEED:-$(date +%s)}
tool=$bin/http_fuzz
say() { echo "fuzz-http: $*"; }

[ -x "$tool" ] || { say "$tool is missing (make fuzz-http builds it)"; exit 2; }
for b in api-gateway item-service user-service coupon-service order-service payment-service data-platform; do
  [ -x "$bin/$b" ] || { say "$bin/$b is missing"; exit 2; }
done

# A port base below the ephemeral range whose seven ports nothing uses.
port_used() { grep -qi ":$(printf '%04X' "$1") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
pick_base() {
  local b o ok
  for _ in $(seq 1 50); do
    b=$((12000 + RANDOM % 19000))
    ok=1
    for o in 0 1 2 3 4 5 6; do port_used $((b + o)) && { ok=0; break; }; done
    [ $ok = 1 ] && { echo "$b"; return; }
  done
}
data=$(mktemp -d /tmp/shop-fuzz-http.XXXXXX)
export SHOP_DATA_DIR=$data SHOP_BIN_DIR=$bin
export SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
export SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SHOP_START_TIMEOUT_S=${SHOP_START_TIMEOUT_S:-60}

started=0
stop_stack() {
  if [ "$started" = 1 ]; then
    deploy/runner.sh stop >/dev/null 2>&1
    started=0
  fi
}
trap 'stop_stack' EXIT
trap 'stop_stack; exit 130' INT TERM

t0=$(date +%s)
# A port can be taken between the check and the bind: then try another.
for attempt in 1 2 3; do
  base=$(pick_base)
  [ -n "$base" ] || { say "no free port base found"; exit 2; }
  export SHOP_PORT_BASE=$base
  say "stack of $bin on ports $base..$((base + 6)), data $data"
  rm -rf "$data"/*
  started=1
  deploy/runner.sh start && break
  started=0
  if [ "$attempt" = 3 ]; then
    say "FAILED: the stack did not start"
    exit 1
  fi
done
failed=0
"$tool" snapshot "$base" >"$data/before.txt" || { say "FAILED: snapshot before"; failed=1; }
say "snapshot: $(wc -l <"$data/before.txt") rows"
t1=$(date +%s)
"$tool" run "$base" -n "$requests" -t "$threads" -s "$seconds" -r "$seed" -d "$data/failures" |
  tee "$data/http_fuzz.out"
rc=${PIPESTATUS[0]}
t2=$(date +%s)
[ "$rc" = 0 ] || { say "FAILED: http_fuzz found bad replies or a dead program (details above, dumps in $data/failures)"; failed=1; }
# Give programs a moment to finish work the fuzz set off (none should).
sleep 1
for o in 0 1 2 3 4 5 6; do
  s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$((base + o))/health/live")
  [ "$s" = 200 ] || { say "FAILED: port $((base + o)) answers /health/live with $s"; failed=1; }
done
s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$base/health")
[ "$s" = 200 ] || { say "FAILED: gateway /health answers $s"; failed=1; }
"$tool" snapshot "$base" >"$data/after.txt" || { say "FAILED: snapshot after"; failed=1; }
if ! diff -u "$data/before.txt" "$data/after.txt" >"$data/state.diff"; then
  say "FAILED: the state changed (stock, balances, coupons, orders or payments):"
  head -n 40 "$data/state.diff"
  failed=1
else
  say "state unchanged ($(wc -l <"$data/after.txt") rows: items, users, user coupons, coupons, orders, payments, received orders)"
fi
stop_stack
reports=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$data"/run/*.log 2>/dev/null)
if [ -n "$reports" ]; then
  say "FAILED: sanitizer reports in:"
  for f in $reports; do
    echo "---- $f"
    grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -n 40
  done
  failed=1
else
  say "no sanitizer report in $(ls "$data"/run/*.log | wc -l) program logs"
fi
say "took $((t2 - t1)) s fuzzing, $(( $(date +%s) - t0 )) s in all (seed $seed)"
if [ "$failed" != 0 ]; then
  say "FAILED (logs and dumps kept in $data)"
  echo "fuzz-http: 0 passed, 1 failed"
  exit 1
fi
rm -rf "$data"
echo "fuzz-http: 1 passed, 0 failed"
