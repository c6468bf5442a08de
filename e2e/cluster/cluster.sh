#!/usr/bin/env bash
# cluster.sh: a real Kubernetes control plane on loopback for tests and demos.
#
#   e2e/cluster/cluster.sh start DIR    start it; prints DIR/cluster.env (source it)
#   e2e/cluster/cluster.sh stop DIR     stop every process it started, in reverse order
#   e2e/cluster/cluster.sh env DIR      print DIR/cluster.env
#   e2e/cluster/cluster.sh restart-apiserver DIR
#                                       SIGTERM (SIGKILL after 3 s) kube-apiserver and start it again with the same
#                                       flags (port, certificates, etcd): every watch breaks and
#                                       every client must reconnect (tests of watch resumption)
#
# etcd, kube-apiserver (own CA, service-account signing key, --authorization-mode=Node,RBAC,
# the default admission plugins plus NodeRestriction), kube-controller-manager (one service
# account per controller), kube-scheduler, and kubemend-kubelet, which registers fake nodes
# node-1..3 and writes pod status like a kubelet (faults over HTTP, see its main.go).
# Every listener is on 127.0.0.1 at a free port. Binaries: scripts/build-k8s.sh's cache,
# or KUBEMEND_K8S_BIN. DIR/cluster.env defines:
#   KUBECONFIG_ADMIN  admin (system:masters) kubeconfig       KUBECTL  the built kubectl
#   KUBE_APISERVER    https://127.0.0.1:PORT                   CA_FILE  the cluster CA
#   FAULTS_URL        kubemend-kubelet's fault API (kube-sim's /sim/v1/faults bodies)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "[cluster] $*" >&2; }

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Hltn "sport = :$p" | grep -q . && ! grep -qx "$p" "$dir/ports" 2>/dev/null; then
      echo "$p" >>"$dir/ports"; echo "$p"; return
    fi
  done
  die "no free port found"
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local until=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < until)) || return 1
    sleep 0.2
  done
}

launch() {  # launch NAME BINARY ARGS...: background, log in DIR/logs, pid in DIR/pids
  local name=$1; shift
  "$@" >"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name"
  echo "$name" >>"$dir/pids/order"
}

alive() {  # alive NAME: still running, else die with the tail of its log
  kill -0 "$(cat "$dir/pids/$1")" 2>/dev/null || { tail -20 "$dir/logs/$1.log" >&2; die "$1 exited; see $dir/logs/$1.log"; }
}

# ---------------------------------------------------------------- PKI
cert() {  # cert NAME SUBJECT [SAN]: EC key + certificate signed by the cluster CA
  local name=$1 subj=$2 san=${3:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext="$pki/$name.ext"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $san ]]; then echo "extendedKeyUsage=serverAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi; } >"$ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

make_pki() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=kubemend-test-ca" -days 30 -out "$pki/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=kubemend-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
}

kubeconfig() {  # kubeconfig NAME USER: a client-certificate kubeconfig
  cat >"$dir/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kubemend-test
  cluster: {server: "$server", certificate-authority: "$pki/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$pki/$1.crt", client-key: "$pki/$1.key"}
contexts:
- name: kubemend-test
  context: {cluster: kubemend-test, user: $2}
current-context: kubemend-test
KC
}

