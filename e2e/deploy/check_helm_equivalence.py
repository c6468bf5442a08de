#!/usr/bin/env python3
"""The Helm chart renders the same objects as the kustomize base.

  check_helm_equivalence.py KUSTOMIZE.yaml HELM.yaml

KUSTOMIZE.yaml: `kubectl kustomize deploy/k8s/base`. HELM.yaml: `helm template` of
deploy/helm/kubemend in namespace kubemend with namespace.create=true and every Secret named
(existingSecret), i.e. the chart's defaults for everything the base has. Compares every object
field by field after removing what is expected to differ; DIFFERENCES below is that list (also in
deploy/helm/kubemend/README.md). Anything else that differs is a failure, printed with its path.
Needs PyYAML.
"""
import re
import sys

import yaml

# What the chart adds or does differently, on purpose. Keep in step with the chart's README.
HELM_LABELS = {"app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "helm.sh/chart"}
DIFFERENCES = {
    "labels": "Helm's labels (managed-by, instance, helm.sh/chart) on every object",
    "configmap-names": "ConfigMaps keep their plain names (kustomize adds a content hash suffix); "
                       "the chart's pods carry a checksum/config annotation instead, so a change still rolls them",
    "image": "image comes from values image.repository:tag (kustomize: images: kubemend:dev)",
    "secrets": "the chart may create the Secrets the base leaves to you (webhook, admin tokens, "
               "postgres/kafka when given); with existingSecret it creates none",
    "gate-config": "safety-gate: gate.mode and gate.own_namespace are written out (values mode, release namespace)",
    "protected": "safety-gate and executor get the same protected.namespaces (values protectedNamespaces + "
                 "release namespace); the base sets the gate's list and leaves the executor at its built-in default",
    "executor-config": "executor: executor.dry_run and executor.own_namespace are written out (values dryRun, release namespace)",
    "config-comments": "config files are re-serialised from values (comments dropped, keys sorted)",
}
HASH = re.compile(r"^(kubemend-[a-z-]+)-[a-z0-9]{10}$")
problems = []


def unhash(name):
    m = HASH.match(name)
    return m.group(1) if m else name


def key(d):
    return (d["kind"], d["metadata"]["name"])


def normalize(d):
    """The object with the expected differences taken out."""
    d = yaml.safe_load(yaml.safe_dump(d))
    meta = d["metadata"]
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k not in HELM_LABELS}
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    # kustomize (kubectl 1.37's) does not know these kinds are cluster-scoped and sets the
    # namespace anyway; kubectl and the API server ignore it, helm does not write it.
    if d["kind"] in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        meta.pop("namespace", None)
    if d["kind"] == "ConfigMap":
        meta["name"] = unhash(meta["name"])
        data = {}
        for k, v in (d.get("data") or {}).items():
            data[k] = yaml.safe_load(v) if k.endswith(".yaml") else v
        d["data"] = data
    if d["kind"] == "Deployment":
        tpl = d["spec"]["template"]
        ann = tpl["metadata"].get("annotations") or {}
        ann.pop("checksum/config", None)
        if not ann:
            tpl["metadata"].pop("annotations", None)
        for v in tpl["spec"].get("volumes", []):
            if "configMap" in v:
                v["configMap"]["name"] = unhash(v["configMap"]["name"])
        for c in tpl["spec"].get("containers", []) + tpl["spec"].get("initContainers", []):
            if c.get("image", "").startswith("kubemend"):
                c["image"] = "<kubemend image>"
            for e in c.get("envFrom", []):
                if "configMapRef" in e:
                    e["configMapRef"]["name"] = unhash(e["configMapRef"]["name"])
    return d


def config_expected(name, base_cfg):
    """The base's config with the chart's documented config differences applied."""
    cfg = yaml.safe_load(yaml.safe_dump(base_cfg))
    protected = ["kube-system", "kube-public", "kube-node-lease", "cert-manager", "ingress-nginx", "monitoring",
                 "kubemend"]
    if name == "kubemend-safety-gate-config":
        cfg["safety-gate.yaml"].setdefault("gate", {}).update({"mode": "automatic", "own_namespace": "kubemend"})
        cfg["safety-gate.yaml"].setdefault("protected", {})["namespaces"] = protected
    if name == "kubemend-executor-config":
        cfg["executor.yaml"].setdefault("executor", {}).update({"dry_run": False, "own_namespace": "kubemend"})
        cfg["executor.yaml"].setdefault("protected", {})["namespaces"] = protected
    return cfg


def diff(path, a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                problems.append(f"{path}.{k}: only in the chart: {b[k]!r}"[:300])
            elif k not in b:
                problems.append(f"{path}.{k}: only in the kustomize base: {a[k]!r}"[:300])
            else:
                diff(f"{path}.{k}", a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(f"{path}[{i}]", x, y)
    elif a != b:
        problems.append(f"{path}: kustomize base {a!r}, chart {b!r}"[:300])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    base = {key(n): n for n in (normalize(d) for d in yaml.safe_load_all(open(sys.argv[1])) if d)}
    helm = {key(n): n for n in (normalize(d) for d in yaml.safe_load_all(open(sys.argv[2])) if d)}
    for k in sorted(set(base) - set(helm)):
        problems.append(f"{k[0]}/{k[1]}: in the kustomize base, not in the chart")
    for k in sorted(set(helm) - set(base)):
        if k[0] == "Secret":
            continue  # DIFFERENCES["secrets"]
        problems.append(f"{k[0]}/{k[1]}: in the chart, not in the kustomize base")
    for k in sorted(set(base) & set(helm)):
        want = base[k]
        if k[0] == "ConfigMap":
            want = dict(want, data=config_expected(k[1], want["data"]))
        diff(f"{k[0]}/{k[1]}", want, helm[k])
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} difference(s) between the chart and the kustomize base beyond the documented ones")
        return 1
    kinds = sorted({k[0] for k in base})
    print(f"chart == kustomize base: {len(base)} objects ({', '.join(kinds)}), "
          f"documented differences: {', '.join(DIFFERENCES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
