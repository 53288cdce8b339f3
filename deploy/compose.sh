#!/usr/bin/env bash
# Shop under docker-compose, for `make up` / `make down` and tests/compose.
#   deploy/compose.sh docker   install docker.io and docker-compose from Debian
#                              when missing, start dockerd when none answers
#                              (root; dockerd's log: /var/log/shop-dockerd.log)
#   deploy/compose.sh build    build shop:local, keep the build stage's cache
#                              (tagged shop:build-cache) and remove superseded
#                              builds (dangling images labelled org.shop.image)
#   deploy/compose.sh up       `docker`, the base image if missing
#                              (deploy/base-image.sh), `build`, then `up -d`
#                              and wait until every service is healthy
#   deploy/compose.sh wait     wait until every service is healthy
#   deploy/compose.sh down     stop and remove the containers; the volumes
#                              (the databases) stay: `down -v` drops them
#   deploy/compose.sh run ARGS any compose command (`run ps`, `run logs item-service`)
# Compose: $COMPOSE when set (e.g. "docker compose"), else docker-compose
# (1.29, Debian), else `docker compose` (v2). The project is compose's own
# default ("deploy", the compose file's folder) unless COMPOSE_PROJECT_NAME
# says otherwise. SHOP_UP_TIMEOUT_S (180) bounds the waits.
set -euo pipefail
cd "$(dirname "$0")/.."

export COMPOSE_FILE=${COMPOSE_FILE:-deploy/docker-compose.yml}
UP_TIMEOUT_S=${SHOP_UP_TIMEOUT_S:-180}

say() { echo "compose: $*"; }
die() { echo "compose: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

apt_install() {
  [ "$(id -u)" = 0 ] || die "not root: install $* yourself (apt-get install $*)"
  say "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; } ||
    die "apt-get install $* failed"
}

# The compose command, as an array in COMPOSE_CMD.
pick_compose() {
  if [ -n "${COMPOSE:-}" ]; then
    read -r -a COMPOSE_CMD <<<"$COMPOSE"
  elif command -v docker-compose >/dev/null; then
    COMPOSE_CMD=(docker-compose)
  elif docker compose version >/dev/null 2>&1; then
    COMPOSE_CMD=(docker compose)
  else
    return 1
  fi
}
compose() { "${COMPOSE_CMD[@]}" "$@"; }

ensure_docker() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  pick_compose || missing+=(docker-compose)
  [ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"
  pick_compose || die "no docker-compose after installing it"
  if ! timeout 10 docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "no Docker engine answers, and starting dockerd needs root"
    pgrep -x dockerd >/dev/null && die "dockerd runs but does not answer (see /var/log/shop-dockerd.log)"
    say "starting dockerd (log: /var/log/shop-dockerd.log)"
    # Its own session, no inherited descriptors: CI must not wait on it.
    setsid dockerd >/var/log/shop-dockerd.log 2>&1 </dev/null &
    local _i
    for _i in $(seq 1 60); do
      timeout 5 docker info >/dev/null 2>&1 && return 0
      sleep 0.5
    done
    tail -n 20 /var/log/shop-dockerd.log >&2
    die "dockerd did not answer within 30 s"
  fi
}

# Waits until every service of the file has a running, healthy container.
wait_healthy() {
  local want deadline=$(( $(now_ms) + UP_TIMEOUT_S * 1000 )) ids st healthy id
  want=$(compose config --services | wc -l)
  while :; do
    healthy=0
    ids=$(compose ps -q 2>/dev/null || true)
    for id in $ids; do
      st=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || true)
      [ "$st" = running/healthy ] && healthy=$((healthy + 1))
    done
    [ "$healthy" = "$want" ] && return 0
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "compose: $healthy of $want services healthy after ${UP_TIMEOUT_S} s" >&2
      compose ps >&2 || true
      compose logs --no-color --tail=20 >&2 || true
      return 1
    fi
    sleep 0.25
  done
}

# Builds shop:local. The legacy builder (1.29, or no buildx) keeps old builds
# as dangling images, some 60 MB each: the build stage is tagged so that its
# cache (the -dev packages) survives, then the dangling ones of this
# Dockerfile go.
build() {
  local args=()  # --force-rm: else 1.29 leaves the container of a failed step
  case "$(compose version --short 2>/dev/null || true)" in 1.*) args=(--force-rm) ;; esac
  timeout 1200 "${COMPOSE_CMD[@]}" build "${args[@]}" "$@"
  if docker build -q --target build -t shop:build-cache -f deploy/Dockerfile . >/dev/null 2>&1; then
    docker image prune -f --filter label=org.shop.image >/dev/null 2>&1 || true
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  docker)
    ensure_docker ;;
  build)
    ensure_docker
    deploy/base-image.sh
    build "$@" ;;
  up)
    ensure_docker
    deploy/base-image.sh
    t0=$(now_ms)
    build
    timeout "$UP_TIMEOUT_S" "${COMPOSE_CMD[@]}" up -d "$@"
    wait_healthy
    say "built, started and healthy in $(( ($(now_ms) - t0) / 1000 )) s; gateway: http://127.0.0.1:${GATEWAY_HOST_PORT:-8080}"
    ;;
  wait)
    pick_compose || die "no docker-compose"
    wait_healthy ;;
  down)
    pick_compose || die "no docker-compose"
    exec timeout "$UP_TIMEOUT_S" "${COMPOSE_CMD[@]}" down "$@" ;;
  run)
    # exec: a `timeout` around this script then stops compose itself.
    pick_compose || die "no docker-compose"
    exec "${COMPOSE_CMD[@]}" "$@" ;;
  *)
    echo "usage: $0 docker|build|up|wait|down|run ARGS" >&2; exit 2 ;;
esac
