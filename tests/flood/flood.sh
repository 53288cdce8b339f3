#!/usr/bin/env bash
# Resource-limit run (issue #10 part 4): starts a Shop stack of its own
# (deploy/runner.sh, a free SHOP_PORT_BASE, a fresh data directory), runs
# shop-load alone for FLOOD_SECONDS, then again for FLOOD_SECONDS while the
# flood tool holds 1,000 idle and 100 slowloris connections (one header byte a
# second) against the gateway, replacing each one the server closes. Prints
# both throughputs, their ratio, the load's errors, the gateway's memory and
# threads, every program's memory at rest, and how many idle and slow
# connections the server closed, after how long.
#
# Passes (exit 0) when the load with the flood keeps at least FLOOD_MIN_RATIO
# of its throughput alone, no load request failed (no transport error, no
# timeout, no 5xx, no retry, no unexpected answer), and the server closed the
# idle and the slow connections after its request timeout (within 2 s of it).
# Exit 1 when a check fails, 2 when the stack or the load could not run.
#
# Environment (defaults):
#   SHOP_BIN_DIR          build/bin: the seven programs, shop-load and flood
#   FLOOD_SECONDS         10: load time of each phase
#   FLOOD_CLIENTS         16: shop-load --clients
#   FLOOD_MIX             default: shop-load --mix
#   FLOOD_IDLE            1000: connections that send nothing
#   FLOOD_SLOW            100: slowloris connections
#   FLOOD_KEPT            0: connections that send one request, then idle
#   FLOOD_ROUNDS          3: alone-then-flood rounds, the ratio over all of
#                         them (interleaved, so that other work on the
#                         machine weighs on both phases alike)
#   FLOOD_MIN_RATIO       0.8
#   FLOOD_PORT_BASE       the first free one of 18580, 18590, ...
#   FLOOD_KEEP            0: 1 keeps the data and logs (kept anyway on failure)
#   SHOP_REQUEST_TIMEOUT_MS, GATEWAY_THREADS, ... reach the programs as usual.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
  '') ;;
  -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 (configured by the environment; --help)" >&2; exit 2 ;;
esac

now_ms() { date +%s%3N; }
T0=$(now_ms)
say() { local ms=$(( $(now_ms) - T0 )); printf '[flood %4d.%01ds] %s\n' $((ms / 1000)) $(((ms % 1000) / 100)) "$*"; }
die() { echo "flood.sh: $*" >&2; exit 2; }

BIN=$(cd "${SHOP_BIN_DIR:-$ROOT/build/bin}" 2>/dev/null && pwd) ||
  die "no ${SHOP_BIN_DIR:-build/bin}: run make first"
for b in shop-load flood item-service user-service coupon-service order-service \
         payment-service data-platform api-gateway; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run make first"
done
SECONDS_PER_PHASE=${FLOOD_SECONDS:-10}
CLIENTS=${FLOOD_CLIENTS:-16}
MIX=${FLOOD_MIX:-default}
N_IDLE=${FLOOD_IDLE:-1000}
N_SLOW=${FLOOD_SLOW:-100}
N_KEPT=${FLOOD_KEPT:-0}
ROUNDS=${FLOOD_ROUNDS:-3}
MIN_RATIO=${FLOOD_MIN_RATIO:-0.8}
REQUEST_TIMEOUT_MS=${SHOP_REQUEST_TIMEOUT_MS:-5000} # http_server.h HTTP_REQUEST_TIMEOUT_MS
for v in SECONDS_PER_PHASE CLIENTS N_IDLE N_SLOW N_KEPT ROUNDS REQUEST_TIMEOUT_MS; do
  case "${!v}" in ''|*[!0-9]*) die "$v=${!v} is not a number" ;; esac
done

# --- a stack of our own ------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base_free() {
  local p
  for p in $(seq "$1" $(($1 + 6))); do port_busy "$p" && return 1; done
  return 0
}
if [ -n "${FLOOD_PORT_BASE:-}" ]; then
  base_free "$FLOOD_PORT_BASE" || die "a port of $FLOOD_PORT_BASE..+6 is in use"
  BASE=$FLOOD_PORT_BASE
else
  BASE=""
  for b in $(seq 18580 10 18980); do
    if base_free "$b"; then BASE=$b; break; fi
  done
  [ -n "$BASE" ] || die "no free port base in 18580..18986"
