#!/usr/bin/env bash
# Shop benchmark (make bench): starts a stack of its own (deploy/runner.sh,
# SHOP_SEED=0, a fresh data directory, a free port base) and, in one run,
# measures
#   - the disk: durable SQLite commits/s with the house settings (WAL,
#     synchronous=FULL), one file and five at once, and rows/s when 16 or 64
#     rows share a commit (the shape of group commit) (commit-rate);
#   - the HTTP ceiling: wrk on item-service's GET /health;
#   - gateway against nginx: wrk on GET /items/{id} at item-service directly,
#     on GET /api/items/{id} through api-gateway and through an nginx of our
#     own (loopback port, keep-alive upstream pool of 64), and the ratios;
#   - sagas: shop-load --mix success (order then pay) at 8, 32, 64 and 128
#     clients: sagas/s, p50/p99 of the saga and of each route, and the CPU
#     the seven programs used per saga;
#   - memory: peak RSS (VmHWM) of each program and PSS (smaps_rollup, sampled
#     every second during the saga runs and at the end): RSS counts the shared
#     libraries once per process, PSS shares them out, so the total is judged
#     on PSS and both are printed.
# Prints one Markdown table (also $BENCH_OUT/results.md) with the machine,
# writes $BENCH_OUT/results.json and draws $BENCH_OUT/sagas.png (gnuplot).
# Targets are printed met / not met; the bench does not fail on them (exit 0
# when it could measure; 1 when a measurement could not be made).
# wrk, nginx, gnuplot and jq are Debian packages, installed when missing (as
# root via apt-get, saying so). Everything it starts is stopped on exit.
#
# Environment (defaults):
#   SHOP_BIN_DIR          build/bin: the seven programs, shop-load, commit-rate
#   BENCH_OUT             build/bench
#   BENCH_CLIENTS         "8 32 64 128"   shop-load --clients, one run each
#   BENCH_SAGA_SECONDS    20              each saga run
#   BENCH_WRK_SECONDS     5               each wrk round
#   BENCH_WRK_ROUNDS      3               rounds (health, direct, nginx, gateway
#                                         in turn); the median round is shown
#   BENCH_WRK_CONNECTIONS 64              wrk -c
#   BENCH_WRK_THREADS     2               wrk -t
#   BENCH_NGINX_WORKERS   auto            nginx worker_processes
#   BENCH_PORT_BASE       the first free one of 24080, 24090, ...
#   BENCH_BUILD           "-O2"           how the binaries were built (printed)
#   BENCH_KEEP            0               1 keeps the work directory
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/bench
# shellcheck source=tests/bench/lib.sh
. "$HERE/lib.sh"

