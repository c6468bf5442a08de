#!/usr/bin/env python3
"""Checks the Kubernetes manifests kubemend ships (deploy/k8s) for the
invariants docs/deploy.md promises. Renders every overlay with
`kubectl kustomize` (offline), plus the base with every optional component.

  check_manifests.py REPO_ROOT
  check_manifests.py REPO_ROOT --rendered FILE [--name NAME] [--generated-secrets]
                     [--namespace-external] [--optional-exec] [--monitoring] [--prod]

--rendered checks one file rendered by something else (the Helm chart:
`helm template`) with the same invariants as the kustomize output.
--generated-secrets lets Secrets carry data (the chart's generated tokens; its
test proves them random), --namespace-external accepts output without the
Namespace object (Helm's release namespace exists before the install),
--optional-exec accepts the collector-exec/custom-probes components' RBAC,
--monitoring requires the monitoring component's objects, --prod the prod
overlay's shape (replicas, anti-affinity, spread, PodDisruptionBudgets).

Exits 1 with one line per violation. Needs kubectl (kustomize built in) and
PyYAML (Debian: python3-yaml, in scripts/install-deps.sh test).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("check_manifests.py: PyYAML missing (apt-get install python3-yaml)")

KUBEMEND_SERVICES = ["collector", "analyzer", "safety-gate", "executor", "audit"]
CLUSTER_READERS = {"kubemend-executor", "kubemend-collector", "kubemend-analyzer", "kubemend-safety-gate"}
READ_VERBS = {"get", "list", "watch"}
# The policy kinds the analyzer watches (services/analyzer/src/policy_cr.cc, deploy/k8s/base/crd-*.yaml).
POLICY_PLURALS = ("healingpolicies", "anomalyactions", "healthchecks", "sloviolations", "budgetguards",
                  "costalerts", "predictivescales")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}

problems = []


def fail(where, what):
    problems.append(f"{where}: {what}")


def render(kubectl, path):
    out = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True)
    if out.returncode != 0:
        fail(path, "kubectl kustomize failed: " + out.stderr.strip())
        return []
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pod_spec(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {}), spec.get("template", {}).get("metadata", {})


def check_containers(name, docs):
    for obj in docs:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        where = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
        spec, meta = pod_spec(obj)
        psc = spec.get("securityContext", {})
        writable_ok = bool((meta.get("annotations") or {}).get("kubemend.io/writable-root-filesystem"))
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                fail(where, f"{flag} is not allowed under the restricted profile")
        for v in spec.get("volumes", []):
            if "hostPath" in v:
                fail(where, f"hostPath volume {v.get('name')} is not allowed")
        containers = spec.get("containers", []) + spec.get("initContainers", [])
        if not containers:
            fail(where, "no containers")
        for c in containers:
            cw = f"{where} container {c.get('name')}"
            is_init = c in spec.get("initContainers", [])
            if not is_init:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        fail(cw, f"no {probe}")
            res = c.get("resources", {})
            for key in ("cpu", "memory"):
                if key not in res.get("requests", {}):
                    fail(cw, f"no resources.requests.{key}")
            if "memory" not in res.get("limits", {}):
                fail(cw, "no resources.limits.memory")
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(cw, "securityContext.allowPrivilegeEscalation must be false")
            if sc.get("privileged"):
                fail(cw, "privileged")
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                fail(cw, "runAsNonRoot must be true")
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                fail(cw, "runAsUser 0")
            if "ALL" not in (sc.get("capabilities", {}).get("drop") or []):
                fail(cw, "capabilities.drop must contain ALL")
            added = set(sc.get("capabilities", {}).get("add") or []) - {"NET_BIND_SERVICE"}
            if added:
                fail(cw, f"capabilities added: {sorted(added)}")
            seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                fail(cw, "seccompProfile must be RuntimeDefault")
            if sc.get("readOnlyRootFilesystem") is not True and not writable_ok:
                fail(cw, "readOnlyRootFilesystem must be true (or the pod carries a "
                         "kubemend.io/writable-root-filesystem annotation saying why)")
            cmd = (c.get("command") or [""])[0]
            if cmd.startswith("kubemend-") and cmd != "kubemend-healthcheck":
                ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
                if "grpc" not in ports:
                    fail(cw, "a kubemend service must expose its gRPC port as `grpc`")
                for probe in ("livenessProbe", "readinessProbe"):
                    g = (c.get(probe) or {}).get("grpc")
                    if not g:
                        fail(cw, f"{probe} must be a native gRPC probe (grpc.health.v1)")
                    elif g.get("port") != ports.get("grpc"):
                        fail(cw, f"{probe} probes port {g.get('port')}, the gRPC port is {ports.get('grpc')}")


def parse_rbac_table(readme):
    """The table under '## RBAC' in services/executor/README.md:
    | API group | resource | verbs | ... |"""
    text = open(readme).read()
    m = re.search(r"^## RBAC\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        fail(readme, "no '## RBAC' section")
        return {}
    want = {}
    for line in m.group(1).splitlines():
        cells = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.strip().startswith("|"):
            continue
        if cells[0].lower() in ("api group", "") or set(cells[0]) <= set("-: "):
            continue
        group = "" if cells[0].strip('`"') in ("core", '""', "") else cells[0].strip('`')
        verbs = {v.strip(" `") for v in cells[2].split(",") if v.strip()}
        key = (group, cells[1].strip("`"))
        if key in want:
            fail(readme, f"resource {key} listed twice")
        want[key] = verbs
    if not want:
        fail(readme, "the RBAC table is empty")
    return want


def rbac_for(docs, sa):
    """(group, resource) -> verbs granted to ServiceAccount `sa`."""
    roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
    got = {}
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa for s in b.get("subjects", [])):
            continue
        ref = b["roleRef"]
        role = roles.get((ref["kind"], ref["name"]))
        if role is None:
            fail(b["metadata"]["name"], f"binds missing {ref['kind']} {ref['name']}")
            continue
        for rule in role.get("rules", []):
            for g in rule.get("apiGroups", []):
                for r in rule.get("resources", []):
                    got.setdefault((g, r), set()).update(rule.get("verbs", []))
    return got


def check_rbac(name, docs, readme, optional_exec=False):
    for obj in docs:
        if obj["kind"] in ("Role", "ClusterRole"):
            for rule in obj.get("rules", []):
                if "*" in rule.get("verbs", []) or "*" in rule.get("resources", []) or "*" in rule.get("apiGroups", []):
                    fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}", "wildcards are not allowed")
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            for s in obj.get("subjects", []):
                if s.get("kind") != "ServiceAccount" or s.get("name") not in CLUSTER_READERS:
                    fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}",
                         f"binds {s.get('kind')} {s.get('name')}: only executor, collector, analyzer and safety-gate get RBAC")
    want = parse_rbac_table(readme)
    got = rbac_for(docs, "kubemend-executor")
    for key in sorted(set(want) | set(got)):
        if want.get(key, set()) != got.get(key, set()):
            fail(f"{name}: executor RBAC {key[0] or 'core'}/{key[1]}",
                 f"granted {sorted(got.get(key, set()))}, services/executor/README.md lists {sorted(want.get(key, set()))}")
    collector = rbac_for(docs, "kubemend-collector")
    for key, verbs in collector.items():
        if key == ("", "pods/exec") and optional_exec and verbs == {"create"}:
            continue
        # components/collector-custom-probes: a custom probe creates, reads and deletes a Job.
        if key == ("batch", "jobs") and optional_exec and verbs == READ_VERBS | {"create", "delete"}:
            continue
        if not verbs <= READ_VERBS:
            fail(f"{name}: collector RBAC {key}", f"verbs {sorted(verbs)} beyond get/list/watch")
    analyzer = rbac_for(docs, "kubemend-analyzer")
    for key, verbs in analyzer.items():
        plural, _, sub = key[1].partition("/")
        allowed = READ_VERBS if not sub else {"update", "patch"} if sub == "status" else set()
        if key[0] != "kubemend.io" or plural not in POLICY_PLURALS or not verbs <= allowed:
            fail(f"{name}: analyzer RBAC {key}",
                 f"only get/list/watch on the policy kinds and update/patch on their status, got {sorted(verbs)}")
    for plural in POLICY_PLURALS:
        if analyzer.get(("kubemend.io", plural), set()) != READ_VERBS:
            fail(name, f"the analyzer cannot get/list/watch {plural}.kubemend.io")
        if analyzer.get(("kubemend.io", plural + "/status"), set()) != {"update", "patch"}:
            fail(name, f"the analyzer cannot write {plural}.kubemend.io/status")
    # The gate reads HealingActions (approvals) and writes only their status;
    # it reads (never writes) the admission policy that checks approvers.
    gate = rbac_for(docs, "kubemend-safety-gate")
    want_gate = {("kubemend.io", "healingactions"): READ_VERBS, ("kubemend.io", "healingactions/status"): {"patch"},
                 ("admissionregistration.k8s.io", "validatingadmissionpolicies"): {"get", "list"},
                 ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): {"get", "list"}}
    if gate != want_gate:
        fail(f"{name}: safety-gate RBAC", f"want {want_gate}, got {gate}")
    # No token where there is no RBAC.
    sas = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
    for s in ("audit",):
        sa = sas.get(f"kubemend-{s}")
        if sa is None:
            fail(name, f"no ServiceAccount kubemend-{s}")
        elif sa.get("automountServiceAccountToken") is not False:
            fail(name, f"ServiceAccount kubemend-{s} must set automountServiceAccountToken: false")
    for obj in docs:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec, _ = pod_spec(obj)
        sa = spec.get("serviceAccountName", "default")
        if sa not in CLUSTER_READERS and spec.get("automountServiceAccountToken") is not False:
            fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}",
                 f"ServiceAccount {sa} has no RBAC: set automountServiceAccountToken: false")
    for s in KUBEMEND_SERVICES:
        dep = next((d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"kubemend-{s}"), None)
        if dep is None:
            fail(name, f"no Deployment kubemend-{s}")
        elif dep["spec"]["template"]["spec"].get("serviceAccountName") != f"kubemend-{s}":
            fail(name, f"kubemend-{s} must run as ServiceAccount kubemend-{s}")


def check_namespace_and_netpol(name, docs, namespace_external=False):
    ns = [d for d in docs if d["kind"] == "Namespace"]
    if not ns and not namespace_external:
        fail(name, "no Namespace")
    for n in ns:
        if (n["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce") != "restricted":
            fail(name, f"Namespace {n['metadata']['name']} must enforce pod-security restricted")
    for d in docs:
        if d["metadata"].get("namespace") not in (None, "kubemend") and d["kind"] != "Namespace":
            fail(name, f"{d['kind']}/{d['metadata']['name']} outside namespace kubemend")
    deny = [d for d in docs if d["kind"] == "NetworkPolicy" and d["spec"].get("podSelector") == {}
            and set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not d["spec"].get("ingress") and not d["spec"].get("egress")]
    if not deny:
        fail(name, "no default-deny NetworkPolicy")
    crds = {d["spec"]["names"]["plural"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}
    for plural in POLICY_PLURALS:
        crd = crds.get(plural)
        if crd is None:
            fail(name, f"no {plural}.kubemend.io CRD")
            continue
        for v in crd["spec"]["versions"]:
            if "status" not in (v.get("subresources") or {}):
                fail(name, f"CRD {plural}: version {v['name']} has no status subresource")
    if not any(d["kind"] == "CustomResourceDefinition" and d["spec"]["names"]["plural"] == "healingactions"
               for d in docs):
        fail(name, "no HealingAction CRD")
    if not any(d["kind"] == "ValidatingAdmissionPolicyBinding"
               and d["spec"].get("policyName") == "kubemend-healingaction-approval" for d in docs):
        fail(name, "no admission policy binding for HealingAction approvals (approvals in another's name)")


def check_secrets_rendered(name, docs):
    for d in docs:
        if d["kind"] == "Secret" and (d.get("data") or d.get("stringData")):
            fail(name, f"Secret {d['metadata']['name']} carries data: secrets are created by the operator, never committed")


def check_admin_tokens(name, docs):
    """Every kubemend service reads admin.tokens_file from its ConfigMap, and
    that path is a non-optional mount of the Secret kubemend-admin-tokens: the
    admin API is never open, and a missing Secret stops the pod."""
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for obj in docs:
        if obj.get("kind") != "Deployment":
            continue
        spec, _ = pod_spec(obj)
        for c in spec.get("containers", []):
            cmd = c.get("command") or []
            if not cmd or not cmd[0].startswith("kubemend-") or cmd[0] == "kubemend-healthcheck":
                continue
            where = f"{name}: Deployment/{obj['metadata']['name']}"
            cfg_path = cmd[cmd.index("--config") + 1] if "--config" in cmd else ""
            cfg = {}
            for v in spec.get("volumes", []):
                cm = (v.get("configMap") or {}).get("name")
                mount = next((m for m in c.get("volumeMounts", []) if m["name"] == v["name"]), None)
                if cm and mount and cfg_path.startswith(mount["mountPath"] + "/"):
                    key = cfg_path[len(mount["mountPath"]) + 1:]
                    cfg = yaml.safe_load((cms.get(cm, {}).get("data") or {}).get(key, "")) or {}
            tokens_file = (cfg.get("admin") or {}).get("tokens_file", "")
            if not tokens_file:
                fail(where, "its config sets no admin.tokens_file (the admin API would be locked for everyone)")
                continue
            ok = False
            for v in spec.get("volumes", []):
                sec = v.get("secret") or {}
                mount = next((m for m in c.get("volumeMounts", []) if m["name"] == v["name"]), None)
                if sec.get("secretName") == "kubemend-admin-tokens" and mount and \
                        tokens_file.startswith(mount["mountPath"] + "/"):
                    ok = True
                    if sec.get("optional"):
                        fail(where, "the kubemend-admin-tokens volume must not be optional (fail closed)")
            if not ok:
                fail(where, f"admin.tokens_file {tokens_file} is not a mount of the Secret kubemend-admin-tokens")


def check_prod(name, docs):
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for s in KUBEMEND_SERVICES:
        dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"kubemend-{s}")
        spec = dep["spec"]["template"]["spec"]
        where = f"{name}: kubemend-{s}"
        if dep["spec"].get("replicas", 1) < 2:
            fail(where, "prod runs at least 2 replicas")
        if not spec.get("affinity", {}).get("podAntiAffinity"):
            fail(where, "no podAntiAffinity")
        if not spec.get("topologySpreadConstraints"):
            fail(where, "no topologySpreadConstraints")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        if not any(all(labels.get(k) == v for k, v in p["spec"]["selector"].get("matchLabels", {}).items())
                   for p in pdbs):
            fail(where, "no PodDisruptionBudget selects it")


def check_dev(name, docs):
    for s in KUBEMEND_SERVICES:
        dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == f"kubemend-{s}")
        if dep["spec"].get("replicas") != 1:
            fail(f"{name}: kubemend-{s}", "dev runs one replica")
    for want in ("kafka", "postgres", "kube-sim"):
        if not any(d["kind"] == "Deployment" and d["metadata"]["name"] == want for d in docs):
            fail(name, f"dev brings its own {want}")


def check_rules_equal(root, docs, name):
    plain = yaml.safe_load(open(os.path.join(root, "deploy/monitoring/kubemend-rules.yml")))
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    if not rules:
        fail(name, "no PrometheusRule")
    for r in rules:
        if r["spec"]["groups"] != plain["groups"]:
            fail(name, "PrometheusRule groups differ from deploy/monitoring/kubemend-rules.yml")
    alerts = {a.get("alert") for g in plain["groups"] for a in g["rules"]}
    exprs = " ".join(a["expr"] for g in plain["groups"] for a in g["rules"])
    for metric in ("kubemend_dead_lettered_total", "kubemend_collector_published_total",
                   "kubemend_gate_breaker_open", "kubemend_kafka_data_loss_total",
                   "kubemend_kafka_consumer_lag", "kubemend_executor_outcomes_total"):
        if metric not in exprs:
            fail("deploy/monitoring/kubemend-rules.yml", f"no alert on {metric}")
    for g in plain["groups"]:
        for a in g["rules"]:
            if a.get("labels", {}).get("kubemend_self") != "true":
                fail("deploy/monitoring/kubemend-rules.yml", f"{a.get('alert')} lacks kubemend_self=\"true\"")
    if not any(d["kind"] == "ServiceMonitor" for d in docs):
        fail(name, "no ServiceMonitor")
    return alerts


def check_committed_secrets(root):
    """No Secret with data and no private key anywhere in the tracked tree."""
    try:
        files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, fs in os.walk(root):
            dirs[:] = [x for x in dirs if x not in (".git", "build", ".run", ".worktrees") and not x.startswith("build-")]
            files += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    for f in files:
        path = os.path.join(root, f)
        if not os.path.isfile(path):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        if re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text):
            fail(f, "contains a private key")
        if f.endswith((".yaml", ".yml")) and re.search(r"^kind:\s*Secret\s*$", text, re.M):
            try:
                for d in yaml.safe_load_all(text):
                    if isinstance(d, dict) and d.get("kind") == "Secret" and (d.get("data") or d.get("stringData")):
                        fail(f, "a Secret with data is committed")
            except yaml.YAMLError:
                pass


def check_rendered(root, path, name, flags):
    """One rendered file (the Helm chart's output) through the kustomize output's checks."""
    readme = os.path.join(root, "services/executor/README.md")
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d]
    except (OSError, yaml.YAMLError) as e:
        fail(name, f"cannot read {path}: {e}")
        return
    if not docs:
        fail(name, f"{path} holds no objects")
        return
    check_containers(name, docs)
    check_rbac(name, docs, readme, optional_exec="--optional-exec" in flags)
    check_namespace_and_netpol(name, docs, namespace_external="--namespace-external" in flags)
    if "--generated-secrets" not in flags:
        check_secrets_rendered(name, docs)
    check_admin_tokens(name, docs)
    if "--monitoring" in flags:
        check_rules_equal(root, docs, name)
    if "--prod" in flags:
        check_prod(name, docs)


def report(what):
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {what}")
        return 1
    print(f"{what}: ok")
    return 0


def main():
    args = sys.argv[1:]
    if "--rendered" in args:
        known = {"--generated-secrets", "--namespace-external", "--optional-exec", "--monitoring", "--prod"}
        i = args.index("--rendered")
        if i + 1 >= len(args) or len(args) < 3:
            sys.exit(__doc__)
        path = args[i + 1]
        name = args[args.index("--name") + 1] if "--name" in args else path
        rest = [a for j, a in enumerate(args) if j not in (0, i, i + 1)
                and not (a == "--name" or (j > 0 and args[j - 1] == "--name"))]
        unknown = [a for a in rest if a not in known]
        if unknown:
            sys.exit(f"check_manifests.py: unknown option(s) {unknown}\n{__doc__}")
        check_rendered(os.path.abspath(args[0]), path, name, set(rest))
        return report(name)
    if len(args) != 1:
        sys.exit(__doc__)
    root = os.path.abspath(args[0])
    kubectl = shutil.which("kubectl")
    if not kubectl:
        sys.exit("check_manifests.py: kubectl not found; it renders the kustomizations (Debian: kubernetes-client)")
    readme = os.path.join(root, "services/executor/README.md")
    k8s = os.path.join(root, "deploy/k8s")
    overlays = sorted(os.listdir(os.path.join(k8s, "overlays")))
    for want in ("dev", "prod"):
        if want not in overlays:
            fail("deploy/k8s/overlays", f"no {want} overlay")
    for ov in overlays:
        name = f"overlays/{ov}"
        docs = render(kubectl, os.path.join(k8s, "overlays", ov))
        if not docs:
            continue
        check_containers(name, docs)
        check_rbac(name, docs, readme)
        check_namespace_and_netpol(name, docs)
        check_secrets_rendered(name, docs)
        check_admin_tokens(name, docs)
        if ov == "prod":
            check_prod(name, docs)
            check_rules_equal(root, docs, name)
        if ov == "dev":
            check_dev(name, docs)
    # The base with every optional component, as a user would combine them.
    with tempfile.TemporaryDirectory() as tmp:
        comps = sorted(os.listdir(os.path.join(k8s, "components")))
        with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
            yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                            "resources": [os.path.relpath(os.path.join(k8s, "base"), tmp)],
                            "components": [os.path.relpath(os.path.join(k8s, "components", c), tmp)
                                           for c in comps]}, f)
        name = "base+components"
        docs = render(kubectl, tmp)
        if docs:
            check_containers(name, docs)
            check_rbac(name, docs, readme, optional_exec=True)
            check_namespace_and_netpol(name, docs)
            check_secrets_rendered(name, docs)
            check_admin_tokens(name, docs)
            check_rules_equal(root, docs, name)
    check_committed_secrets(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in the Kubernetes manifests")
        return 1
    print(f"manifests ok: overlays {', '.join(overlays)} and base+components")
    return 0


if __name__ == "__main__":
    sys.exit(main())
