#!/usr/bin/env bash
# build-k8s.sh: build the real Kubernetes control plane the tests run against, once per version,
# from the Go module proxy (module e2e/cluster pins k8s.io/kubernetes and its staging modules).
#
#   scripts/build-k8s.sh [--print-dir]
#
# Binaries land in ~/.cache/kubemend/k8s-<version>/bin (KUBEMEND_CACHE overrides ~/.cache/kubemend):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kubemend-kubelet
# (our pod-lifecycle driver, e2e/cluster/cmd/kubemend-kubelet). An upstream binary that exists
# is not rebuilt; ours is relinked every time (seconds, from the Go build cache), so edits show.
# The Go module and build caches live in the same cache directory, never in the clone.
# --print-dir prints the bin directory and builds nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/e2e/cluster"
version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2} $1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$mod/go.mod" | head -1)
[[ -n $version ]] || { echo "build-k8s.sh: no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 2; }
cache=${KUBEMEND_CACHE:-$HOME/.cache/kubemend}
bin="$cache/k8s-$version/bin"
if [[ ${1:-} == --print-dir ]]; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { echo "build-k8s.sh: go is not installed (needs Go >= 1.26)" >&2; exit 2; }
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
export CGO_ENABLED=0
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"
jobs=${KUBEMEND_GO_JOBS:-2}

upstream=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ./cmd/etcd)
ours=(./cmd/kubemend-kubelet)
total=$((${#upstream[@]} + ${#ours[@]}))

build_one() {  # build_one N PACKAGE
  local n=$1 pkg=$2 name start
  name=$(basename "$pkg")
  start=$(date +%s)
  printf '[build-k8s] (%d/%d) %s %s ... ' "$n" "$total" "$name" "$version" >&2
  (cd "$mod" && go build -p "$jobs" -trimpath -ldflags='-s -w' -o "$bin/$name.tmp" "$pkg")
  mv -f "$bin/$name.tmp" "$bin/$name"
  echo "$(($(date +%s) - start)) s" >&2
}

n=0
for pkg in "${upstream[@]}"; do
  n=$((n + 1))
  if [[ -x "$bin/$(basename "$pkg")" ]]; then
    printf '[build-k8s] (%d/%d) %s: cached\n' "$n" "$total" "$(basename "$pkg")" >&2
    continue
  fi
  ((n > 1)) || echo "[build-k8s] building Kubernetes $version into $bin (the first build takes many minutes)" >&2
  build_one "$n" "$pkg"
done
for pkg in "${ours[@]}"; do
  n=$((n + 1))
  build_one "$n" "$pkg"
done
echo "$bin"
