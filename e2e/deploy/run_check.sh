#!/usr/bin/env bash
# run_check.sh CHECK REPO_ROOT BUILD_DIR: one offline deployment check.
#   dockerfile  the image builds like CI (same script), multi-stage, non-root,
#               runtime stage = runtime libraries only, no secrets
#   compose     docker-compose config -q, check_compose.py, promtool, amtool
#   manifests   check_manifests.py (kubectl kustomize of every overlay)
#   configs     every shipped service YAML uses only keys the binary knows
#   yamllint    every YAML file in the repository
# A missing tool is a failure that names the package, never a skip.
set -euo pipefail
check=$1 root=$2 build=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICES=(collector analyzer safety-gate executor audit)
errors=0
bad() { echo "FAIL: $*"; errors=$((errors + 1)); }
need() { command -v "$1" >/dev/null || { echo "FAIL: $1 not found (Debian package: $2)"; exit 1; }; }

python_with_yaml() {
  local p
  for p in /usr/bin/python3 "$(command -v python3 || true)"; do
    [ -x "$p" ] && "$p" -c 'import yaml' 2>/dev/null && { echo "$p"; return; }
  done
  echo "FAIL: no python3 with PyYAML (Debian packages: python3 python3-yaml)" >&2
  exit 1
}

# Lines of the stage named $1 in the Dockerfile.
stage() { awk -v s="$1" 'tolower($0) ~ /^from / { on = (tolower($NF) == tolower(s)) } on' "$root/Dockerfile"; }

