#!/usr/bin/env bash
# `make test-compose`: the shop's flows against the docker-compose stack.
#  1. Docker: installs docker.io and docker-compose from Debian when missing,
#     starts dockerd when none answers, makes the base image when missing
#     (deploy/compose.sh docker, deploy/base-image.sh).
#  2. Builds shop:local, starts the stack (its own compose project,
#     "shoptest", so a stack of `make up` keeps its data), waits for health.
#  3. Through the gateway: the seed's success flow (user 1 orders 2 of item 1
#     with user coupon 1: 95000; pays; balance 905000, stock 8) and failure
#     flow (user 2, item 3, user coupon 2: pay 402, order CANCELLED, stock
#     back, coupon unused); one curl per service on its published port.
#  4. kill -9 of one program from the host: the restart policy brings it
#     back; the flows pass again (with fixtures made for this run).
#  5. `stop` (timed; each program must stop on SIGTERM, not be killed), then
#     `down` and `up`: what was written before is still there.
#  6. `down -v`. On any failure (trap): the services' last log lines, then
#     `down -v` as well.
# Environment: COMPOSE (the compose command), SHOP_TEST_PROJECT (shoptest),
# SHOP_CRASH_SERVICE (order-service), SHOP_UP_TIMEOUT_S (180),
# SHOP_TEST_BUILD=0 (use the shop:local there, for work on this script) and the host
# ports of deploy/docker-compose.yml (GATEWAY_HOST_PORT=8080, ITEM_HOST_PORT=8081 ...).
set -euo pipefail
cd "$(dirname "$0")/../.."

export COMPOSE_FILE=deploy/docker-compose.yml
export COMPOSE_PROJECT_NAME=${SHOP_TEST_PROJECT:-shoptest}
export SHOP_ADMIN_TOKEN=${SHOP_ADMIN_TOKEN:-dev-admin-token}
export SHOP_INTERNAL_TOKEN=${SHOP_INTERNAL_TOKEN:-dev-internal-token}
export SHOP_SEED=1
# Settings that would change what the flows expect take their defaults.
unset SHOP_CALL_TIMEOUT_MS SHOP_CONNECT_TIMEOUT_MS SHOP_SAGA_DEADLINE_MS \
  ORDER_PAYMENT_TTL_S DATA_PLATFORM_FAIL_RATE DATA_PLATFORM_DELAY_MS
CRASH=${SHOP_CRASH_SERVICE:-order-service}
UP_TIMEOUT_S=${SHOP_UP_TIMEOUT_S:-180}
RUN_ID=$(date +%s)-$$

GW=127.0.0.1:${GATEWAY_HOST_PORT:-8080}
declare -A PORT_ENV=(
  [api-gateway]=GATEWAY_HOST_PORT [item-service]=ITEM_HOST_PORT [user-service]=USER_HOST_PORT
  [coupon-service]=COUPON_HOST_PORT [order-service]=ORDER_HOST_PORT
  [payment-service]=PAYMENT_HOST_PORT [data-platform]=DATA_PLATFORM_HOST_PORT)
declare -A PUBLISHED=(
  [api-gateway]=${GATEWAY_HOST_PORT:-8080} [item-service]=${ITEM_HOST_PORT:-8081}
  [user-service]=${USER_HOST_PORT:-8082} [coupon-service]=${COUPON_HOST_PORT:-8083}
  [order-service]=${ORDER_HOST_PORT:-8084} [payment-service]=${PAYMENT_HOST_PORT:-8085}
  [data-platform]=${DATA_PLATFORM_HOST_PORT:-8086})