fi
WORK=$(mktemp -d /tmp/shop-flood.XXXXXX) || die "mktemp failed"
export SHOP_PORT_BASE=$BASE SHOP_DATA_DIR=$WORK/data SHOP_BIN_DIR=$BIN
export SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
export SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
RUN_DIR=$SHOP_DATA_DIR/run
GATEWAY=http://127.0.0.1:$BASE

FLOOD_PID=""
SAMPLER_PID=""
STARTED_STACK=0
RESULT=2

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  trap '' INT TERM
  for pid in $FLOOD_PID $SAMPLER_PID; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  [ "$STARTED_STACK" = 1 ] && "$ROOT/deploy/runner.sh" stop >/dev/null 2>&1
  if [ "$RESULT" = 0 ] && [ "${FLOOD_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    echo "flood.sh: data, logs and reports kept in $WORK" >&2
  fi
  exit "$RESULT"
}
trap cleanup EXIT
trap 'exit' INT TERM

say "stack: gateway $GATEWAY, data $WORK"
"$ROOT/deploy/runner.sh" start >"$WORK/runner.log" 2>&1 || { cat "$WORK/runner.log" >&2; die "the stack did not start"; }
STARTED_STACK=1
GW_PID=$(cat "$RUN_DIR/api-gateway.pid")

# --- memory -----------------------------------------------------------------

kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
pss() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
threads() { local t n=0; for t in /proc/"$1"/task/*; do [ -e "$t" ] && n=$((n + 1)); done; echo "$n"; }
mb() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Every program's memory: RSS (shared library pages counted in each), its
# private part (RssAnon) and PSS (shared pages split among the sharers, so
# the PSS of all seven adds up to what they take together).
memory_table() {
  local f pid rss anon p sum_rss=0 sum_anon=0 sum_pss=0
  printf '  %-16s %9s %9s %9s %8s\n' program "RSS MB" "anon MB" "PSS MB" threads
  for f in "$RUN_DIR"/*.pid; do
    pid=$(cat "$f")
    rss=$(kb "$pid" VmRSS); anon=$(kb "$pid" RssAnon); p=$(pss "$pid")
    printf '  %-16s %9s %9s %9s %8s\n' "$(basename "$f" .pid)" "$(mb "$rss")" "$(mb "$anon")" \
      "$(mb "$p")" "$(threads "$pid")"
    sum_rss=$((sum_rss + ${rss:-0})); sum_anon=$((sum_anon + ${anon:-0})); sum_pss=$((sum_pss + ${p:-0}))
  done
  printf '  %-16s %9s %9s %9s\n' "all seven" "$(mb $sum_rss)" "$(mb $sum_anon)" "$(mb $sum_pss)"
}

# Samples the gateway's RSS (kB) every 200 ms into file $2 until killed.
# shellcheck disable=SC2016 # expanded by the inner bash
SAMPLE_RSS='while kill -0 "$1" 2>/dev/null; do
  awk '"'"'$1 == "VmRSS:" { print $2 }'"'"' "/proc/$1/status" >>"$2"; sleep 0.2; done'

sleep 1 # the start-up health checks' keep-alive connections close
say "memory at rest:"
memory_table | tee "$WORK/memory-rest.txt"
REST_RSS=$(kb "$GW_PID" VmRSS)

# --- the phases -------------------------------------------------------------

# Runs shop-load for one phase; report in $WORK/$1.txt.
run_load() {
  "$BIN/shop-load" --url "$GATEWAY" --clients "$CLIENTS" --seconds "$SECONDS_PER_PHASE" \
    --mix "$MIX" --quiet >"$WORK/$1.txt" 2>&1
  echo $? >"$WORK/$1.rc"
}

# Field of a shop-load report: requests, rate, retries, failed, unexpected,
# bad (answers that are transport errors, timeouts or 5xx, every attempt).
field() {
  local f=$WORK/$1.txt
  case $2 in
    requests) awk '/^requests: / { print $2; exit }' "$f" ;;
    seconds) awk '/^shop-load: run / { for (i = 1; i < NF; i++) if ($(i + 1) == "s" && $(i + 2) == "ran,") print $i }' "$f" ;;
    retries) sed -n 's/^requests: .*; \([0-9]*\) retries.*/\1/p' "$f" ;;
    failed) awk '/^failed after retries/ { print $NF }' "$f" ;;
    unexpected) awk '/^unexpected answers:/ { print $NF }' "$f" ;;
    bad) awk '/^answers by route/ { on = 1; next } on && NF == 0 { on = 0 }
              on { st = ""; for (i = 2; i <= NF; i++) if ($i ~ /^[1-5][0-9][0-9]$/) { st = $i; break } }
              on && ($NF == "timeout" || $NF == "transport-error" || st ~ /^5/) { n += $1 }
              END { print n + 0 }' "$f" ;;
  esac
}

