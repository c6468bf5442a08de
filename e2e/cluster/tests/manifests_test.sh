#!/usr/bin/env bash
# Every manifest under deploy/k8s, rendered by the real kubectl (kustomize) and applied to the
# real API server with strict server-side field validation; the HealingPolicy CRD established;
# the example policy of docs/policies.md accepted and invalid ones refused with the field named.
source "$(dirname "$0")/lib.sh"

render() { k kustomize "$1" >"$2" 2>"$WORK/kustomize.err" || fail "kubectl kustomize $1: $(cat "$WORK/kustomize.err")"; }
apply() {  # apply FILE [kubectl flags]: server-side apply, strict validation
  local f=$1; shift
  k apply --server-side --field-manager kubemend-test --force-conflicts --validate=strict -f "$f" "$@" \
    >"$WORK/apply.out" 2>&1 || fail "applying $f: $(cat "$WORK/apply.out")"
}

# base: applied for real (the overlays and the CRD checks need its namespace and CRD).
render "$ROOT/deploy/k8s/base" "$WORK/base.yaml"
apply "$WORK/base.yaml"
objects=$(grep -c '^kind:' "$WORK/base.yaml")
pass "deploy/k8s/base: $objects objects accepted"
k get -f "$WORK/base.yaml" -o name >"$WORK/names" 2>"$WORK/get.err" || fail "objects of base not all there: $(cat "$WORK/get.err")"
[[ $(wc -l <"$WORK/names") == "$objects" ]] || fail "applied $objects objects, found $(wc -l <"$WORK/names")"

# without_operator_kinds IN OUT: the documents minus the Prometheus operator's kinds
# (monitoring.coreos.com), which need that operator's CRDs; prints how many were set aside.
without_operator_kinds() {
  python3 - "$1" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
keep = [d for d in docs if not d.get("apiVersion", "").startswith("monitoring.coreos.com/")]
yaml.safe_dump_all(keep, open(sys.argv[2], "w"), sort_keys=False)
print(len(docs) - len(keep))
PY
}

# overlays: server-side dry run (admission, validation, defaulting) without changing base.
for overlay in dev prod; do
  render "$ROOT/deploy/k8s/overlays/$overlay" "$WORK/$overlay.all.yaml"
  aside=$(without_operator_kinds "$WORK/$overlay.all.yaml" "$WORK/$overlay.yaml")
  apply "$WORK/$overlay.yaml" --dry-run=server
  pass "deploy/k8s/overlays/$overlay: $(grep -c '^kind:' "$WORK/$overlay.yaml") objects accepted (dry run)$( ((aside)) && echo "; $aside monitoring.coreos.com objects rendered only (no Prometheus operator CRDs here)")"
done

# components with everything they need in the cluster (monitoring needs the Prometheus
# operator's CRDs, which this cluster does not have: it is rendered, not applied).
for comp in "$ROOT"/deploy/k8s/components/*/; do
  name=$(basename "$comp")
  mkdir -p "$WORK/with-$name"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\ncomponents: [%s]\n' \
    "$(realpath --relative-to="$WORK/with-$name" "$ROOT/deploy/k8s/base")" \
    "$(realpath --relative-to="$WORK/with-$name" "$comp")" >"$WORK/with-$name/kustomization.yaml"
  render "$WORK/with-$name" "$WORK/with-$name.yaml"
  if grep -q '^apiVersion: monitoring.coreos.com' "$WORK/with-$name.yaml"; then
    pass "components/$name: rendered only (needs monitoring.coreos.com CRDs)"
    continue
  fi
  apply "$WORK/with-$name.yaml" --dry-run=server
  pass "components/$name on base: accepted (dry run)"
done

# The CRD: established, and its schema is the server's validation.
for plural in healingpolicies anomalyactions healthchecks sloviolations budgetguards costalerts predictivescales; do
  k wait --for condition=Established --timeout 30s "crd/$plural.kubemend.io" >/dev/null \
    || fail "CRD $plural.kubemend.io not Established"
done
new_namespace policies; ns=$NS
awk '/^```yaml$/ {grab=0; buf=""} /^```yaml$/ {grab=1; next} grab && /^```$/ {if (buf ~ /kind: HealingPolicy/) {print buf; exit} grab=0} grab {buf = buf $0 "\n"}' \
  "$ROOT/docs/policies.md" | sed "s/^  namespace: shop .*/  namespace: $ns/" >"$WORK/example.yaml"
grep -q 'kind: HealingPolicy' "$WORK/example.yaml" || fail "no HealingPolicy example found in docs/policies.md"
apply "$WORK/example.yaml"
k -n "$ns" get healingpolicy crashloop-restart -o jsonpath='{.spec.mode}' | grep -qx automatic \
  || fail "example policy not stored as written"
pass "docs/policies.md example HealingPolicy accepted"

refused() {  # refused NAME FIELD-MESSAGE YAML-SPEC: the server must refuse, naming the field
  local name=$1 want=$2 spec=$3
  printf 'apiVersion: kubemend.io/v1alpha1\nkind: HealingPolicy\nmetadata: {name: %s, namespace: %s}\n%s\n' \
    "$name" "$ns" "$spec" >"$WORK/$name.yaml"
  if k apply --server-side --field-manager kubemend-test --validate=strict -f "$WORK/$name.yaml" >"$WORK/$name.out" 2>&1; then
    fail "invalid policy $name was accepted"
  fi
  grep -qF "$want" "$WORK/$name.out" || fail "refusal of $name does not name $want: $(cat "$WORK/$name.out")"
  pass "invalid policy $name refused: $(grep -oF "$want" "$WORK/$name.out" | head -1)"
}
refused bad-mode 'spec.mode: Unsupported value: "sometimes"' \
  'spec: {mode: sometimes, triggers: [{alert: {name: X}}], actions: [{type: RestartPod}]}'
refused no-triggers 'spec.triggers: Required value' 'spec: {actions: [{type: RestartPod}]}'
refused unknown-field '.spec.retries' 'spec: {retries: 3, triggers: [{alert: {name: X}}], actions: [{type: RestartPod}]}'
refused bad-cooldown 'spec.cooldown' \
  'spec: {cooldown: soon, triggers: [{alert: {name: X}}], actions: [{type: RestartPod}]}'
refused unknown-action 'spec.actions[0].type: Unsupported value: "Reboot"' \
  'spec: {triggers: [{alert: {name: X}}], actions: [{type: Reboot}]}'
refused list-as-string '.spec.triggers: expected list' 'spec: {triggers: alert, actions: [{type: RestartPod}]}'
refused negative-threshold 'spec.triggers[0].metric.threshold' \
  "spec: {triggers: [{metric: {name: m, threshold: -5}}], actions: [{type: RestartPod}]}"
echo "PASS"
