#!/usr/bin/env bash
# Chaos run: starts a Shop stack of its own (deploy/runner.sh, a free
# SHOP_PORT_BASE, a fresh data directory), runs shop-load against it and,
# meanwhile, every few seconds kill -9's one random program and restarts it
# after 0-3 s, freezes another with SIGSTOP for longer than the call timeout,
# and for a while makes the data platform fail half of its requests. Then it
# heals everything, lets recovery and the outbox finish (bounded wait) and runs
# shop-audit. Zero violations is the only pass (exit 0; else 1; 2 when the
# stack or the load could not even start). Every process it started is
# stopped on exit, Ctrl-C included.
#
#   tests/chaos/chaos.sh           the chaos run (make chaos)
#   tests/chaos/chaos.sh --calm    the same load and audit without faults
#                                  and with the default timeouts (make load)
#
# Environment (defaults):
#   SHOP_BIN_DIR       build/bin: the seven programs, shop-load, shop-audit
#   CHAOS_SECONDS      60: load time of a chaos run (LOAD_SECONDS for --calm)
#   LOAD_CLIENTS       64: shop-load --clients
#   LOAD_MIX           default: shop-load --mix (success: order then pay only)
#   CHAOS_INTERVAL_S   5: seconds between two kills
#   CHAOS_SETTLE_S     120: longest wait for recovery and the outbox to drain
#   CHAOS_PORT_BASE    the first free one of 19080, 19090, ...
#   CHAOS_KEEP         0: 1 keeps the data, logs and record (kept anyway on failure)
#   SHOP_ADMIN_TOKEN, SHOP_INTERNAL_TOKEN as for the runner.
# In a chaos run the programs get SHOP_SAGA_DEADLINE_MS=3000,
# SHOP_CALL_TIMEOUT_MS=1000, ORDER_RECOVERY_INTERVAL_MS=500,
# PAYMENT_SETTLE_INTERVAL_MS=500, PAYMENT_OUTBOX_MAX_BACKOFF_MS=1000 unless set.
#
# Restarting one program: deploy/runner.sh has no command for it, so this
# script gives each program exactly the environment the runner gives it (the
# same exports, computed from SHOP_PORT_BASE and SHOP_DATA_DIR) and starts it
# the way the runner does, writing its pid file in $SHOP_DATA_DIR/run, so
# that `deploy/runner.sh stop` stops restarted programs too.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODE=chaos
case "${1:-}" in
  '') ;;
  --calm) MODE=calm ;;
  -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--calm]" >&2; exit 2 ;;
esac

say() { printf '[chaos %6s] %s\n' "$(elapsed)" "$*"; }
die() { echo "chaos: $*" >&2; exit 2; }
now_ms() { date +%s%3N; }
T0=$(now_ms)
elapsed() { local ms=$(( $(now_ms) - T0 )); printf '%d.%01ds' $((ms / 1000)) $(( (ms % 1000) / 100 )); }
sleep_ms() { [ "$1" -gt 0 ] && sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; return 0; }
rand() { echo $(( (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1) + $1 )); } # rand lo hi

BIN=$(cd "${SHOP_BIN_DIR:-$ROOT/build/bin}" 2>/dev/null && pwd) ||
  die "no ${SHOP_BIN_DIR:-build/bin}: run make first"
# binary  short name  port env  port offset  env prefix (as deploy/runner.sh)
PROGRAMS=(
  "item-service item ITEM_PORT 1 ITEM"
  "user-service user USER_PORT 2 USER"
  "coupon-service coupon COUPON_PORT 3 COUPON"
  "order-service order ORDER_PORT 4 ORDER"
  "payment-service payment PAYMENT_PORT 5 PAYMENT"
  "data-platform data-platform DATA_PLATFORM_PORT 6 DATA_PLATFORM"
  "api-gateway gateway GATEWAY_PORT 0 -"
)
for b in shop-load shop-audit item-service user-service coupon-service order-service \
         payment-service data-platform api-gateway; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run make first"
done

