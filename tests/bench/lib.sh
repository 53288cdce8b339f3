# Helpers shared by tests/bench/bench.sh and tests/bench/metrics_test.sh
# (sourced, not run): Debian packages installed when missing, a stack of our
# own on a free port base with a fresh data directory, and its teardown.
# The caller sets ROOT and BIN and calls stack_stop from its EXIT trap.

# shellcheck shell=bash

# binary  short name  port offset (as deploy/runner.sh)
BENCH_PROGRAMS=(
  "api-gateway gateway 0"
  "item-service item 1"
  "user-service user 2"
  "coupon-service coupon 3"
  "order-service order 4"
  "payment-service payment 5"
  "data-platform data-platform 6"
)

# Installs Debian package pkg unless command cmd is found (also looked for
# in /usr/sbin and /sbin, which a non-root PATH may lack), saying so. As root
# or through sudo. Services a package would start at install (nginx,
# prometheus) are kept from starting by a policy-rc.d of our own while it
# runs (removed afterwards; an existing one is left alone). Prints the path
# of cmd. Returns 1 when it cannot be had.
need_tool() {
  local cmd=$1 pkg=$2 sudo="" made_policy=0 path
  path=$(PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" 2>/dev/null) && { echo "$path"; return 0; }
  echo "$cmd is missing: installing the Debian package $pkg (apt-get install, as root)" >&2
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "not root and no sudo: install $pkg yourself" >&2; return 1; }
    sudo=sudo
  fi
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null &&
      $sudo chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >&2
  local rc=$?
  [ "$made_policy" = 1 ] && $sudo rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { echo "apt-get install $pkg failed" >&2; return 1; }
  PATH=$PATH:/usr/sbin:/sbin command -v "$cmd"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The first base of first, first+10, ... (100 tries) whose base..base+7 are
# free (+7: a spare port for nginx). Prints it; returns 1 when none is.
free_port_base() {
  local b p busy
  for b in $(seq "$1" 10 $(($1 + 990))); do
    busy=0
    for p in $(seq "$b" $((b + 7))); do
      if port_busy "$p"; then busy=1; break; fi
    done
    [ "$busy" = 0 ] && { echo "$b"; return 0; }
  done
  return 1
}

STACK_STARTED=0

# Starts the seven programs of BIN with deploy/runner.sh on port base $1 and
# data directory $2 (created). Extra environment comes from the caller.
stack_start() {
  export SHOP_PORT_BASE=$1 SHOP_DATA_DIR=$2 SHOP_BIN_DIR=$BIN
  export SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
  export SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
  mkdir -p "$SHOP_DATA_DIR"
  STACK_STARTED=1
  "$ROOT/deploy/runner.sh" start
}

stack_stop() {
  [ "$STACK_STARTED" = 1 ] || return 0
  "$ROOT/deploy/runner.sh" stop >/dev/null 2>&1
  STACK_STARTED=0
}

# The pid of program bin in the running stack ("" when none).
stack_pid() { cat "$SHOP_DATA_DIR/run/$1.pid" 2>/dev/null; }

# The port of program bin in the running stack.
stack_port() {
  local spec bin offset
  for spec in "${BENCH_PROGRAMS[@]}"; do
    read -r bin _ offset <<<"$spec"
    [ "$bin" = "$1" ] && { echo $((SHOP_PORT_BASE + offset)); return 0; }
  done
  return 1
}
