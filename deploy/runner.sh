#!/usr/bin/env bash
# Local runner: the seven Shop programs on one machine, natively.
#   deploy/runner.sh run     all seven in the foreground, each line prefixed
#                            with its program ([item] ...); Ctrl-C stops them
#   deploy/runner.sh start   in the background; returns once every program's
#                            /health/live and then the gateway's /health say 200
#   deploy/runner.sh stop    stops what `start` (or `run`) started
#   deploy/runner.sh status  shows what runs
# Environment (defaults): SHOP_PORT_BASE (8080; gateway = base, item +1,
# user +2, coupon +3, order +4, payment +5, data-platform +6), SHOP_DATA_DIR
# (./data; databases there, pids and logs in $SHOP_DATA_DIR/run),
# SHOP_ADMIN_TOKEN (dev-admin-token), SHOP_INTERNAL_TOKEN (dev-internal-token),
# SHOP_BIN_DIR (build/bin; $BUILD/bin under `make BUILD=...`),
# SHOP_START_TIMEOUT_S (30). Two stacks run side by side with different
# SHOP_PORT_BASE and SHOP_DATA_DIR.
set -u

SHOP_PORT_BASE=${SHOP_PORT_BASE:-8080}
SHOP_DATA_DIR=${SHOP_DATA_DIR:-./data}
SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
# Under make, `make BUILD=dir start` runs what that build made.
if [ -n "${MAKELEVEL:-}" ] && [ -n "${BUILD:-}" ]; then
  SHOP_BIN_DIR=${SHOP_BIN_DIR:-$BUILD/bin}
fi
SHOP_BIN_DIR=${SHOP_BIN_DIR:-build/bin}
START_TIMEOUT_S=${SHOP_START_TIMEOUT_S:-30}
STOP_TIMEOUT_S=5

# binary  short name  port env  port offset  env prefix of URL and DB path
PROGRAMS=(
  "item-service item ITEM_PORT 1 ITEM"
  "user-service user USER_PORT 2 USER"
  "coupon-service coupon COUPON_PORT 3 COUPON"
  "order-service order ORDER_PORT 4 ORDER"
  "payment-service payment PAYMENT_PORT 5 PAYMENT"
  "data-platform data-platform DATA_PLATFORM_PORT 6 DATA_PLATFORM"
  "api-gateway gateway GATEWAY_PORT 0 -"
)

die() { echo "runner: $*" >&2; exit 1; }
say() { echo "runner: $*"; }

case "$SHOP_PORT_BASE" in
  ''|*[!0-9]*) die "SHOP_PORT_BASE=$SHOP_PORT_BASE is not a port number" ;;
esac
if [ "$SHOP_PORT_BASE" -lt 1 ] || [ "$SHOP_PORT_BASE" -gt 65529 ]; then
  die "SHOP_PORT_BASE=$SHOP_PORT_BASE: base+6 must be a port (1..65535)"
fi

case "${1:-}" in
  run|start) mkdir -p "$SHOP_DATA_DIR" || die "cannot create SHOP_DATA_DIR=$SHOP_DATA_DIR" ;;
esac
if [ -d "$SHOP_DATA_DIR" ]; then SHOP_DATA_DIR=$(cd "$SHOP_DATA_DIR" && pwd); fi
RUN_DIR=$SHOP_DATA_DIR/run

# The environment every program gets: ports, peers, databases, tokens.
export SHOP_PORT_BASE SHOP_DATA_DIR SHOP_ADMIN_TOKEN SHOP_INTERNAL_TOKEN
for spec in "${PROGRAMS[@]}"; do
  read -r _bin _name port_env offset prefix <<<"$spec"
  export "$port_env=$((SHOP_PORT_BASE + offset))"
  if [ "$prefix" != - ]; then
    export "${prefix}_URL=http://127.0.0.1:$((SHOP_PORT_BASE + offset))"
    export "${prefix}_DB_PATH=$SHOP_DATA_DIR/$_name.db"
  fi
done

