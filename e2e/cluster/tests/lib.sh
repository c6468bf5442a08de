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
CLEANUP=()  # commands run at exit, last first
cleanup() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[i]}" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# kubectl as the cluster admin, discovery cache private to this test.
k() { "$KUBEMEND_TEST_KUBECTL" --kubeconfig "$KUBEMEND_TEST_KUBECONFIG" --cache-dir "$WORK/cache" "$@"; }

# new_namespace PREFIX: a fresh namespace for this test in $NS (deleted at exit).
new_namespace() {
  NS="$1-$(printf %04x%04x $RANDOM $RANDOM)"
  k create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"
  CLEANUP+=("k delete namespace $NS --wait=false")
}
