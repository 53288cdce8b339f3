#!/usr/bin/env bash
# `make test-swarm`: the shop on a single-node Docker Swarm
# (deploy/docker-stack.yml through deploy/swarm.sh), as its own stack
# ("swarmtest", fresh volumes).
#  1. Docker and the base image as for tests/compose; shop:local built (the
#     compose build); shop-load and shop-audit from SHOP_BIN_DIR (build/bin).
#  2. deploy/swarm.sh up: a swarm when the engine is in none, the data label,
#     the token secrets, deploy, wait for health (timed).
#  3. Through the gateway (the only published port): the seed's success and
#     failure flows with their exact numbers; then from a tools container on
#     the stack's overlay network, one curl per service by its name (none of
#     them is published), and a check that the tokens came as secret files.
#  4. shop-load, 16 clients for 30 s, while `docker service update --force`
#     rolls the gateway; then shop-audit. Probes GET /api/items/1 and
#     /api/orders/<seed order> every 50 ms and report the longest window
#     without a 200.
#  5. The same while the order-service program is killed with kill -9 (Swarm
#     starts a new task, with a new address); then shop-audit.
#     Pass: shop-load's exit 0 with 0 failed and 0 unexpected answers, and
#     0 audit violations, in both.
#  6. deploy/swarm.sh down -v (the swarm is left if step 2 joined it). On any
#     failure (trap): services' last log lines, then the same cleanup.
# shop-audit only talks to loopback URLs and coupon-service and the data
# platform are published nowhere: it runs from the host in the tools
# container's network namespace (nsenter), where 127.0.0.1:18080/18083/18086
# are forwarded (iptables DNAT) to the gateway, coupon-service and data
# platform on the overlay network. Root needed (as for dockerd and nsenter).
# Environment: SHOP_BIN_DIR (build/bin), SHOP_TEST_STACK (swarmtest),
# SWARM_CLIENTS (16), SWARM_SECONDS (30), SWARM_MIX (shop-load's default
# without `gets`, see below), SWARM_ATTEMPTS (20, see below),
# SWARM_DISRUPT_AFTER_S (8: into the load),
# SHOP_UP_TIMEOUT_S (180), SHOP_TEST_BUILD=0 (use the shop:local there),
# GATEWAY_HOST_PORT (8080).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

export SHOP_STACK=${SHOP_TEST_STACK:-swarmtest}
STACK=$SHOP_STACK
export SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
export SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
export SHOP_SEED=1
# Settings that would change what the flows expect take their defaults.
unset SHOP_CALL_TIMEOUT_MS SHOP_CONNECT_TIMEOUT_MS SHOP_SAGA_DEADLINE_MS \
  ORDER_PAYMENT_TTL_S DATA_PLATFORM_FAIL_RATE DATA_PLATFORM_DELAY_MS SHOP_IMAGE
