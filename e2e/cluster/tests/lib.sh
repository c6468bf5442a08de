# Shared by the real-cluster tests: the cluster `./kubemend test` started (e2e/cluster/cluster.sh),
# the kubectl built with it, a namespace per test, and failing loudly.
# shellcheck shell=bash
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

[[ -n ${KUBEMEND_TEST_KUBECONFIG:-} && -n ${KUBEMEND_TEST_KUBECTL:-} ]] || \
  fail "no real control plane: KUBEMEND_TEST_KUBECONFIG/KUBEMEND_TEST_KUBECTL are unset (run through ./kubemend test, which starts e2e/cluster/cluster.sh)"
[[ -x $KUBEMEND_TEST_KUBECTL && -r $KUBEMEND_TEST_KUBECONFIG ]] || fail "kubectl $KUBEMEND_TEST_KUBECTL or kubeconfig $KUBEMEND_TEST_KUBECONFIG missing"

ROOT=${KUBEMEND_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
WORK=$(mktemp -d /tmp/kubemend-k8s-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# kubectl as the cluster admin, discovery cache private to this test.
k() { "$KUBEMEND_TEST_KUBECTL" --kubeconfig "$KUBEMEND_TEST_KUBECONFIG" --cache-dir "$WORK/cache" "$@"; }

# new_namespace PREFIX: a fresh namespace for this test (deleted on exit); prints its name.
new_namespace() {
  local ns
  ns="$1-$(tr -dc a-z0-9 </dev/urandom | head -c 6)"
  k create namespace "$ns" >/dev/null || fail "cannot create namespace $ns"
  trap 'k delete namespace '"$ns"' --wait=false >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
  echo "$ns"
}
