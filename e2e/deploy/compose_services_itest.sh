#!/usr/bin/env bash
# compose_services_itest.sh REPO_ROOT BUILD_DIR [CONFIG_DIR]: a shipped
# deployment's kubemend half without Docker. Starts the five services as
# processes with the very files compose mounts (deploy/compose/config/*.yaml,
# the default) or the Kubernetes base's ConfigMaps (deploy/k8s/base/config,
# which every overlay uses unchanged), overriding only what the deployment's
# network and volumes give them (addresses; runtime.state_dir, a volume) through
# KUBEMEND_* variables, as compose and the manifests do. Each service runs the
# way the image runs it: as a non-root user (nobody, via setpriv, when this
# runs as root), with a clean environment (no TMPDIR, no HOME) and a read-only
# working directory. Then checks that:
#   - kubemend-healthcheck (compose's health check) says SERVING for each,
#   - an alert POSTed to the collector's webhook comes out the far end as an
#     outcome in the audit trail (migrations applied by audit at start),
#   - the admin API is locked as shipped: a service whose admin.tokens_file is
#     missing does not start; with the tokens file kubemendctl is refused
#     without a token and with a viewer's, and an operator's pause is recorded
#     as issued by the token's subject (not its --as claim).
# Needs KUBEMEND_TEST_PG_DSN and (./kubemend test sets them)
# KUBEMEND_TEST_KAFKA_BROKERS; uses its own topic prefix and its own database.
# Fails without the env.
set -euo pipefail
root=$1 build=$2 configs=${3:-$1/deploy/compose/config}
: "${KUBEMEND_TEST_PG_DSN:?KUBEMEND_TEST_PG_DSN is not set (run through ./kubemend test)}"
SERVICES=(audit safety-gate executor analyzer collector)
dir=$(mktemp -d /tmp/kubemend-deploy-itest.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql "$KUBEMEND_TEST_PG_DSN" -Xqc "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
  rm -rf "$dir"
}
db=deploy_itest_$$
trap cleanup EXIT
fail() { echo "FAIL: $*"; for s in "${SERVICES[@]}"; do echo "--- $s"; tail -5 "$dir/$s.log" 2>/dev/null; done; exit 1; }

# The image's user and working directory: non-root, and / is read-only.
as_user=()
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing: cannot run the services as non-root"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
chmod 0755 "$dir"
mkdir -p "$dir/ro" "$dir/run" "$dir/state"
chmod 0555 "$dir/ro"
if [ "$(id -u)" = 0 ]; then chown 65534:65534 "$dir/run" "$dir/state"; fi
# The webhook's bearer token, as the deployment provides it: compose mounts a
# secret file (webhook.auth.token_file), Kubernetes sets an env var from a Secret.
token=$(openssl rand -hex 16)
printf '%s\n' "$token" >"$dir/webhook_token"
chmod 0644 "$dir/webhook_token"
webhook_env=(KUBEMEND_WEBHOOK_TOKEN="$token")
if grep -q 'token_file:' "$configs/collector.yaml"; then
  webhook_env=(KUBEMEND_WEBHOOK_AUTH_TOKEN_FILE="$dir/webhook_token")
fi

# The admin tokens, as the deployment provides them (compose secret admin_tokens,
# Kubernetes Secret kubemend-admin-tokens): the shipped config names the
# mounted path; here the file lives elsewhere, so the path comes by env.
tokens_path=$(python3 -c 'import sys, yaml; print(((yaml.safe_load(open(sys.argv[1])) or {}).get("admin") or {}).get("tokens_file", ""))' \
  "$configs/safety-gate.yaml")
[ -n "$tokens_path" ] || fail "$configs/safety-gate.yaml sets no admin.tokens_file"
# KUBEMEND_ITEST_ADMIN_DIR: tokens made by the deployment itself (the Helm chart generates them):
# tokens.yaml with operator ops-alice and viewer ops-victor, and their .token files.
if [ -n "${KUBEMEND_ITEST_ADMIN_DIR:-}" ]; then
  cp -r "$KUBEMEND_ITEST_ADMIN_DIR" "$dir/admin"
