#!/usr/bin/env bash
# Runs kubemend's benchmarks (bench/README.md). ./kubemend bench = bench/run.sh all.
#   bench/run.sh all                     every benchmark below, one after the other
#   bench/run.sh pipeline [args...]      bench/pipeline_bench.cc on a private PostgreSQL + Apache Kafka
#   bench/run.sh webhook [args...]       bench/webhook_bench.sh (collector ingest vs nginx)
#   bench/run.sh audit [args...]         services/audit/bench/audit_bench.sh (trail ingest vs plain COPY)
#   bench/run.sh idle [args...]          bench/idle_cpu.sh (each process's CPU with the stack idle)
#   bench/run.sh gate [args...]          the safety gate's pure core (decisions/s, no broker)
#   bench/run.sh analyzer [args...]      the analyzer's pure core (no broker)
# KUBEMEND_STACK_ROOT / KUBEMEND_STACK_BUILD: run the services of another
# checkout (bench/compare.sh uses them); the benchmark programs stay this one's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KUBEMEND_BUILD_DIR:-$ROOT/build}
what=${1:-all}; shift || true
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] %s\n' "$*" >&2; exit 1; }

pipeline() {
  # shellcheck disable=SC1090
  source <(sed -n '/^# ---* helpers/,/^# ---* up \/ down/p' "$ROOT/kubemend")
  PG_BIN=/usr/lib/postgresql/15/bin
  BENCH_DIR=$(mktemp -d /tmp/kubemend-bench.XXXXXX)
  chmod 755 "$BENCH_DIR"; mkdir -p "$BENCH_DIR/logs" "$BENCH_DIR/pids"
  trap 'stop_pid "$BENCH_DIR/pids/broker"; stop_pg "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT
  export KUBEMEND_TEST_PG_DSN; KUBEMEND_TEST_PG_DSN="$(start_pg "$BENCH_DIR") dbname=postgres"
  export KUBEMEND_TEST_KAFKA_BROKERS; KUBEMEND_TEST_KAFKA_BROKERS=$(start_broker "$BENCH_DIR" "kubemend.")
  export KUBEMEND_TEST_KAFKA_BOOTSTRAP_FILE=$BENCH_DIR/kafka.bootstrap KUBEMEND_BENCH_BROKER_PID_FILE=$BENCH_DIR/pids/broker
  export KUBEMEND_ROOT=${KUBEMEND_STACK_ROOT:-$ROOT}
  local bench_build=$BUILD
  export KUBEMEND_BUILD_DIR=${KUBEMEND_STACK_BUILD:-$BUILD}
  "$bench_build/bench/pipeline_bench" "$@"
}

case $what in
  pipeline) (pipeline "$@") ;;
  webhook) KUBEMEND_ROOT=${KUBEMEND_STACK_ROOT:-$ROOT} KUBEMEND_BUILD_DIR=${KUBEMEND_STACK_BUILD:-$BUILD} \
             "$ROOT/bench/webhook_bench.sh" "$@" ;;
  audit) "$ROOT/services/audit/bench/audit_bench.sh" "$@" ;;
  idle) "$ROOT/bench/idle_cpu.sh" "$@" ;;
  gate) echo "in the loop: the safety gate's pure core, every rule on; no broker, no database"
        "$BUILD/services/safety-gate/safety_gate_bench" "$@" ;;
  analyzer) echo "in the loop: the analyzer's pure core; no broker, no database"
            "$BUILD/services/analyzer/analyzer_bench" "$@" ;;
  all)
    rc=0
    for b in gate analyzer audit webhook idle pipeline; do
      log "== $b"
      "$0" "$b" || { rc=$?; log "$b failed (exit $rc)"; }
    done
    exit $rc ;;
  *) die "unknown benchmark $what (all, pipeline, webhook, audit, idle, gate, analyzer)" ;;
esac
