#!/usr/bin/env bash
# Metrics test (make test-metrics): starts a seeded stack of its own, scrapes
# GET /metrics of all seven programs, sends known traffic through the gateway
# (reads that answer 200 and 404, three order+pay sagas, a second payment
# of a paid order, one payment the balance cannot cover, a coupon issue), waits until the outbox has
# delivered, scrapes again and checks:
#   - promtool check metrics accepts every program's output (promtool is the
#     Debian package prometheus, installed when missing; when it cannot be
#     had the test fails, or with METRICS_ALLOW_NO_PROMTOOL=1 says loudly
#     that this part is SKIPPED);
#   - shop_http_requests_total moved by exactly the requests sent, per route
#     and status, at the gateway and at the service behind each step;
#   - each route's duration histogram counted exactly its requests;
#   - every service counted exactly the calls the other programs counted as
#     made to it (shop_http_client_calls_total by peer), plus our own;
#   - the saga metrics the issue asks for (order and payment saga outcomes,
#     recovery actions, the outbox backlog and deliveries, SQLite busy
#     retries), every series with its exact value; a family a program does
#     not export is MISSING, a failure (METRICS_STRICT=0 lists it and says
#     loudly that the check was SKIPPED instead).
# Exit 0 when every check passed, 1 otherwise, 2 when the stack could not run.
#
# Environment: SHOP_BIN_DIR (build/bin), METRICS_PORT_BASE (first free of
# 25080, 25090, ...), METRICS_KEEP=1 keeps the work directory,
# METRICS_STRICT=0 (a missing saga metric is not a failure),
# METRICS_ALLOW_NO_PROMTOOL=1.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

die() { echo "metrics-test: $*" >&2; exit 2; }
BIN=$(cd "${SHOP_BIN_DIR:-$ROOT/build/bin}" 2>/dev/null && pwd) || die "no ${SHOP_BIN_DIR:-build/bin}: run make first"
JQ=$(need_tool jq jq) || die "jq is needed"
PROMTOOL=$(need_tool promtool prometheus) || PROMTOOL=""
if [ -z "$PROMTOOL" ] && [ "${METRICS_ALLOW_NO_PROMTOOL:-0}" != 1 ]; then
  die "promtool (Debian package prometheus) is missing and could not be installed"
fi

WORK=$(mktemp -d /tmp/shop-metrics.XXXXXX) || die "mktemp failed"
FAILS=0 PASSES=0 MISSING=0 OK_EXIT=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  stack_stop
  if [ "${METRICS_KEEP:-0}" = 1 ] || [ "$OK_EXIT" != 1 ]; then
    echo "metrics-test: scrapes, logs and data kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "metrics-test: interrupted" >&2; exit 130' INT TERM

if [ -n "${METRICS_PORT_BASE:-}" ]; then BASE=$METRICS_PORT_BASE; else
  BASE=$(free_port_base 25080) || die "no free port base from 25080"
fi
export SHOP_SEED=1
stack_start "$BASE" "$WORK/data" >/dev/null || die "the stack did not start (logs in $WORK/data/run)"
GW=http://127.0.0.1:$BASE

pass() { PASSES=$((PASSES + 1)); echo "  ok    $*"; }
fail() { FAILS=$((FAILS + 1)); echo "  FAIL  $*"; }

# --- scrapes and sums ------------------------------------------------------------
scrape() { # tag: every program's /metrics into $WORK/<tag>-<bin>.txt
  local spec bin rest
  for spec in "${BENCH_PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    curl -s --max-time 5 -o "$WORK/$1-$bin.txt" -w '%{http_code}' "http://127.0.0.1:$(stack_port "$bin")/metrics" |
      grep -q '^200$' || die "GET /metrics of $bin did not answer 200"
  done
}

