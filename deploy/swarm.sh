#!/usr/bin/env bash
# Shop on a Docker Swarm (deploy/docker-stack.yml), for `make swarm-up` /
# `make swarm-down` and tests/swarm.
#   deploy/swarm.sh up        Docker (deploy/compose.sh docker); a single-node
#                             swarm when the engine is in none (advertising
#                             127.0.0.1 unless SHOP_SWARM_ADVERTISE_ADDR says
#                             otherwise); the data label on this node when no
#                             node has it; shop:local when missing
#                             (deploy/compose.sh build; SHOP_SWARM_BUILD=1
#                             builds it anyway); the two token secrets; `docker
#                             stack deploy`; then waits until every service
#                             has its replicas running and healthy
#   deploy/swarm.sh wait      that wait alone
#   deploy/swarm.sh down [-v] removes what `up` made: the stack (and waits for
#                             its containers to go), its secrets, the data
#                             label if `up` added it, and leaves the swarm if
#                             `up` initialised it and no other service runs in
#                             it. The volumes (the databases) stay; -v drops them.
#   deploy/swarm.sh ps        the stack's services and tasks
# Environment: SHOP_STACK (shop), SHOP_ADMIN_TOKEN (dev-admin-token),
# SHOP_INTERNAL_TOKEN (dev-internal-token), SHOP_DATA_LABEL (true: the value
# of the node label shop.data that pins the SQLite services), SHOP_DATA_NODE
# (the node to label, default this one), SHOP_SWARM_ADVERTISE_ADDR
# (127.0.0.1; the manager then listens on 127.0.0.1:2377 only, give a real
# address to let other nodes join), SHOP_IMAGE (shop:local), GATEWAY_HOST_PORT
# (8080), SHOP_UP_TIMEOUT_S (180) bounds each wait, and whatever
# deploy/docker-stack.yml reads (SHOP_SEED, SHOP_HEALTH_INTERVAL, ...).
#
# What `up` did is kept as labels on the node, so `down` undoes exactly that:
# shop.swarm-up.init=<stack> (it ran `swarm init`), shop.swarm-up.gwbridge=created
# (docker_gwbridge came with it), shop.swarm-up.label=<stack> (it added
# shop.data). Secrets are named <stack>_<admin|internal>_token_<sha256 prefix
# of the value> and labelled org.shop.stack=<stack>: a new token is a new
# secret, and the services roll onto it.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK=${SHOP_STACK:-shop}
STACK_FILE=deploy/docker-stack.yml
UP_TIMEOUT_S=${SHOP_UP_TIMEOUT_S:-180}
GW_PORT=${GATEWAY_HOST_PORT:-8080}
DATA_LABEL=${SHOP_DATA_LABEL:-true}
ADVERTISE=${SHOP_SWARM_ADVERTISE_ADDR:-127.0.0.1}
IMAGE=${SHOP_IMAGE:-shop:local}

say() { echo "swarm: $*"; }
die() { echo "swarm: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
dk() { timeout 120 docker "$@"; }

swarm_state() { dk info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }
self_node() { dk info -f '{{.Swarm.NodeID}}'; }
# The value of label $2 on node $1, empty when it has none.
node_label() { dk node inspect -f "{{index .Spec.Labels \"$2\"}}" "$1" 2>/dev/null || true; }
stack_services() { dk service ls -q --filter "label=com.docker.stack.namespace=$STACK"; }
# The services the stack file declares: the two-space keys under `services:`.
file_services() {
  awk '/^services:/ { on = 1; next } /^[^ #]/ { on = 0 } on && /^  [a-z][a-z0-9-]*:[ ]*$/ { sub(":", ""); print $1 }' "$STACK_FILE"
}

ensure_swarm() {
  local state gw_before=0 listen node
  state=$(swarm_state)
  case "$state" in
    active)
      [ "$(dk info -f '{{.Swarm.ControlAvailable}}')" = true ] ||
        die "this engine is a swarm worker: run swarm-up on a manager" ;;
    inactive)
      dk network inspect docker_gwbridge >/dev/null 2>&1 && gw_before=1
      listen=0.0.0.0:2377
      case "$ADVERTISE" in 127.*) listen=$ADVERTISE:2377 ;; esac
      say "docker swarm init --advertise-addr $ADVERTISE --listen-addr $listen"
      dk swarm init --advertise-addr "$ADVERTISE" --listen-addr "$listen" >/dev/null
      node=$(self_node)
      dk node update --label-add "shop.swarm-up.init=$STACK" >/dev/null "$node"
      [ "$gw_before" = 1 ] || dk node update --label-add shop.swarm-up.gwbridge=created "$node" >/dev/null ;;
    *)
      die "the engine's swarm state is '$state': sort it out first (docker info, docker swarm leave)" ;;
  esac
}