now_ms() { date +%s%3N; }
T0=$(now_ms)
step() { printf '== [%5.1fs] %s\n' "$(( $(now_ms) - T0 ))e-3" "$*"; }
ok() { echo "   ok: $*"; }
fail() { echo "test-compose: FAIL: $*" >&2; exit 1; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

compose_sh() { deploy/compose.sh "$@"; }
compose() { deploy/compose.sh run "$@"; }
# Compose's progress lines go to LOG; its last lines are shown on failure.
LOG=$(mktemp /tmp/shop-test-compose.XXXXXX)
quiet() {
  "$@" >>"$LOG" 2>&1 || { local rc=$?; tail -n 40 "$LOG" >&2; return "$rc"; }
}

STARTED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      echo "--- last log lines of each service (project $COMPOSE_PROJECT_NAME)" >&2
      timeout 30 deploy/compose.sh run ps >&2 || true
      timeout 30 deploy/compose.sh run logs --no-color --tail=30 >&2 || true
    fi
    timeout 120 deploy/compose.sh run down -v --remove-orphans >/dev/null 2>&1 ||
      echo "test-compose: could not remove project $COMPOSE_PROJECT_NAME" >&2
  fi
  if [ "$rc" = 0 ]; then rm -f "$LOG"; else echo "test-compose: failed (exit $rc); compose's output: $LOG" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Docker, tools ------------------------------------------------------
step "Docker engine and compose"
compose_sh docker
for tool in curl jq; do
  command -v "$tool" >/dev/null && continue
  [ "$(id -u)" = 0 ] || fail "$tool is missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; } ||
    fail "cannot install $tool"
done
compose version 2>/dev/null | sed -n '1s/^/   /p'

step "base image"
deploy/base-image.sh

# A stack left by an interrupted run goes first; then the ports must be free.
STARTED=1
timeout 120 deploy/compose.sh run down -v --remove-orphans >/dev/null 2>&1 || true
for svc in "${!PUBLISHED[@]}"; do
  port=${PUBLISHED[$svc]}
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null ||
     { command -v ss >/dev/null && ss -Htln "sport = :$port" | grep -q .; }; then
    fail "port $port (for $svc) is in use: stop what holds it (make stop / make down), or set ${PORT_ENV[$svc]}"
  fi
done

# --- 2. build, up ----------------------------------------------------------
step "build shop:local"
t=$(now_ms)
if [ "${SHOP_TEST_BUILD:-1}" = 0 ] && docker image inspect shop:local >/dev/null 2>&1; then
  echo "   SHOP_TEST_BUILD=0: the shop:local there is used as it is"
else
  quiet compose_sh build
fi
BUILD_MS=$(( $(now_ms) - t ))
ok "built in $(secs $BUILD_MS), image $(docker image inspect -f '{{.Size}}' shop:local | awk '{printf "%.1f MB", $1/1e6}')"

step "up"
t=$(now_ms)
quiet timeout "$UP_TIMEOUT_S" deploy/compose.sh run up -d
SHOP_UP_TIMEOUT_S=$UP_TIMEOUT_S compose_sh wait
UP_MS=$(( $(now_ms) - t ))
ok "7 services healthy $(secs $UP_MS) after up"

# --- HTTP helpers ------------------------------------------------------------
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

# Waits (bounded) until GET url answers 200.
wait_200() { # url seconds
  local deadline=$(( $(now_ms) + $2 * 1000 ))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)" = 200 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$1 did not answer 200 within $2 s"
    sleep 0.25
  done
}

# Success and failure flows. Args: rich user, item, its price, its stock, the
# rich user's coupon (FIXED discount), the discount, poor user, item for the
# poor user, its stock, the poor user's coupon. Sets PAID_ORDER, PAID_PAYMENT.
flows() {
  local u1=$1 i1=$2 price1=$3 stock1=$4 c1=$5 off1=$6 u2=$7 i2=$8 stock2=$9 c2=${10}
  local bal1 final oid pid

  api GET "/api/users/$u1/balance"; expect_status 200 "balance of user $u1"
  bal1=$(field .balance)
  api POST /api/orders "{\"userId\":$u1,\"items\":[{\"itemId\":$i1,\"quantity\":2}],\"userCouponId\":$c1}"
  expect_status 201 "order of user $u1"
  final=$(( 2 * price1 - off1 ))
  expect_field .status CREATED "order of user $u1"
  expect_field .finalAmount "$final" "order of user $u1"
  oid=$(field .id)
  api POST /api/payments "{\"orderId\":$oid,\"userId\":$u1}"
  expect_status 201 "payment of order $oid"
  expect_field .status COMPLETED "payment of order $oid"
  pid=$(field .id)
  api GET "/api/users/$u1/balance"; expect_status 200 "balance"
  expect_field .balance "$(( bal1 - final ))" "balance of user $u1 after paying"
  api GET "/api/items/$i1"; expect_status 200 "item $i1"
  expect_field .stock "$(( stock1 - 2 ))" "stock of item $i1 after the order"
  api GET "/api/orders/$oid"; expect_field .status PAID "order $oid after payment"
  ok "user $u1: order $oid of 2 x item $i1 with coupon $c1 = $final, paid (payment $pid), balance $(( bal1 - final )), stock $(( stock1 - 2 ))"
  # The payment reaches the data platform in the background.
  local deadline=$(( $(now_ms) + 20000 ))
  while :; do
    api GET "/api/payments/$pid"
    [ "$(field .delivery.status)" = DELIVERED ] && break
    [ "$(now_ms)" -lt "$deadline" ] || fail "payment $pid not delivered to the data platform within 20 s: $BODY"
    sleep 0.25
  done
  ok "payment $pid delivered to the data platform"
  PAID_ORDER=$oid PAID_PAYMENT=$pid

  api POST /api/orders "{\"userId\":$u2,\"items\":[{\"itemId\":$i2,\"quantity\":1}],\"userCouponId\":$c2}"
  expect_status 201 "order of user $u2"
  oid=$(field .id)
  api GET "/api/items/$i2"; expect_field .stock "$(( stock2 - 1 ))" "stock of item $i2 while ordered"
  api POST /api/payments "{\"orderId\":$oid,\"userId\":$u2}"
  expect_status 402 "payment of order $oid by user $u2"
  expect_field .code INSUFFICIENT_BALANCE "payment of order $oid"
  api GET "/api/orders/$oid"; expect_status 200 "order $oid"
  expect_field .status CANCELLED "order $oid after the failed payment"
  api GET "/api/items/$i2"; expect_field .stock "$stock2" "stock of item $i2 after the cancel"
  api GET "/api/users/$u2/coupons"; expect_status 200 "coupons of user $u2"
  expect_field "[.coupons[] | select(.id == $c2) | .isUsed][0]" false "coupon $c2 after the cancel"
  ok "user $u2: order $oid, pay 402 INSUFFICIENT_BALANCE, order CANCELLED, stock $stock2 again, coupon $c2 unused"
}