# msum file name [label="value" ...]: the sum of the samples of series name
# whose labels include every pair given (0 when none).
msum() {
  local file=$1 name=$2
  shift 2
  awk -v name="$name" -v want="$(printf '%s\n' "$@")" '
    BEGIN { n = split(want, pairs, "\n"); if (want == "") n = 0 }
    /^#/ { next }
    {
      series = $1; value = $2
      b = index(series, "{")
      base = b ? substr(series, 1, b - 1) : series
      if (base != name) next
      labels = b ? "," substr(series, b + 1, length(series) - b - 1) "," : ","
      for (i = 1; i <= n; i++) if (index(labels, "," pairs[i] ",") == 0) next
      sum += value
    }
    END { printf "%.0f\n", sum + 0 }' "$file"
}
# delta bin name [pairs...]: after - before.
delta() {
  local bin=$1
  shift
  echo $(( $(msum "$WORK/after-$bin.txt" "$@") - $(msum "$WORK/before-$bin.txt" "$@") ))
}
# delta_2xx bin name [pairs...]: the delta summed over the 2xx statuses.
delta_2xx() {
  local bin=$1 name=$2 s t=0
  shift 2
  for s in 200 201 202 204; do t=$((t + $(delta "$bin" "$name" "$@" "status=\"$s\""))); done
  echo "$t"
}
# True when program bin exports family name (a series, or its # TYPE line).
has_family() { grep -q -e "^$2[{ ]" -e "^# TYPE $2 " "$WORK/after-$1.txt"; }

declare -A SENT=()
for spec in "${BENCH_PROGRAMS[@]}"; do read -r bin rest <<<"$spec"; SENT[$bin]=0; done

# req bin method path [body]: one request to program bin, counted in SENT;
# sets ANSWER to "status body" (no subshell, so that SENT counts).
ANSWER=""
req() {
  local bin=$1 method=$2 path=$3 body=${4:-} port out
  port=$(stack_port "$bin")
  local args=(-s --max-time 15 -X "$method" -w '\n%{http_code}')
  [ "$bin" != api-gateway ] && args+=(-H "X-Internal-Token: $SHOP_INTERNAL_TOKEN")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  out=$(curl "${args[@]}" "http://127.0.0.1:$port$path")
  SENT[$bin]=$(( ${SENT[$bin]} + 1 ))
  ANSWER="$(tail -n 1 <<<"$out") $(sed '$d' <<<"$out")"
}
expect_status() { # want "status body"
  [ "${2%% *}" = "$1" ] || { echo "metrics-test: expected $1, got: $2" >&2; return 1; }
}

# --- traffic ---------------------------------------------------------------------
scrape before
N_GET=5 N_404=3 N_SAGAS=3
for _ in $(seq 1 $N_GET); do
  req api-gateway GET /api/items/1; expect_status 200 "$ANSWER" || die "GET /api/items/1"
done
for _ in $(seq 1 $N_404); do
  req api-gateway GET /api/items/999999; expect_status 404 "$ANSWER" || die "GET /api/items/999999"