RSS_SAMPLES=$WORK/rss-flood.txt
: >"$RSS_SAMPLES"
FLOOD_OPEN_OK=1
for round in $(seq 1 "$ROUNDS"); do
  say "round $round: shop-load alone, $CLIENTS clients, $SECONDS_PER_PHASE s"
  run_load "alone-$round"
  if [ "$(field "alone-$round" requests)" = "" ]; then
    cat "$WORK/alone-$round.txt" >&2
    die "shop-load alone did not run"
  fi

  say "round $round: flood of $N_IDLE idle, $N_SLOW slow, $N_KEPT kept connections"
  # The flood and the sampler run in sessions of their own: with the
  # scheduler's autogroups (one per session) they would otherwise take their
  # CPU out of shop-load's share, and the load would measure them, not the
  # gateway.
  setsid "$BIN/flood" --port "$BASE" --idle "$N_IDLE" --slow "$N_SLOW" --kept "$N_KEPT" \
    --seconds $((SECONDS_PER_PHASE + 60)) --every 5 >"$WORK/flood-$round.txt" 2>&1 &
  FLOOD_PID=$!
  deadline=$(( $(now_ms) + 20000 ))
  until grep -q '^flood: holding\|not every connection' "$WORK/flood-$round.txt"; do
    kill -0 "$FLOOD_PID" 2>/dev/null || { cat "$WORK/flood-$round.txt" >&2; die "flood exited"; }
    [ "$(now_ms)" -lt "$deadline" ] || die "flood did not report within 20 s"
    sleep 0.1
  done
  grep -q '^flood: holding' "$WORK/flood-$round.txt" || FLOOD_OPEN_OK=0
  sleep 1
  say "round $round: gateway open connections $(curl -s --max-time 5 "$GATEWAY/metrics" | awk '/^shop_http_connections_open / { print $2 }') of $(curl -s --max-time 5 "$GATEWAY/metrics" | awk '/^shop_http_workers / { print $2 }') workers; shop-load with the flood, $SECONDS_PER_PHASE s"
  setsid bash -c "$SAMPLE_RSS" _ "$GW_PID" "$RSS_SAMPLES" &
  SAMPLER_PID=$!
  run_load "flood-load-$round"
  kill -TERM "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=""
  kill -TERM "$FLOOD_PID" 2>/dev/null; wait "$FLOOD_PID" 2>/dev/null; FLOOD_PID=""
  if [ "$(field "flood-load-$round" requests)" = "" ]; then
    # Under the flood it could not even set up: a failure of the limits, not
    # of the run (its exit status counts below).
    tail -n 5 "$WORK/flood-load-$round.txt" | sed 's/^/  /'
  fi
  sleep 1 # the flood's sockets are gone; the server's workers are back
done

# --- report -----------------------------------------------------------------

