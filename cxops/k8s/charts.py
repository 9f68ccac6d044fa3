"""The upstream Helm charts the platform installs, each pinned to one exact version.

Versions were read from each chart's Chart.yaml at the named release tag in its upstream repository (Nov 2026):
argoproj/argo-helm (tag argo-workflows-1.0.18), cloudnative-pg/charts (cloudnative-pg-v0.29.0),
community-charts/helm-charts (mlflow-1.11.5), prometheus-community/helm-charts (kube-prometheus-stack-88.5.3),
seaweedfs/seaweedfs (4.44, k8s/charts/seaweedfs),
envoyproxy/gateway (v1.9.0: gateway-helm and gateway-crds-helm, published as OCI charts),
twuni/docker-registry.helm (3.0.0, the community chart of CNCF Distribution), HumanSignal/charts (label-studio 2.0.5),
cert-manager/cert-manager (tag v1.21.1, deploy/charts/cert-manager; published at charts.jetstack.io with the tag as
its version), NVIDIA/k8s-device-plugin (tag v0.19.1, deployments/helm/nvidia-device-plugin; published at
nvidia.github.io/k8s-device-plugin without the `v`).
A chart's images default to its appVersion, so pinning the chart pins the images; one exception: MLflow's server
runs the client's version (`mlflow_version`, audit W11), not the chart's appVersion.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass

from cxops.errors import CxopsError


@dataclass(frozen=True)
class Chart:
    """One pinned chart. `repo` is a Helm repository URL, or `oci://registry/path` for an OCI chart (then ArgoCD
    reads it as an OCI source: repoURL `oci://.../<chart>`, path `.`)."""

    repo: str
    chart: str
    version: str
    app_version: str

    @property
    def oci(self) -> bool:
        """True for a chart published to an OCI registry."""
        return self.repo.startswith("oci://")


CHARTS: dict[str, Chart] = {
    "cnpg-operator": Chart("https://cloudnative-pg.github.io/charts", "cloudnative-pg", "0.29.0", "1.30.0"),
    "object-store": Chart("https://seaweedfs.github.io/seaweedfs/helm", "seaweedfs", "4.44.0", "4.44"),
    "mlflow": Chart("https://community-charts.github.io/helm-charts", "mlflow", "1.11.5", "3.15.1"),
    "monitoring": Chart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "88.5.3", "v0.93.1"
    ),
    "gateway": Chart("oci://docker.io/envoyproxy", "gateway-helm", "v1.9.0", "v1.9.0"),
    "gateway-crds": Chart("oci://docker.io/envoyproxy", "gateway-crds-helm", "v1.9.0", "v1.9.0"),
    "registry": Chart("https://twuni.github.io/docker-registry.helm", "docker-registry", "3.0.0", "3.0.0"),
    "argo-workflows": Chart("https://argoproj.github.io/argo-helm", "argo-workflows", "1.0.18", "v4.0.6"),
    "cert-manager": Chart("https://charts.jetstack.io", "cert-manager", "v1.21.1", "v1.21.1"),
    "gpu-device-plugin": Chart(
        "https://nvidia.github.io/k8s-device-plugin", "nvidia-device-plugin", "0.19.1", "0.19.1"
    ),
    "label-studio": Chart("https://charts.heartex.com", "label-studio", "2.0.5", "1.23.0"),
}


def mlflow_version() -> str:
    """The MLflow version cxops pins (pyproject.toml `mlflow==X.Y.Z`, the one source; requirements.lock and so the
    tools image install it). The platform's MLflow server image is tagged with it, so client and server agree.

    Read from the installed cxops package's metadata. Raises CxopsError when cxops is not installed or names no
    exact MLflow pin."""
    try:
        requires = importlib.metadata.requires("cxops") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise CxopsError("cxops is not installed as a package (the MLflow pin is read there): `make setup`") from exc
    for req in requires:
        if m := re.fullmatch(r"mlflow\s*==\s*([0-9][0-9A-Za-z.+-]*)", req.strip()):
            return m[1]
    raise CxopsError(f"cxops' requirements name no exact mlflow pin (mlflow==X.Y.Z): {requires}")