port_of() { # binary -> port
  local spec bin name port_env offset prefix
  for spec in "${PROGRAMS[@]}"; do
    read -r bin name port_env offset prefix <<<"$spec"
    [ "$bin" = "$1" ] && { echo $((SHOP_PORT_BASE + offset)); return; }
  done
}

now_ms() { date +%s%3N; }

# True while pid runs: a zombie (exited, not yet reaped by init) has stopped.
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# HTTP status of GET 127.0.0.1:port/path, "000" when nothing answers.
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1$2" 2>/dev/null || true
}

# The pid in bin's pid file when that process is alive and is bin; else "".
live_pid() {
  local file=$RUN_DIR/$1.pid pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) return 0 ;; esac
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$1"; then
    echo "$pid"
  fi
}

# Refuses when this stack (data dir) already runs, or its ports are taken.
refuse_if_running() {
  local spec bin rest pid running="" port
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    pid=$(live_pid "$bin")
    [ -n "$pid" ] && running="$running $bin($pid)"
  done
  [ -z "$running" ] ||
    die "this stack is already running (data $SHOP_DATA_DIR):$running; 'make stop' first"
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    port=$(port_of "$bin")
    [ "$(http_status "$port" /health/live)" = 000 ] ||
      die "port $port ($bin) is already in use: another stack runs with SHOP_PORT_BASE=$SHOP_PORT_BASE? Pick another SHOP_PORT_BASE or stop it"
  done
  rm -f "$RUN_DIR"/*.pid
}

# Stops every program whose pid file names a live process of ours.
stop_all() {
  local spec bin rest pid pids="" deadline n=0
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    pid=$(live_pid "$bin")
    if [ -n "$pid" ]; then
      kill -TERM "$pid" 2>/dev/null
      pids="$pids $pid"
      n=$((n + 1))
    fi
  done
  deadline=$(( $(now_ms) + STOP_TIMEOUT_S * 1000 ))
  for pid in $pids; do
    while alive "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do
      sleep 0.05
    done
    if alive "$pid"; then
      echo "runner: pid $pid did not stop in ${STOP_TIMEOUT_S}s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -f "$RUN_DIR"/*.pid
  echo "$n"
}

cmd_stop() {
  [ -d "$RUN_DIR" ] || { say "nothing runs (data $SHOP_DATA_DIR)"; return 0; }
  local n
  n=$(stop_all)
  if [ "$n" = 0 ]; then say "nothing runs (data $SHOP_DATA_DIR)"; else say "stopped $n programs"; fi
}

cmd_status() {
  local spec bin rest pid port
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    pid=$(live_pid "$bin")
    port=$(port_of "$bin")
    if [ -n "$pid" ]; then
      printf '%-16s port %-5s pid %s, /health/live %s\n' "$bin" "$port" "$pid" "$(http_status "$port" /health/live)"
    else
      printf '%-16s port %-5s not running\n' "$bin" "$port"
    fi
  done
}

check_binaries() {
  local spec bin rest
  SHOP_BIN_DIR=$(cd "$SHOP_BIN_DIR" 2>/dev/null && pwd) ||
    die "no binaries in $SHOP_BIN_DIR: run make first"
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    [ -x "$SHOP_BIN_DIR/$bin" ] || die "$SHOP_BIN_DIR/$bin is missing: run make first"
  done
}

# Waits for every program's /health/live, then the gateway's /health.
# Prints "<binary> <what went wrong>" for the first that did not come up,
# or nothing.
wait_healthy() {
  local deadline=$1 spec bin rest port pid
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    port=$(port_of "$bin")
    while [ "$(http_status "$port" /health/live)" != 200 ]; do
      pid=$(live_pid "$bin")
      if [ -z "$pid" ]; then
        echo "$bin exited at start"
        return
      fi
      if [ "$(now_ms)" -ge "$deadline" ]; then
        echo "$bin did not answer GET /health/live within ${START_TIMEOUT_S}s"
        return
      fi
      sleep 0.05
    done
  done
  local health down
  while [ "$(http_status "$SHOP_PORT_BASE" /health)" != 200 ]; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      health=$(curl -s --max-time 6 "http://127.0.0.1:$SHOP_PORT_BASE/health")
      # The first service the gateway reports down names the log to show.
      down=$(grep -o '"[a-z-]*":"down"' <<<"$health" | head -n 1 | cut -d'"' -f2)
      if [ -n "$down" ]; then
        echo "$down-service answers its GET /health with no 200 (gateway /health: $health)"
      else
        echo "api-gateway GET /health did not answer 200 within ${START_TIMEOUT_S}s: $health"
      fi
      return
    fi
    sleep 0.2
  done
}

cmd_start() {
  check_binaries
  mkdir -p "$RUN_DIR"
  refuse_if_running
  local started spec bin name rest failed took
  started=$(now_ms)
  for spec in "${PROGRAMS[@]}"; do
    read -r bin name rest <<<"$spec"
    : >"$RUN_DIR/$bin.log"
    # Its own session, so a Ctrl-C in this terminal later does not reach it;
    # the pid file is written by the process that then becomes the program.
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$RUN_DIR/$bin.pid" "$SHOP_BIN_DIR/$bin" \
      </dev/null >>"$RUN_DIR/$bin.log" 2>&1 &
  done
  # Each pid file appears as soon as its launcher runs.
  for spec in "${PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    while [ ! -s "$RUN_DIR/$bin.pid" ] && [ $(( $(now_ms) - started )) -lt 5000 ]; do sleep 0.01; done
  done
  failed=$(wait_healthy $((started + START_TIMEOUT_S * 1000)))
  if [ -n "$failed" ]; then
    bin=${failed%% *}
    echo "runner: $failed; last lines of $RUN_DIR/$bin.log:" >&2
    tail -n 20 "$RUN_DIR/$bin.log" >&2
    stop_all >/dev/null
    echo "runner: stopped the others" >&2
    exit 1
  fi
  took=$(( $(now_ms) - started ))
  say "healthy in $((took / 1000)).$(printf '%03d' $((took % 1000))) s: gateway http://127.0.0.1:$SHOP_PORT_BASE (data $SHOP_DATA_DIR, logs and pids $RUN_DIR); 'make stop' stops it"
}

cmd_run() {
  check_binaries
  mkdir -p "$RUN_DIR"
  refuse_if_running
  local spec bin name rest pids=() started healthy=0 took n_alive pid
  started=$(now_ms)
  stopping=0
  trap 'stopping=1' INT TERM
  for spec in "${PROGRAMS[@]}"; do
    read -r bin name rest <<<"$spec"
    # The prefixer ignores Ctrl-C so it prints the program's last lines; it
    # ends when the program closes its output.
    "$SHOP_BIN_DIR/$bin" </dev/null > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
    pids+=("$!")
    echo "$!" >"$RUN_DIR/$bin.pid"
  done
  while [ "$stopping" = 0 ]; do
    n_alive=0
    for pid in "${pids[@]}"; do alive "$pid" && n_alive=$((n_alive + 1)); done
    if [ "$n_alive" -lt "${#pids[@]}" ]; then
      sleep 0.2 # a Ctrl-C reaches the programs too; let its trap run first
      [ "$stopping" = 0 ] && echo "[runner] a program exited; stopping the others" >&2
      break
    fi
    if [ "$healthy" = 0 ] && [ "$(http_status "$SHOP_PORT_BASE" /health)" = 200 ]; then
      healthy=1
      took=$(( $(now_ms) - started ))
      echo "[runner] healthy in $((took / 1000)).$(printf '%03d' $((took % 1000))) s: gateway http://127.0.0.1:$SHOP_PORT_BASE (Ctrl-C stops all)"
    fi
    sleep 0.2 &
    wait $! 2>/dev/null
  done
  trap '' INT TERM
  echo "[runner] stopping"
  stop_all >/dev/null
  wait 2>/dev/null
  echo "[runner] stopped"
}

case "${1:-}" in
  run) cmd_run ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 run|start|stop|status" >&2; exit 2 ;;
esac