else
  "$root/scripts/admin-tokens.sh" "$dir/admin" operator:ops-alice viewer:ops-victor
fi
chmod 0755 "$dir/admin"
chmod 0644 "$dir/admin/tokens.yaml"  # sha256s only; read by the services' user

prefix=deployitest$$.
# The run's Apache Kafka (./kubemend test starts it), under a topic prefix of our own.
: "${KUBEMEND_TEST_KAFKA_BROKERS:?KUBEMEND_TEST_KAFKA_BROKERS is not set (run through ./kubemend test)}"
brokers=$KUBEMEND_TEST_KAFKA_BROKERS
psql "$KUBEMEND_TEST_PG_DSN" -Xqc "CREATE DATABASE $db" || fail "cannot create database $db"
dsn="${KUBEMEND_TEST_PG_DSN/dbname=postgres/dbname=$db}"

service_env() {  # the environment every service gets, as the deployment sets it
  echo KUBEMEND_KAFKA_BROKERS="$brokers" KUBEMEND_KAFKA_TOPIC_PREFIX="$prefix" \
    KUBEMEND_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=1000,fetch.wait.max.ms=10" \
    KUBEMEND_GRPC_LISTEN=127.0.0.1:0 KUBEMEND_HTTP_LISTEN=127.0.0.1:0
}
# Fail closed: the gate with its config as shipped, where the mounted tokens
# file is absent, refuses to start and names the key.
rc=0
# shellcheck disable=SC2046
(cd "$dir/ro" && exec env -i PATH=/usr/bin:/bin "${as_user[@]}" env $(service_env) \
  KUBEMEND_KAFKA_GROUP_ID="${prefix}closed" \
  timeout 30 "$build/services/safety-gate/kubemend-safety-gate" --config "$configs/safety-gate.yaml") \
  >"$dir/closed.log" 2>&1 || rc=$?