say() { echo "[bench] $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

BIN=$(cd "${SHOP_BIN_DIR:-$ROOT/build/bin}" 2>/dev/null && pwd) || die "no ${SHOP_BIN_DIR:-build/bin}: run make first"
OUT=${BENCH_OUT:-$ROOT/build/bench}
CLIENTS_LIST=${BENCH_CLIENTS:-8 32 64 128}
SAGA_SECONDS=${BENCH_SAGA_SECONDS:-20}
WRK_SECONDS=${BENCH_WRK_SECONDS:-5}
WRK_ROUNDS=${BENCH_WRK_ROUNDS:-3}
WRK_CONNS=${BENCH_WRK_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
BUILD_DESC=${BENCH_BUILD:--O2}
for b in shop-load commit-rate item-service user-service coupon-service order-service \
         payment-service data-platform api-gateway; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run make BUILD=... bench (or make all)"
done

# Targets (issue #7).
T_SAGAS=2500 T_SAGA_P99_MS=50 T_SAGA_CLIENTS=64 T_GW_NGINX=1.0 T_MEM_MB=100

WRK=$(need_tool wrk wrk) || die "wrk is needed"
NGINX=$(need_tool nginx nginx) || die "nginx is needed"
GNUPLOT=$(need_tool gnuplot gnuplot-nox) || die "gnuplot is needed"
JQ=$(need_tool jq jq) || die "jq is needed"

WORK=$(mktemp -d /tmp/shop-bench.XXXXXX) || die "mktemp failed"
NGINX_PID="" LOAD_PID="" SAMPLER_PID="" OK=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  trap '' INT TERM
  local p
  for p in $LOAD_PID $SAMPLER_PID; do
    kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
  fi
  stack_stop
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$OK" != 1 ]; then
    echo "bench: work directory (databases, logs in data/run, outputs) kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

mkdir -p "$OUT" || die "cannot create $OUT"
rm -f "$OUT/results.json" "$OUT/results.md" "$OUT/sagas.png" "$OUT/sagas.dat"

# --- machine -------------------------------------------------------------------
CORES=$(nproc)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
MEM_GB=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
LOADAVG=$(cut -d' ' -f1 /proc/loadavg)
DISK_FS=$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")
CLK_TCK=$(getconf CLK_TCK)
say "machine: $CORES cores, $CPU_MODEL, $MEM_GB GB; load average $LOADAVG before the run"

# --- disk: durable commits/s -----------------------------------------------------
say "disk: commit-rate in $WORK ($DISK_FS)"
DISK_JSON=$("$BIN/commit-rate" "$WORK" 3 5) || die "commit-rate failed"

# --- the stack -------------------------------------------------------------------
if [ -n "${BENCH_PORT_BASE:-}" ]; then
  BASE=$BENCH_PORT_BASE
else
  BASE=$(free_port_base 24080) || die "no free port base from 24080"
fi
export SHOP_SEED=0
stack_start "$BASE" "$WORK/data" >&2 || die "the stack did not start (logs in $WORK/data/run)"
GW=http://127.0.0.1:$BASE
ITEM_PORT=$(stack_port item-service)
NGINX_PORT=$((BASE + 7))
TOKEN=$SHOP_INTERNAL_TOKEN

ITEM_ID=$(curl -s --max-time 5 -X POST "$GW/api/admin/items" -H "X-Admin-Token: $SHOP_ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"bench item","price":1000,"stock":1000000}' |
  "$JQ" -r '.id // empty')
[ -n "$ITEM_ID" ] || die "could not create the bench item through $GW/api/admin/items"

# --- nginx -----------------------------------------------------------------------
NG=$WORK/nginx
mkdir -p "$NG/tmp"
cat >"$NG/nginx.conf" <<EOF
# nginx in front of item-service, as the gateway is: keep-alive both ways.
worker_processes $NGINX_WORKERS;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  upstream item {
    server 127.0.0.1:$ITEM_PORT;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /api/ {
      proxy_pass http://item/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Internal-Token "$TOKEN";
    }
  }
}
EOF
"$NGINX" -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" </dev/null >>"$NG/error.log" 2>&1 &
NGINX_PID=$!
NGINX_WORKERS_RUNNING=""
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$NGINX_PORT/api/items/$ITEM_ID")" = 200 ] && break
  kill -0 "$NGINX_PID" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$NG/error.log" >&2; die "nginx did not start"; }
NGINX_WORKERS_RUNNING=$(pgrep -c -P "$NGINX_PID" || true)

# Every target must answer 200 before wrk counts it.
for u in "http://127.0.0.1:$ITEM_PORT/health" "$GW/api/items/$ITEM_ID" \
         "http://127.0.0.1:$NGINX_PORT/api/items/$ITEM_ID"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$u")" = 200 ] || die "$u does not answer 200"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "X-Internal-Token: $TOKEN" \
  "http://127.0.0.1:$ITEM_PORT/items/$ITEM_ID")" = 200 ] || die "item-service /items/$ITEM_ID does not answer 200"

