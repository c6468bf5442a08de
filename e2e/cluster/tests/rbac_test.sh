#!/usr/bin/env bash
# Least privilege, decided by the real authorizer: deploy/k8s's ServiceAccounts and ClusterRoles
# applied to the API server, a token minted per ServiceAccount (TokenRequest), requests made
# with those tokens, and `kubectl auth can-i --as=system:serviceaccount:kubemend:SA` for what each
# must be able to do and what it must never do.
source "$(dirname "$0")/lib.sh"

k kustomize "$ROOT/deploy/k8s/base" >"$WORK/base.yaml" || fail "kubectl kustomize deploy/k8s/base"
k apply --server-side --field-manager kubemend-test --force-conflicts -f "$WORK/base.yaml" >/dev/null \
  || fail "applying deploy/k8s/base"
new_namespace rbac; ns=$NS

can() {  # can yes|no SA VERB RESOURCE [flags]
  local want=$1 sa=$2; shift 2
  local got
  got=$(k auth can-i --as "system:serviceaccount:kubemend:kubemend-$sa" "$@" 2>/dev/null || true)
  [[ $got == "$want" ]] || fail "kubemend-$sa: can-i $* says '$got', want '$want'"
}

# The executor: exactly the verbs in services/executor/README.md ("## RBAC").
for r in pods; do can yes executor get $r -A; can yes executor list $r -A; can yes executor delete $r -n "$ns"; done
can yes executor create pods --subresource=eviction -n "$ns"
for r in nodes; do can yes executor get $r; can yes executor patch $r; done
for r in persistentvolumeclaims deployments.apps statefulsets.apps horizontalpodautoscalers.autoscaling; do
  can yes executor get $r -n "$ns"; can yes executor patch $r -n "$ns"
done
can yes executor get deployments.apps --subresource=scale -n "$ns"
can yes executor list replicasets.apps -n "$ns"
can yes executor list storageclasses.storage.k8s.io
can yes executor delete jobs.batch -n "$ns"
# ... and never: delete workloads, touch RBAC, read Secrets, run or exec into pods.
for r in deployments.apps statefulsets.apps nodes persistentvolumeclaims namespaces; do can no executor delete $r -n "$ns"; done
for v in create update patch delete escalate bind; do
  for r in roles clusterroles rolebindings clusterrolebindings; do can no executor $v $r.rbac.authorization.k8s.io -n "$ns"; done
done
for v in get list watch; do can no executor $v secrets -n "$ns"; can no executor $v secrets -A; done
can no executor create pods -n "$ns"
can no executor create pods --subresource=exec -n "$ns"
can no executor create serviceaccounts --subresource=token -n kubemend
can no executor update deployments.apps -n "$ns"
# The view it writes: HealingActions (status through the subresource) and Events, nothing else there.
for v in get list create delete; do can yes executor $v healingactions.kubemend.io -n "$ns"; done
can yes executor patch healingactions.kubemend.io --subresource=status -n "$ns"
can no executor patch healingactions.kubemend.io -n "$ns"
can no executor update healingactions.kubemend.io -n "$ns"
for v in create patch; do can yes executor $v events -n "$ns"; done
can no executor delete events -n "$ns"
pass "executor: its verbs allowed; delete workloads, RBAC, Secrets, exec refused"

# The collector reads; it never writes.
for r in pods nodes events persistentvolumeclaims deployments.apps statefulsets.apps replicasets.apps jobs.batch \
    horizontalpodautoscalers.autoscaling; do
  for v in get list watch; do can yes collector $v $r -A; done
done
for r in pods nodes events deployments.apps statefulsets.apps jobs.batch horizontalpodautoscalers.autoscaling \
    configmaps persistentvolumeclaims; do
  for v in create update patch delete deletecollection; do can no collector $v $r -n "$ns"; done
done
can no collector get secrets -A
can no collector create pods --subresource=exec -n "$ns"
pass "collector: reads allowed, every write refused"