[ ! -e "$tokens_path" ] || fail "$tokens_path exists on this machine; cannot check the missing-secret case"
{ [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'admin.tokens_file' "$dir/closed.log"; } \
  || fail "without its tokens file ($tokens_path) the gate did not refuse to start (rc $rc): $(tail -3 "$dir/closed.log")"
echo "without $tokens_path the gate refuses to start: $(grep -o 'key admin.tokens_file[^\"]*' "$dir/closed.log" | head -1)"

for s in "${SERVICES[@]}"; do
  (cd "$dir/ro" && exec env -i PATH=/usr/bin:/bin "${as_user[@]}" env \
  KUBEMEND_KAFKA_BROKERS=$brokers KUBEMEND_KAFKA_TOPIC_PREFIX=$prefix \
  KUBEMEND_KAFKA_GROUP_ID="${prefix}$s" \
  KUBEMEND_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=1000,fetch.wait.max.ms=10" \
  KUBEMEND_GRPC_LISTEN=127.0.0.1:0 KUBEMEND_HTTP_LISTEN=127.0.0.1:0 \
  KUBEMEND_RUNTIME_READY_FILE="$dir/run/$s.ready" KUBEMEND_RUNTIME_STATE_DIR="$dir/state" \
  KUBEMEND_POSTGRES_DSN="$dsn" "${webhook_env[@]}" KUBEMEND_ADMIN_TOKENS_FILE="$dir/admin/tokens.yaml" \
  KUBEMEND_AUDIT_MIGRATIONS_DIR="$root/migrations" KUBEMEND_ANALYZER_POLICY_PATHS="$root/policies/default.yaml" \
    "$build/services/$s/kubemend-$s" --config "$configs/$s.yaml") >"$dir/$s.log" 2>&1 &
  pids+=($!)
done
addr() { sed -E "s/.*\"$2\":\"([^\"]+)\".*/\1/" "$dir/run/$1.ready"; }
for s in "${SERVICES[@]}"; do
  for _ in $(seq 1 300); do [ -s "$dir/run/$s.ready" ] && break; sleep 0.1; done
  [ -s "$dir/run/$s.ready" ] || fail "$s did not start with $configs/$s.yaml"
done
[ -f "$dir/state/collector.dedup" ] || fail "the collector's dedup state is not in runtime.state_dir"
[ -z "$(find "$dir/ro" -mindepth 1)" ] || fail "a service wrote into its working directory"
echo "all five services run as UID $("${as_user[@]}" id -u) in a read-only working directory"
# The compose health check, verbatim but for the address.
for s in "${SERVICES[@]}"; do
  answer=""
  for _ in $(seq 1 240); do
    answer=$("$build/deploy/healthcheck/kubemend-healthcheck" --grpc "$(addr "$s" grpc)" --timeout 1s) && break
    sleep 0.25
  done
  [ "$answer" = SERVING ] || fail "$s: kubemend-healthcheck says '$answer' (want SERVING)"
  echo "$s: $answer"
done

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Without the token the webhook refuses.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$(addr collector http)/api/v1/alerts" \
  -H 'Content-Type: application/json' -d '{"version":"4","status":"firing","alerts":[]}')
[ "$code" = 401 ] || fail "the webhook answered $code without a token (want 401: bearer auth is on in the shipped config)"
curl -fsS -X POST "http://$(addr collector http)/api/v1/alerts" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d \
  "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"KubePodCrashLooping\",
    \"namespace\":\"shop\",\"pod\":\"api-7d9f-x2k4p\",\"deployment\":\"api\"},\"startsAt\":\"$now\",\"fingerprint\":\"deploy-itest-$$\"}]}" \
  >/dev/null || fail "the collector's webhook refused the alert"
types=""
for _ in $(seq 1 300); do
  # The chain's four types (the analyzer also announces its policies as control
  # events, and topics are ingested in parallel, so compare as a set).
  types=$(psql "$dsn" -XtAc "SELECT string_agg(event_type, ',' ORDER BY array_position(ARRAY['signal','proposal','decision','outcome'], event_type)) FROM audit_events WHERE event_type <> 'control'" 2>/dev/null || true)
  [[ $types == *outcome* ]] && break
  sleep 0.2
done
[ "$types" = signal,proposal,decision,outcome ] || fail "audit trail holds '$types' (want signal,proposal,decision,outcome)"
echo "audit trail: $types"

# The admin API as shipped: locked but for the tokens in the file, and the
# issuer recorded is the token's subject.
ctl() {  # ctl TOKEN_FILE|- ARGS...: kubemendctl with no config or env of the machine's
  local tf=$1; shift
  (cd "$dir/ro" && env -i PATH=/usr/bin:/bin ${tf:+KUBEMENDCTL_TOKEN_FILE=$tf} \
    "$build/tools/kubemendctl/kubemendctl" --endpoint "safety-gate=$(addr safety-gate grpc)" "$@")
}
rc=0; out=$(ctl "" pause --reason "deploy itest" 2>&1) || rc=$?
[ "$rc" = 3 ] || fail "pause without a token: exit $rc (want 3, refused): $out"
rc=0; out=$(ctl "$dir/admin/ops-victor.token" pause --reason "deploy itest" 2>&1) || rc=$?
[ "$rc" = 3 ] || fail "pause with a viewer token: exit $rc (want 3, refused): $out"
ctl "$dir/admin/ops-alice.token" pause --as mallory --reason "deploy itest" >/dev/null \
  || fail "pause with the operator token was refused"
ctl "$dir/admin/ops-alice.token" resume --reason "deploy itest" >/dev/null || fail "resume was refused"
by=""
for _ in $(seq 1 150); do
  by=$(psql "$dsn" -XtAc "SELECT payload_json->'control'->>'issued_by' || '/' || coalesce(payload_json->'control'->>'client_note', '')
    FROM audit_events WHERE event_type = 'control' AND payload_json->'control' ? 'pause'" 2>/dev/null || true)
  [ -n "$by" ] && break
  sleep 0.2
done
[ "$by" = ops-alice/mallory ] || fail "the pause in the trail is issued_by/client_note '$by' (want ops-alice/mallory)"
echo "admin API: refused without a token and for a viewer; the operator's pause recorded as $by (subject/client note)"