BIN=${SHOP_BIN_DIR:-build/bin}
case "$BIN" in /*) ;; *) BIN=$ROOT/$BIN ;; esac
CLIENTS=${SWARM_CLIENTS:-16}
# shop-load's default mix without its `gets` flow: the reads are watched by
# the probes instead, which time the gaps a rolling update or a kill leaves.
MIX=${SWARM_MIX:-order_pay=25,coupon_order_pay=15,scarce=5,insufficient=5,cancel=10,charge=10,issue_race=10}
# Attempts per request: a saga cut by the kill keeps its Idempotency-Key
# IN_PROGRESS until recovery or the settler finishes it, the saga deadline
# (SHOP_SAGA_DEADLINE_MS, 8 s) plus up to one recovery round (2 s) after it
# began: about 10-13 s after the kill. 12 attempts wait 7.6-11.3 s in all,
# so a few such requests ran out (7-10 of ~4,700 in the runs here); 20, now
# shop-load's default, wait at least 15.6 s.
ATTEMPTS=${SWARM_ATTEMPTS:-20}
SECONDS_LOAD=${SWARM_SECONDS:-30}
DISRUPT_AFTER=${SWARM_DISRUPT_AFTER_S:-8}
UP_TIMEOUT_S=${SHOP_UP_TIMEOUT_S:-180}
GW_PORT=${GATEWAY_HOST_PORT:-8080}
GW=127.0.0.1:$GW_PORT
TOOLS=$STACK-tools

now_ms() { date +%s%3N; }
T0=$(now_ms)
step() { printf '== [%5.1fs] %s\n' "$(( $(now_ms) - T0 ))e-3" "$*"; }
ok() { echo "   ok: $*"; }
fail() { echo "test-swarm: FAIL: $*" >&2; exit 1; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
dk() { timeout 120 docker "$@"; }

WORK=$(mktemp -d /tmp/shop-test-swarm.XXXXXX)
LOG=$WORK/output.log
quiet() {
  "$@" >>"$LOG" 2>&1 || { local rc=$?; tail -n 40 "$LOG" >&2; return "$rc"; }
}

STARTED=0
PIDS=()
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  docker rm -f "$TOOLS" >/dev/null 2>&1 || true
  if [ "$STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      echo "--- stack $STACK" >&2
      timeout 30 docker stack ps --no-trunc "$STACK" >&2 || true
      for s in $(timeout 30 docker service ls -q --filter "label=com.docker.stack.namespace=$STACK" 2>/dev/null); do
        echo "--- $(docker service inspect -f '{{.Spec.Name}}' "$s" 2>/dev/null), last lines" >&2
        timeout 30 docker service logs --no-task-ids --tail 15 "$s" >&2 2>&1 || true
      done
    fi
    timeout 300 deploy/swarm.sh down -v >>"$LOG" 2>&1 ||
      echo "test-swarm: could not remove stack $STACK (deploy/swarm.sh down -v)" >&2
  fi
  if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "test-swarm: failed (exit $rc); outputs in $WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Docker, tools, image ----------------------------------------------------
step "Docker engine, tools"
deploy/compose.sh docker
[ "$(id -u)" = 0 ] || fail "root needed (nsenter and iptables for the audit)"
for tool in curl jq nsenter iptables; do
  command -v "$tool" >/dev/null && continue
  pkg=$tool
  case "$tool" in nsenter) pkg=util-linux ;; esac
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null; } ||
    fail "cannot install $pkg"
done
for t in shop-load shop-audit; do
  [ -x "$BIN/$t" ] || fail "$BIN/$t is missing: make all (or SHOP_BIN_DIR)"
done
echo "   docker $(docker version -f '{{.Client.Version}} (engine {{.Server.Version}})')"

step "base image"
deploy/base-image.sh

# A stack left by an interrupted run goes first; then the gateway's port must be free.
STARTED=1
timeout 300 deploy/swarm.sh down -v >>"$LOG" 2>&1 || true
if curl -s -o /dev/null --max-time 1 "http://$GW/" 2>/dev/null ||
   { command -v ss >/dev/null && ss -Htln "sport = :$GW_PORT" | grep -q .; }; then
  fail "port $GW_PORT is in use: stop what holds it (make stop / make down / make swarm-down), or set GATEWAY_HOST_PORT"
fi

step "build shop:local"
t=$(now_ms)
if [ "${SHOP_TEST_BUILD:-1}" = 0 ] && docker image inspect shop:local >/dev/null 2>&1; then
  echo "   SHOP_TEST_BUILD=0: the shop:local there is used as it is"
else
  quiet deploy/compose.sh build
fi
ok "built in $(secs $(( $(now_ms) - t )))"

# --- 2. up -----------------------------------------------------------------------
step "deploy/swarm.sh up (stack $STACK)"
was_swarm=$(docker info -f '{{.Swarm.LocalNodeState}}')
t=$(now_ms)
SHOP_UP_TIMEOUT_S=$UP_TIMEOUT_S deploy/swarm.sh up 2>&1 | tee -a "$LOG" | grep '^swarm:' | sed 's/^/   /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "deploy/swarm.sh up failed"
UP_MS=$(( $(now_ms) - t ))
ok "swarm $was_swarm before; 7 services healthy $(secs $UP_MS) after swarm-up started"

# --- HTTP helpers (as in tests/compose/run.sh) -------------------------------------
# req METHOD URL [BODY] [HEADER...]: sets STATUS and BODY.
req() {
  local method=$1 url=$2 data=${3:-} out
  shift 3 2>/dev/null || shift $#
  out=$(mktemp)
  local args=(-s -o "$out" -w '%{http_code}' --max-time 20 -X "$method" -H 'Content-Type: application/json')
  [ -n "$data" ] && args+=(--data "$data")
  local h
  for h in "$@"; do args+=(-H "$h"); done
  STATUS=$(curl "${args[@]}" "$url" || echo 000)
  BODY=$(cat "$out")
  rm -f "$out"
}
admin() { req "$1" "http://$GW$2" "${3:-}" "X-Admin-Token: $SHOP_ADMIN_TOKEN"; }
api() { req "$1" "http://$GW$2" "${3:-}"; }
field() { jq -r "$1" <<<"$BODY"; }
expect_status() { # want what
  [ "$STATUS" = "$1" ] || fail "$2: HTTP $STATUS, want $1: $BODY"
}
expect_field() { # jq-path want what
  local got
  got=$(field "$1")
  [ "$got" = "$2" ] || fail "$3: $1 is $got, want $2 ($BODY)"
}

# --- 3. seed flows, each service on the overlay network ------------------------------
step "seed flows through the gateway on $GW"
api GET /api/users/1/balance; expect_status 200 "balance of user 1"
expect_field .balance 1000000 "seed user 1 balance"
api POST /api/orders '{"userId":1,"items":[{"itemId":1,"quantity":2}],"userCouponId":1}'
expect_status 201 "order of user 1"
expect_field .status CREATED "order of user 1"
expect_field .totalAmount 100000 "order of user 1"
expect_field .discountAmount 5000 "order of user 1"
expect_field .finalAmount 95000 "order of user 1"
SEED_ORDER=$(field .id)
api POST /api/payments "{\"orderId\":$SEED_ORDER,\"userId\":1}"
expect_status 201 "payment of order $SEED_ORDER"
expect_field .status COMPLETED "payment of order $SEED_ORDER"
expect_field .amount 95000 "payment of order $SEED_ORDER"
SEED_PAYMENT=$(field .id)
api GET /api/users/1/balance; expect_field .balance 905000 "seed user 1 balance after paying"
api GET /api/items/1; expect_field .stock 8 "seed item 1 stock after the order"
api GET "/api/orders/$SEED_ORDER"; expect_field .status PAID "order $SEED_ORDER after payment"
deadline=$(( $(now_ms) + 20000 ))
while :; do
  api GET "/api/payments/$SEED_PAYMENT"
  [ "$(field .delivery.status)" = DELIVERED ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "payment $SEED_PAYMENT not delivered to the data platform within 20 s: $BODY"
  sleep 0.25
done
ok "user 1: order $SEED_ORDER of 2 x item 1 with coupon 1 = 95000, paid (payment $SEED_PAYMENT, delivered), balance 905000, stock 8"

api GET /api/items/3; expect_status 200 "item 3"; stock3=$(field .stock)
api POST /api/orders '{"userId":2,"items":[{"itemId":3,"quantity":1}],"userCouponId":2}'
expect_status 201 "order of user 2"
FAIL_ORDER=$(field .id)
api GET /api/items/3; expect_field .stock "$(( stock3 - 1 ))" "stock of item 3 while ordered"
api POST /api/payments "{\"orderId\":$FAIL_ORDER,\"userId\":2}"
expect_status 402 "payment of order $FAIL_ORDER by user 2"
expect_field .code INSUFFICIENT_BALANCE "payment of order $FAIL_ORDER"
api GET "/api/orders/$FAIL_ORDER"; expect_field .status CANCELLED "order $FAIL_ORDER after the failed payment"
api GET /api/items/3; expect_field .stock "$stock3" "stock of item 3 after the cancel"
api GET /api/users/2/coupons; expect_status 200 "coupons of user 2"
expect_field '[.coupons[] | select(.id == 2) | .isUsed][0]' false "coupon 2 after the cancel"
ok "user 2: order $FAIL_ORDER, pay 402 INSUFFICIENT_BALANCE, order CANCELLED, stock $stock3 again, coupon 2 unused"

admin GET /api/admin/users; expect_status 200 "admin route with the admin token (from its secret)"
req GET "http://$GW/api/admin/users" "" "X-Admin-Token: not-$SHOP_ADMIN_TOKEN"
expect_status 401 "admin route with a wrong token"
ok "admin token from its secret: 200 with it, 401 without"

step "each service by name on the overlay network ${STACK}_net (a tools container)"
dk run -d --rm --name "$TOOLS" --network "${STACK}_net" shop:local sleep 3600 >/dev/null
in_tools() { dk exec "$TOOLS" "$@"; }
for sp in item-service:8081:/items/1 user-service:8082:/users/1/balance coupon-service:8083:/users/1/coupons \
          order-service:8084:/orders/$SEED_ORDER payment-service:8085:/payments/$SEED_PAYMENT \
          data-platform:8086:/orders/$SEED_ORDER api-gateway:8080:/health; do
  IFS=: read -r svc port path <<<"$sp"
  code=$(in_tools curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Internal-Token: $SHOP_INTERNAL_TOKEN" "http://$svc:$port$path" || true)
  [ "$code" = 200 ] || fail "$svc:$port$path from the overlay network: HTTP $code, want 200"
  ip=$(in_tools getent hosts "$svc" | awk '{print $1}' | tr '\n' ' ' || true)
  ok "$svc ($ip) :$port$path -> 200"
done
code=$(in_tools curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://item-service:8081/items/1 || true)
[ "$code" = 401 ] || fail "item-service without X-Internal-Token: HTTP $code, want 401"
ok "item-service without X-Internal-Token -> 401"
published=$(for s in $(dk service ls -q --filter "label=com.docker.stack.namespace=$STACK"); do
  dk service inspect -f '{{.Spec.Name}}{{range .Endpoint.Ports}} {{.PublishedPort}}/{{.PublishMode}}{{end}}' "$s"
done | awk 'NF > 1' | tr '\n' ';')
[ "$published" = "${STACK}_api-gateway $GW_PORT/host;" ] || fail "published ports: '$published', want only the gateway's $GW_PORT/host"
ok "published: ${published%;} only"
for s in $(dk ps -q --filter "label=com.docker.stack.namespace=$STACK"); do
  env=$(dk inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$s")
  grep -Eq '^SHOP_(ADMIN|INTERNAL)_TOKEN=' <<<"$env" && fail "$(dk inspect -f '{{.Name}}' "$s") has a token in its environment"
done
ok "no token in any container's environment (SHOP_*_TOKEN_FILE=/run/secrets/...)"

# --- load, probes, audit ------------------------------------------------------------
# Starts a probe of URL into FILE in the background.
probe() { tests/swarm/probe.sh "$1" "$2" & PIDS+=($!); }
stop_probes() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# Starts shop-load (record, summary, stderr in $WORK/<tag>.*) and returns once
# its clock has run SWARM_DISRUPT_AFTER_S seconds (fixtures made first).
start_load() { # tag
  local tag=$1 deadline
  "$BIN/shop-load" --url "http://$GW" --clients "$CLIENTS" --seconds "$SECONDS_LOAD" --mix "$MIX" \
    --attempts "$ATTEMPTS" \
    --record "$WORK/$tag.rec" --summary-json "$WORK/$tag.json" \
    >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
  LOAD_PID=$!
  PIDS+=("$LOAD_PID")
  deadline=$(( $(now_ms) + 120000 ))
  until grep -q '^shop-load: *5 s:' "$WORK/$tag.err"; do
    kill -0 "$LOAD_PID" 2>/dev/null || { cat "$WORK/$tag.err" >&2; fail "shop-load ($tag) ended before its clock ran"; }
    [ "$(now_ms)" -lt "$deadline" ] || fail "shop-load ($tag) made no progress within 120 s"
    sleep 0.1
  done
  sleep $(( DISRUPT_AFTER > 5 ? DISRUPT_AFTER - 5 : 0 ))
}

# Waits for shop-load, then judges it: exit 0, 0 failed, 0 unexpected.
finish_load() { # tag
  local tag=$1 rc=0 s
  wait "$LOAD_PID" || rc=$?
  PIDS=("${PIDS[@]/$LOAD_PID}")
  s=$WORK/$tag.json
  [ -s "$s" ] || { cat "$WORK/$tag.err" >&2; fail "shop-load ($tag) exited $rc without a summary"; }
  LOAD_LINE=$(jq -r '"\(.sagas) sagas, \(.sagas_per_s * 10 | round / 10) sagas/s, \(.requests_per_s | round) requests/s, \(.retries) retries, \(.failed) failed, \(.unexpected) unexpected, \(.after_failure) not expected after a failed attempt; saga max \(.routes.saga.max_ms | round) ms, p99 \(.routes.saga.p99_ms | round) ms"' "$s")
  if [ "$rc" != 0 ] || [ "$(jq .failed "$s")" != 0 ] || [ "$(jq .unexpected "$s")" != 0 ]; then
    sed -n '/^failed after retries/,$p' "$WORK/$tag.out" >&2
    grep -v '^shop-load: *[0-9]* s:' "$WORK/$tag.err" | head -n 30 >&2 || true
    fail "shop-load ($tag) exited $rc: $LOAD_LINE"
  fi
  ok "load ($tag): $LOAD_LINE"
}

# Longest window without a 200 in probe file FILE, as text.
gap_text() { # file
  local ms n
  read -r ms _ n < <(tests/swarm/probe.sh --gaps "$1")
  echo "${ms} ms ($n failed probes)"
}

# shop-audit from the host inside the tools container's network namespace:
# there 127.0.0.1:18080/18083/18086 lead to the gateway, coupon-service and
# data platform (DNAT; route_localnet lets 127.0.0.1 leave, MASQUERADE
# gives the packets a source the peers can answer).
audit() { # tag
  local tag=$1 pid rules="" fwd svc lport port ip rc=0
  pid=$(dk inspect -f '{{.State.Pid}}' "$TOOLS")
  for fwd in api-gateway:18080:8080 coupon-service:18083:8083 data-platform:18086:8086; do
    IFS=: read -r svc lport port <<<"$fwd"
    ip=$(in_tools getent hosts "$svc" | awk 'NR == 1 {print $1}' || true)
    [ -n "$ip" ] || fail "$svc has no address on ${STACK}_net"
    rules+="iptables -t nat -A SHOP_AUDIT_OUT -p tcp --dport $lport -j DNAT --to-destination $ip:$port && "
    rules+="iptables -t nat -A SHOP_AUDIT_POST -d $ip/32 -p tcp --dport $port -j MASQUERADE && "
  done
  # Chains of its own, emptied each time: addresses change when tasks are replaced.
  nsenter -t "$pid" -n sh -c "
    { iptables -t nat -N SHOP_AUDIT_OUT 2>/dev/null || iptables -t nat -F SHOP_AUDIT_OUT; } &&
    { iptables -t nat -N SHOP_AUDIT_POST 2>/dev/null || iptables -t nat -F SHOP_AUDIT_POST; } &&
    { iptables -t nat -C OUTPUT -d 127.0.0.1/32 -j SHOP_AUDIT_OUT 2>/dev/null ||
      iptables -t nat -A OUTPUT -d 127.0.0.1/32 -j SHOP_AUDIT_OUT; } &&
    { iptables -t nat -C POSTROUTING -s 127.0.0.1/32 -j SHOP_AUDIT_POST 2>/dev/null ||
      iptables -t nat -A POSTROUTING -s 127.0.0.1/32 -j SHOP_AUDIT_POST; } &&
    sysctl -qw net.ipv4.conf.all.route_localnet=1 && $rules true" ||
    fail "cannot set up the forwarding for shop-audit in $TOOLS"
  nsenter -t "$pid" -n env COUPON_URL=http://127.0.0.1:18083 DATA_PLATFORM_URL=http://127.0.0.1:18086 \
    timeout 300 "$BIN/shop-audit" --record "$WORK/$tag.rec" --url http://127.0.0.1:18080 --wait 60 \
    >"$WORK/$tag.audit" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$WORK/$tag.audit" >&2
    fail "shop-audit ($tag) exited $rc"
  fi
  ok "audit ($tag): $(grep -E 'PASS|FAIL|violation' "$WORK/$tag.audit" | tail -n 1)"
}

# --- 4. rolling update of the gateway under load ---------------------------------------
step "load: $CLIENTS clients for $SECONDS_LOAD s; at ${DISRUPT_AFTER} s, docker service update --force ${STACK}_api-gateway"
probe "http://$GW/api/items/1" "$WORK/update.items.probe"
probe "http://$GW/api/orders/$SEED_ORDER" "$WORK/update.orders.probe"
start_load update
t=$(now_ms)
dk service update --force --detach=false "${STACK}_api-gateway" >>"$LOG" 2>&1 ||
  fail "docker service update --force ${STACK}_api-gateway failed"
UPDATE_MS=$(( $(now_ms) - t ))
ok "gateway updated (stop-first) in $(secs $UPDATE_MS): task $(dk service ps -q --filter desired-state=running "${STACK}_api-gateway" | head -c 12)"
finish_load update
UPDATE_LOAD=$LOAD_LINE
sleep 1
stop_probes
UPDATE_GAP="GET /api/items/1 $(gap_text "$WORK/update.items.probe"), GET /api/orders/$SEED_ORDER $(gap_text "$WORK/update.orders.probe")"
ok "longest window without a 200 during the update: $UPDATE_GAP"
audit update

# --- 5. kill -9 of order-service under load ----------------------------------------------
order_container() { dk ps -q --filter "label=com.docker.swarm.service.name=${STACK}_order-service" | head -n 1 || true; }
step "load: $CLIENTS clients for $SECONDS_LOAD s; at ${DISRUPT_AFTER} s, kill -9 of the order-service program"
probe "http://$GW/api/items/1" "$WORK/kill.items.probe"
probe "http://$GW/api/orders/$SEED_ORDER" "$WORK/kill.orders.probe"
cid=$(order_container)
[ -n "$cid" ] || fail "no order-service container"
old_ip=$(in_tools getent hosts order-service | awk 'NR == 1 {print $1}' || true)
start_load kill
init_pid=$(dk inspect -f '{{.State.Pid}}' "$cid")
# With init: true, .State.Pid is docker-init; the program is its child.
prog_pid=$(awk '{print $1; exit}' /proc/"$init_pid"/task/*/children 2>/dev/null || true)
[ -n "$prog_pid" ] || prog_pid=$init_pid
t=$(now_ms)
kill -9 "$prog_pid"
deadline=$(( $(now_ms) + 90000 ))
while :; do
  new=$(order_container)
  if [ -n "$new" ] && [ "$new" != "$cid" ] &&
     [ "$(dk inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$new" 2>/dev/null)" = healthy ]; then
    break
  fi
  [ "$(now_ms)" -lt "$deadline" ] || fail "no new healthy order-service task within 90 s of the kill"
  sleep 0.2