ensure_label() {
  local labelled node
  labelled=$(dk node ls -q --filter "node.label=shop.data=$DATA_LABEL")
  if [ "$(echo "$labelled" | grep -c .)" -gt 1 ]; then
    say "warning: $(echo "$labelled" | grep -c .) nodes carry shop.data=$DATA_LABEL: a SQLite service moved to another of them starts on an empty volume"
  fi
  if [ -n "$labelled" ]; then
    say "data node: $(echo "$labelled" | xargs docker node inspect -f '{{.Description.Hostname}}' | tr '\n' ' ')(shop.data=$DATA_LABEL)"
    return 0
  fi
  node=${SHOP_DATA_NODE:-$(self_node)}
  dk node update --label-add "shop.data=$DATA_LABEL" --label-add "shop.swarm-up.label=$STACK" "$node" >/dev/null
  say "labelled node $(dk node inspect -f '{{.Description.Hostname}}' "$node") shop.data=$DATA_LABEL"
}

# Creates the secret of one token when missing; prints its name.
ensure_secret() { # kind value
  local name
  name="${STACK}_$1_token_$(printf %s "$2" | sha256sum | cut -c1-12)"
  if ! dk secret inspect "$name" >/dev/null 2>&1; then
    printf %s "$2" | dk secret create --label "org.shop.stack=$STACK" "$name" - >/dev/null
  fi
  echo "$name"
}

# Secrets of this stack that no service uses any more (an earlier token).
prune_secrets() {
  local s
  for s in $(dk secret ls -q --filter "label=org.shop.stack=$STACK"); do
    case " $* " in *" $(dk secret inspect -f '{{.Spec.Name}}' "$s") "*) continue ;; esac
    dk secret rm "$s" >/dev/null 2>&1 || true
  done
}

# Every service of the file has all its replicas running and healthy (a task
# with a health check counts as running only once healthy), no update under
# way, and the gateway's /health (which asks every upstream) answers 200.
wait_healthy() {
  local deadline=$(( $(now_ms) + UP_TIMEOUT_S * 1000 )) want ready name reps upd pending ids
  local -A update
  want=$(file_services | wc -l)
  while :; do
    ready=0 pending=
    # Update states of all the stack's services in one call: name -> state.
    update=()
    ids=$(stack_services 2>/dev/null || true)
    if [ -n "$ids" ]; then
      while read -r name upd; do
        [ -n "$name" ] && update[$name]=$upd
      done < <(echo "$ids" | xargs timeout 60 docker service inspect \
                 -f '{{.Spec.Name}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' 2>/dev/null || true)
    fi
    while read -r name reps _; do
      [ -n "$name" ] || continue
      upd=${update[$name]:-}
      case "$upd" in paused|rollback_paused)
        dk service inspect -f '{{.UpdateStatus.Message}}' "$name" >&2 || true
        die "$name: update $upd" ;;
      esac
      if [ "${reps%%/*}" = "${reps##*/}" ] && [ "${reps##*/}" -gt 0 ] 2>/dev/null &&
         [ "$upd" != updating ] && [ "$upd" != rollback_started ]; then
        ready=$((ready + 1))
      else
        pending="$pending $name($reps${upd:+ $upd})"
      fi
    done < <(dk service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}} {{.Replicas}}' 2>/dev/null || true)
    if [ "$ready" = "$want" ] &&
       [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$GW_PORT/health" || true)" = 200 ]; then
      return 0
    fi
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "swarm: $ready of $want services ready after ${UP_TIMEOUT_S} s; waiting for:${pending:- the /health of the gateway}" >&2
      dk stack ps --no-trunc "$STACK" >&2 || true
      return 1
    fi
    sleep 0.25
  done
}

