#!/usr/bin/env python3
"""Checks docker-compose.yaml and the files it mounts for what docs/deploy.md
promises: health checks everywhere, start order on health, named volumes for
Kafka and PostgreSQL, secrets as files, hardened kubemend containers,
Prometheus scraping every service and Alertmanager routing to the collector.

  check_compose.py REPO_ROOT

(docker-compose config -q, promtool and amtool run from deploy_tests.sh.)
"""
import os
import sys

try:
    import yaml
except ImportError:
    sys.exit("check_compose.py: PyYAML missing (apt-get install python3-yaml)")

SERVICES = ["collector", "analyzer", "safety-gate", "executor", "audit"]
problems = []


def fail(where, what):
    problems.append(f"{where}: {what}")


def main():
    root = os.path.abspath(sys.argv[1])
    compose = yaml.safe_load(open(os.path.join(root, "docker-compose.yaml")))
    svcs = compose.get("services", {})
    one_shots = set()
    for name, s in svcs.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            if not isinstance(cond, dict) or "condition" not in cond:
                fail(name, f"depends_on {dep} without a condition")
                continue
            if dep not in svcs:
                fail(name, f"depends_on unknown service {dep}")
            if cond["condition"] == "service_completed_successfully":
                one_shots.add(dep)
            elif cond["condition"] != "service_healthy":
                fail(name, f"depends_on {dep}: condition {cond['condition']} (want service_healthy)")
    for name, s in svcs.items():
        hc = s.get("healthcheck") or {}
        tools_only = "tools" in (s.get("profiles") or [])
        if name in one_shots:
            if s.get("restart") not in ("no", None):
                fail(name, "a one-shot must not restart")
            continue
        if tools_only:
            continue
        if not hc.get("test") or hc.get("disable"):
            fail(name, "no health check")
        for dep, cond in (s.get("depends_on") or {}).items():
            if cond.get("condition") == "service_healthy" and not (svcs.get(dep, {}).get("healthcheck") or {}).get("test"):
                fail(name, f"waits for {dep} to be healthy, but {dep} has no health check")
    for name in SERVICES + ["kube-sim"]:
        s = svcs.get(name)
        if s is None:
            fail("docker-compose.yaml", f"no service {name}")
            continue
        cmd = s.get("command") or []
        want = "kube-sim" if name == "kube-sim" else f"kubemend-{name}"
        if not cmd or cmd[0] != want:
            fail(name, f"command must start with {want}")
        if name != "kube-sim" and cmd[1:3] != ["--config", f"/etc/kubemend/{name}.yaml"]:
            fail(name, f"must read /etc/kubemend/{name}.yaml")
        if str(s.get("user", "")).split(":")[0] in ("", "0", "root"):
            fail(name, "must run as a non-root numeric user")
        if not s.get("read_only"):
            fail(name, "read_only root filesystem")
        if "ALL" not in (s.get("cap_drop") or []):
            fail(name, "cap_drop ALL")
        test = (s.get("healthcheck") or {}).get("test") or []
        if name != "kube-sim" and test[:2] != ["CMD", "kubemend-healthcheck"]:
            fail(name, "health check must be kubemend-healthcheck (grpc.health.v1); the image has no shell")
        env = s.get("environment") or {}
        if env.get("KUBEMEND_KAFKA_BROKERS") != "kafka:9092":
            fail(name, "KUBEMEND_KAFKA_BROKERS must point at the compose Kafka") if name != "kube-sim" else None
        if name != "kube-sim" and "kafka-init" not in (s.get("depends_on") or {}):
            fail(name, "must start after the topics exist (kafka-init)")
        for v in s.get("volumes") or []:
            src = v.split(":")[0]
            if src.startswith("./") and not os.path.exists(os.path.join(root, src)):
                fail(name, f"mounts {src}, which does not exist")
    for name in ("collector", "analyzer", "executor"):
        env = svcs.get(name, {}).get("environment") or {}
        if env.get("KUBECONFIG") != "/etc/kubemend/kubeconfig":
            fail(name, "KUBECONFIG must point at the mounted kubeconfig")
    audit = svcs.get("audit", {})
    if "postgres" not in (audit.get("depends_on") or {}):
        fail("audit", "must wait for PostgreSQL")
    dsn = (audit.get("environment") or {}).get("KUBEMEND_POSTGRES_DSN", "")
    if "password=" in dsn or "passfile=" not in dsn:
        fail("audit", "the DSN must take the password from a passfile, never inline")
    # Infrastructure
    kafka = svcs.get("kafka", {})
    if not str(kafka.get("image", "")).startswith("apache/kafka:"):
        fail("kafka", "the official apache/kafka image")
    if (kafka.get("environment") or {}).get("KAFKA_PROCESS_ROLES") != "broker,controller":
        fail("kafka", "KRaft single node (process roles broker,controller)")
    pg = svcs.get("postgres", {})
    if not str(pg.get("image", "")).startswith("postgres:15"):
        fail("postgres", "PostgreSQL 15")
    pgenv = pg.get("environment") or {}
    if "POSTGRES_PASSWORD" in pgenv or not pgenv.get("POSTGRES_PASSWORD_FILE", "").startswith("/run/secrets/"):
        fail("postgres", "the password comes from a secret file (POSTGRES_PASSWORD_FILE)")
    named = set((compose.get("volumes") or {}).keys())
    for name, path in (("kafka", "/var/lib/kafka/data"), ("postgres", "/var/lib/postgresql/data")):
        vols = [v for v in svcs.get(name, {}).get("volumes") or [] if v.split(":")[1] == path]
        if not vols or vols[0].split(":")[0] not in named:
            fail(name, f"{path} must be a named volume")
    # The admin API: every service reads admin.tokens_file from the secret
    # admin_tokens (compose refuses to start without the file).
    if "admin_tokens" not in (compose.get("secrets") or {}):
        fail("secrets", "no admin_tokens secret (admin.tokens_file of every service)")
    for name in SERVICES:
        cfg = yaml.safe_load(open(os.path.join(root, f"deploy/compose/config/{name}.yaml"))) or {}
        if (cfg.get("admin") or {}).get("tokens_file") != "/run/secrets/admin_tokens":
            fail(f"config/{name}.yaml", "admin.tokens_file must be /run/secrets/admin_tokens")
        if "admin_tokens" not in (svcs.get(name, {}).get("secrets") or []):
            fail(name, "must mount the admin_tokens secret (its admin.tokens_file)")
    for sec, spec in (compose.get("secrets") or {}).items():
        if "file" not in spec:
            fail("secrets", f"{sec} must come from a file")
    for name, s in svcs.items():
        for k, v in (s.get("environment") or {}).items():
            if any(w in k.upper() for w in ("PASSWORD", "SECRET", "TOKEN")) and not k.upper().endswith("_FILE"):
                fail(name, f"{k} is set inline; secrets go through files")
    # Prometheus and Alertmanager
    prom = yaml.safe_load(open(os.path.join(root, "deploy/compose/prometheus/prometheus.yml")))
    targets = {t for job in prom["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    for want in ["collector:8080"] + [f"{s}:9100" for s in SERVICES if s != "collector"] + ["kube-sim:6443"]:
        if want not in targets:
            fail("prometheus.yml", f"does not scrape {want}")
    am = yaml.safe_load(open(os.path.join(root, "deploy/compose/alertmanager/alertmanager.yml")))
    urls = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
    if "http://collector:8080/api/v1/alerts" not in urls:
        fail("alertmanager.yml", "no receiver posting to http://collector:8080/api/v1/alerts")
    default = next((r for r in am["receivers"] if r["name"] == am["route"]["receiver"]), {})
    if not any(w["url"] == "http://collector:8080/api/v1/alerts" for w in default.get("webhook_configs", [])):
        fail("alertmanager.yml", "the default route must reach the collector")
    if not any('kubemend_self="true"' in m for r in am["route"].get("routes", []) for m in r.get("matchers", [])):
        fail("alertmanager.yml", "kubemend's own alerts must be routed away from the collector")
    # The files agree with each other: webhook path, ports scraped and probed.
    cfgs = {s: yaml.safe_load(open(os.path.join(root, f"deploy/compose/config/{s}.yaml"))) for s in SERVICES}
    path = cfgs["collector"].get("webhook", {}).get("path")
    if f"http://collector:8080{path}" not in urls:
        fail("alertmanager.yml", f"posts to {urls}, the collector listens on {path}")
    for s, c in cfgs.items():
        port = str(c.get("http", {}).get("listen", "")).rsplit(":", 1)[-1]
        if f"{s}:{port}" not in targets:
            fail("prometheus.yml", f"scrapes no {s}:{port} (its http.listen)")
        if str(c.get("grpc", {}).get("listen", "")).rsplit(":", 1)[-1] != "9000":
            fail(f"config/{s}.yaml", "grpc.listen must be port 9000 (health check and published ports)")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in docker-compose.yaml")
        return 1
    print(f"compose ok: {len(svcs)} services")
    return 0


if __name__ == "__main__":
    sys.exit(main())