# --- wrk -------------------------------------------------------------------------
# wrk_once name url [header]: one round; appends its JSON to $WORK/wrk-name.
wrk_once() {
  local name=$1 url=$2 hdr=${3:-} line
  local args=(-t "$WRK_THREADS" -c "$WRK_CONNS" -d "${WRK_SECONDS}s" --latency -s "$HERE/wrk_json.lua")
  [ -n "$hdr" ] && args+=(-H "$hdr")
  line=$("$WRK" "${args[@]}" "$url" 2>&1 | sed -n 's/^WRKJSON //p')
  [ -n "$line" ] || die "wrk gave no result for $url"
  echo "$line" >>"$WORK/wrk-$name"
}
say "wrk: $WRK_ROUNDS rounds of ${WRK_SECONDS} s, -t$WRK_THREADS -c$WRK_CONNS, on health, direct, nginx, gateway in turn"
for r in $(seq 1 "$WRK_ROUNDS"); do
  wrk_once health "http://127.0.0.1:$ITEM_PORT/health"
  wrk_once direct "http://127.0.0.1:$ITEM_PORT/items/$ITEM_ID" "X-Internal-Token: $TOKEN"
  wrk_once nginx "http://127.0.0.1:$NGINX_PORT/api/items/$ITEM_ID"
  wrk_once gateway "$GW/api/items/$ITEM_ID"
  say "wrk round $r: $(for n in health direct nginx gateway; do printf '%s %s/s  ' "$n" "$(tail -n 1 "$WORK/wrk-$n" | "$JQ" -r '.rps | floor')"; done)"
done
# The median round by requests/s.
wrk_median() { "$JQ" -s -c 'sort_by(.rps) | .[(length - 1) / 2 | floor]' "$WORK/wrk-$1"; }
W_HEALTH=$(wrk_median health) W_DIRECT=$(wrk_median direct)
W_NGINX=$(wrk_median nginx) W_GATEWAY=$(wrk_median gateway)
kill -TERM "$NGINX_PID" 2>/dev/null
wait "$NGINX_PID" 2>/dev/null
NGINX_PID=""

# --- sagas, with memory sampled --------------------------------------------------
pids_of_stack() {
  local spec bin rest
  for spec in "${BENCH_PROGRAMS[@]}"; do
    read -r bin rest <<<"$spec"
    echo "$bin $(stack_pid "$bin")"
  done
}
# utime + stime of the seven programs, in clock ticks.
stack_cpu_ticks() {
  local bin pid t=0 s
  while read -r bin pid; do
    s=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && t=$((t + s))
  done < <(pids_of_stack)
  echo "$t"
}
# Busy and total ticks of the whole machine (every process, ours or not).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
pss_kb() { awk '/^Pss:/ {print $2; exit}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# Every second: one line "bin pss_kb" per program, then "total kb".
sampler() {
  local bin pid p t
  while :; do
    t=0
    while read -r bin pid; do
      p=$(pss_kb "$pid"); p=${p:-0}
      echo "$bin $p"
      t=$((t + p))
    done < <(pids_of_stack)
    echo "total $t"
    sleep 1
  done
}
sampler >"$WORK/pss-samples" &
SAMPLER_PID=$!

SAGA_RUNS=()
for n in $CLIENTS_LIST; do
  say "sagas: shop-load --mix success --clients $n --seconds $SAGA_SECONDS"
  c0=$(stack_cpu_ticks)
  read -r mb0 mt0 < <(machine_ticks)
  "$BIN/shop-load" --url "$GW" --clients "$n" --seconds "$SAGA_SECONDS" --mix success --quiet \
    --summary-json "$WORK/load-$n.json" >"$WORK/load-$n.txt" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID"
  rc=$?
  LOAD_PID=""
  c1=$(stack_cpu_ticks)
  read -r mb1 mt1 < <(machine_ticks)
  [ -s "$WORK/load-$n.json" ] || { cat "$WORK/load-$n.txt" >&2; die "shop-load at $n clients gave no summary (exit $rc)"; }
  [ "$rc" = 0 ] || say "shop-load at $n clients exited $rc (unexpected answers): see the table's notes"
  "$JQ" -c --argjson ticks $((c1 - c0)) --argjson hz "$CLK_TCK" \
    --argjson mbusy $((mb1 - mb0)) --argjson mtotal $((mt1 - mt0)) --argjson rc "$rc" \
    '. + {exit: $rc, stack_cpu_s: ($ticks / $hz),
          cpu_ms_per_saga: (if .sagas > 0 then $ticks / $hz * 1000 / .sagas else null end),
          machine_busy_pct: (if $mtotal > 0 then 100 * $mbusy / $mtotal else null end)}' \
    "$WORK/load-$n.json" >"$WORK/saga-$n.json"
  SAGA_RUNS+=("$WORK/saga-$n.json")
  say "  $("$JQ" -r '"\(.sagas_per_s | floor) sagas/s, saga p50 \(.routes.saga.p50_ms) ms p99 \(.routes.saga.p99_ms) ms, \(.cpu_ms_per_saga * 100 | floor / 100) ms CPU/saga, machine \(.machine_busy_pct | floor)% busy"' "$WORK/saga-$n.json")"