# ---------------------------------------------------------------- start / stop
start() {
  local t0=$SECONDS bin
  [[ ! -s $dir/pids/order ]] || die "$dir already has a running control plane (stop it first)"
  bin=${KUBEMEND_K8S_BIN:-$("$root/scripts/build-k8s.sh" --print-dir)}
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubemend-kubelet; do
    [[ -x $bin/$b ]] || die "$bin/$b is missing: run scripts/build-k8s.sh"
  done
  command -v openssl >/dev/null || die "openssl is missing (scripts/install-deps.sh test)"
  pki=$dir/pki
  rm -rf "$dir/etcd" "$dir/pki" "$dir/ports"
  mkdir -p "$pki" "$dir/logs" "$dir/pids"
  make_pki
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  server=https://127.0.0.1:$api_port

  launch etcd "$bin/etcd" --name kubemend --data-dir "$dir/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "kubemend=http://127.0.0.1:$peer_port" --listen-metrics-urls "" --log-level warn
  launch kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none --profiling=false
  kubeconfig admin kubemend-admin
  kubeconfig controller-manager system:kube-controller-manager
  kubeconfig scheduler system:kube-scheduler
  wait_for 60 "kube-apiserver /readyz" curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "$server/readyz" || { alive etcd; alive kube-apiserver; die "kube-apiserver not ready after 60 s; see $dir/logs"; }
  log "kube-apiserver ready at $server after $((SECONDS - t0)) s"

  launch kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/controller-manager.kubeconfig" --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
    --secure-port 0 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt"
  launch kube-scheduler "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/scheduler.kubeconfig" --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
    --secure-port 0 --leader-elect=false
  launch kubemend-kubelet "$bin/kubemend-kubelet" --kubeconfig "$dir/admin.kubeconfig" --nodes 3 \
    --ready-file "$dir/kubemend-kubelet.ready" ${KUBEMEND_KUBELET_FLAGS:-}

  local k=("$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" --cache-dir "$dir/kubectl-cache")
  wait_for 60 "3 nodes Ready" bash -c '[[ $("$@" get nodes --no-headers 2>/dev/null | grep -cw Ready) == 3 ]]' _ "${k[@]}" \
    || { alive kubemend-kubelet; die "nodes not Ready after 60 s; see $dir/logs/kubemend-kubelet.log"; }
  wait_for 60 "default service account" "${k[@]}" -n default get serviceaccount default \
    || { alive kube-controller-manager; die "no default ServiceAccount after 60 s; see $dir/logs/kube-controller-manager.log"; }
  alive kube-scheduler
  local faults
  faults=$(sed -E 's/.*"http_url":"([^"]+)".*/\1/' "$dir/kubemend-kubelet.ready")
  cat >"$dir/cluster.env" <<ENV
KUBECONFIG_ADMIN=$dir/admin.kubeconfig
KUBECTL=$bin/kubectl
KUBE_APISERVER=$server
CA_FILE=$pki/ca.crt
FAULTS_URL=$faults
ENV
  log "control plane up in $((SECONDS - t0)) s ($dir/cluster.env)"
  cat "$dir/cluster.env"
}

stop() {
  [[ -f $dir/pids/order ]] || return 0
  local name pid
  for name in $(tac "$dir/pids/order"); do
    [[ -f $dir/pids/$name ]] || continue
    pid=$(cat "$dir/pids/$name")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pids/$name"
  done
  rm -f "$dir/pids/order" "$dir/cluster.env"
}

restart_apiserver() {
  local pid t0=$SECONDS argv=()
  [[ -f $dir/pids/kube-apiserver ]] || die "no kube-apiserver of ours in $dir"
  source "$dir/cluster.env"
  pid=$(cat "$dir/pids/kube-apiserver")
  mapfile -d '' argv <"/proc/$pid/cmdline" || die "kube-apiserver (pid $pid) is not running"
  # SIGTERM, and SIGKILL after 3 s: a graceful shutdown drains open watches for
  # up to a minute, and a crashed API server is the harsher test anyway.
  kill -TERM "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  "${argv[@]}" >>"$dir/logs/kube-apiserver.log" 2>&1 &
  echo $! >"$dir/pids/kube-apiserver"
  local pki=$dir/pki
  wait_for 60 "kube-apiserver /readyz" curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "$KUBE_APISERVER/readyz" || { alive kube-apiserver; die "kube-apiserver not ready 60 s after its restart"; }
  log "kube-apiserver restarted and ready after $((SECONDS - t0)) s"
}

cmd=${1:-}; dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: cluster.sh start|stop|env|restart-apiserver DIR"
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
case $cmd in
  start) trap '[[ $? == 0 ]] || stop' EXIT; start ;;
  stop) stop ;;
  env) cat "$dir/cluster.env" ;;
  restart-apiserver) restart_apiserver ;;
  *) die "unknown command $cmd (start|stop|env|restart-apiserver)" ;;
esac
