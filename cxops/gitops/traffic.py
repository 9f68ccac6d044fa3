"""The production/canary traffic split as Gateway API objects kept in git (the cluster's router reads them).

The canary's weight is the configured one while a canary version is deployed and 0 otherwise, so a retired or
empty canary never receives user traffic. Written in the same commit as the canary overlay it depends on.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cxops.config import Config

TRAFFIC_DIR = "k8s/serving/traffic"
GATEWAY = {"name": "cxops-gateway", "namespace": "cxops-platform"}


def traffic_files(cfg: Config, canary_active: bool) -> dict[str, str]:
    weight = cfg.environments.canary.weight if canary_active else 0
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "model-server", "namespace": "cxops-production"},
        "spec": {
            "parentRefs": [GATEWAY],
            "rules": [{"backendRefs": [
                {"name": "model-server", "namespace": "cxops-production", "port": 80, "weight": 100 - weight},
                {"name": "model-server", "namespace": "cxops-canary", "port": 80, "weight": weight},
            ]}],
        },
    }  # fmt: skip
    # a route in cxops-production may only send to a Service in cxops-canary if cxops-canary allows it
    grant = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "production-route-to-canary", "namespace": "cxops-canary"},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "cxops-production"}],
            "to": [{"group": "", "kind": "Service", "name": "model-server"}],
        },
    }
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": ["httproute.yaml", "referencegrant.yaml"]}  # fmt: skip
    docs = {"httproute.yaml": route, "referencegrant.yaml": grant, "kustomization.yaml": kustomization}
    return {name: yaml.safe_dump(doc, sort_keys=False) for name, doc in docs.items()}


def write_traffic(root: Path, cfg: Config, canary_active: bool) -> None:
    d = root / TRAFFIC_DIR
    d.mkdir(parents=True, exist_ok=True)
    for name, text in traffic_files(cfg, canary_active).items():
        (d / name).write_text(text)


def canary_weight(root: Path) -> int:
    route = yaml.safe_load((root / TRAFFIC_DIR / "httproute.yaml").read_text())
    refs = route["spec"]["rules"][0]["backendRefs"]
    return next(r["weight"] for r in refs if r["namespace"] == "cxops-canary")
