#!/usr/bin/env bash
# sync-helm-chart.sh: copy the kustomize base into the Helm chart, so the two never drift.
#
#   scripts/sync-helm-chart.sh          refresh deploy/helm/kubemend from deploy/k8s
#   scripts/sync-helm-chart.sh --check  change nothing; exit 1 and show the diff if the chart is stale
#
# deploy/k8s/base is the one source: the chart renders its objects from verbatim copies.
#   base CRDs (crd-*.yaml)                  -> crds/             (Helm installs them before anything else)
#   namespace.yaml                          -> files/            (templates/namespace.yaml, values namespace.create)
#   every other base resource               -> files/base/       (templates/base.yaml renders them,
#                                                                 patching Deployments with values)
#   base/config/<service>.yaml              -> files/config/     (merged with values into ConfigMaps)
#   each component's resources              -> files/components/<component>/ (values components.*)
# Which files are resources is read from each kustomization.yaml, so a new CRD, Role or
# Deployment in the base reaches the chart by running this script. e2e/deploy's helm check runs
# --check and fails while the chart is stale.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s=$root/deploy/k8s
chart=$root/deploy/helm/kubemend
check=0
[[ ${1:-} == --check ]] && check=1

# resources KUSTOMIZATION: the file names under `resources:` (one per line).
resources() {
  python3 - "$1" <<'PY'
import sys, yaml
for r in yaml.safe_load(open(sys.argv[1])).get("resources", []):
    print(r)
PY
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/crds" "$out/files/base" "$out/files/config" "$out/files/components"
while read -r f; do
  [[ $f == */* || ! -f $k8s/base/$f ]] && { echo "sync-helm-chart.sh: base resource $f is not a file of base/" >&2; exit 2; }
  case $f in
    namespace.yaml) cp "$k8s/base/$f" "$out/files/$f" ;;  # templates/namespace.yaml (values namespace.create)
    crd-*.yaml) cp "$k8s/base/$f" "$out/crds/$f" ;;
    *) cp "$k8s/base/$f" "$out/files/base/$f" ;;
  esac
done < <(resources "$k8s/base/kustomization.yaml")
cp "$k8s"/base/config/*.yaml "$out/files/config/"
for comp in "$k8s"/components/*/; do
  name=$(basename "$comp")
  mkdir -p "$out/files/components/$name"
  while read -r f; do cp "$comp/$f" "$out/files/components/$name/$f"; done < <(resources "$comp/kustomization.yaml")
done

if ((check)); then
  stale=0
  for d in crds files/base files/config files/components files/namespace.yaml; do
    diff -ru "$chart/$d" "$out/$d" || stale=1
  done
  if ((stale)); then
    echo "sync-helm-chart.sh: deploy/helm/kubemend is stale against deploy/k8s: run scripts/sync-helm-chart.sh" >&2
    exit 1
  fi
  echo "deploy/helm/kubemend matches deploy/k8s"
  exit 0
fi
for d in crds files/base files/config files/components files/namespace.yaml; do
  rm -rf "${chart:?}/$d"
  mkdir -p "$(dirname "$chart/$d")"
  cp -r "$out/$d" "$chart/$d"
done
echo "deploy/helm/kubemend synced from deploy/k8s"
