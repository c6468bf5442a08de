#!/usr/bin/env bash
# Webhook ingest benchmark for kubemend-collector, next to its ceiling.
#
#   bench/webhook_bench.sh [--duration 10s] [--connections 16] [--threads 2] [--alerts-per-request 1]
#                          [--collector-only]
#
# --collector-only stops the stack's other services (analyzer, safety-gate,
# executor, audit) before measuring, so that the two cores are shared by the
# collector, the broker and wrk only; by default the whole pipeline runs and
# every signal is also analysed and written to the audit trail.
#
# Brings up a stack (./kubemend up --no-build --run-dir /tmp/kubemend-bench-*,
# own PostgreSQL and broker), then measures with wrk:
#   1. ingest: every request carries new alerts (unique fingerprints), so every
#      alert is parsed, published and acknowledged by the broker before the 200;
#   2. storm: the same alert over and over (Alertmanager re-sending one alert),
#      so every request after the first is answered from the dedup state;
#   3. ceiling: nginx on the same machine answering 200 to the same POSTs
#      with a 2 KB body (keep-alive, like wrk).
# Prints alerts/s accepted (and published) for 1 and 2 and the share of the
# nginx rate. Needs: wrk, nginx (nginx-light), a build (./kubemend build).
set -euo pipefail
ROOT=${KUBEMEND_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}  # the stack (bench/run.sh may point elsewhere)
DURATION=10s CONNS=16 THREADS=2 PER_REQ=1 COLLECTOR_ONLY=0
while (($#)); do
  case $1 in
    --duration) DURATION=$2; shift ;;
    --connections) CONNS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --alerts-per-request) PER_REQ=$2; shift ;;
    --collector-only) COLLECTOR_ONLY=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/kubemend-bench-XXXXXX)
chmod 755 "$WORK"  # PostgreSQL runs as user postgres and must reach its data dir
RUN_DIR=$WORK/stack
NGINX_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  "$ROOT/kubemend" down --run-dir "$RUN_DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "== bringing a stack up in $RUN_DIR" >&2
"$ROOT/kubemend" up --no-build --run-dir "$RUN_DIR" >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
# shellcheck disable=SC1091
source "$RUN_DIR/stack.env"
URL="http://$KUBEMEND_COLLECTOR_HTTP/api/v1/alerts"
if ((COLLECTOR_ONLY)); then
  for s in analyzer safety-gate executor audit; do
    [ -f "$RUN_DIR/pids/$s" ] && kill "$(cat "$RUN_DIR/pids/$s")" 2>/dev/null || true
  done
  sleep 1
fi

# wrk script: mode "unique" gives every request fresh fingerprints
# (thread id + counter), "storm" sends one identical body.
cat >"$WORK/post.lua" <<'LUA'
local mode = os.getenv("BENCH_MODE")
local per = tonumber(os.getenv("BENCH_PER_REQ") or "1")
local counter = 0
local nthreads = 0
-- setup runs in the main Lua state; thread:set puts a global "tid" into
-- each thread's own state (it must not be shadowed by a local there).
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
local function alert(fp)
  return '{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"bench",'
    .. '"pod":"web-' .. fp .. '","container":"app","severity":"warning"},'
    .. '"annotations":{"summary":"Pod is crash looping.","description":"bench"},'
    .. '"startsAt":"2026-11-22T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",'
    .. '"generatorURL":"http://prometheus/graph","fingerprint":"' .. fp .. '"}'
end
local function body(base)
  local alerts = {}
  for i = 1, per do
    alerts[i] = alert(base .. "-" .. i)
  end
  return '{"receiver":"kubemend","status":"firing","alerts":[' .. table.concat(alerts, ",")
    .. '],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am",'
    .. '"version":"4","groupKey":"{}:{}","truncatedAlerts":0}'
end
local storm_body = body("storm")
function request()
  counter = counter + 1
  local b = storm_body
  if mode == "unique" then
    b = body(string.format("%s-%d-%d", os.getenv("BENCH_RUN"), tid or 0, counter))
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, b)
end
-- Only answered, non-error requests count: wrk's own Requests/sec counts
-- every answer, 503s included.
function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.status + e.connect + e.read + e.write + e.timeout
  io.write(string.format("ACCEPTED_RPS %.1f\nFAILED %d\nP99_MS %.2f\n",
    (summary.requests - e.status) / (summary.duration / 1e6), failed, latency:percentile(99) / 1000))
end
LUA

run_wrk() {  # run_wrk MODE URL → prints requests/s; wrk output kept in $WORK
  local mode=$1 url=$2
  BENCH_MODE=$mode BENCH_PER_REQ=$PER_REQ BENCH_RUN=$RANDOM$RANDOM \
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$WORK/post.lua" "$url" >"$WORK/wrk-$mode.txt" 2>&1
  awk '$1 == "ACCEPTED_RPS" {print $2}' "$WORK/wrk-$mode.txt"
}

