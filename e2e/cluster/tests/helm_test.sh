#!/usr/bin/env bash
# The Helm chart on the real control plane: `helm install` into a fresh namespace (Pod Security
# "restricted" enforced) with every object accepted by the API server, the CRD established, the
# pods admitted, each ServiceAccount allowed exactly what the base allows; `helm upgrade` keeps the
# generated tokens and rolls changed config; `helm uninstall` removes everything but the CRDs.
# helm is scripts/build-helm.sh's (./kubemend test builds it).
source "$(dirname "$0")/lib.sh"

HELM=${KUBEMEND_TEST_HELM:-$("$ROOT/scripts/build-helm.sh" --print-dir)/helm}
[[ -x $HELM ]] || fail "helm not built at $HELM (scripts/build-helm.sh; ./kubemend test builds it)"
export HELM_CACHE_HOME=$WORK/helm/cache HELM_CONFIG_HOME=$WORK/helm/config HELM_DATA_HOME=$WORK/helm/data
h() { "$HELM" --kubeconfig "$KUBEMEND_TEST_KUBECONFIG" "$@"; }
chart=$ROOT/deploy/helm/kubemend

# The release namespace exists before the install (Helm keeps its record there), labelled as the
# chart's docs say.
new_namespace helm; ns=$NS
k label namespace "$ns" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null \
  || fail "cannot label $ns"
k -n "$ns" create secret generic kubemend-postgres --from-literal=password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null \
  || fail "cannot create the postgres Secret"
CLEANUP+=("h uninstall kubemend -n $ns --wait=false")

h install kubemend "$chart" -n "$ns" --set 'policies.healingPolicies[0].name=restart' \
  --set 'policies.healingPolicies[0].spec.triggers[0].alert.name=KubePodCrashLooping' \
  --set 'policies.healingPolicies[0].spec.actions[0].type=RestartPod' >"$WORK/install.out" 2>&1 \
  || fail "helm install: $(cat "$WORK/install.out")"
h get manifest kubemend -n "$ns" >"$WORK/manifest.yaml" || fail "helm get manifest"
objects=$(grep -c '^kind:' "$WORK/manifest.yaml")
k get -f "$WORK/manifest.yaml" -o name >"$WORK/names" 2>"$WORK/get.err" || fail "installed objects missing: $(cat "$WORK/get.err")"
[[ $(wc -l <"$WORK/names") == "$objects" ]] || fail "helm installed $objects objects, the API server has $(wc -l <"$WORK/names")"
pass "helm install: $objects objects accepted ($(grep '^kind:' "$WORK/manifest.yaml" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $3; sep=", "}'))"
# Schema validation on: the same objects again with strict server-side field validation.
k apply --server-side --dry-run=server --validate=strict --field-manager helm-test --force-conflicts \
  -f "$WORK/manifest.yaml" >"$WORK/strict.out" 2>&1 || fail "strict validation of the chart's objects: $(cat "$WORK/strict.out")"
pass "every object passes strict server-side field validation"

k wait --for condition=Established --timeout 30s crd/healingpolicies.kubemend.io >/dev/null || fail "HealingPolicy CRD not Established"
# A policy acting on the owner: the schema's `on` key (a bare `on:` would be read as true by
# YAML 1.1 parsers, Helm's crds/ loader among them, and the field refused as unknown).
cat >"$WORK/policy.yaml" <<POLICY
apiVersion: kubemend.io/v1alpha1
kind: HealingPolicy
metadata: {name: owner-restart, namespace: $ns}
spec:
  triggers: [{alert: {name: KubePodCrashLooping}}]
  actions: [{type: RolloutRestart, "on": owner}]
POLICY
k apply --server-side --field-manager helm-test --validate=strict -f "$WORK/policy.yaml" >"$WORK/policy.out" 2>&1 \
  || fail "HealingPolicy with on: owner refused: $(cat "$WORK/policy.out")"
[[ $(k -n "$ns" get healingpolicy owner-restart -o jsonpath='{.spec.actions[0].on}') == owner ]] || fail "actions[0].on not stored"
pass "HealingPolicy CRD established; a policy with actions[].on accepted under strict validation"