done
PAYMENT_IDS=()
for _ in $(seq 1 $N_SAGAS); do
  req api-gateway POST /api/orders '{"userId":1,"items":[{"itemId":4,"quantity":1}]}'
  expect_status 201 "$ANSWER" || die "POST /api/orders"
  oid=$("$JQ" -r .id <<<"${ANSWER#* }")
  req api-gateway POST /api/payments "{\"orderId\":$oid,\"userId\":1}"
  expect_status 201 "$ANSWER" || die "POST /api/payments"
  PAYMENT_IDS+=("$("$JQ" -r .id <<<"${ANSWER#* }")")
done
# Paying the last order again: 409 ORDER_NOT_PAYABLE, a "conflict" saga.
req api-gateway POST /api/payments "{\"orderId\":$oid,\"userId\":1}"
expect_status 409 "$ANSWER" || die "POST /api/payments (paid order again)"
# lee (balance 10,000) cannot pay a monitor: 402, the order is cancelled.
req api-gateway POST /api/orders '{"userId":2,"items":[{"itemId":3,"quantity":1}]}'
expect_status 201 "$ANSWER" || die "POST /api/orders (lee)"
oid=$("$JQ" -r .id <<<"${ANSWER#* }")
req api-gateway POST /api/payments "{\"orderId\":$oid,\"userId\":2}"
expect_status 402 "$ANSWER" || die "POST /api/payments (lee)"
req api-gateway POST /api/coupons/1/issue '{"userId":3}'
expect_status 201 "$ANSWER" || die "POST /api/coupons/1/issue"

# The outbox delivers after the answer: wait (10 s at most) for every payment.
POLLS=0
for pid in "${PAYMENT_IDS[@]}"; do
  for _ in $(seq 1 100); do
    req api-gateway GET "/api/payments/$pid"
    POLLS=$((POLLS + 1))
    [ "$("$JQ" -r '.delivery.status // empty' <<<"${ANSWER#* }")" = DELIVERED ] && break
    sleep 0.1
  done
done
sleep 0.5 # nothing is in flight: every call above has been answered
scrape after

# --- checks ----------------------------------------------------------------------
echo "metrics-test: stack on $GW; $((${SENT[api-gateway]})) requests through the gateway"

echo "promtool check metrics:"
if [ -z "$PROMTOOL" ]; then
  echo "  ################################################################"
  echo "  ## SKIPPED: promtool is not installed (Debian package          ##"
  echo "  ## prometheus); the exposition format was NOT checked.         ##"
  echo "  ################################################################"
else
  for spec in "${BENCH_PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    if out=$("$PROMTOOL" check metrics <"$WORK/after-$bin.txt" 2>&1) && [ -z "$out" ]; then
      pass "$bin"
    else
      fail "$bin: $out"
    fi
  done
fi

check() { # description want got
  if [ "$2" = "$3" ]; then pass "$1 = $3"; else fail "$1: want $2, got $3"; fi
}
R=shop_http_requests_total

echo "requests counted by route and status (exact):"
check "api-gateway GET /api/items/{itemId} 200" $N_GET "$(delta api-gateway $R 'route="/api/items/{itemId}"' 'method="GET"' 'status="200"')"
check "api-gateway GET /api/items/{itemId} 404" $N_404 "$(delta api-gateway $R 'route="/api/items/{itemId}"' 'method="GET"' 'status="404"')"
check "item-service GET /items/{itemId} 200" $N_GET "$(delta item-service $R 'route="/items/{itemId}"' 'method="GET"' 'status="200"')"
check "item-service GET /items/{itemId} 404" $N_404 "$(delta item-service $R 'route="/items/{itemId}"' 'method="GET"' 'status="404"')"
check "api-gateway POST /api/orders 201" $((N_SAGAS + 1)) "$(delta api-gateway $R 'route="/api/orders"' 'method="POST"' 'status="201"')"
check "api-gateway POST /api/payments 201" $N_SAGAS "$(delta api-gateway $R 'route="/api/payments"' 'method="POST"' 'status="201"')"
check "api-gateway POST /api/payments 402" 1 "$(delta api-gateway $R 'route="/api/payments"' 'method="POST"' 'status="402"')"
check "api-gateway POST /api/payments 409" 1 "$(delta api-gateway $R 'route="/api/payments"' 'method="POST"' 'status="409"')"
check "api-gateway GET /api/payments/{paymentId} 200" $POLLS "$(delta api-gateway $R 'route="/api/payments/{paymentId}"' 'method="GET"' 'status="200"')"
check "api-gateway POST /api/coupons/{couponId}/issue 201" 1 "$(delta api-gateway $R 'route="/api/coupons/{couponId}/issue"' 'status="201"')"
check "order-service POST /orders 201" $((N_SAGAS + 1)) "$(delta order-service $R 'route="/orders"' 'method="POST"' 'status="201"')"
check "order-service POST /orders/{orderId}/pay 2xx" $N_SAGAS "$(delta_2xx order-service $R 'route="/orders/{orderId}/pay"')"
check "order-service POST /orders/{orderId}/cancel 2xx" 1 "$(delta_2xx order-service $R 'route="/orders/{orderId}/cancel"')"
check "payment-service POST /payments 201" $N_SAGAS "$(delta payment-service $R 'route="/payments"' 'method="POST"' 'status="201"')"
check "payment-service POST /payments 402" 1 "$(delta payment-service $R 'route="/payments"' 'method="POST"' 'status="402"')"
check "payment-service POST /payments 409" 1 "$(delta payment-service $R 'route="/payments"' 'method="POST"' 'status="409"')"
# Behind the gateway: the internal routes' success statuses are the
# services' own (docs/internal-api.md); any 2xx counts.
check "item-service POST /reservations 2xx (one deduct per order)" $((N_SAGAS + 1)) "$(delta_2xx item-service $R 'route="/reservations"')"
check "item-service POST /reservations/{orderId}/restore 2xx (lee's cancel)" 1 "$(delta_2xx item-service $R 'route="/reservations/{orderId}/restore"')"
check "user-service POST /users/{userId}/debits 2xx (the three paid)" $N_SAGAS "$(delta_2xx user-service $R 'route="/users/{userId}/debits"')"
check "coupon-service POST /coupons/{couponId}/issue 2xx" 1 "$(delta_2xx coupon-service $R 'route="/coupons/{couponId}/issue"')"
check "data-platform POST /orders 2xx (the outbox, once per paid order)" $N_SAGAS "$(delta_2xx data-platform $R 'route="/orders"' 'method="POST"')"

echo "every program: the /metrics scrape between the two, and its duration histogram:"
for spec in "${BENCH_PROGRAMS[@]}"; do
  read -r bin rest <<<"$spec"
  check "$bin GET /metrics" 1 "$(delta "$bin" $R 'route="/metrics"')"
  # Every route that moved: its histogram count moved by its requests.
  routes=$(grep -h "^$R{" "$WORK/after-$bin.txt" | sed 's/.*route="\([^"]*\)".*/\1/' | sort -u)
  bad=""
  while read -r route; do
    [ -n "$route" ] || continue
    want=$(delta "$bin" $R "route=\"$route\"")
    got=$(delta "$bin" shop_http_request_duration_seconds_count "route=\"$route\"")
    [ "$want" = "$got" ] || bad="$bad $route(requests $want, observed $got)"
  done <<<"$routes"
  if [ -z "$bad" ]; then pass "$bin: duration histogram counts = requests, every route"; else fail "$bin: histogram:$bad"; fi
done

echo "requests served = calls made to it by the others (shop_http_client_calls_total by peer) + ours:"
# A peer label is its base URL or its short name.
for spec in "${BENCH_PROGRAMS[@]}"; do
  read -r bin name offset <<<"$spec"
  [ "$bin" = api-gateway ] && continue
  port=$((BASE + offset))
  calls=0
  for spec2 in "${BENCH_PROGRAMS[@]}"; do
    read -r caller rest <<<"$spec2"
    # (each label once: "item" and "${name//-/_}" can be the same word)
    for peer in $(printf '%s\n' "http://127.0.0.1:$port" "$name" "${name//-/_}" "$bin" | sort -u); do
      calls=$((calls + $(delta "$caller" shop_http_client_calls_total "peer=\"$peer\"")))
    done
  done
  served=$(delta "$bin" $R)
  check "$bin: served (calls by others $calls + ours ${SENT[$bin]} + 1 scrape)" $((calls + ${SENT[$bin]} + 1)) "$served"
done
check "api-gateway: served (ours ${SENT[api-gateway]} + 1 scrape)" $((${SENT[api-gateway]} + 1)) "$(delta api-gateway $R)"

echo "saga metrics (issue #7):"
# program  family  labels  want  (what it counts)
# Every series is exported at 0 from the start, so each is also checked to
# be present before the traffic (series_known).
SAGA_METRICS=(
  "order-service|shop_order_sagas_total|saga=\"create\" outcome=\"created\"|$((N_SAGAS + 1))|orders created"
  "order-service|shop_order_sagas_total|saga=\"create\" outcome=\"failed\"|0|orders failed"
  "order-service|shop_order_sagas_total|saga=\"create\" outcome=\"left_pending\"|0|create sagas left PENDING for recovery"
  "order-service|shop_order_sagas_total|saga=\"create\" outcome=\"lost_to_recovery\"|0|create sagas undone by recovery meanwhile"
  "order-service|shop_order_sagas_total|saga=\"cancel\" outcome=\"cancelled\"|1|orders cancelled (lee's, by her 402)"
  "order-service|shop_order_sagas_total|saga=\"cancel\" outcome=\"left_cancelling\"|0|cancels left CANCELLING for recovery"
  "order-service|shop_order_recovery_total||0|recovery actions (order), every action and result"
  "payment-service|shop_payment_sagas_total|outcome=\"completed\"|$N_SAGAS|payments completed"
  "payment-service|shop_payment_sagas_total|outcome=\"failed\"|1|payments failed (lee's short balance)"
  "payment-service|shop_payment_sagas_total|outcome=\"conflict\"|1|payments refused 409 ORDER_NOT_PAYABLE (the paid order again)"
  "payment-service|shop_payment_sagas_total|outcome=\"rejected\"|0|payments refused 404/403"
  "payment-service|shop_payment_sagas_total|outcome=\"error\"|0|payments that could not run"
  "payment-service|shop_payment_sagas_total|outcome=\"left_pending\"|0|payments left PENDING for the settler"
  "payment-service|shop_payment_sagas_total|outcome=\"lost_to_settler\"|0|payments the settler took over"
  "payment-service|shop_payment_sagas_total||$((N_SAGAS + 2))|pay sagas, every outcome (one per POST /payments)"
  "payment-service|shop_payment_recovery_total||0|recovery actions (payment settler), every action and result"
  "payment-service|shop_payment_outbox_backlog||0|outbox messages not yet delivered (gauge)"
  "payment-service|shop_payment_outbox_deliveries_total|outcome=\"ok\"|$N_SAGAS|outbox deliveries acknowledged"
  "payment-service|shop_payment_outbox_deliveries_total||$N_SAGAS|outbox delivery attempts, every outcome"
  "item-service|shop_db_busy_retries_total||0|SQLite busy retries (every program)"
)
# series_known bin name [pairs...]: true when the before-scrape has a series
# of name whose labels include every pair (the exports at 0).
series_known() {
  local bin=$1 name=$2 pairs
  shift 2
  pairs=$(printf '%s\n' "$@")
  awk -v name="$name" -v want="$pairs" '
    BEGIN { n = split(want, p, "\n"); if (want == "") n = 0 }
    /^#/ { next }
    {
      b = index($1, "{"); base = b ? substr($1, 1, b - 1) : $1
      if (base != name) next
      labels = b ? "," substr($1, b + 1, length($1) - b - 1) "," : ","
      for (i = 1; i <= n; i++) if (index(labels, "," p[i] ",") == 0) next
      found = 1
    }
    END { exit found ? 0 : 1 }' "$WORK/before-$bin.txt"
}
for m in "${SAGA_METRICS[@]}"; do
  IFS='|' read -r bin fam labels want what <<<"$m"
  if ! has_family "$bin" "$fam"; then
    MISSING=$((MISSING + 1))
    echo "  MISSING  $bin $fam{$labels}: $what (not exported yet)"
    continue
  fi
  # shellcheck disable=SC2086 # the label pairs are words
  if ! series_known "$bin" "$fam" $labels; then
    fail "$bin $fam{$labels} ($what): not exported at 0 before the first event"
    continue
  fi
  # shellcheck disable=SC2086
  if [ "${fam%_backlog}" != "$fam" ]; then got=$(msum "$WORK/after-$bin.txt" "$fam" $labels)
  else got=$(delta "$bin" "$fam" $labels); fi
  check "$bin $fam{$labels} ($what)" "$want" "$got"
done

echo
echo "metrics-test: $PASSES passed, $FAILS failed, $MISSING saga metrics missing"
if [ "$MISSING" -gt 0 ]; then
  if [ "${METRICS_STRICT:-1}" = 0 ]; then
    echo "  ################################################################"
    echo "  ## SKIPPED (METRICS_STRICT=0): $MISSING saga metric(s) MISSING, not"
    echo "  ## counted as failures; this run does NOT show they are exported."
    echo "  ################################################################"
  else
    FAILS=$((FAILS + MISSING))
  fi
fi
[ -z "$PROMTOOL" ] && echo "metrics-test: promtool check SKIPPED (not installed)"
if [ "$FAILS" -gt 0 ]; then exit 1; fi
OK_EXIT=1
exit 0
