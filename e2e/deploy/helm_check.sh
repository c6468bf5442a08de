#!/usr/bin/env bash
# helm_check.sh REPO_ROOT: the Helm chart (deploy/helm/kubemend), offline.
#   1. its copies of deploy/k8s are current (scripts/sync-helm-chart.sh --check)
#   2. helm lint --strict, with the default and with non-default values
#   3. helm template with the defaults, and with everything switched on, through the SAME
#      invariant checks as the kustomize output (check_manifests.py --rendered)
#   4. equivalence with the kustomize base (check_helm_equivalence.py: documented differences only)
#   5. non-default values reach the objects (image, replicas, mode, dry run, protected namespaces,
#      Kafka/PostgreSQL endpoints, policies, Secret names); generated tokens are random per
#      install and match their sha256; bad values are refused with the key named.
# helm is scripts/build-helm.sh's (./kubemend test builds it); missing, this fails.
set -euo pipefail
root=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
chart=$root/deploy/helm/kubemend
helm=${KUBEMEND_TEST_HELM:-$("$root/scripts/build-helm.sh" --print-dir)/helm}
[[ -x $helm ]] || { echo "FAIL: helm not built at $helm (scripts/build-helm.sh builds it; ./kubemend test runs that)"; exit 1; }
command -v kubectl >/dev/null || { echo "FAIL: kubectl not found (renders the kustomize base to compare with)"; exit 1; }
work=$(mktemp -d /tmp/kubemend-helm-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HELM_CACHE_HOME=$work/cache HELM_CONFIG_HOME=$work/config HELM_DATA_HOME=$work/data
errors=0
bad() { echo "FAIL: $*"; errors=$((errors + 1)); }
ok() { echo "ok: $*"; }
tpl() { "$helm" template kubemend "$chart" --namespace kubemend "$@"; }

# 1. copies current
"$root/scripts/sync-helm-chart.sh" --check >"$work/sync.out" 2>&1 && ok "chart copies match deploy/k8s" \
  || { cat "$work/sync.out"; bad "the chart's copies of deploy/k8s are stale"; }

# Non-default values: every knob the issue names, set.
cat >"$work/custom.yaml" <<'VALUES'
image: {repository: registry.example.com/kubemend, tag: "0.1.0-rc1", pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
mode: manual
dryRun: true
protectedNamespaces: [kube-system, payments]
kafka: {brokers: "kafka-0.kafka:9093,kafka-1.kafka:9093", topicPrefix: prod., properties: "security.protocol=SSL"}
postgres: {dsn: "host=pg.db port=5433 dbname=trail user=km sslmode=require", password: "s3cret-pg"}
webhook: {existingSecret: my-webhook}
admin: {tokens: [{subject: alice, role: operator}, {subject: grafana, role: viewer}]}
policies:
  includeDefaults: false
  healingPolicies:
    - name: api-restart
      spec: {mode: automatic, triggers: [{alert: {name: KubePodCrashLooping}}], actions: [{type: RestartPod}]}
services:
  executor: {replicas: 3, resources: {requests: {cpu: 200m, memory: 128Mi}, limits: {memory: 512Mi}}}
  audit: {config: {audit: {batch_size: 500}}}
nodeSelector: {kubernetes.io/os: linux}
components: {collectorExec: true, analyzerLlm: true}
VALUES

# 2. lint
"$helm" lint --strict "$chart" >"$work/lint.out" 2>&1 && ok "helm lint --strict (defaults)" || { cat "$work/lint.out"; bad "helm lint (defaults)"; }
"$helm" lint --strict "$chart" -f "$work/custom.yaml" >"$work/lint.out" 2>&1 && ok "helm lint --strict (non-default values)" \
  || { cat "$work/lint.out"; bad "helm lint (non-default values)"; }

# The packaged chart (what a chart repository serves) renders the same objects.
if "$helm" package "$chart" -d "$work/pkg" >/dev/null 2>"$work/err" \
    && "$helm" template kubemend "$work"/pkg/kubemend-*.tgz --namespace kubemend --include-crds \
      --set webhook.existingSecret=w --set admin.existingSecret=a >"$work/pkg.yaml" 2>>"$work/err" \
    && tpl --include-crds --set webhook.existingSecret=w --set admin.existingSecret=a >"$work/dir.yaml" 2>>"$work/err" \
    && diff -q <(grep -v '^# Source' "$work/pkg.yaml") <(grep -v '^# Source' "$work/dir.yaml") >/dev/null; then
  ok "helm package: the .tgz renders what the directory renders"
else
  cat "$work/err"; bad "the packaged chart renders differently (or helm package failed)"
fi

# 3. the manifest invariants
check() {  # check NAME FILE [check_manifests flags]
  local name=$1 file=$2; shift 2
  python3 "$here/check_manifests.py" "$root" --rendered "$file" --name "$name" "$@" >"$work/check.out" 2>&1 \
    && ok "$(tail -1 "$work/check.out")" || { cat "$work/check.out"; bad "manifest invariants: $name"; }
}
if tpl --include-crds >"$work/default.yaml" 2>"$work/err"; then
  check "helm template (defaults)" "$work/default.yaml" --generated-secrets --namespace-external
else
  cat "$work/err"; bad "helm template (defaults)"
fi
all=(--include-crds --set namespace.create=true --set webhook.existingSecret=kubemend-webhook
  --set admin.existingSecret=kubemend-admin-tokens --set components.monitoring=true
  --set components.collectorExec=true --set components.collectorCustomProbes=true --set components.analyzerLlm=true)
if tpl "${all[@]}" >"$work/all.yaml" 2>"$work/err"; then
  check "helm template (namespace, every component, no generated Secret)" "$work/all.yaml" --optional-exec --monitoring
else
  cat "$work/err"; bad "helm template (every component)"
fi
if tpl --include-crds --set highAvailability.enabled=true --set components.monitoring=true >"$work/ha.yaml" 2>"$work/err"; then
  check "helm template (highAvailability: the prod overlay's checks)" "$work/ha.yaml" --generated-secrets --namespace-external --prod --monitoring
else
  cat "$work/err"; bad "helm template (highAvailability)"
fi
if tpl --include-crds -f "$work/custom.yaml" >"$work/custom.out.yaml" 2>"$work/err"; then
  check "helm template (non-default values)" "$work/custom.out.yaml" --generated-secrets --namespace-external --optional-exec
else
  cat "$work/err"; bad "helm template (non-default values)"
fi

# 4. equivalence with the kustomize base
kubectl kustomize "$root/deploy/k8s/base" >"$work/base.yaml" 2>"$work/err" || { cat "$work/err"; bad "kubectl kustomize base"; }
if tpl --include-crds --set namespace.create=true --set webhook.existingSecret=kubemend-webhook \
    --set admin.existingSecret=kubemend-admin-tokens >"$work/equiv.yaml" 2>"$work/err"; then
  python3 "$here/check_helm_equivalence.py" "$work/base.yaml" "$work/equiv.yaml" >"$work/eq.out" 2>&1 \
    && ok "$(tail -1 "$work/eq.out")" || { cat "$work/eq.out"; bad "chart differs from the kustomize base"; }
else
  cat "$work/err"; bad "helm template (equivalence)"
fi

# 5. values reach the objects; generated secrets are random; bad values are refused
tpl -f "$work/custom.yaml" >"$work/custom2.yaml" 2>"$work/err" || { cat "$work/err"; bad "second render"; }
tpl >"$work/default2.yaml" 2>"$work/err" || { cat "$work/err"; bad "second render (defaults)"; }
python3 "$here/check_helm_values.py" "$work/custom.out.yaml" "$work/custom2.yaml" "$work/default.yaml" "$work/default2.yaml" \
  >"$work/values.out" 2>&1 && cat "$work/values.out" || { cat "$work/values.out"; bad "values do not reach the objects"; }

refused() {  # refused WHAT EXPECTED-TEXT HELM-ARGS...: helm template must fail, naming the problem
  local what=$1 want=$2; shift 2
  if tpl "$@" >/dev/null 2>"$work/refused.err"; then
    bad "$what was accepted"
  elif grep -qF -- "$want" "$work/refused.err"; then
    ok "$what refused: $(grep -F -- "$want" "$work/refused.err" | head -1 | cut -c1-160)"
  else
    cat "$work/refused.err"; bad "$what refused without naming '$want'"
  fi
}
refused "mode: sometimes" "mode" --set mode=sometimes
refused "an unknown key" "notAKey" --set notAKey=1
refused "a short webhook token" "/webhook/token" --set webhook.token=short
refused "a password in the DSN" "postgres.dsn must not carry the password" --set "postgres.dsn=host=pg password=x"
refused "an admin role other than operator/viewer" "role" --set "admin.tokens[0].subject=bob" --set "admin.tokens[0].role=root"
refused "no policy at all" "includeDefaults is false" --set policies.includeDefaults=false
refused "a policy without spec" "spec" --set "policies.healingPolicies[0].name=x"

if ((errors)); then echo "helm: $errors problem(s)"; exit 1; fi
echo "helm: ok"