# Pods admitted under "restricted": each Deployment's ReplicaSet creates its pod.
for s in collector analyzer safety-gate executor audit; do
  for _ in $(seq 1 60); do
    [[ -n $(k -n "$ns" get pods -l "app.kubernetes.io/name=kubemend-$s" -o name 2>/dev/null) ]] && break
    sleep 0.5
  done
  [[ -n $(k -n "$ns" get pods -l "app.kubernetes.io/name=kubemend-$s" -o name 2>/dev/null) ]] || \
    fail "no pod for kubemend-$s: $(k -n "$ns" get events --field-selector reason=FailedCreate -o jsonpath='{.items[*].message}')"
done
pass "the five pods admitted by Pod Security 'restricted'"

# RBAC as rendered: what each ServiceAccount may do (cluster-scoped names carry the namespace here).
can() { k auth can-i --as "system:serviceaccount:$ns:kubemend-$1" "${@:2}" 2>/dev/null || true; }
[[ $(can analyzer list healingpolicies.kubemend.io -A) == yes ]] || fail "analyzer cannot list healingpolicies"
[[ $(can analyzer delete pods -n default) == no ]] || fail "analyzer may delete pods"
[[ $(can executor delete pods -n default) == yes ]] || fail "executor cannot delete pods"
[[ $(can executor delete deployments.apps -n default) == no ]] || fail "executor may delete deployments"
[[ $(can collector watch pods -A) == yes ]] || fail "collector cannot watch pods"
[[ $(can collector delete pods -n default) == no ]] || fail "collector may delete pods"
[[ $(can safety-gate get pods -n default) == no ]] || fail "safety-gate may read pods"
k get clusterrole "kubemend-executor-$ns" >/dev/null || fail "ClusterRole kubemend-executor-$ns missing"
pass "RBAC: analyzer reads policies, executor writes, collector reads, safety-gate nothing"

# Upgrade: generated tokens kept (lookup), changed config rolls the Deployment.
token() { k -n "$ns" get secret "$1" -o jsonpath="{.data.$2}" | base64 -d; }
sum() { k -n "$ns" get deploy kubemend-safety-gate -o jsonpath='{.spec.template.metadata.annotations.checksum/config}'; }
webhook1=$(token kubemend-webhook token) admin1=$(token kubemend-admin-token-admin token) sum1=$(sum)
[[ ${#webhook1} == 48 && ${#admin1} == 64 ]] || fail "generated tokens have the wrong length"
h upgrade kubemend "$chart" -n "$ns" --reuse-values --set mode=manual >"$WORK/upgrade.out" 2>&1 || fail "helm upgrade: $(cat "$WORK/upgrade.out")"
[[ $(token kubemend-webhook token) == "$webhook1" && $(token kubemend-admin-token-admin token) == "$admin1" ]] \
  || fail "helm upgrade replaced the generated tokens"
[[ $(sum) != "$sum1" ]] || fail "a config change did not change the safety-gate's checksum/config"
k -n "$ns" get configmap kubemend-safety-gate-config -o jsonpath='{.data.safety-gate\.yaml}' | grep -q 'mode: manual' \
  || fail "mode=manual did not reach the safety-gate config"
pass "helm upgrade: tokens kept, mode=manual in the config, the Deployment rolls"

h uninstall kubemend -n "$ns" --wait >"$WORK/uninstall.out" 2>&1 || fail "helm uninstall: $(cat "$WORK/uninstall.out")"
left=$(grep -v '^customresourcedefinition' "$WORK/names" | while read -r o; do k -n "$ns" get "$o" -o name 2>/dev/null || true; done)
[[ -z $left ]] || fail "left after helm uninstall: $left"
k get crd healingpolicies.kubemend.io >/dev/null || fail "the CRD went with the release (Helm keeps crds/)"
pass "helm uninstall: every object gone, the CRD (and so every HealingPolicy) kept"
echo "PASS"
