#!/usr/bin/env bash
# Fuzzes the analyzer's policy parser with libFuzzer and merges new coverage
# into services/analyzer/fuzz/corpus, which analyzer_unit_test
# (PolicyFuzzCorpusTest) replays with the normal compiler.
#   scripts/fuzz-policies.sh [seconds=120]
# Needs clang and its sanitizer runtime (Debian: apt-get install clang
# libclang-rt-14-dev). Only the parser's sources are compiled with clang
# (-fsanitize=fuzzer,address); the rest (catalogue, common, proto) links from
# the normal gcc build, so no second full build is needed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN_SECONDS=${1:-120}
BUILD=${KUBEMEND_BUILD_DIR:-$ROOT/build}
OUT=${KUBEMEND_FUZZ_DIR:-$ROOT/build-fuzz}
command -v clang++ >/dev/null || { echo "fuzz-policies: clang++ not found (apt-get install clang)" >&2; exit 1; }
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubemend/ccache} CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"${KUBEMEND_JOBS:-2}" --target analyzer_unit_test >/dev/null
mkdir -p "$OUT/obj"
SRC=$ROOT/services/analyzer
CXX="clang++"
command -v ccache >/dev/null && CXX="ccache clang++"
objs=()
for f in "$SRC/fuzz/policy_fuzz.cc" "$SRC"/src/policy.cc "$SRC"/src/policy_{fields,trigger,healing,seeds,match,store}.cc; do
  o=$OUT/obj/$(basename "$f" .cc).o
  $CXX -std=c++20 -O1 -g -fsanitize=fuzzer,address -I"$SRC/src" -I"$ROOT/services/common/include" \
    -isystem "$BUILD/proto/gen" -c "$f" -o "$o"
  objs+=("$o")
done
# The libraries the unit test links, minus the test frameworks. The clang
# objects come first, so libanalyzer_core.a only supplies what they lack.
mapfile -t libs < <(tr ' ' '\n' < "$BUILD/services/analyzer/CMakeFiles/analyzer_unit_test.dir/link.txt" |
  grep -E '\.(a|so[.0-9]*)$|^-l|^-L|^-pthread$' | grep -vE 'gtest|gmock|fake_ollama')
(cd "$BUILD/services/analyzer" && clang++ -fsanitize=fuzzer,address "${objs[@]}" "${libs[@]}" -o "$OUT/analyzer_policy_fuzz")
CORPUS=$SRC/fuzz/corpus
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT/findings"
# New inputs go to $WORK; crashes and hangs to $OUT/findings (never into a
# corpus directory: a hanging input there would hang the merge below).
set +e
"$OUT/analyzer_policy_fuzz" "$WORK" "$CORPUS" -dict="$SRC/fuzz/policy.dict" -max_total_time="$RUN_SECONDS" \
  -max_len=4096 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$OUT/findings/"
rc=$?
set -e
if ((rc != 0)); then
  echo "fuzz-policies: a finding is in $OUT/findings; add it to $CORPUS once fixed" >&2
  exit $rc
fi
# Keep only the new inputs that add coverage.
timeout 300 "$OUT/analyzer_policy_fuzz" -merge=1 -timeout=5 "$CORPUS" "$WORK" >/dev/null 2>&1