# Fixtures of this run, made through the admin API: names carry RUN_ID.
make_fixtures() { # tag -> sets FX_* variables
  local tag=$1
  admin POST /api/admin/users "{\"name\":\"ct-$RUN_ID-$tag-rich\",\"balance\":500000}"
  expect_status 201 "admin: create user"; FX_U1=$(field .id)
  admin POST /api/admin/users "{\"name\":\"ct-$RUN_ID-$tag-poor\",\"balance\":1000}"
  expect_status 201 "admin: create user"; FX_U2=$(field .id)
  admin POST /api/admin/items "{\"name\":\"ct-$RUN_ID-$tag-item\",\"price\":40000,\"stock\":5}"
  expect_status 201 "admin: create item"; FX_I=$(field .id)
  admin POST /api/admin/coupons "{\"name\":\"ct-$RUN_ID-$tag 3000 off\",\"discountType\":\"FIXED\",\"discountValue\":3000,\"totalQuantity\":10,\"expiresAt\":\"2099-01-01T00:00:00Z\"}"
  expect_status 201 "admin: create coupon"; local cid; cid=$(field .id)
  api POST "/api/coupons/$cid/issue" "{\"userId\":$FX_U1}"
  expect_status 201 "issue coupon $cid to user $FX_U1"; FX_C1=$(field .id)
  api POST "/api/coupons/$cid/issue" "{\"userId\":$FX_U2}"
  expect_status 201 "issue coupon $cid to user $FX_U2"; FX_C2=$(field .id)
  ok "fixtures $tag: users $FX_U1 (500000) and $FX_U2 (1000), item $FX_I (40000 x 5), coupon $cid (3000 off) as $FX_C1 / $FX_C2"
}

# --- 3. flows on the seed, one curl per service --------------------------------
step "seed flows through the gateway on $GW"
flows 1 1 50000 10 1 5000 2 3 5 2
SEED_ORDER=$PAID_ORDER SEED_PAYMENT=$PAID_PAYMENT
api GET "/api/orders/$SEED_ORDER"; expect_field .finalAmount 95000 "seed order"
api GET /api/users/1/balance; expect_field .balance 905000 "seed user 1 balance"
api GET /api/items/1; expect_field .stock 8 "seed item 1 stock"