check_dockerfile() {
  local df=$root/Dockerfile
  [ -f "$df" ] || { bad "no Dockerfile"; return; }
  local froms; froms=$(grep -ciE '^FROM ' "$df")
  ((froms >= 2)) || bad "Dockerfile is not multi-stage ($froms FROM)"
  grep -qiE '^FROM .* AS build$' "$df" || bad "no stage named build"
  grep -qiE '^FROM .* AS runtime$' "$df" || bad "no stage named runtime"
  [ "$(grep -iE '^FROM ' "$df" | tail -1 | awk '{print tolower($NF)}')" = runtime ] || bad "the last stage must be runtime"
  grep -qE '^ARG DEBIAN_IMAGE=debian:bookworm' "$df" || bad "base image must be Debian bookworm"
  # The build stage installs and builds exactly as CI: .ci/run -> ./kubemend
  # test -> cmd_deps -> scripts/install-deps.sh.
  grep -qE '^exec \./kubemend test$' "$root/.ci/run" || bad ".ci/run no longer runs ./kubemend test"
  sed -n '/^cmd_test() {/,/^}/p' "$root/kubemend" | grep -qE '^\s*cmd_deps$' || bad "./kubemend test no longer calls cmd_deps"
  # shellcheck disable=SC2016 # the literal text in ./kubemend
  sed -n '/^cmd_deps() {/,/^}/p' "$root/kubemend" | grep -q '"$ROOT/scripts/install-deps.sh"' \
    || bad "./kubemend deps no longer runs scripts/install-deps.sh"
  grep -qE '^\s*build\) shift; cmd_deps; cmd_build' "$root/kubemend" || bad "./kubemend build no longer runs deps first"
  stage build | grep -qE '^RUN scripts/install-deps\.sh build( |$)' || bad "build stage does not RUN scripts/install-deps.sh build"
  stage build | grep -qE '^RUN .*\./kubemend build( |$)' || bad "build stage does not RUN ./kubemend build"
  stage runtime | grep -qE 'install-deps\.sh runtime' || bad "runtime stage does not install the runtime group"
  stage runtime | grep -qiE '(apt-get|apt) install' && bad "runtime stage installs packages outside scripts/install-deps.sh"
  stage runtime | grep -qE 'install-deps\.sh [a-z ]*build' && bad "runtime stage installs the build group"
  # Non-root, numerically (Kubernetes' runAsNonRoot cannot check names).
  local user; user=$(stage runtime | grep -E '^USER ' | tail -1 | awk '{print $2}')
  [[ $user =~ ^[1-9][0-9]*(:[1-9][0-9]*)?$ ]] || bad "runtime USER must be numeric and non-root (got '${user:-none}')"
  stage runtime | grep -qE '^COPY --from=build /out/ /$' || bad "runtime stage must copy only the staged /out tree"
  # No secrets baked in.
  grep -qiE '^(ENV|ARG) .*(PASSWORD|SECRET|TOKEN|PRIVATE|API_KEY)' "$df" && bad "Dockerfile sets a secret-looking ENV/ARG"
  grep -qiE '^(COPY|ADD) .*(\.pem|\.key|secrets|id_rsa|\.env)' "$df" && bad "Dockerfile copies a secret-looking file"
  grep -qE '^ADD ' "$df" && bad "use COPY, not ADD"
  for p in '*' '**/secrets/' '**/build/'; do
    grep -qxF "$p" "$root/.dockerignore" || bad ".dockerignore lacks '$p'"
  done
  grep -qE '^!.*secrets' "$root/.dockerignore" && bad ".dockerignore re-includes secrets"
  # What the image ships.
  for s in "${SERVICES[@]}"; do
    grep -qF "services/\$s/config.yaml" "$df" || bad "image lacks /etc/kubemend/$s.yaml"
  done
  grep -qF 'cp -r migrations /out/usr/share/kubemend/migrations' "$df" || bad "image lacks migrations at /usr/share/kubemend/migrations"
  grep -qF '/usr/share/kubemend/migrations' "$root/services/audit/main.cc" \
    || bad "audit.migrations_dir default moved away from /usr/share/kubemend/migrations"
  # The runtime group holds every library the shipped binaries link.
  local runtime; runtime=$("$root/scripts/install-deps.sh" --print runtime)
  local -a bins=()
  for s in "${SERVICES[@]}"; do bins+=("$build/services/$s/kubemend-$s"); done
  bins+=("$build/deploy/healthcheck/kubemend-healthcheck")
  for opt in tools/kubemendctl/kubemendctl e2e/kube-sim/kube-sim; do
    [ -x "$build/$opt" ] && bins+=("$build/$opt")
  done
  # soname -> package, with one dpkg -S call (it is slow): each library is
  # looked up under its real path and its /usr-less twin (merged /usr).
  local b lib path real
  local -A owner=() cand=()
  local -a needs=()
  for b in "${bins[@]}"; do
    [ -x "$b" ] || { bad "$b not built (build first)"; continue; }
    for lib in $(readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      needs+=("$(basename "$b") $lib")
      [ -n "${cand[$lib]:-}" ] && continue
      path=$(ldd "$b" | awk -v l="$lib" '$1 == l { print $3 }')
      real=$(readlink -f "$path")
      cand[$lib]="$real ${real#/usr}"
    done
  done
  local line pkg f
  # shellcheck disable=SC2048,SC2086 # each value holds two paths: split them
  while IFS= read -r line; do
    pkg=${line%%: *}; pkg=${pkg%%:*}; f=${line#*: }
    for lib in "${!cand[@]}"; do
      [[ " ${cand[$lib]} " == *" $f "* ]] && owner[$lib]=$pkg
    done
  done < <(dpkg -S ${cand[*]} 2>/dev/null || true)
  local need
  for need in "${needs[@]}"; do
    b=${need%% *}; lib=${need#* }
    pkg=${owner[$lib]:-}
    [ -n "$pkg" ] || { bad "$b: $lib belongs to no Debian package"; continue; }
    case $pkg in libc6|libgcc-s1) continue ;; esac
    grep -qxF "$pkg" <<<"$runtime" || bad "$b links $lib from $pkg, missing in install-deps.sh runtime"
  done
  # No compilers or headers at run time.
  grep -qE '(-dev|build-essential|cmake|g\+\+|gcc)$' <<<"$runtime" && bad "runtime group holds build tools"
  return 0
}

check_compose() {
  need docker-compose docker-compose
  need promtool prometheus
  need amtool prometheus-alertmanager
  local py; py=$(python_with_yaml)
  (cd "$root" && docker-compose -f docker-compose.yaml config -q) || bad "docker-compose config -q"
  "$py" "$here/check_compose.py" "$root" || bad "check_compose.py"
  local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  cp "$root/deploy/monitoring/kubemend-rules.yml" "$root/deploy/compose/prometheus/workload-rules.yml" "$tmp/"
  sed "s|/etc/prometheus/|$tmp/|g" "$root/deploy/compose/prometheus/prometheus.yml" >"$tmp/prometheus.yml"
  promtool check config "$tmp/prometheus.yml" >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "promtool check config"; }
  promtool check rules "$root/deploy/monitoring/kubemend-rules.yml" "$root/deploy/compose/prometheus/workload-rules.yml" \
    >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "promtool check rules"; }
  amtool check-config "$root/deploy/compose/alertmanager/alertmanager.yml" >"$tmp/out" 2>&1 \
    || { cat "$tmp/out"; bad "amtool check-config"; }
  # The snippet for clusters, completed into a whole config, must be valid too.
  "$py" - "$root/deploy/k8s/components/monitoring/alertmanager-snippet.yaml" "$tmp/am.yml" <<'PY'
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))
s["route"]["receiver"] = "kubemend-operators"
yaml.safe_dump(s, open(sys.argv[2], "w"))
PY
  amtool check-config "$tmp/am.yml" >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "amtool: alertmanager-snippet.yaml"; }
  # pgpass-init, verbatim from the compose file (paths moved, chown stubbed):
  # a password with ':' and '\' must come out escaped, in a 0600 file.
  "$py" - "$root/docker-compose.yaml" >"$tmp/pgpass-init.sh" <<'PY'
