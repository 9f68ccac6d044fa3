"""The production/canary traffic split as Gateway API objects kept in git (the cluster's router reads them).

The canary's weight is the configured one while a canary version is deployed and 0 otherwise, so a retired or
empty canary never receives user traffic. Written in the same commit as the canary overlay it depends on.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cxops.config import Config
from cxops.generated import header
from cxops.names import env_namespace, gateway_ref, traffic_dir

RENDERED_BY = "cxops step promote|rollback (the canary's deploy)"


def traffic_files(cfg: Config, canary_active: bool) -> dict[str, str]:
    """File name → YAML text of the HTTPRoute, its ReferenceGrant and their kustomization, each with the marker."""
    weight = cfg.environments.canary.weight if canary_active else 0
    prod_ns, canary_ns = env_namespace(cfg, "production"), env_namespace(cfg, "canary")
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "model-server", "namespace": prod_ns},
        "spec": {
            "parentRefs": [gateway_ref(cfg)],
            "rules": [{"backendRefs": [
                {"name": "model-server", "namespace": prod_ns, "port": 80, "weight": 100 - weight},
                {"name": "model-server", "namespace": canary_ns, "port": 80, "weight": weight},
            ]}],
        },
    }  # fmt: skip
    # a route in the production namespace may only send to a Service in the canary namespace if the latter allows it
    grant = {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "production-route-to-canary", "namespace": canary_ns},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": prod_ns}],
            "to": [{"group": "", "kind": "Service", "name": "model-server"}],
        },
    }
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": ["httproute.yaml", "referencegrant.yaml"]}  # fmt: skip
    docs = {"httproute.yaml": route, "referencegrant.yaml": grant, "kustomization.yaml": kustomization}
    top = header(RENDERED_BY)
    return {name: top + yaml.safe_dump(doc, sort_keys=False) for name, doc in docs.items()}


def write_traffic(root: Path, cfg: Config, canary_active: bool) -> None:
    """Rewrite the traffic directory under the checkout `root` for the canary's state (files are cxops-owned)."""
    d = root / traffic_dir(cfg)
    d.mkdir(parents=True, exist_ok=True)
    for name, text in traffic_files(cfg, canary_active).items():
        (d / name).write_text(text)


def canary_weight(root: Path, cfg: Config) -> int:
    """The canary's weight (percent) in the HTTPRoute committed under the checkout `root`."""
    route = yaml.safe_load((root / traffic_dir(cfg) / "httproute.yaml").read_text())
    refs = route["spec"]["rules"][0]["backendRefs"]
    return next(r["weight"] for r in refs if r["namespace"] == env_namespace(cfg, "canary"))