step "one curl per service on its published port"
per_service() {
  local svc path port
  for svc in item-service:/items/1 user-service:/users/1/balance coupon-service:/users/1/coupons \
             order-service:/orders/$SEED_ORDER payment-service:/payments/$SEED_PAYMENT data-platform:/orders/$SEED_ORDER \
             api-gateway:/health; do
    path=${svc#*:}; svc=${svc%%:*}; port=${PUBLISHED[$svc]}
    req GET "http://127.0.0.1:$port$path" "" "X-Internal-Token: $SHOP_INTERNAL_TOKEN"
    expect_status 200 "$svc GET $path on 127.0.0.1:$port"
    ok "$svc 127.0.0.1:$port$path -> 200 $(head -c 90 <<<"$BODY")"
  done
  req GET "http://127.0.0.1:${PUBLISHED[item-service]}/items/1" ""
  expect_status 401 "item-service without X-Internal-Token"
  ok "item-service without X-Internal-Token -> 401"
}
per_service

# --- 4. crash one program --------------------------------------------------------
step "kill -9 of $CRASH"
cid=$(compose ps -q "$CRASH")
[ -n "$cid" ] || fail "no container for $CRASH"
restarts=$(docker inspect -f '{{.RestartCount}}' "$cid")
init_pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
# With init: true, .State.Pid is docker-init; the program is its child.
prog_pid=$(awk '{print $1; exit}' /proc/"$init_pid"/task/*/children 2>/dev/null || true)
[ -n "$prog_pid" ] || prog_pid=$init_pid
ok "$CRASH: init pid $init_pid, program pid $prog_pid ($(tr '\0' ' ' </proc/"$prog_pid"/cmdline))"
t=$(now_ms)
kill -9 "$prog_pid"
deadline=$(( $(now_ms) + 60000 ))
while :; do
  st=$(docker inspect -f '{{.RestartCount}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$cid")
  read -r n s h <<<"$st"
  [ "$n" -gt "$restarts" ] && [ "$s" = running ] && [ "$h" = healthy ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "$CRASH not back and healthy within 60 s: $st"
  sleep 0.25
done
ok "$CRASH restarted (restart count $restarts -> $n) and healthy $(secs $(( $(now_ms) - t ))) after kill -9"
wait_200 "http://$GW/health" 30
SHOP_UP_TIMEOUT_S=60 compose_sh wait
api GET "/api/orders/$SEED_ORDER"; expect_status 200 "seed order after the crash"
expect_field .status PAID "seed order after the crash"

step "flows after the crash (fixtures of this run)"
make_fixtures crash
flows "$FX_U1" "$FX_I" 40000 5 "$FX_C1" 3000 "$FX_U2" "$FX_I" 3 "$FX_C2"
FX_ORDER=$PAID_ORDER FX_USER=$FX_U1
api GET "/api/users/$FX_USER/balance"; FX_BALANCE=$(field .balance)
per_service

# --- 5. stop, down, up: nothing lost --------------------------------------------
step "stop"
t=$(now_ms)
quiet timeout 60 deploy/compose.sh run stop
STOP_MS=$(( $(now_ms) - t ))
for id in $(compose ps -q); do
  read -r name code <<<"$(docker inspect -f '{{.Name}} {{.State.ExitCode}}' "$id")"
  [ "$code" = 0 ] || [ "$code" = 143 ] ||
    fail "$name exited $code on stop (137: killed after the 2 s grace, SIGTERM not handled in time)"
done
ok "all stopped on SIGTERM in $(secs $STOP_MS)"

step "down (volumes kept), up again"
quiet timeout 120 deploy/compose.sh run down
t=$(now_ms)
quiet timeout "$UP_TIMEOUT_S" deploy/compose.sh run up -d
SHOP_UP_TIMEOUT_S=$UP_TIMEOUT_S compose_sh wait
UP2_MS=$(( $(now_ms) - t ))
wait_200 "http://$GW/health" 30
api GET "/api/orders/$SEED_ORDER"; expect_status 200 "seed order after down/up"
expect_field .status PAID "seed order after down/up"
expect_field .finalAmount 95000 "seed order after down/up"
api GET "/api/orders/$FX_ORDER"; expect_status 200 "order $FX_ORDER after down/up"
expect_field .status PAID "order $FX_ORDER after down/up"
api GET /api/users/1/balance; expect_field .balance 905000 "seed user 1 after down/up"
api GET "/api/users/$FX_USER/balance"; expect_field .balance "$FX_BALANCE" "user $FX_USER after down/up"
api GET /api/items/1; expect_field .stock 8 "seed item 1 after down/up"
ok "orders $SEED_ORDER and $FX_ORDER, balances and stock survived down/up (healthy $(secs $UP2_MS) after up)"

# --- 6. down -v ----------------------------------------------------------------------
step "down -v"
quiet timeout 120 deploy/compose.sh run down -v --remove-orphans
STARTED=0
echo "test-compose: PASS in $(secs $(( $(now_ms) - T0 ))): build $(secs $BUILD_MS), up->healthy $(secs $UP_MS) (again $(secs $UP2_MS)), stop $(secs $STOP_MS)"