import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["services"]["pgpass-init"]["command"][0].replace("$$", "$"))
PY
  mkdir -p "$tmp/secrets" "$tmp/pgpass"
  printf '%s\n' 'pa:ss\word' >"$tmp/secrets/postgres_password"
  sed -e "s|/run/secrets/|$tmp/secrets/|g; s|/pgpass/|$tmp/pgpass/|g; s|^chown |: |" "$tmp/pgpass-init.sh" >"$tmp/run.sh"
  if sh -e "$tmp/run.sh"; then
    local want='*:*:*:*:pa\:ss\\word'
    [ "$(cat "$tmp/pgpass/pgpass")" = "$want" ] || bad "pgpass-init wrote '$(cat "$tmp/pgpass/pgpass")', want '$want'"
    [ "$(stat -c %a "$tmp/pgpass/pgpass")" = 600 ] || bad "pgpass-init's file is not mode 0600 (libpq ignores it)"
  else
    bad "pgpass-init script failed"
  fi
  : >"$tmp/secrets/postgres_password"
  sh -e "$tmp/run.sh" 2>/dev/null && bad "pgpass-init accepted an empty password"
  return 0
}

check_manifests() {
  need kubectl "kubernetes-client, or kubectl >= 1.27 for kustomize components"
  local py; py=$(python_with_yaml)
  "$py" "$here/check_manifests.py" "$root" || bad "check_manifests.py"
}

# Every key in the shipped YAML is one the binary declares (services reject
# unknown keys at start, so a typo here would be a crash in production).
check_configs() {
  local py; py=$(python_with_yaml)
  local s bin f
  for s in "${SERVICES[@]}"; do
    bin=$build/services/$s/kubemend-$s
    [ -x "$bin" ] || { bad "$bin not built (build first)"; continue; }
    "$bin" --help-config | awk '{print $1}' >"$build/.deploy-keys-$s"
    for f in "$root/services/$s/config.yaml" "$root/deploy/compose/config/$s.yaml" "$root/deploy/k8s/base/config/$s.yaml"; do
      [ -f "$f" ] || { bad "$f missing"; continue; }
      "$py" - "$f" "$build/.deploy-keys-$s" <<'PY' || bad "$f has keys kubemend-$s does not know"
import sys, yaml
keys = set(open(sys.argv[2]).read().split())
bad = []
def walk(node, prefix):
    for k, v in node.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if key in keys:
            continue
        if isinstance(v, dict) and any(x.startswith(key + ".") for x in keys):
            walk(v, key)
        else:
            bad.append(key)
walk(yaml.safe_load(open(sys.argv[1])) or {}, "")
for b in bad:
    print(f"{sys.argv[1]}: unknown key {b}")
sys.exit(1 if bad else 0)
PY
    done
    rm -f "$build/.deploy-keys-$s"
  done
}

check_yamllint() {
  need yamllint yamllint
  (cd "$root" && yamllint -s -c .yamllint .) || bad "yamllint"
}

case $check in
  dockerfile) check_dockerfile ;;
  compose) check_compose ;;
  manifests) check_manifests ;;
  configs) check_configs ;;
  yamllint) check_yamllint ;;
  *) echo "run_check.sh: unknown check $check"; exit 2 ;;
esac
if ((errors)); then
  echo "$check: $errors problem(s)"
  exit 1
fi
echo "$check: ok"
