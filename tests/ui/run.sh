#!/usr/bin/env bash
# The UI checks (make lint-openapi, make test-ui).
#   tests/ui/run.sh lint   @redocly/cli lints docs/openapi.yaml; any
#                          warning fails too
#   tests/ui/run.sh test   starts a stack of its own (deploy/runner.sh on a
#                          free SHOP_PORT_BASE, a fresh SHOP_DATA_DIR), drives
#                          Debian's chromium with playwright-core through
#                          the console and /docs (console.test.mjs), stops
#                          the stack again, also on failure
# npm packages come from tests/ui/package-lock.json (`npm ci`, only when
# node_modules does not match it); chromium is installed with apt when
# missing. Environment: SHOP_BIN_DIR (build/bin), UI_SHOT_DIR (build/ui:
# screenshots, and the stack's logs when a check fails), CHROMIUM
# (/usr/bin/chromium), UI_SAGA_WAIT_MS (30000).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

die() { echo "ui: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else command -v sudo >/dev/null || return 1; sudo "$@"; fi
}

# npm ci when node_modules is not what the committed lock file says.
npm_ready() {
  command -v npm >/dev/null || die "npm is missing (Node.js >= 20.19 with npm)"
  if ! cmp -s "$here/package-lock.json" "$here/node_modules/.shop-lock.json"; then
    echo "ui: npm ci in tests/ui"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$here/package-lock.json" "$here/node_modules/.shop-lock.json"
  fi
}

chromium_ready() {
  CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
  [ -x "$CHROMIUM" ] && return 0
  echo "ui: $CHROMIUM is missing; installing Debian's chromium"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null ||
    { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null; } ||
    die "could not install chromium (apt-get install chromium, as root)"
  [ -x "$CHROMIUM" ] || die "$CHROMIUM is still missing after installing chromium"
  export CHROMIUM
}

cmd_lint() {
  npm_ready
  local out rc=0
  out=$(cd "$here" && node_modules/.bin/redocly lint --config redocly.yaml ../../docs/openapi.yaml 2>&1) || rc=$?
  # The CLI's own notices (Node.js support, updates) are boxed; drop them.
  grep -v '[╔║╚]' <<<"$out" || true
  [ "$rc" = 0 ] || die "redocly lint failed"
  if grep -Eq 'You have [0-9]+ warnings?' <<<"$out"; then die "redocly lint warned: fix the document"; fi
  echo "ui: docs/openapi.yaml lints clean"
}

# True when nothing listens on 127.0.0.1:port.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A SHOP_PORT_BASE whose seven ports are free, away from the usual 8080
# and below Linux's ephemeral range (32768..), where outgoing connections
# (other tests' clients) take ports at random.
pick_port_base() {
  local try base p ok
  for try in $(seq 1 50); do
    base=$((10000 + (RANDOM % 2200) * 10))
    ok=1
    for p in $(seq "$base" $((base + 6))); do port_free "$p" || { ok=0; break; }; done
    [ "$ok" = 1 ] && { echo "$base"; return 0; }
  done
  return 1
}

cmd_test() {
  npm_ready
  chromium_ready
  shots=${UI_SHOT_DIR:-$repo/build/ui} # global, as rc
  mkdir -p "$shots"
  shots=$(cd "$shots" && pwd)
  rm -rf "$shots/logs" # a previous failure's
  SHOP_BIN_DIR=$(cd "${SHOP_BIN_DIR:-$repo/build/bin}" 2>/dev/null && pwd) ||
    die "no binaries in ${SHOP_BIN_DIR:-build/bin}: run make first"
  SHOP_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/shop-ui.XXXXXX")
  export SHOP_BIN_DIR SHOP_DATA_DIR
  # The runner's defaults (seed data, tokens) for the rest.
  unset SHOP_SEED SHOP_ADMIN_TOKEN SHOP_INTERNAL_TOKEN MAKELEVEL

  rc=0 # global: the EXIT trap reads it after cmd_test has returned
  stop_stack() {
    "$repo/deploy/runner.sh" stop >/dev/null 2>&1 || true
    if [ "$rc" != 0 ] && [ -d "$SHOP_DATA_DIR/run" ]; then
      rm -rf "$shots/logs"
      cp -r "$SHOP_DATA_DIR/run" "$shots/logs" 2>/dev/null || true
      echo "ui: the stack's logs are in $shots/logs" >&2
    fi
    rm -rf "$SHOP_DATA_DIR"
  }
  trap 'stop_stack' EXIT
  trap 'rc=130; exit 130' INT TERM

  # A port can still be taken between the check and the start: then again,
  # on other ports with a fresh data dir.
  local attempt
  for attempt in 1 2 3; do
    SHOP_PORT_BASE=$(pick_port_base) || { rc=1; die "found no 7 free ports in a row"; }
    export SHOP_PORT_BASE
    "$repo/deploy/runner.sh" start && break
    [ "$attempt" = 3 ] && { rc=1; die "the stack did not start"; }
    rm -rf "$SHOP_DATA_DIR" && mkdir -p "$SHOP_DATA_DIR"
  done
  # Its output is also kept in $shots/console.test.log.
  set +e
  SHOP_URL=http://127.0.0.1:$SHOP_PORT_BASE UI_SHOT_DIR=$shots CHROMIUM=$CHROMIUM \
    node "$here/console.test.mjs" 2>&1 | tee "$shots/console.test.log"
  rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

case "${1:-}" in
  lint) cmd_lint ;;
  test) cmd_test ;;
  *) echo "usage: $0 lint|test" >&2; exit 2 ;;
esac