if [ "$MODE" = chaos ]; then
  RUN_SECONDS=${CHAOS_SECONDS:-60}
  export SHOP_SAGA_DEADLINE_MS=${SHOP_SAGA_DEADLINE_MS:-3000}
  export SHOP_CALL_TIMEOUT_MS=${SHOP_CALL_TIMEOUT_MS:-1000}
  export ORDER_RECOVERY_INTERVAL_MS=${ORDER_RECOVERY_INTERVAL_MS:-500}
  export PAYMENT_SETTLE_INTERVAL_MS=${PAYMENT_SETTLE_INTERVAL_MS:-500}
  export PAYMENT_OUTBOX_MAX_BACKOFF_MS=${PAYMENT_OUTBOX_MAX_BACKOFF_MS:-1000}
else
  RUN_SECONDS=${LOAD_SECONDS:-60}
fi
CLIENTS=${LOAD_CLIENTS:-64}
MIX=${LOAD_MIX:-default}
INTERVAL_S=${CHAOS_INTERVAL_S:-5}
SETTLE_S=${CHAOS_SETTLE_S:-120}
CALL_TIMEOUT_MS=${SHOP_CALL_TIMEOUT_MS:-5000}

# --- a stack of our own ------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base_free() {
  local p
  for p in $(seq "$1" $(($1 + 6))); do port_busy "$p" && return 1; done
  return 0
}
if [ -n "${CHAOS_PORT_BASE:-}" ]; then
  base_free "$CHAOS_PORT_BASE" || die "a port of $CHAOS_PORT_BASE..+6 is in use"
  BASE=$CHAOS_PORT_BASE
else
  BASE=""
  for b in $(seq 19080 10 19980); do
    if base_free "$b"; then BASE=$b; break; fi
  done
  [ -n "$BASE" ] || die "no free port base in 19080..19986"
fi

WORK=$(mktemp -d /tmp/shop-chaos.XXXXXX) || die "mktemp failed"
export SHOP_PORT_BASE=$BASE SHOP_DATA_DIR=$WORK/data SHOP_BIN_DIR=$BIN
export SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
export SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
mkdir -p "$SHOP_DATA_DIR"
RUN_DIR=$SHOP_DATA_DIR/run
# What deploy/runner.sh exports for every program.
for spec in "${PROGRAMS[@]}"; do
  read -r _bin name port_env offset prefix <<<"$spec"
  export "$port_env=$((BASE + offset))"
  if [ "$prefix" != - ]; then
    export "${prefix}_URL=http://127.0.0.1:$((BASE + offset))"
    export "${prefix}_DB_PATH=$SHOP_DATA_DIR/$name.db"
  fi
done
GATEWAY=http://127.0.0.1:$BASE
DP=http://127.0.0.1:$((BASE + 6))
RECORD=$WORK/record.jsonl
EVENTS=$WORK/events.log
: >"$EVENTS"

