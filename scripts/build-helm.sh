#!/usr/bin/env bash
# build-helm.sh: build helm (v4), which the chart tests (deploy/helm, e2e/deploy) run, once per version,
# from the Go module proxy. Its module (e2e/helm) pins helm.sh/helm/v4 and is separate from e2e/cluster
# and e2e/ksm so that none of them moves another's k8s.io/* versions.
#
#   scripts/build-helm.sh [--print-dir]
#
# The binary lands in ~/.cache/kubemend/helm-<version>/bin/helm (KUBEMEND_CACHE overrides
# ~/.cache/kubemend) and is never rebuilt once there (a warm call costs nothing). The Go module and
# build caches are the ones scripts/build-k8s.sh uses (~/.cache/kubemend/go), never in the clone.
# Prints the bin dir.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/e2e/helm"
version=$(awk '$1=="helm.sh/helm/v4" && $2 ~ /^v/ {print $2}' "$mod/go.mod" | head -1)
[[ -n $version ]] || { echo "build-helm.sh: no helm.sh/helm/v4 version in $mod/go.mod" >&2; exit 2; }
cache=${KUBEMEND_CACHE:-$HOME/.cache/kubemend}
bin="$cache/helm-$version/bin"
if [[ ${1:-} == --print-dir ]]; then echo "$bin"; exit 0; fi
if [[ -x $bin/helm ]]; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { echo "build-helm.sh: go is not installed (needs Go >= 1.26)" >&2; exit 2; }
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"
start=$(date +%s)
printf '[build-helm] helm %s into %s (the first build takes minutes) ... ' "$version" "$bin" >&2
# The version is stamped the way upstream's Makefile does, so `helm version` says it.
(cd "$mod" && go build -p "${KUBEMEND_GO_JOBS:-2}" -trimpath \
  -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${version}" \
  -o "$bin/helm.tmp" helm.sh/helm/v4/cmd/helm)
mv -f "$bin/helm.tmp" "$bin/helm"
echo "$(($(date +%s) - start)) s" >&2
echo "$bin"
