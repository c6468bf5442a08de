#!/usr/bin/env bash
# idle_cpu.sh: what the stack costs when nothing happens. Starts a stack of
# this checkout (or KUBEMEND_STACK_ROOT's) with `kubemend up --no-build` on
# its own Apache Kafka and PostgreSQL, lets it settle, and prints each
# process's CPU (user+system) over the window, as % of one core.
#   bench/idle_cpu.sh [--settle 15] [--seconds 30]
# Idle CPU is mostly the broker answering empty fetches and the clients
# asking; it is what a consumer's fetch.wait.max.ms sets (bench/README.md).
set -euo pipefail
ROOT=${KUBEMEND_STACK_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SETTLE=15 SECONDS_=30
while (($#)); do
  case $1 in
    --settle) SETTLE=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    *) echo "usage: bench/idle_cpu.sh [--settle S] [--seconds S]" >&2; exit 2 ;;
  esac
done
RD=$(mktemp -d /tmp/kubemend-idle.XXXXXX)
chmod 755 "$RD"
trap '"$ROOT/kubemend" down --run-dir "$RD" >/dev/null 2>&1 || true; rm -rf "$RD"' EXIT
"$ROOT/kubemend" up --no-build --run-dir "$RD" >"$RD/up.log" 2>&1 || { tail -20 "$RD/up.log" >&2; exit 1; }
echo "in the loop: the five services of $ROOT, idle, on Apache Kafka (scripts/kafka.sh) and PostgreSQL; load average $(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$SETTLE"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
names=() pids=() t0=()
for f in "$RD"/pids/*; do
  p=$(cat "$f")
  [[ $p =~ ^[0-9]+$ ]] && [ -r "/proc/$p/stat" ] || continue
  names+=("$(basename "$f")"); pids+=("$p"); t0+=("$(ticks "$p")")
done
sleep "$SECONDS_"
hz=$(getconf CLK_TCK)
for i in "${!pids[@]}"; do
  used=$(( $(ticks "${pids[$i]}") - ${t0[$i]} ))
  pct=$(python3 -c "print(f'{100 * $used / $hz / $SECONDS_:.1f}')")
  printf '%-12s %5.1f %% of a core\n' "${names[$i]}" "$pct"
  echo "RESULT idle_cpu_pct_${names[$i]} $pct"
done
