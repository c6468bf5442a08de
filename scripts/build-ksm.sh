#!/usr/bin/env bash
# build-ksm.sh: build kube-state-metrics, the real exporter the upstream-rules e2e scrapes, once per
# version, from the Go module proxy. Its module (e2e/ksm) is separate from e2e/cluster because
# kube-state-metrics pins its own k8s.io/* versions (v0.36), which clash with the control plane's v0.37.
#
#   scripts/build-ksm.sh [--print-dir]
#
# The binary lands in ~/.cache/kubemend/ksm-<version>/bin/kube-state-metrics (KUBEMEND_CACHE
# overrides ~/.cache/kubemend) and is never rebuilt once there. The Go module and build caches are
# the ones scripts/build-k8s.sh uses (~/.cache/kubemend/go), never in the clone. Prints the bin dir.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/e2e/ksm"
version=$(awk '$1=="k8s.io/kube-state-metrics/v2" && $2 ~ /^v/ {print $2}' "$mod/go.mod" | head -1)
[[ -n $version ]] || { echo "build-ksm.sh: no k8s.io/kube-state-metrics/v2 version in $mod/go.mod" >&2; exit 2; }
cache=${KUBEMEND_CACHE:-$HOME/.cache/kubemend}
bin="$cache/ksm-$version/bin"
if [[ ${1:-} == --print-dir ]]; then echo "$bin"; exit 0; fi
if [[ -x $bin/kube-state-metrics ]]; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { echo "build-ksm.sh: go is not installed (needs Go >= 1.26)" >&2; exit 2; }
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"
start=$(date +%s)
printf '[build-ksm] kube-state-metrics %s into %s (the first build takes minutes) ... ' "$version" "$bin" >&2
# The version is stamped the way upstream's Makefile does, so /metrics' kube_state_metrics_build_info says it.
(cd "$mod" && go build -p "${KUBEMEND_GO_JOBS:-2}" -trimpath \
  -ldflags="-s -w -X github.com/prometheus/common/version.Version=${version}" \
  -o "$bin/kube-state-metrics.tmp" k8s.io/kube-state-metrics/v2)
mv -f "$bin/kube-state-metrics.tmp" "$bin/kube-state-metrics"
echo "$(($(date +%s) - start)) s" >&2
echo "$bin"
