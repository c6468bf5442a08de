#!/usr/bin/env bash
# Audit ingest benchmark on this machine: a private PostgreSQL and Apache Kafka,
# then audit_bench (Kafka -> trail rows/s next to plain COPY). Usage:
#   services/audit/bench/audit_bench.sh [--events N] [--batch N] [--profile DIR]
# Needs a build: ./kubemend build (or the audit_bench target).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${KUBEMEND_BUILD_DIR:-$ROOT/build}
PG_BIN=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/audit-bench.XXXXXX)
chmod 755 "$dir"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  [ -f "$dir/broker.pid" ] && kill "$(cat "$dir/broker.pid")" 2>/dev/null || true
  [ -f "$dir/pg/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pg"
as_pg "$PG_BIN/initdb" -D "$dir/pg/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
port=$((20000 + RANDOM % 40000))
# The same settings ./kubemend uses for its local PostgreSQL.
as_pg "$PG_BIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w \
  -o "-p $port -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
"$ROOT/scripts/kafka.sh" start "$dir" >"$dir/kb"
cp "$dir/kafka/pid" "$dir/broker.pid"
# One topic set per phase (audit_bench: bench.s. serial, bench.p. pipelined).
for phase in s p; do
  "$ROOT/scripts/kafka.sh" create-topic "$dir" bench.$phase.outcomes 16
  "$ROOT/scripts/kafka.sh" create-topic "$dir" bench.$phase.deadletter 1
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/services/audit/audit_bench" --pg-dsn "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
  --brokers "$(cat "$dir/kb")" --topic-prefix bench. "$@"
