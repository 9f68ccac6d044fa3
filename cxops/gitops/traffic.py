"""The production/canary traffic split as Gateway API objects kept in git (the cluster's router reads them).

The canary's weight is the configured one while a canary version is deployed and 0 otherwise, so a retired or
empty canary never receives user traffic. A canary deploy writes it twice: weight 0 with the overlay, the weight
alone once the canary serves (`cxops.release.rollout`, `cxops.release.canary_traffic`); a retire writes weight 0
in the same commit that empties the overlay.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cxops.config import Config
from cxops.generated import header
from cxops.names import PUBLIC_ROUTE, env_namespace, gateway_ref, traffic_dir

RENDERED_BY = "cxops step promote|rollback (the canary's deploy)"
TRAFFIC_FILES = ("httproute.yaml", "referencegrant.yaml", "kustomization.yaml")


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
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:  # YAML true is no 1
            raise ValueError(f"{env} weight {weight!r} is not a whole percent 0..100")
        out[env] += weight
    return out


def _first_difference(got: Any, want: Any, path: str = "") -> str | None:
    """Where `got` first differs from `want` (a dotted path and both values), or None when equal."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            if key not in got:
                return f"{path}{key} is missing"
            if key not in want:
                return f"{path}{key} is not rendered by cxops"
            if (d := _first_difference(got[key], want[key], f"{path}{key}.")) is not None:
                return d
        return None
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return f"{path.rstrip('.')} has {len(got)} entries, cxops renders {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if (d := _first_difference(g, w, f"{path.rstrip('.')}[{i}].")) is not None:
                return d
        return None
    if got != want or type(got) is not type(want):
        return f"{path.rstrip('.')} is {got!r}, cxops renders {want!r}"
    return None


def route_problems(cfg: Config, files: Mapping[str, str | None], canary_active: bool) -> list[str]:
    """Why the committed traffic directory (file name → text, None = absent) is not exactly what cxops renders for
    the canary's state, with a permitted canary weight: 0, or the configured environments.canary.weight while a
    canary is deployed. Hand edits the gateway cannot serve as intended (all traffic to the canary, another
    Service port, an extra rule, another parent Gateway, a weight that is not an integer, the ReferenceGrant gone)
    are each one line; empty when the directory is as rendered."""
    variants = [traffic_files(cfg, False)] + ([traffic_files(cfg, True)] if canary_active else [])
    permitted = sorted({0, cfg.environments.canary.weight} if canary_active else {0})
    out = []
    for name in variants[0]:
        text = files.get(name)
        if text is None:
            out.append(f"{name} is missing; cxops renders it (cxops step promote|rollback)")
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            out.append(f"{name} is not YAML ({type(exc).__name__})")
            continue
        wants = [yaml.safe_load(v[name]) for v in variants]
        if any(_first_difference(doc, w) is None for w in wants):
            continue
        weight = None
        if name == "httproute.yaml":
            try:
                weight = backend_weights(cfg, text)["canary"]
            except ValueError:
                weight = None
            if weight is not None and weight not in permitted:
                out.append(
                    f"{name}: canary weight {weight} is not permitted; valid: {' or '.join(map(str, permitted))} "
                    f"({'a canary is deployed' if canary_active else 'no canary is deployed'})"
                )
                continue
        want = wants[-1] if weight == cfg.environments.canary.weight else wants[0]
        out.append(f"{name} is not the shape cxops renders: {_first_difference(doc, want)}")
    return out