done
KILL_HEALTHY_MS=$(( $(now_ms) - t ))
new_ip=$(in_tools getent hosts order-service | awk 'NR == 1 {print $1}' || true)
ok "order-service program (pid $prog_pid) killed; a new task healthy $(secs $KILL_HEALTHY_MS) later, address $old_ip -> ${new_ip:-?}"
finish_load kill
KILL_LOAD=$LOAD_LINE
sleep 1
stop_probes
KILL_GAP="GET /api/orders/$SEED_ORDER $(gap_text "$WORK/kill.orders.probe"), GET /api/items/1 $(gap_text "$WORK/kill.items.probe")"
ok "longest window without a 200 after the kill: $KILL_GAP"
audit kill
api GET "/api/orders/$SEED_ORDER"; expect_field .status PAID "seed order after the kill"
api GET /api/users/1/balance; expect_field .balance 905000 "seed user 1 after the kill"

# --- 6. down ---------------------------------------------------------------------------------
step "deploy/swarm.sh down -v"
docker rm -f "$TOOLS" >/dev/null 2>&1 || true
t=$(now_ms)
quiet timeout 300 deploy/swarm.sh down -v
STARTED=0
ok "removed in $(secs $(( $(now_ms) - t ))); swarm now $(docker info -f '{{.Swarm.LocalNodeState}}') (was $was_swarm)"
cat <<EOF
test-swarm: PASS in $(secs $(( $(now_ms) - T0 )))
  swarm-up to healthy: $(secs $UP_MS)
  gateway rolling update ($(secs $UPDATE_MS)): $UPDATE_LOAD
    longest window without a 200: $UPDATE_GAP
  order-service kill -9 (new task healthy after $(secs $KILL_HEALTHY_MS), $old_ip -> $new_ip): $KILL_LOAD
    longest window without a 200: $KILL_GAP
EOF
