#!/usr/bin/env bash
# Runs one benchmark on two commits and prints each RESULT figure's median
# for both and the ratio B/A. For anyone changing a hot path; not a test.
#
#   bench/compare.sh [--repeat 3] [--bench pipeline|webhook|idle] A B [-- benchmark args...]
#
# Each commit is checked out with `git worktree add` under /tmp and its
# services built there (ccache keeps that short); the benchmark program is
# this checkout's, so both commits are measured the same way. The runs
# alternate A, B, A, B, ... so that a machine whose load changes treats both
# alike; compare ratios, and the ceilings each run prints beside its figures.
# The audit benchmark links the trail's store itself: compare it by running
# services/audit/bench/audit_bench.sh in each checkout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPEAT=3 BENCH=pipeline
while (($#)); do
  case $1 in
    --repeat) REPEAT=$2; shift 2 ;;
    --bench) BENCH=$2; shift 2 ;;
    *) break ;;
  esac
done
(($# >= 2)) || { sed -n '2,13p' "$0" >&2; exit 2; }
A=$1 B=$2; shift 2
[ "${1:-}" = "--" ] && shift
case $BENCH in pipeline|webhook|idle) ;; *) echo "compare.sh: --bench pipeline, webhook or idle" >&2; exit 2 ;; esac

WORK=$(mktemp -d /tmp/kubemend-compare.XXXXXX)
cleanup() {
  for c in a b; do
    [ -d "$WORK/$c" ] && git -C "$ROOT" worktree remove --force "$WORK/$c" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

export CCACHE_DIR=${CCACHE_DIR:-${KUBEMEND_CACHE:-$HOME/.cache/kubemend}/ccache} CCACHE_NOHASHDIR=1
targets=(kubemend-collector kubemend-analyzer kubemend-safety-gate kubemend-executor kubemend-audit)
for c in a b; do
  rev=$A; [ $c = b ] && rev=$B
  git -C "$ROOT" worktree add --detach "$WORK/$c" "$rev" >/dev/null 2>&1 || { echo "cannot check out $rev" >&2; exit 1; }
  echo "== building $rev in $WORK/$c" >&2
  CCACHE_BASEDIR=$WORK/$c cmake -S "$WORK/$c" -B "$WORK/$c/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  CCACHE_BASEDIR=$WORK/$c cmake --build "$WORK/$c/build" -j"${KUBEMEND_JOBS:-2}" --target "${targets[@]}" >"$WORK/build-$c.log" 2>&1 \
    || { tail -20 "$WORK/build-$c.log" >&2; exit 1; }
done

for i in $(seq "$REPEAT"); do
  for c in a b; do
    echo "== run $i of $REPEAT: $c" >&2
    KUBEMEND_STACK_ROOT=$WORK/$c KUBEMEND_STACK_BUILD=$WORK/$c/build "$ROOT/bench/run.sh" "$BENCH" "$@" \
      >"$WORK/out-$c-$i.txt" 2>&1 || echo "   (run $i of $c exited $?: see its figures; a timed-out phase has none)" >&2
    grep -E 'TIMED OUT|FAILED' "$WORK/out-$c-$i.txt" >&2 || true
  done
done

python3 - "$WORK" "$REPEAT" "$A" "$B" <<'PY'
import statistics, sys, glob, collections
work, repeat, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
vals = {"a": collections.defaultdict(list), "b": collections.defaultdict(list)}
for c in "ab":
    for f in sorted(glob.glob(f"{work}/out-{c}-*.txt")):
        for line in open(f):
            p = line.split()
            if len(p) == 3 and p[0] == "RESULT":
                try:
                    vals[c][p[1]].append(float(p[2]))
                except ValueError:
                    pass
keys = sorted(set(vals["a"]) | set(vals["b"]))
print(f"{'figure (median of runs)':36} {'A ' + a[:10]:>16} {'B ' + b[:10]:>16} {'B/A':>8}  runs")
for k in keys:
    ma = statistics.median(vals["a"][k]) if vals["a"][k] else float("nan")
    mb = statistics.median(vals["b"][k]) if vals["b"][k] else float("nan")
    r = mb / ma if ma else float("nan")
    print(f"{k:36} {ma:16.3f} {mb:16.3f} {r:8.3f}  {len(vals['a'][k])}/{len(vals['b'][k])}")
PY
