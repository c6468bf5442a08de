#!/usr/bin/env python3
"""Derive Prometheus rule files from the vendored kube-prometheus PrometheusRule manifests.

    derive_rules.py OUT_DIR [--for 2s]      write OUT_DIR/<manifest>.rules.yaml, one per manifest
    derive_rules.py --check DERIVED_DIR [--for 2s]
                                            prove DERIVED_DIR holds the upstream rules unchanged
                                            except `for:` (exit 1 with every difference otherwise)

The manifests (kube-prometheus/*-prometheusRule.yaml) are byte-identical copies of upstream
(see kube-prometheus/README.md). A PrometheusRule is a Kubernetes object whose `spec` is exactly a
Prometheus rule file (`groups:`); the derivation takes `spec` as it is and changes one thing: every
alert's `for:` becomes the short duration given (`--for`, default 2s) when upstream's is longer, so
an e2e sees in seconds what a cluster sees in 15 minutes. Nothing else is touched: expressions,
labels, annotations, recording rules and group intervals stay upstream's.
"""
import argparse
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "kube-prometheus")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(d):
    """A Prometheus duration (1h30m, 15m, 0s) in seconds."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(d))
    if not parts or "".join(n + u for n, u in parts) != str(d):
        raise ValueError(f"not a Prometheus duration: {d!r}")
    return sum(int(n) * UNITS[u] for n, u in parts)


def manifests():
    names = sorted(f for f in os.listdir(UPSTREAM) if f.endswith("-prometheusRule.yaml"))
    if not names:
        raise SystemExit(f"derive_rules.py: no *-prometheusRule.yaml in {UPSTREAM}")
    return names


def load_upstream(name):
    with open(os.path.join(UPSTREAM, name)) as f:
        doc = yaml.safe_load(f)
    if doc.get("kind") != "PrometheusRule" or "groups" not in doc.get("spec", {}):
        raise SystemExit(f"derive_rules.py: {name} is not a PrometheusRule with spec.groups")
    return doc["spec"]


def derived_name(name):
    return name.replace(".yaml", ".rules.yaml")


def shorten(spec, short):
    for group in spec["groups"]:
        for rule in group["rules"]:
            if "for" in rule and seconds(rule["for"]) > seconds(short):
                rule["for"] = short
    return spec


def derive(out_dir, short):
    os.makedirs(out_dir, exist_ok=True)
    for name in manifests():
        spec = shorten(load_upstream(name), short)
        with open(os.path.join(out_dir, derived_name(name)), "w") as f:
            f.write(f"# Derived from e2e/upstream-rules/kube-prometheus/{name} by derive_rules.py:\n"
                    f"# upstream's spec unchanged except every `for:` longer than {short} set to {short}.\n")
            yaml.safe_dump(spec, f, sort_keys=False, width=1 << 20)
        print(os.path.join(out_dir, derived_name(name)))


def check(derived_dir, short):
    """Independent of derive(): walks upstream and derived side by side and lists every difference."""
    errors, alerts, shortened = [], 0, 0
    for name in manifests():
        up = load_upstream(name)
        path = os.path.join(derived_dir, derived_name(name))
        if not os.path.exists(path):
            errors.append(f"{path}: missing")
            continue
        with open(path) as f:
            got = yaml.safe_load(f)
        if set(got) != set(up):
            errors.append(f"{path}: top-level keys {sorted(got)} != upstream {sorted(up)}")
        ug, gg = up["groups"], got.get("groups", [])
        if [g["name"] for g in ug] != [g.get("name") for g in gg]:
            errors.append(f"{path}: groups differ from upstream's")
            continue
        for u, g in zip(ug, gg):
            if {k: v for k, v in u.items() if k != "rules"} != {k: v for k, v in g.items() if k != "rules"}:
                errors.append(f"{path}: group {u['name']}: settings differ")
            if len(u["rules"]) != len(g.get("rules", [])):
                errors.append(f"{path}: group {u['name']}: {len(g.get('rules', []))} rules, upstream {len(u['rules'])}")
                continue
            for i, (ur, gr) in enumerate(zip(u["rules"], g["rules"])):
                where = f"{path}: {u['name']}[{i}] {ur.get('alert') or ur.get('record')}"
                rest_u = {k: v for k, v in ur.items() if k != "for"}
                rest_g = {k: v for k, v in gr.items() if k != "for"}
                if rest_u != rest_g:
                    keys = sorted(k for k in set(rest_u) | set(rest_g) if rest_u.get(k) != rest_g.get(k))
                    errors.append(f"{where}: differs from upstream in {keys}")
                if "alert" in ur:
                    alerts += 1
                if ("for" in ur) != ("for" in gr):
                    errors.append(f"{where}: `for` added or removed")
                elif "for" in ur:
                    want = ur["for"] if seconds(ur["for"]) <= seconds(short) else short
                    if gr["for"] != want:
                        errors.append(f"{where}: for {gr['for']!r}, want {want!r} (upstream {ur['for']!r})")
                    shortened += gr["for"] != ur["for"]
    for e in errors:
        print(e, file=sys.stderr)
    print(f"{len(manifests())} manifests, {alerts} alerts, {shortened} `for:` shortened to {short}, "
          f"{len(errors)} differences")
    return 1 if errors or alerts == 0 else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--check", action="store_true")
    p.add_argument("--for", dest="short", default="2s")
    a = p.parse_args()
    seconds(a.short)
    if a.check:
        return check(a.dir, a.short)
    derive(a.dir, a.short)
    return 0


if __name__ == "__main__":
    sys.exit(main())
