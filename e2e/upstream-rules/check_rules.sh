#!/usr/bin/env bash
# upstream_rules_check: the rules the upstream-rules e2e loads are kube-prometheus' own.
#  1. the vendored files are the bytes README.md names (SHA256SUMS);
#  2. derive_rules.py's output equals upstream except `for:` (derive_rules.py --check, which walks
#     both side by side, independently of the derivation);
#  3. Prometheus' own promtool accepts the derived files;
#  4. the check is not blind: a derived file with one expression or one label changed, or a
#     `for:` longer than asked, is refused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v promtool >/dev/null || { echo "FAIL: promtool missing (Debian package prometheus)" >&2; exit 1; }

(cd "$here/kube-prometheus" && sha256sum --quiet -c SHA256SUMS) || { echo "FAIL: vendored files changed" >&2; exit 1; }
python3 "$here/derive_rules.py" "$tmp/rules" --for 2s >/dev/null
python3 "$here/derive_rules.py" --check "$tmp/rules" --for 2s
# --lint=none: upstream's kube-apiserver-burnrate.rules records code_verb:apiserver_request_total:increase1h
# twice (promtool's duplicate-rules lint); Prometheus itself loads it.
promtool check rules --lint=none "$tmp"/rules/*.rules.yaml >/dev/null

mutate() {  # mutate NAME PYTHON-STATEMENT-ON-rule: the check must refuse the result
  rm -rf "$tmp/bad" && cp -r "$tmp/rules" "$tmp/bad"
  python3 - "$tmp/bad/kubernetesControlPlane-prometheusRule.rules.yaml" "$2" <<'PY'
import sys, yaml
path, stmt = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(path))
rule = next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == "KubeNodeNotReady")
exec(stmt)
yaml.safe_dump(doc, open(path, "w"), sort_keys=False)
PY
  if python3 "$here/derive_rules.py" --check "$tmp/bad" --for 2s >/dev/null 2>&1; then
    echo "FAIL: the check accepted a derived file with $1" >&2
    exit 1
  fi
}
mutate "an edited expression" 'rule["expr"] = rule["expr"].replace("== 0", "== 1", 1)'
mutate "an added label" 'rule["labels"]["team"] = "x"'
mutate "a long for:" 'rule["for"] = "15m"'
mutate "a dropped rule" 'doc["groups"][0]["rules"].pop()'
echo "upstream rules: vendored bytes, derivation and promtool OK; 4 mutations refused"