# The analyzer reads the policy kinds and writes their status; nothing else.
policy_kinds=(healingpolicies anomalyactions healthchecks sloviolations budgetguards costalerts predictivescales)
for r in "${policy_kinds[@]}"; do
  for v in get list watch; do can yes analyzer $v $r.kubemend.io -A; done
  for v in update patch; do can yes analyzer $v $r.kubemend.io --subresource=status -n "$ns"; done
  for v in create update patch delete deletecollection; do can no analyzer $v $r.kubemend.io -n "$ns"; done
done
for r in pods deployments.apps secrets nodes configmaps; do can no analyzer list $r -A; done
can no analyzer create events -n "$ns"
pass "analyzer: policy kinds read-only, their status writable, nothing else"

# The safety gate reads HealingActions (approvals given in Kubernetes) and writes only their
# status.approval; audit never talks to the API server.
for v in get list watch; do can yes safety-gate $v healingactions.kubemend.io -A; done
can yes safety-gate patch healingactions.kubemend.io --subresource=status -n "$ns"
for v in create update patch delete; do can no safety-gate $v healingactions.kubemend.io -n "$ns"; done
for r in pods deployments.apps healingpolicies.kubemend.io events secrets; do can no safety-gate list $r -A; done
for r in validatingadmissionpolicies validatingadmissionpolicybindings; do
  can yes safety-gate get $r.admissionregistration.k8s.io
  can yes safety-gate list $r.admissionregistration.k8s.io
  for v in create update patch delete; do can no safety-gate $v $r.admissionregistration.k8s.io; done
done
for r in pods deployments.apps healingpolicies.kubemend.io healingactions.kubemend.io; do can no audit list $r -A; done
pass "safety-gate: HealingActions read + status; audit: no rights"
# Who may answer: nobody by default; kubemend-approver (bound by the operator) may patch them.
got=$(k auth can-i --as alice-$ns patch healingactions.kubemend.io -n "$ns" 2>/dev/null || true)
[[ $got == no ]] || fail "an unbound user may patch healingactions: '$got'"
k -n "$ns" create rolebinding approver --clusterrole kubemend-approver --user "alice-$ns" >/dev/null \
  || fail "cannot bind kubemend-approver"
got=$(k auth can-i --as alice-$ns patch healingactions.kubemend.io -n "$ns" 2>/dev/null || true)
[[ $got == yes ]] || fail "kubemend-approver does not allow patching healingactions: '$got'"
got=$(k auth can-i --as alice-$ns delete healingactions.kubemend.io -n "$ns" 2>/dev/null || true)
[[ $got == no ]] || fail "kubemend-approver allows deleting healingactions: '$got'"
pass "kubemend-approver: patch HealingActions, nothing more; unbound users: nothing"

# Custom health-check probes create, poll and delete a Job (services/collector/src/health_check.cc):
# the opt-in component grants exactly that, and nothing else becomes writable.
mkdir -p "$WORK/probes"
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\ncomponents: [%s]\n' \
  "$(realpath --relative-to="$WORK/probes" "$ROOT/deploy/k8s/base")" \
  "$(realpath --relative-to="$WORK/probes" "$ROOT/deploy/k8s/components/collector-custom-probes")" \
  >"$WORK/probes/kustomization.yaml"
k kustomize "$WORK/probes" >"$WORK/probes.yaml" || fail "kubectl kustomize base + collector-custom-probes"
k apply --server-side --field-manager kubemend-test --force-conflicts -f "$WORK/probes.yaml" >/dev/null \
  || fail "applying base + components/collector-custom-probes"
probes=(clusterrole/kubemend-collector-custom-probes clusterrolebinding/kubemend-collector-custom-probes)
CLEANUP+=('k delete "${probes[@]}" --ignore-not-found')
for v in create get delete; do can yes collector $v jobs.batch -n "$ns"; done
for r in pods deployments.apps; do can no collector create $r -n "$ns"; done
can no collector update jobs.batch -n "$ns"
pass "collector with components/collector-custom-probes: create/get/delete Jobs, nothing more"
k delete "${probes[@]}" >/dev/null
can no collector create jobs.batch -n "$ns"