up() {
  local t0 t_deploy admin_secret internal_secret resolve=never
  deploy/compose.sh docker
  t0=$(now_ms)
  ensure_swarm
  ensure_label
  if [ -n "${SHOP_IMAGE:-}" ]; then
    resolve=always   # a registry image: every node pulls the same digest
  elif [ "${SHOP_SWARM_BUILD:-0}" = 1 ] || ! dk image inspect "$IMAGE" >/dev/null 2>&1; then
    say "building $IMAGE (deploy/compose.sh build)"
    deploy/compose.sh build
  fi
  admin_secret=$(ensure_secret admin "${SHOP_ADMIN_TOKEN:-dev-admin-token}")
  internal_secret=$(ensure_secret internal "${SHOP_INTERNAL_TOKEN:-dev-internal-token}")
  t_deploy=$(now_ms)
  SHOP_ADMIN_SECRET=$admin_secret SHOP_INTERNAL_SECRET=$internal_secret \
    dk stack deploy --prune --resolve-image "$resolve" -c "$STACK_FILE" "$STACK"
  prune_secrets "$admin_secret" "$internal_secret"
  wait_healthy
  say "stack $STACK: $(file_services | wc -l) services healthy $(secs $(( $(now_ms) - t_deploy ))) after deploy ($(secs $(( $(now_ms) - t0 ))) in all); gateway: http://127.0.0.1:$GW_PORT"
}

down() {
  local drop_volumes=0 deadline node left v
  [ "${1:-}" = -v ] && drop_volumes=1
  case "$(swarm_state)" in
    active) ;;
    *) say "the engine is in no swarm: nothing to remove"; return 0 ;;
  esac
  if [ -n "$(stack_services)" ]; then
    dk stack rm "$STACK" >/dev/null
  fi
  # stack rm returns at once; its containers and network go afterwards.
  deadline=$(( $(now_ms) + UP_TIMEOUT_S * 1000 ))
  while [ -n "$(dk ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] ||
        dk network inspect "${STACK}_net" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || die "containers or network of stack $STACK still there after ${UP_TIMEOUT_S} s"
    sleep 0.25
  done
  for v in $(dk secret ls -q --filter "label=org.shop.stack=$STACK"); do
    dk secret rm "$v" >/dev/null || true
  done
  if [ "$drop_volumes" = 1 ]; then
    # stack deploy labels the volumes it creates with the stack's name.
    for v in $(dk volume ls -q --filter "label=com.docker.stack.namespace=$STACK"); do
      dk volume rm "$v" >/dev/null || true
    done
  fi
  left=$(dk service ls -q | wc -l)
  for node in $(dk node ls -q --filter "node.label=shop.swarm-up.label=$STACK"); do
    if [ "$left" = 0 ]; then
      dk node update --label-rm shop.data --label-rm shop.swarm-up.label "$node" >/dev/null
    else
      say "other services run in this swarm: the label shop.data stays"
    fi
  done
  node=$(self_node)
  if [ "$(node_label "$node" shop.swarm-up.init)" = "$STACK" ]; then
    if [ "$left" = 0 ]; then
      local gw
      gw=$(node_label "$node" shop.swarm-up.gwbridge)
      dk swarm leave --force >/dev/null
      if [ "$gw" = created ] && [ -z "$(dk network inspect -f '{{range .Containers}}x{{end}}' docker_gwbridge 2>/dev/null)" ]; then
        dk network rm docker_gwbridge >/dev/null 2>&1 || true
      fi
      say "left the swarm that swarm-up had initialised"
    else
      say "$left other services run in this swarm: it stays"
    fi
  fi
  say "stack $STACK removed$([ "$drop_volumes" = 1 ] && echo ", volumes too" || echo "; its volumes (the databases) stay")"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up ;;
  wait) wait_healthy ;;
  down) down "$@" ;;
  ps)
    dk stack services "$STACK"
    dk stack ps "$STACK" ;;
  *)
    echo "usage: $0 up|wait|down [-v]|ps" >&2; exit 2 ;;
esac
