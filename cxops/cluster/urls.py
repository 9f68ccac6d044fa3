"""Where each UI of the cluster is: the in-cluster Service, and the port-forward that reaches it from a laptop.

Service names and ports are those the platform installs (docs/platform.md); namespaces come from cxops/names.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxops import names
from cxops.config.schema import Config


@dataclass(frozen=True)
class UI:
    """One web UI: Service, namespace, port, the local port to forward to, and how to log in (never a secret)."""

    name: str
    namespace: str
    service: str
    port: int
    local_port: int
    scheme: str
    login: str

    @property
    def in_cluster(self) -> str:
        return f"{self.scheme}://{self.service}.{self.namespace}.svc.cluster.local:{self.port}"

    @property
    def local(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.local_port}"

    @property
    def port_forward(self) -> str:
        return f"kubectl -n {self.namespace} port-forward svc/{self.service} {self.local_port}:{self.port}"


def uis(cfg: Config) -> list[UI]:
    """The UIs in the order a user meets them."""
    argocd, platform, argo = names.argocd_namespace(cfg), names.platform_namespace(cfg), names.workflows_namespace(cfg)
    account = names.argocd_operator_account(cfg)
    return [
        # plain HTTP in the cluster (server.insecure, docs/security.md); the port-forward runs over the SSH tunnel
        UI("ArgoCD", argocd, "argocd-server", 80, 8080, "http", f"user {account}: cxops cluster credentials argocd"),
        UI("Argo Workflows", argo, "argo-workflows-server", 2746, 2746, "http", "a bearer token (docs/security.md)"),
        UI("MLflow", platform, "mlflow", 5000, 5000, "http", "basic auth: cxops cluster credentials mlflow"),
        UI("Grafana", platform, "grafana", 80, 3000, "http", "cxops cluster credentials grafana"),
        UI("Prometheus", platform, "prometheus", 9090, 9090, "http", "none (never routed: port-forward only)"),
    ]
