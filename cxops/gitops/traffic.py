"""The production/canary traffic split as Gateway API objects kept in git (the cluster's router reads them).

The canary's weight is the configured one while a canary version is deployed and 0 otherwise, so a retired or
empty canary never receives user traffic. Written in the same commit as the canary overlay it depends on.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cxops.config import Config
from cxops.generated import header
from cxops.names import PUBLIC_ROUTE, env_namespace, gateway_ref, traffic_dir

RENDERED_BY = "cxops step promote|rollback (the canary's deploy)"


def traffic_files(cfg: Config, canary_active: bool) -> dict[str, str]:
    """File name → YAML text of the HTTPRoute, its ReferenceGrant and their kustomization, each with the marker."""
    weight = cfg.environments.canary.weight if canary_active else 0
    prod_ns, canary_ns = env_namespace(cfg, "production"), env_namespace(cfg, "canary")
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": PUBLIC_ROUTE, "namespace": prod_ns},
        "spec": {
            "parentRefs": [gateway_ref(cfg)],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "model-server", "namespace": prod_ns, "port": 80, "weight": 100 - weight},
                        {"name": "model-server", "namespace": canary_ns, "port": 80, "weight": weight},
                    ]
                }
            ],
        },
    }
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
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["httproute.yaml", "referencegrant.yaml"],
    }
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
    return backend_weights(cfg, (root / traffic_dir(cfg) / "httproute.yaml").read_text())["canary"]


def backend_weights(cfg: Config, route_text: str) -> dict[str, int]:
    """{"production": w, "canary": w} from an HTTPRoute's first rule (Gateway API: a missing weight means 1).

    Raises ValueError naming what is wrong when the text is not such an HTTPRoute or names another backend."""
    try:
        route = yaml.safe_load(route_text)
        refs = route["spec"]["rules"][0]["backendRefs"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not an HTTPRoute with spec.rules[0].backendRefs ({type(exc).__name__}: {exc})") from None
    by_ns = {env_namespace(cfg, env): env for env in ("production", "canary")}
    out = {"production": 0, "canary": 0}
    for ref in refs:
        env = by_ns.get(ref.get("namespace", route.get("metadata", {}).get("namespace")))
        if env is None or ref.get("name") != "model-server":
            raise ValueError(
                f"backendRef {ref.get('namespace')}/{ref.get('name')} is neither production's nor "
                f"the canary's model-server ({', '.join(by_ns)})"
            )
        weight = ref.get("weight", 1)
        if not isinstance(weight, int) or not 0 <= weight <= 100:
            raise ValueError(f"{env} weight {weight!r} is not a whole percent 0..100")
        out[env] += weight
    return out