# Tokens minted through TokenRequest, used for real requests: what can-i promised holds.
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(k config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
as() {  # as SA kubectl-args...: kubectl with the ServiceAccount's minted token only
  local sa=$1; shift
  "$KUBEMEND_TEST_KUBECTL" --kubeconfig /dev/null --server "$server" --certificate-authority "$ca" \
    --token "${tokens[$sa]}" --cache-dir "$WORK/cache-$sa" "$@"
}
declare -A tokens
for sa in executor collector analyzer; do
  tokens[$sa]=$(k -n kubemend create token "kubemend-$sa" --duration 10m) || fail "TokenRequest for kubemend-$sa refused"
  [[ -n ${tokens[$sa]} ]] || fail "empty token for kubemend-$sa"
done
k -n "$ns" create deployment web --image=nginx:1.27 >/dev/null || fail "admin cannot create a Deployment"
as executor -n "$ns" patch deployment web -p '{"spec":{"replicas":2}}' >/dev/null || fail "executor token cannot patch a Deployment"
as executor -n "$ns" delete deployment web >"$WORK/out" 2>&1 && fail "executor token deleted a Deployment"
grep -q Forbidden "$WORK/out" || fail "executor delete deployment: expected Forbidden, got $(cat "$WORK/out")"
as executor -n kubemend get secrets >"$WORK/out" 2>&1 && fail "executor token read Secrets"
as collector get pods -A >/dev/null || fail "collector token cannot list pods"
as collector -n "$ns" scale deployment web --replicas=3 >"$WORK/out" 2>&1 && fail "collector token scaled a Deployment"
grep -q Forbidden "$WORK/out" || fail "collector scale: expected Forbidden, got $(cat "$WORK/out")"
as analyzer get healingpolicies -A >/dev/null 2>&1 || fail "analyzer token cannot list HealingPolicies"
as analyzer get pods -A >"$WORK/out" 2>&1 && fail "analyzer token listed pods"
# The analyzer's token writes a policy's status, and cannot touch its spec.
printf 'apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: rbac-probe, namespace: %s}\nspec: {triggers: [{alert: {name: X}}], actions: [{type: RestartPod}]}\n' \
  "$ns" >"$WORK/hp.yaml"
k apply -f "$WORK/hp.yaml" >/dev/null || fail "admin cannot create a HealingPolicy"
# (A raw PATCH, as the analyzer sends it: kubectl patch would GET healingpolicies/status first.)
code=$(curl -sS -o "$WORK/out" -w '%{http_code}' --cacert "$ca" -H "Authorization: Bearer ${tokens[analyzer]}" \
  -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"status":{"remediationCount":1}}' \
  "$server/apis/kubemend.io/v1alpha1/namespaces/$ns/healingpolicies/rbac-probe/status")
[[ $code == 200 ]] || fail "analyzer token cannot patch a HealingPolicy's status: HTTP $code $(cat "$WORK/out")"
[[ $(k -n "$ns" get healingpolicy rbac-probe -o jsonpath='{.status.remediationCount}') == 1 ]] \
  || fail "the analyzer's status patch did not land"
as analyzer -n "$ns" patch healingpolicy rbac-probe --type=merge -p '{"spec":{"priority":9}}' >"$WORK/out" 2>&1 \
  && fail "analyzer token patched a HealingPolicy's spec"
grep -q Forbidden "$WORK/out" || fail "analyzer spec patch: expected Forbidden, got $(cat "$WORK/out")"
as executor auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx system:serviceaccount:kubemend:kubemend-executor \
  || fail "the executor token is not the executor's identity"
pass "minted tokens: allowed requests succeed, forbidden ones get 403"
echo "PASS"
