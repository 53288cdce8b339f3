#!/usr/bin/env bash
# Build and test dependencies of Shop, from Debian/Ubuntu packages.
#   deploy/deps.sh check    exit 0 when every header and library is there
#   deploy/deps.sh install  apt-get install them (as root, or through sudo)
set -eu
PACKAGES="build-essential pkg-config libcivetweb-dev libcjson-dev libcurl4-openssl-dev libsqlite3-dev check curl"

check() {
  local cc=${CC:-cc}
  command -v "$cc" >/dev/null && command -v pkg-config >/dev/null || return 1
  for h in civetweb.h cjson/cJSON.h curl/curl.h sqlite3.h check.h; do
    printf '#include <%s>\n' "$h" | "$cc" -E -x c - >/dev/null 2>&1 || { echo "missing header: $h"; return 1; }
  done
  printf 'int main(void){return 0;}\n' | "$cc" -x c - -o /dev/null -lcivetweb -lcurl -lsqlite3 -lcjson \
    >/dev/null 2>&1 || { echo "missing libraries"; return 1; }
  command -v curl >/dev/null || { echo "missing curl"; return 1; }
}

install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: not root and no sudo; install: $PACKAGES" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "deps.sh: installing $PACKAGES"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES
}

case "${1:-check}" in
  check) check ;;
  install) install ;;
  *) echo "usage: $0 check|install" >&2; exit 2 ;;
esac