sum_field() { # phase-prefix field -> sum over rounds
  local r s=0 v
  for r in $(seq 1 "$ROUNDS"); do v=$(field "$1-$r" "$2"); s=$(awk -v a="$s" -v b="${v:-0}" 'BEGIN { print a + b }'); done
  echo "$s"
}
A_REQ=$(sum_field alone requests); A_SEC=$(sum_field alone seconds)
F_REQ=$(sum_field flood-load requests); F_SEC=$(sum_field flood-load seconds)
A_RATE=$(awk -v n="$A_REQ" -v s="$A_SEC" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
F_RATE=$(awk -v n="$F_REQ" -v s="$F_SEC" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
RATIO=$(awk -v a="$A_RATE" -v f="$F_RATE" 'BEGIN { printf "%.3f", (a > 0 ? f / a : 0) }')
errors() { # phase-prefix -> "retries failed unexpected bad rc!=0"
  local r e=""
  for k in retries failed unexpected bad; do e="$e $k $(sum_field "$1" "$k")"; done
  local bad_rc=0
  for r in $(seq 1 "$ROUNDS"); do [ "$(cat "$WORK/$1-$r.rc")" = 0 ] || bad_rc=$((bad_rc + 1)); done
  echo "$e exit!=0 $bad_rc"
}
A_ERR=$(errors alone); F_ERR=$(errors flood-load)
PEAK_RSS=$(sort -n "$RSS_SAMPLES" | tail -n 1)

echo
echo "== shop-load, $CLIENTS clients, mix $MIX, $ROUNDS x $SECONDS_PER_PHASE s per phase"
printf '  alone:       %8s requests in %6s s = %8s/s; errors:%s\n' "$A_REQ" "$A_SEC" "$A_RATE" "$A_ERR"
printf '  with flood:  %8s requests in %6s s = %8s/s; errors:%s\n' "$F_REQ" "$F_SEC" "$F_RATE" "$F_ERR"
printf '  ratio:       %s (at least %s needed); by round:' "$RATIO" "$MIN_RATIO"
for r in $(seq 1 "$ROUNDS"); do
  awk -v a="$(field "alone-$r" requests)" -v as="$(field "alone-$r" seconds)" \
      -v f="$(field "flood-load-$r" requests)" -v fs="$(field "flood-load-$r" seconds)" \
      'BEGIN { printf " %.0f/s vs %.0f/s", (as > 0 ? a / as : 0), (fs > 0 ? f / fs : 0) }'
done
echo
echo "== api-gateway memory: $(mb "$REST_RSS") MB RSS at rest, $(mb "$PEAK_RSS") MB peak with the flood and the load; $(threads "$GW_PID") threads"
echo "== connections the server closed (flood tool's count; life = connect to close):"
grep -h '^flood-result' "$WORK"/flood-*.txt | sed 's/^flood-result /  /'

# --- verdict ----------------------------------------------------------------

FAIL=""
awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }' || FAIL="$FAIL ratio<$MIN_RATIO"
for e in "$A_ERR" "$F_ERR"; do
  # shellcheck disable=SC2086 # word pairs
  set -- $e
  while [ $# -ge 2 ]; do [ "$2" = 0 ] || FAIL="$FAIL load:$1=$2"; shift 2; done
done
[ "$FLOOD_OPEN_OK" = 1 ] || FAIL="$FAIL flood-could-not-open-all"
# The server's request timeout, not anything else, must close idle and slow
# connections: each kind closed at least once, after R and within R + 2 s
# (a slowloris is noticed at its next byte, a second later at most).
check_closes() { # kind
  local line closed lo hi
  line=$(grep -h "^flood-result kind=$1 " "$WORK"/flood-*.txt | head -n 1)
  [ -n "$line" ] || return 0
  closed=$(sed -n 's/.* closed_by_server=\([0-9]*\).*/\1/p' <<<"$line")
  lo=$(sed -n 's/.* life_ms_min=\(-\{0,1\}[0-9]*\).*/\1/p' <<<"$line")
  hi=$(sed -n 's/.* life_ms_max=\(-\{0,1\}[0-9]*\).*/\1/p' <<<"$line")
  [ "${closed:-0}" -gt 0 ] || { FAIL="$FAIL $1:never-closed"; return; }
  # 100 ms of slack below: the flood notes "established" when it gets to it.
  [ "$lo" -ge $((REQUEST_TIMEOUT_MS - 100)) ] || FAIL="$FAIL $1:closed-early(${lo}ms)"
  [ "$hi" -le $((REQUEST_TIMEOUT_MS + 2000)) ] || FAIL="$FAIL $1:closed-late(${hi}ms)"
}
[ "$N_IDLE" -gt 0 ] && check_closes idle
[ "$N_SLOW" -gt 0 ] && check_closes slow
if [ -z "$FAIL" ]; then
  RESULT=0
  echo "PASS: ratio $RATIO, no load errors, idle and slow connections closed by the request timeout"
else
  RESULT=1
  echo "FAIL:$FAIL"
fi