LOAD_PID=""
FROZEN_PID=""
RESULT=2
STARTED_STACK=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  trap '' INT TERM
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill -TERM "$LOAD_PID" 2>/dev/null
    wait "$LOAD_PID" 2>/dev/null
  fi
  [ -n "$FROZEN_PID" ] && kill -CONT "$FROZEN_PID" 2>/dev/null
  if [ "$STARTED_STACK" = 1 ]; then
    local f
    for f in "$RUN_DIR"/*.pid; do # a stopped program would not hear SIGTERM
      [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null
    done
    "$ROOT/deploy/runner.sh" stop >/dev/null 2>&1
  fi
  if [ "$RESULT" = 0 ] && [ "${CHAOS_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    echo "chaos: data, logs (data/run/*.log), record and outputs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'echo "chaos: interrupted" >&2; exit 130' INT TERM

event() { say "$*"; printf '%s %s\n' "$(elapsed)" "$*" >>"$EVENTS"; }

pid_of() { cat "$RUN_DIR/$1.pid" 2>/dev/null; }
port_of() {
  local spec bin rest port_env offset
  for spec in "${PROGRAMS[@]}"; do
    read -r bin _ port_env offset rest <<<"$spec"
    [ "$bin" = "$1" ] && { echo $((BASE + offset)); return; }
  done
}
live_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/health/live" 2>/dev/null; }

# Starts bin as deploy/runner.sh does; waits for /health/live (10 s at most,
# three tries when the new process dies at once). Prints the pid.
start_program() {
  local bin=$1 port pid deadline
  port=$(port_of "$bin")
  for _ in 1 2 3; do
    rm -f "$RUN_DIR/$bin.pid"
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$RUN_DIR/$bin.pid" "$BIN/$bin" \
      </dev/null >>"$RUN_DIR/$bin.log" 2>&1 &
    deadline=$(( $(now_ms) + 10000 ))
    # The pid file is written by the process that becomes the program.
    while [ ! -s "$RUN_DIR/$bin.pid" ] && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.01; done
    pid=$(pid_of "$bin")
    [ -n "$pid" ] || continue
    while [ "$(live_status "$port")" != 200 ] && ! gone "$pid" &&
          [ "$(now_ms)" -lt "$deadline" ]; do
      sleep 0.05
    done
    if ! gone "$pid" && [ "$(live_status "$port")" = 200 ]; then echo "$pid"; return 0; fi
    kill -KILL "$pid" 2>/dev/null
    sleep 0.3
  done
  return 1
}

gone() { # pid: not running (a zombie counts as gone)
  ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

kill9() { # bin: kill -9 and wait (5 s at most) until it is gone; prints the pid
  local pid deadline
  pid=$(pid_of "$1")
  [ -n "$pid" ] || return 1
  kill -KILL "$pid" 2>/dev/null
  deadline=$(( $(now_ms) + 5000 ))
  until gone "$pid" || [ "$(now_ms)" -ge "$deadline" ]; do sleep 0.02; done
  echo "$pid"
}

set_faults() { # failRate
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X PUT "$DP/faults" \
    -H 'Content-Type: application/json' -d "{\"failRate\":$1,\"delayMs\":0}" 2>/dev/null
}

bins=()
for spec in "${PROGRAMS[@]}"; do read -r b _ <<<"$spec"; bins+=("$b"); done

say "stack: $BIN, port base $BASE, data $SHOP_DATA_DIR, mode $MODE"
if [ "$MODE" = chaos ]; then
  say "programs get SHOP_SAGA_DEADLINE_MS=$SHOP_SAGA_DEADLINE_MS SHOP_CALL_TIMEOUT_MS=$SHOP_CALL_TIMEOUT_MS ORDER_RECOVERY_INTERVAL_MS=$ORDER_RECOVERY_INTERVAL_MS PAYMENT_SETTLE_INTERVAL_MS=$PAYMENT_SETTLE_INTERVAL_MS PAYMENT_OUTBOX_MAX_BACKOFF_MS=$PAYMENT_OUTBOX_MAX_BACKOFF_MS"
fi
STARTED_STACK=1
"$ROOT/deploy/runner.sh" start || exit 2

say "shop-load: $CLIENTS clients, $RUN_SECONDS s, mix $MIX"
"$BIN/shop-load" --url "$GATEWAY" --clients "$CLIENTS" --seconds "$RUN_SECONDS" --mix "$MIX" \
  --record "$RECORD" >"$WORK/load.out" &
LOAD_PID=$!

# --- chaos ------------------------------------------------------------------

KILLS=0 FREEZES=0
if [ "$MODE" = chaos ]; then
  LOAD_T0=$(now_ms)
  FAULT_FROM=$(( LOAD_T0 + RUN_SECONDS * 1000 / 5 ))
  FAULT_TO=$(( LOAD_T0 + RUN_SECONDS * 1000 * 3 / 5 ))
  FAULTED_PID="" FAULTS_DONE=0
  sleep_ms 2000 # let the load create its fixtures first
  while kill -0 "$LOAD_PID" 2>/dev/null; do
    round=$(now_ms)
    # The data platform fails half its requests in the middle fifth to third
    # fifth of the run (set again after a restart, which forgets it).
    if [ "$round" -ge "$FAULT_FROM" ] && [ "$round" -lt "$FAULT_TO" ] &&
       [ "$(pid_of data-platform)" != "$FAULTED_PID" ]; then
      event "data-platform: PUT /faults failRate 0.5 -> $(set_faults 0.5)"
      FAULTED_PID=$(pid_of data-platform)
    elif [ "$round" -ge "$FAULT_TO" ] && [ "$FAULTS_DONE" = 0 ]; then
      event "data-platform: PUT /faults failRate 0.0 -> $(set_faults 0.0)"
      FAULTS_DONE=1
    fi
    [ $(( round - LOAD_T0 )) -ge $(( RUN_SECONDS * 1000 - 1500 )) ] && { sleep 0.2; continue; }
    victim=${bins[$(rand 0 6)]}
    frozen=${bins[$(rand 0 6)]}
    while [ "$frozen" = "$victim" ]; do frozen=${bins[$(rand 0 6)]}; done
    pause=$(rand 0 3000)
    freeze_ms=$(( CALL_TIMEOUT_MS + 500 + $(rand 0 2000) ))
    if pid=$(kill9 "$victim"); then
      KILLS=$((KILLS + 1))
      event "kill -9 $victim (pid $pid); restart in $pause ms"
    fi
    FROZEN_PID=$(pid_of "$frozen")
    frozen_at=$(now_ms)
    kill -STOP "$FROZEN_PID" 2>/dev/null && FREEZES=$((FREEZES + 1))
    event "SIGSTOP $frozen (pid $FROZEN_PID) for $freeze_ms ms"
    sleep_ms "$pause"
    t=$(now_ms)
    if pid=$(start_program "$victim"); then
      event "restarted $victim (pid $pid), live after $(( $(now_ms) - t )) ms"
    else
      event "FAILED to restart $victim; see $RUN_DIR/$victim.log"
    fi
    sleep_ms $(( freeze_ms - ($(now_ms) - frozen_at) ))
    kill -CONT "$FROZEN_PID" 2>/dev/null
    event "SIGCONT $frozen (pid $FROZEN_PID) after $(( $(now_ms) - frozen_at )) ms"
    FROZEN_PID=""
    rest=$(( INTERVAL_S * 1000 - ($(now_ms) - round) ))
    while [ "$rest" -gt 0 ] && kill -0 "$LOAD_PID" 2>/dev/null; do
      sleep 0.2
      rest=$((rest - 200))
    done
  done
fi

wait "$LOAD_PID"
LOAD_RC=$?
LOAD_PID=""
say "shop-load exited with $LOAD_RC"

# --- heal, settle, audit ------------------------------------------------------

if [ "$MODE" = chaos ]; then
  event "heal: data-platform faults off -> $(set_faults 0.0)"
  for b in "${bins[@]}"; do
    pid=$(pid_of "$b")
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      if pid=$(start_program "$b"); then event "heal: started $b (pid $pid)"; else event "heal: FAILED to start $b"; fi
    fi
  done
  deadline=$(( $(now_ms) + 30000 ))
  while [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GATEWAY/health")" != 200 ] &&
        [ "$(now_ms)" -lt "$deadline" ]; do
    sleep 0.2
  done
  say "gateway /health: $(curl -s --max-time 2 "$GATEWAY/health")"
fi

AUDIT_RC=2
if [ "$LOAD_RC" = 1 ] || [ "$LOAD_RC" = 2 ] || [ ! -s "$RECORD" ]; then
  say "shop-load did not run (exit $LOAD_RC); no audit"
else
  say "shop-audit (waits up to $SETTLE_S s for recovery and the outbox)"
  "$BIN/shop-audit" --record "$RECORD" --url "$GATEWAY" --wait "$SETTLE_S" >"$WORK/audit.out" 2>&1
  AUDIT_RC=$?
fi

echo
echo "================ events ($KILLS kills, $FREEZES freezes) ================"
cat "$EVENTS"
echo
echo "================ load ================"
cat "$WORK/load.out"
echo
echo "================ audit ================"
cat "$WORK/audit.out" 2>/dev/null
echo

if [ "$AUDIT_RC" = 0 ] && { [ "$MODE" = chaos ] || [ "$LOAD_RC" = 0 ]; }; then
  RESULT=0
  echo "chaos ($MODE): PASS: zero violations"
elif [ "$AUDIT_RC" = 0 ]; then
  RESULT=1
  echo "chaos ($MODE): FAIL: no violation, but shop-load saw unexpected answers without faults (exit $LOAD_RC)"
elif [ "$AUDIT_RC" = 1 ]; then
  RESULT=1
  echo "chaos ($MODE): FAIL: the audit found violations"
else
  RESULT=2
  echo "chaos ($MODE): FAIL: the audit could not run (exit $AUDIT_RC)"
fi
exit "$RESULT"