done
kill -TERM "$SAMPLER_PID" 2>/dev/null
wait "$SAMPLER_PID" 2>/dev/null
SAMPLER_PID=""

# --- memory at the end -----------------------------------------------------------
MEM_JSON=$(
  while read -r bin pid; do
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    pss=$(pss_kb "$pid")
    peak_pss=$(awk -v b="$bin" -v now="$pss" '$1 == b && $2 > m {m = $2} END {print (m > now ? m : now) + 0}' "$WORK/pss-samples")
    printf '{"program":"%s","vmhwm_kb":%d,"vmrss_kb":%d,"pss_kb":%d,"peak_pss_kb":%d}\n' \
      "$bin" "${hwm:-0}" "${rss:-0}" "${pss:-0}" "${peak_pss:-0}"
  done < <(pids_of_stack) | "$JQ" -s -c .
)
PSS_NOW_TOTAL=$(echo "$MEM_JSON" | "$JQ" '[.[].pss_kb] | add')
PEAK_PSS_TOTAL=$(awk -v now="$PSS_NOW_TOTAL" '$1 == "total" && $2 > m {m = $2} END {print (m > now ? m : now) + 0}' "$WORK/pss-samples")

# --- results.json ----------------------------------------------------------------
"$JQ" -n \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg cpu "$CPU_MODEL" --argjson cores "$CORES" \
  --arg mem_gb "$MEM_GB" --arg loadavg "$LOADAVG" --arg fs "$DISK_FS" --arg build "$BUILD_DESC" \
  --arg nginx_workers "$NGINX_WORKERS" --arg nginx_workers_running "$NGINX_WORKERS_RUNNING" \
  --argjson wrk_conns "$WRK_CONNS" --argjson wrk_threads "$WRK_THREADS" \
  --argjson wrk_seconds "$WRK_SECONDS" --argjson wrk_rounds "$WRK_ROUNDS" \
  --argjson disk "$DISK_JSON" --argjson health "$W_HEALTH" --argjson direct "$W_DIRECT" \
  --argjson nginx "$W_NGINX" --argjson gateway "$W_GATEWAY" --argjson memory "$MEM_JSON" \
  --argjson peak_pss "$PEAK_PSS_TOTAL" --argjson saga_seconds "$SAGA_SECONDS" \
  --argjson t_sagas "$T_SAGAS" --argjson t_p99 "$T_SAGA_P99_MS" --argjson t_clients "$T_SAGA_CLIENTS" \
  --argjson t_ratio "$T_GW_NGINX" --argjson t_mem "$T_MEM_MB" \
  --slurpfile sagas <(cat "${SAGA_RUNS[@]}") '
  {date: $date,
   machine: {cores: $cores, cpu: $cpu, memory_gb: ($mem_gb | tonumber), loadavg_before: ($loadavg | tonumber),
             filesystem: $fs},
   build: $build,
   disk: $disk,
   wrk: {threads: $wrk_threads, connections: $wrk_conns, seconds: $wrk_seconds, rounds: $wrk_rounds,
         nginx_worker_processes: $nginx_workers, nginx_workers_running: ($nginx_workers_running | tonumber? // null),
         health_direct: $health, item_direct: $direct, item_nginx: $nginx, item_gateway: $gateway,
         gateway_over_nginx: ($gateway.rps / $nginx.rps), gateway_over_direct: ($gateway.rps / $direct.rps)},
   sagas: ($sagas | map({clients, seconds: $saga_seconds, sagas_per_s, requests_per_s, sagas, failed,
                         unexpected, retries, exit, stack_cpu_s, cpu_ms_per_saga, machine_busy_pct,
                         saga: .routes.saga, order: .routes.order, pay: .routes.pay})),
   memory: {programs: $memory,
            vmhwm_total_kb: ([$memory[].vmhwm_kb] | add),
            pss_total_kb: ([$memory[].pss_kb] | add),
            peak_pss_total_kb: $peak_pss},
   targets: {}}
  | .targets = {
      sagas: ((first(.sagas[] | select(.clients == $t_clients)) // null) as $s
        | {want: "≥ \($t_sagas) sagas/s at \($t_clients) clients with saga p99 < \($t_p99) ms",
           met: ($s != null and $s.sagas_per_s >= $t_sagas and $s.saga.p99_ms < $t_p99)}),
      gateway_vs_nginx: {want: "gateway ≥ \($t_ratio) × nginx", met: (.wrk.gateway_over_nginx >= $t_ratio)},
      memory: {want: "seven programs < \($t_mem) MB at peak (judged on PSS)",
               met: (.memory.peak_pss_total_kb / 1024 < $t_mem),
               rss_sum_met: (.memory.vmhwm_total_kb / 1024 < $t_mem)}}
  ' >"$OUT/results.json" || die "could not write $OUT/results.json"

# --- the table -------------------------------------------------------------------
R=$OUT/results.json
{
  "$JQ" -r '
    def commas: if length > 3 then (.[:-3] | commas) + "," + .[-3:] else . end;
    def f0: round | tostring | commas;
    def f1: (. * 10 | round) / 10 | tostring;
    def f2: (. * 100 | round) / 100 | tostring;
    def ms: (. / 1000) | f2;
    def mb: (. / 1024) | f1;
    "| measurement | figure | p50 ms | p99 ms | target |",
    "|---|---:|---:|---:|---|",
    "| machine | \(.machine.cores) cores, \(.machine.cpu), \(.machine.memory_gb) GB; load average \(.machine.loadavg_before) before the run | | | |",
    "| build | \(.build) (the default build: make bench builds with the Makefile OPT) | | | |",
    "| disk: durable commits/s, one file (WAL, synchronous=FULL, \(.machine.filesystem)) | \(.disk.one_file_commits_per_s | f0) | | | |",
    "| disk: durable commits/s, \(.disk.files) files at once | \(.disk.files_commits_per_s | f0) | | | |",
    "| disk: rows/s, 16 rows per commit, each in a savepoint | \(.disk.batch16_rows_per_s | f0) | | | |",
    "| disk: rows/s, 64 rows per commit, each in a savepoint | \(.disk.batch64_rows_per_s | f0) | | | |",
    "| ceiling: GET /health, item-service direct (wrk -t\(.wrk.threads) -c\(.wrk.connections), req/s) | \(.wrk.health_direct.rps | f0) | \(.wrk.health_direct.p50_us | ms) | \(.wrk.health_direct.p99_us | ms) | |",
    "| GET /items/{id}, item-service direct (req/s) | \(.wrk.item_direct.rps | f0) | \(.wrk.item_direct.p50_us | ms) | \(.wrk.item_direct.p99_us | ms) | |",
    "| GET /api/items/{id} through nginx (worker_processes \(.wrk.nginx_worker_processes) = \(.wrk.nginx_workers_running // "?"), keepalive 64) (req/s) | \(.wrk.item_nginx.rps | f0) | \(.wrk.item_nginx.p50_us | ms) | \(.wrk.item_nginx.p99_us | ms) | |",
    "| GET /api/items/{id} through api-gateway (req/s) | \(.wrk.item_gateway.rps | f0) | \(.wrk.item_gateway.p50_us | ms) | \(.wrk.item_gateway.p99_us | ms) | |",
    "| gateway / nginx | \(.wrk.gateway_over_nginx | f2) | | | ≥ 1.0: \(if .targets.gateway_vs_nginx.met then "**met**" else "**not met**" end) |",
    "| gateway / direct | \(.wrk.gateway_over_direct | f2) | | | |",
    (.sagas[] as $s |
      "| sagas, \($s.clients) clients: completed order+pay sagas/s (whole saga) | \($s.sagas_per_s | f1) | \($s.saga.p50_ms | f1) | \($s.saga.p99_ms | f1) | \(if $s.clients == 64 then "≥ 2,500/s, p99 < 50 ms: " + (if .targets.sagas.met then "**met**" else "**not met**" end) else "" end) |",
      "| sagas, \($s.clients) clients: POST /api/orders | \($s.order.count / $s.seconds | f0)/s | \($s.order.p50_ms | f1) | \($s.order.p99_ms | f1) | |",
      "| sagas, \($s.clients) clients: POST /api/payments | \($s.pay.count / $s.seconds | f0)/s | \($s.pay.p50_ms | f1) | \($s.pay.p99_ms | f1) | |",
      "| sagas, \($s.clients) clients: CPU of the seven programs per saga; machine busy | \($s.cpu_ms_per_saga | f2) ms; \($s.machine_busy_pct | f0)% | | | \(if ($s.unexpected > 0 or $s.failed > 0) then "\($s.unexpected) unexpected, \($s.failed) failed answers" else "" end) |"),
    (.memory.programs[] |
      "| memory: \(.program): peak RSS (VmHWM) / peak PSS | \(.vmhwm_kb | mb) MB / \(.peak_pss_kb | mb) MB | | | |"),
    "| memory: seven programs, Σ peak RSS (shared libraries counted 7 times) | \(.memory.vmhwm_total_kb | mb) MB | | | < 100 MB: \(if .targets.memory.rss_sum_met then "met" else "not met" end) (not the honest figure) |",
    "| memory: seven programs, peak Σ PSS (sampled each second and at the end) | \(.memory.peak_pss_total_kb | mb) MB | | | < 100 MB: \(if .targets.memory.met then "**met**" else "**not met**" end) |"
  ' "$R"
} >"$OUT/results.md" || die "could not render the table"

# --- the plot --------------------------------------------------------------------
"$JQ" -r '.sagas[] | "\(.clients) \(.sagas_per_s) \(.saga.p99_ms) \(.saga.p50_ms)"' "$R" >"$OUT/sagas.dat"
XRANGE=$(echo $CLIENTS_LIST | tr ' ' '\n' | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "[%g:%g]", lo / 1.4, hi * 1.4}')
TERM_PNG=pngcairo
"$GNUPLOT" -e 'set terminal' 2>&1 | grep -q pngcairo || TERM_PNG=png
"$GNUPLOT" <<EOF 2>"$WORK/gnuplot.err" || { cat "$WORK/gnuplot.err" >&2; die "gnuplot failed"; }
set terminal $TERM_PNG size 900,540
set output "$OUT/sagas.png"
set title "Shop: order+pay sagas against clients ($CORES cores, $(echo "$CPU_MODEL" | tr -d '"'); load average $LOADAVG before)"
set xlabel "clients (shop-load --mix success, ${SAGA_SECONDS} s each)"
set logscale x 2
set xrange $XRANGE
set xtics ($(echo $CLIENTS_LIST | sed 's/ /, /g'))
set ylabel "completed sagas/s"
set y2label "saga latency (ms)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key top left
set grid
plot "$OUT/sagas.dat" using 1:2 with linespoints lw 2 pt 7 title "sagas/s", \
     "$OUT/sagas.dat" using 1:3 axes x1y2 with linespoints lw 2 pt 5 title "saga p99 (ms)", \
     "$OUT/sagas.dat" using 1:4 axes x1y2 with linespoints lw 1 pt 4 dt 2 title "saga p50 (ms)"
EOF

echo
echo "Shop bench, $(date -u '+%Y-%m-%d %H:%M UTC'): stack on 127.0.0.1:$BASE..$((BASE + 6)), nginx on $NGINX_PORT"
echo
cat "$OUT/results.md"
echo
echo "Targets (the bench does not fail on them):"
"$JQ" -r '.targets | to_entries[] | "  \(.value.want): \(if .value.met then "met" else "NOT MET" end)"' "$R"
echo
echo "Written: $OUT/results.json, $OUT/results.md, $OUT/sagas.png"
OK=1
exit 0
