#!/usr/bin/env bash
# Runs the benchmarks against a private PostgreSQL and broker (like the tests).
#   bench/run.sh [pipeline] [pipeline_bench args...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KUBEMEND_BUILD_DIR:-$ROOT/build}
what=${1:-pipeline}; shift || true
# shellcheck disable=SC1090
source <(sed -n '/^# ---* helpers/,/^# ---* up \/ down/p' "$ROOT/kubemend")
PG_BIN=/usr/lib/postgresql/15/bin
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] %s\n' "$*" >&2; exit 1; }
BENCH_DIR=$(mktemp -d /tmp/kubemend-bench.XXXXXX)
chmod 755 "$BENCH_DIR"; mkdir -p "$BENCH_DIR/logs" "$BENCH_DIR/pids"
trap 'stop_pid "$BENCH_DIR/pids/broker"; stop_pg "$BENCH_DIR"; rm -rf "$BENCH_DIR"' EXIT
export KUBEMEND_TEST_PG_DSN; KUBEMEND_TEST_PG_DSN="$(start_pg "$BENCH_DIR") dbname=postgres"
export KUBEMEND_TEST_KAFKA_BROKERS; KUBEMEND_TEST_KAFKA_BROKERS=$(start_broker "$BENCH_DIR" "kubemend.")
export KUBEMEND_TEST_KAFKA_BOOTSTRAP_FILE=$BENCH_DIR/kafka.bootstrap KUBEMEND_ROOT=$ROOT KUBEMEND_BUILD_DIR=$BUILD KUBEMEND_BENCH_BROKER_PID_FILE=$BENCH_DIR/pids/broker
case $what in
  pipeline) "$BUILD/bench/pipeline_bench" "$@" ;;
  *) die "unknown benchmark $what (pipeline)" ;;
esac