metric() {  # metric NAME SOURCE → value from the collector's /metrics
  curl -fsS "http://$KUBEMEND_COLLECTOR_HTTP/metrics" \
    | awk -v n="$1" -v s="source=\"$2\"" '$1 ~ "^"n"\\{" && index($1, s) {print $2}' | head -1
}

loop="the whole pipeline (analyzer, safety-gate, executor record-only, audit) behind the collector"
((COLLECTOR_ONLY)) && loop="the collector alone (the other services stopped)"
echo "in the loop: Apache Kafka (scripts/kafka.sh, one KRaft node, acks=all, idempotent producer); $loop;"
echo "  every 200 means the alerts were acknowledged by the broker; non-2xx and socket errors are not counted"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU (user+system) of the collector and of the broker over the ingest phase,
# per published alert: it holds still when other work loads the machine.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
COLLECTOR_PID=$(cat "$RUN_DIR"/pids/collector* 2>/dev/null | head -1)
BROKER_PID=$(cat "$RUN_DIR/pids/broker" 2>/dev/null || echo 0)
echo "== ingest (unique alerts, $PER_REQ per request)" >&2
pub0=$(metric kubemend_collector_published_total alertmanager); pub0=${pub0:-0}
cc0=$(cpu_ticks "$COLLECTOR_PID"); bc0=$(cpu_ticks "$BROKER_PID")
ingest_rps=$(run_wrk unique "$URL")
cc1=$(cpu_ticks "$COLLECTOR_PID"); bc1=$(cpu_ticks "$BROKER_PID")
pub1=$(metric kubemend_collector_published_total alertmanager)
echo "== storm (one alert repeated)" >&2
dedup0=$(metric kubemend_collector_deduplicated_total alertmanager); dedup0=${dedup0:-0}
storm_rps=$(run_wrk storm "$URL")
dedup1=$(metric kubemend_collector_deduplicated_total alertmanager)
pub2=$(metric kubemend_collector_published_total alertmanager)

echo "== ceiling: nginx answering 200 with 2 KB" >&2
NGX_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
head -c 2048 /dev/zero | tr '\0' 'x' >"$WORK/nginx/body.txt"
cat >"$WORK/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGX_PORT;
    client_max_body_size 16m;
    location / { return 200 "$(cat "$WORK/nginx/body.txt")"; }
  }
}
NGX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX_PID=$!
for _ in $(seq 50); do curl -fsS -o /dev/null -X POST "http://127.0.0.1:$NGX_PORT/" && break; sleep 0.1; done
nginx_rps=$(run_wrk storm "http://127.0.0.1:$NGX_PORT/")

python3 - "$ingest_rps" "$storm_rps" "$nginx_rps" "$PER_REQ" "$pub0" "$pub1" "$dedup0" "$dedup1" "$pub2" \
  "$((cc1 - cc0))" "$((bc1 - bc0))" "$(getconf CLK_TCK)" <<'PY'
import sys
ing, storm, ngx, per = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pub0, pub1, d0, d1, pub2 = (float(x or 0) for x in sys.argv[5:10])
ccpu, bcpu, tck = float(sys.argv[10]), float(sys.argv[11]), float(sys.argv[12])
print(f"ingest:  {ing:10.0f} req/s = {ing*per:10.0f} alerts/s accepted, {pub1-pub0:.0f} published "
      f"({ing/ngx*100:5.1f} % of nginx)")
print(f"storm:   {storm:10.0f} req/s = {storm*per:10.0f} alerts/s accepted, {d1-d0:.0f} deduplicated, "
      f"{pub2-pub1:.0f} published ({storm/ngx*100:5.1f} % of nginx)")
print(f"nginx:   {ngx:10.0f} req/s (2 KB reply, same wrk settings): the ceiling, measured in this run")
if pub1 > pub0:
    cu, bu = ccpu / tck * 1e6 / (pub1 - pub0), bcpu / tck * 1e6 / (pub1 - pub0)
    print(f"cpu per published alert (ingest, user+system): collector {cu:.0f} us, broker {bu:.0f} us")
    print(f"RESULT webhook_collector_cpu_us_per_alert {cu:.0f}")
    print(f"RESULT webhook_broker_cpu_us_per_alert {bu:.0f}")
print(f"RESULT webhook_ingest_alerts_per_s {ing*per:.0f}")
print(f"RESULT webhook_storm_alerts_per_s {storm*per:.0f}")
print(f"RESULT nginx_req_per_s {ngx:.0f}")
print(f"RESULT webhook_ingest_share_of_nginx {ing/ngx:.4f}")
PY
for m in unique storm; do
  f=$(awk '$1 == "FAILED" {print $2}' "$WORK/wrk-$m.txt")
  [ "${f:-0}" = 0 ] || echo "$m: $f requests FAILED (non-2xx or socket errors; not counted as accepted)"
done
