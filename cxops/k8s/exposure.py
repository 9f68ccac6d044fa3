"""The exposure inventory: every way into the platform, who may use it, and how they log in.

One table, rendered to k8s/platform/exposure.yaml by `cxops k8s render` (drift-checked like the rest) and shown in
docs/security.md. An entry is either a route the Gateway serves (`route` names the HTTPRoute: kind, namespace,
name) or a service reached only with a port-forward through the Kubernetes API (`route` is None: whoever can
port-forward already holds cluster credentials, and the service still asks for its own login where it has one).
Only the production/canary model route is `public`; the tests check every HTTPRoute, Ingress and
LoadBalancer/NodePort Service in the rendered k8s/ against this table, and that every non-public route carries the
policy named in `enforced_by`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from cxops import names
from cxops.config.schema import Config
from cxops.k8s import policies, values

Access = Literal["public", "private-network", "login"]


@dataclass(frozen=True)
class Exposure:
    """One entry point. `who` says who may use it; `auth` how they prove it; `login` what a person does;
    `enforced_by` the object that enforces it (a gateway policy `Kind/namespace/name`, or the service's own
    setting); `route` the HTTPRoute (`namespace/name`) when the Gateway serves it, `port_forward` the command
    otherwise."""

    name: str
    access: Access
    who: str
    auth: str
    login: str
    enforced_by: str
    route: str | None = None
    listener: str | None = None
    port_forward: str | None = None


def _pf(namespace: str, service: str, ports: str) -> str:
    return f"kubectl -n {namespace} port-forward svc/{service} {ports}"


def inventory(cfg: Config) -> list[Exposure]:
    """Every entry point of the platform the configuration renders, public ones first."""
    platform, argo, argocd = (
        names.platform_namespace(cfg),
        names.workflows_namespace(cfg),
        names.argocd_namespace(cfg),
    )
    prod = names.env_namespace(cfg, "production")
    out = [
        Exposure(
            "model endpoints (production and canary)",
            "public",
            "anyone (the internet), at most kubernetes.public_rate_limit_rps requests/s",
            "none",
            "POST https://<gateway>/predict (and the other serving protocols)",
            f"BackendTrafficPolicy/{prod}/{policies.RATE_LIMIT_POLICY}",
            route=f"{prod}/{names.PUBLIC_ROUTE}",
            listener=names.GATEWAY_HTTPS,
        ),
        Exposure(
            "HTTP to HTTPS redirect",
            "public",
            "anyone: answers 301 to https, serves nothing",
            "none",
            "http://<gateway>/... is redirected",
            "RequestRedirect filter (no backend)",
            route=f"{platform}/https-redirect",
            listener=names.GATEWAY_HTTP,
        ),
        Exposure(
            "image registry",
            "private-network",
            "the nodes (containerd pulls) and pods (BuildKit pushes): cloud.network_cidr and the pod network",
            "client address",
            "none from outside: push from a workflow, pull by the nodes",
            f"SecurityPolicy/{platform}/{policies.REGISTRY_POLICY}",
            route=f"{platform}/registry",
            listener=names.GATEWAY_HTTP,
        ),
        Exposure(
            "staging model server",
            "login",
            "holders of cluster credentials; the workflows in-cluster",
            "Kubernetes API credentials",
            "port-forward, then http://localhost:8082/predict",
            "not routed",
            port_forward=_pf(names.env_namespace(cfg, "staging"), "model-server", "8082:80"),
        ),
        Exposure(
            "ArgoCD",
            "login",
            f"the operator account {names.argocd_operator_account(cfg)} (the admin is disabled after bootstrap)",
            "ArgoCD local account",
            "port-forward, then http://localhost:8080; password: cxops cluster credentials argocd",
            "argocd-cm admin.enabled=false; accounts.<project>-operator=login",
            port_forward=_pf(argocd, "argocd-server", "8080:80"),
        ),
        Exposure(
            "Argo Workflows UI and API",
            "login",
            "holders of a Kubernetes ServiceAccount token with Argo RBAC",
            "bearer token (server --auth-mode=client)",
            "port-forward, then http://localhost:2746 with `Bearer $(kubectl create token ...)`",
            "argo-workflows values server.authModes=[client]",
            port_forward=_pf(argo, "argo-workflows-server", "2746:2746"),
        ),
        Exposure(
            "MLflow UI and API",
            "login",
            "MLflow users (admin from the generated Secret; more created by the admin)",
            "HTTP basic auth (mlflow server --app-name basic-auth)",
            "port-forward, then http://localhost:5000; password: cxops cluster credentials mlflow",
            "mlflow values auth.enabled=true",
            port_forward=_pf(platform, "mlflow", "5000:5000"),
        ),
        Exposure(
            "Grafana",
            "login",
            "the admin from the generated Secret",
            "Grafana login",
            "port-forward, then http://localhost:3000; password: cxops cluster credentials grafana",
            "kube-prometheus-stack values grafana.admin.existingSecret",
            port_forward=_pf(platform, values.GRAFANA_FULLNAME, "3000:80"),
        ),
        Exposure(
            "Prometheus",
            "login",
            "holders of cluster credentials (Prometheus has no login of its own: never routed)",
            "Kubernetes API credentials",
            "port-forward, then http://localhost:9090",
            "not routed",
            port_forward=_pf(platform, "prometheus", "9090:9090"),
        ),
        Exposure(
            "GPU capacity API (cxops cloud gpus serve)",
            "login",
            "whoever runs it: it binds 127.0.0.1 on the operator's machine, nothing in the cluster",
            "local only",
            "cxops cloud gpus serve, then http://127.0.0.1:<port>",
            "not deployed in the cluster",
        ),
    ]
    if cfg.platform.label_studio:
        out.append(
            Exposure(
                "Label Studio",
                "login",
                "Label Studio accounts",
                "Label Studio login",
                "port-forward, then http://localhost:8081",
                "not routed",
                port_forward=_pf(platform, "label-studio-ls-app", "8081:80"),
            )
        )
    return out


def gateway_routes(cfg: Config) -> dict[str, Exposure]:
    """`namespace/name` of each HTTPRoute the Gateway serves → its entry."""
    return {e.route: e for e in inventory(cfg) if e.route}


def document(cfg: Config) -> dict[str, Any]:
    """The rendered file's content: the gateway's NodePort Service and every entry."""
    return {
        "gateway": {
            "service": f"{names.platform_namespace(cfg)}/{cfg.kubernetes.gateway_name}",
            "type": "NodePort",
            "nodePorts": {"http": cfg.kubernetes.gateway_node_port, "https": cfg.kubernetes.gateway_tls_node_port},
        },
        "entries": [{k: v for k, v in asdict(e).items() if v is not None} for e in inventory(cfg)],
    }
