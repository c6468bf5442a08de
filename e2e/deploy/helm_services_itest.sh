#!/usr/bin/env bash
# helm_services_itest.sh REPO_ROOT BUILD_DIR: the five services started with the config files the
# Helm chart renders (its ConfigMaps, re-serialised from deploy/k8s/base/config with values merged
# in) and the admin tokens it generates (Secrets kubemend-admin-tokens, kubemend-admin-token-*),
# through compose_services_itest.sh: every key known to the binaries, all five SERVING, an alert
# through to the audit trail, and the chart's operator token accepted, its viewer token refused.
set -euo pipefail
root=$1 build=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
helm=${KUBEMEND_TEST_HELM:-$("$root/scripts/build-helm.sh" --print-dir)/helm}
[[ -x $helm ]] || { echo "FAIL: helm not built at $helm (scripts/build-helm.sh; ./kubemend test builds it)"; exit 1; }
work=$(mktemp -d /tmp/kubemend-helm-itest.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HELM_CACHE_HOME=$work/cache HELM_CONFIG_HOME=$work/config HELM_DATA_HOME=$work/data
"$helm" template kubemend "$root/deploy/helm/kubemend" --namespace kubemend \
  --set 'admin.tokens[0].subject=ops-alice' --set 'admin.tokens[0].role=operator' \
  --set 'admin.tokens[1].subject=ops-victor' --set 'admin.tokens[1].role=viewer' \
  --set services.audit.config.audit.batch_size=100 >"$work/chart.yaml"
mkdir -p "$work/config" "$work/admin"
python3 - "$work/chart.yaml" "$work" <<'PY'
import base64, os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
out = sys.argv[2]
for d in docs:
    name = d["metadata"]["name"]
    if d["kind"] == "ConfigMap" and name.endswith("-config"):
        for key, text in d["data"].items():
            open(os.path.join(out, "config", key), "w").write(text)
    if d["kind"] == "Secret" and name == "kubemend-admin-tokens":
        open(os.path.join(out, "admin", "tokens.yaml"), "wb").write(base64.b64decode(d["data"]["tokens.yaml"]))
    if d["kind"] == "Secret" and name.startswith("kubemend-admin-token-"):
        subject = name[len("kubemend-admin-token-"):]
        open(os.path.join(out, "admin", subject + ".token"), "wb").write(base64.b64decode(d["data"]["token"]) + b"\n")
PY
ls "$work/config"/{collector,analyzer,safety-gate,executor,audit}.yaml >/dev/null
ls "$work/admin"/{tokens.yaml,ops-alice.token,ops-victor.token} >/dev/null
chmod 0755 "$work" "$work/config" "$work/admin" && chmod 0644 "$work"/config/* "$work"/admin/*
KUBEMEND_ITEST_ADMIN_DIR=$work/admin bash "$here/compose_services_itest.sh" "$root" "$build" "$work/config"
