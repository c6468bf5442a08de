#!/usr/bin/env bash
# compose_services_itest.sh REPO_ROOT BUILD_DIR: the compose stack's kubemend
# half without Docker. Starts the five services as processes with the very
# files compose mounts (deploy/compose/config/*.yaml), overriding only what
# compose's network gives them (addresses) through KUBEMEND_* variables, as
# compose does. Then checks that:
#   - kubemend-healthcheck (compose's health check) says SERVING for each,
#   - an alert POSTed to the collector's webhook comes out the far end as an
#     outcome in the audit trail (migrations applied by audit at start).
# Needs KUBEMEND_TEST_PG_DSN and (./kubemend test sets them)
# KUBEMEND_TEST_KAFKA_BROKERS; uses its own topic prefix and its own database.
# Fails without the env.
set -euo pipefail
root=$1 build=$2
: "${KUBEMEND_TEST_PG_DSN:?KUBEMEND_TEST_PG_DSN is not set (run through ./kubemend test)}"
SERVICES=(audit safety-gate executor analyzer collector)
dir=$(mktemp -d /tmp/kubemend-deploy-itest.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql "$KUBEMEND_TEST_PG_DSN" -Xqc "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
  rm -rf "$dir"
}
db=deploy_itest_$$
trap cleanup EXIT
fail() { echo "FAIL: $*"; for s in "${SERVICES[@]}"; do echo "--- $s"; tail -5 "$dir/$s.log" 2>/dev/null; done; exit 1; }

prefix=deployitest$$.
# The run's Apache Kafka (./kubemend test starts it), under a topic prefix of our own.
: "${KUBEMEND_TEST_KAFKA_BROKERS:?KUBEMEND_TEST_KAFKA_BROKERS is not set (run through ./kubemend test)}"
brokers=$KUBEMEND_TEST_KAFKA_BROKERS
psql "$KUBEMEND_TEST_PG_DSN" -Xqc "CREATE DATABASE $db" || fail "cannot create database $db"
dsn="${KUBEMEND_TEST_PG_DSN/dbname=postgres/dbname=$db}"

for s in "${SERVICES[@]}"; do
  KUBEMEND_KAFKA_BROKERS=$brokers KUBEMEND_KAFKA_TOPIC_PREFIX=$prefix \
  KUBEMEND_KAFKA_GROUP_ID="${prefix}$s" \
  KUBEMEND_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=1000,fetch.wait.max.ms=10" \
  KUBEMEND_GRPC_LISTEN=127.0.0.1:0 KUBEMEND_HTTP_LISTEN=127.0.0.1:0 \
  KUBEMEND_RUNTIME_READY_FILE="$dir/$s.ready" KUBEMEND_POSTGRES_DSN="$dsn" \
  KUBEMEND_AUDIT_MIGRATIONS_DIR="$root/migrations" KUBEMEND_ANALYZER_POLICY_PATHS="$root/policies/default.yaml" \
    "$build/services/$s/kubemend-$s" --config "$root/deploy/compose/config/$s.yaml" >"$dir/$s.log" 2>&1 &
  pids+=($!)
done
addr() { sed -E "s/.*\"$2\":\"([^\"]+)\".*/\1/" "$dir/$1.ready"; }
for s in "${SERVICES[@]}"; do
  for _ in $(seq 1 300); do [ -s "$dir/$s.ready" ] && break; sleep 0.1; done
  [ -s "$dir/$s.ready" ] || fail "$s did not start with deploy/compose/config/$s.yaml"
done
# The compose health check, verbatim but for the address.
for s in "${SERVICES[@]}"; do
  answer=""
  for _ in $(seq 1 240); do
    answer=$("$build/deploy/healthcheck/kubemend-healthcheck" --grpc "$(addr "$s" grpc)" --timeout 1s) && break
    sleep 0.25
  done
  [ "$answer" = SERVING ] || fail "$s: kubemend-healthcheck says '$answer' (want SERVING)"
  echo "$s: $answer"
done

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
curl -fsS -X POST "http://$(addr collector http)/api/v1/alerts" -H 'Content-Type: application/json' -d \
  "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"KubePodCrashLooping\",
    \"namespace\":\"shop\",\"pod\":\"api-7d9f-x2k4p\",\"deployment\":\"api\"},\"startsAt\":\"$now\",\"fingerprint\":\"deploy-itest-$$\"}]}" \
  >/dev/null || fail "the collector's webhook refused the alert"
types=""
for _ in $(seq 1 300); do
  # The chain's four types (the analyzer also announces its policies as control
  # events, and topics are ingested in parallel, so compare as a set).
  types=$(psql "$dsn" -XtAc "SELECT string_agg(event_type, ',' ORDER BY array_position(ARRAY['signal','proposal','decision','outcome'], event_type)) FROM audit_events WHERE event_type <> 'control'" 2>/dev/null || true)
  [[ $types == *outcome* ]] && break
  sleep 0.2
done
[ "$types" = signal,proposal,decision,outcome ] || fail "audit trail holds '$types' (want signal,proposal,decision,outcome)"
echo "audit trail: $types"
