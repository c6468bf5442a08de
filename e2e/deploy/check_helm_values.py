#!/usr/bin/env python3
"""Non-default chart values reach the objects, and generated Secrets are random.

  check_helm_values.py CUSTOM.yaml CUSTOM-AGAIN.yaml DEFAULT.yaml DEFAULT-AGAIN.yaml

CUSTOM*: two `helm template` renders with e2e/deploy/helm_check.sh's custom values; DEFAULT*: two
with the defaults. Prints one ok line per fact, or FAIL lines and exits 1. Needs PyYAML.
"""
import base64
import hashlib
import sys

import yaml

problems = []


def ok(what):
    print(f"ok: {what}")


def want(cond, what):
    if cond:
        ok(what)
    else:
        problems.append(what)
        print(f"FAIL: {what}")


def load(path):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(path)) if d}


def secret(docs, name, key):
    d = docs.get(("Secret", name))
    return base64.b64decode(d["data"][key]).decode() if d else None


def config(docs, svc):
    cm = docs[("ConfigMap", f"kubemend-{svc}-config")]
    return yaml.safe_load(cm["data"][f"{svc}.yaml"])


def container(docs, svc):
    return docs[("Deployment", f"kubemend-{svc}")]["spec"]["template"]["spec"]["containers"][0]


def env_secret(c, env):
    e = next((e for e in c.get("env", []) if e["name"] == env), None)
    return e["valueFrom"]["secretKeyRef"]["name"] if e else None


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    c, c2, d, d2 = (load(p) for p in sys.argv[1:])
    svcs = ["collector", "analyzer", "safety-gate", "executor", "audit"]
    want(all(container(c, s)["image"] == "registry.example.com/kubemend:0.1.0-rc1"
             and container(c, s)["imagePullPolicy"] == "Always" for s in svcs), "image and pullPolicy on every service")
    want(all(container(d, s)["image"] == "kubemend:0.1.0" for s in svcs), "default image is kubemend:<appVersion>")
    dep = c[("Deployment", "kubemend-executor")]
    want(dep["spec"]["replicas"] == 3 and c[("Deployment", "kubemend-audit")]["spec"]["replicas"] == 1,
         "services.executor.replicas=3 (audit stays 1)")
    want(container(c, "executor")["resources"]["limits"]["memory"] == "512Mi", "services.executor.resources")
    pod = dep["spec"]["template"]["spec"]
    want(pod.get("nodeSelector") == {"kubernetes.io/os": "linux"} and pod.get("imagePullSecrets") == [{"name": "regcred"}],
         "nodeSelector and imagePullSecrets")
    gate = config(c, "safety-gate")
    want(gate["gate"]["mode"] == "manual", "mode=manual -> safety-gate gate.mode")
    want(config(d, "safety-gate")["gate"]["mode"] == "automatic", "default mode automatic")
    ex = config(c, "executor")
    want(ex["executor"]["dry_run"] is True and config(d, "executor")["executor"]["dry_run"] is False,
         "dryRun=true -> executor.dry_run (default false)")
    want(gate["protected"]["namespaces"] == ex["protected"]["namespaces"] == ["kube-system", "payments", "kubemend"],
         "protectedNamespaces (+ release namespace) in safety-gate and executor alike")
    want(config(c, "audit")["audit"]["batch_size"] == 500 and config(c, "audit")["audit"]["migrations_dir"]
         == "/usr/share/kubemend/migrations", "services.audit.config merged over the base config")
    conn = c[("ConfigMap", "kubemend-connection")]["data"]
    want(conn == {"KUBEMEND_KAFKA_BROKERS": "kafka-0.kafka:9093,kafka-1.kafka:9093", "KUBEMEND_KAFKA_TOPIC_PREFIX": "prod.",
                  "KUBEMEND_POSTGRES_DSN": "host=pg.db port=5433 dbname=trail user=km sslmode=require"},
         "Kafka and PostgreSQL endpoints in kubemend-connection")
    pol = list(yaml.safe_load_all(c[("ConfigMap", "kubemend-policies")]["data"]["values.yaml"]))
    pol = [p for p in pol if p]
    want(len(pol) == 1 and pol[0]["kind"] == "HealingPolicy" and pol[0]["metadata"]["name"] == "api-restart"
         and pol[0]["spec"]["actions"] == [{"type": "RestartPod"}], "policies.healingPolicies -> ConfigMap kubemend-policies")
    an = config(c, "analyzer")["analyzer"]["policy_paths"]
    mounts = {m["mountPath"] for m in container(c, "analyzer")["volumeMounts"]}
    want(an == ["/etc/kubemend/policies"] and "/etc/kubemend/policies" in mounts,
         "analyzer reads only the values' policies (includeDefaults=false), mounted at /etc/kubemend/policies")
    want(config(d, "analyzer")["analyzer"]["policy_paths"] == ["/usr/share/kubemend/policies/default.yaml"]
         and ("ConfigMap", "kubemend-policies") not in d, "defaults: the image's default policies only")
    # Secrets
    want(("Secret", "kubemend-webhook") not in c and env_secret(container(c, "collector"), "KUBEMEND_WEBHOOK_TOKEN") == "my-webhook",
         "webhook.existingSecret: no Secret created, the collector reads my-webhook")
    want(secret(c, "kubemend-postgres", "password") == "s3cret-pg"
         and env_secret(container(c, "audit"), "PGPASSWORD") == "kubemend-postgres", "postgres.password -> Secret kubemend-postgres")
    want(("Secret", "kubemend-postgres") not in d and env_secret(container(d, "audit"), "PGPASSWORD") == "kubemend-postgres",
         "defaults: the audit reads the Secret kubemend-postgres you create")
    want(secret(c, "kubemend-kafka", "properties") == "security.protocol=SSL", "kafka.properties -> Secret kubemend-kafka")
    w1, w2 = secret(d, "kubemend-webhook", "token"), secret(d2, "kubemend-webhook", "token")
    want(w1 and w2 and len(w1) == 48 and w1 != w2, "webhook token generated: 48 characters, new per install")
    for docs, docs2, subjects in ((c, c2, {"alice": "operator", "grafana": "viewer"}), (d, d2, {"admin": "operator"})):
        tokens = yaml.safe_load(secret(docs, "kubemend-admin-tokens", "tokens.yaml"))["tokens"]
        want({t["subject"]: t["role"] for t in tokens} == subjects, f"admin tokens.yaml lists {subjects}")
        for t in tokens:
            tok = secret(docs, f"kubemend-admin-token-{t['subject']}", "token")
            tok2 = secret(docs2, f"kubemend-admin-token-{t['subject']}", "token")
            want(tok and len(tok) == 64 and hashlib.sha256(tok.encode()).hexdigest() == t["sha256"] and tok != tok2,
                 f"admin token {t['subject']}: 64 random characters, tokens.yaml holds its sha256, new per install")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
