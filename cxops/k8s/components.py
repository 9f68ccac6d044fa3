"""The platform's components: what each one installs, where, and in which sync wave.

A component is either an upstream chart with our values (`chart` + `values`) or plain objects we own
(`objects`, rendered into a kustomization). Waves order the Applications inside the root app: operators and CRDs
(-2) before the objects that use them (-1), then the services (0), then what the pipeline moves (1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cxops import names
from cxops.config.schema import Config
from cxops.k8s import dashboards, gpu, netpol, objects, tls, values
from cxops.k8s.charts import CHARTS, Chart


@dataclass(frozen=True)
class Component:
    """One ArgoCD Application of the platform. `dir` is its directory under k8s/platform/."""

    name: str
    namespace: str
    wave: int
    purpose: str
    chart: Chart | None = None
    values: dict[str, Any] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    # CRDs larger than a client-side apply's last-applied-configuration annotation may be (262144 bytes):
    # prometheus-operator's, CloudNativePG's, Envoy Gateway's
    server_side_apply: bool = False
    files: dict[str, str] = field(default_factory=dict)  # extra files beside the objects (dashboards' JSON)
    generators: list[dict[str, Any]] = field(default_factory=list)  # kustomize configMapGenerator entries
    # fields a chart fills with a fresh random value on every render: ArgoCD ignores them instead of re-applying
    ignore_differences: list[dict[str, Any]] = field(default_factory=list)
    release_name: str | None = None  # Helm release name when it differs from `name` (charts label pods with it)

    @property
    def release(self) -> str:
        """The Helm release name ArgoCD renders the chart with."""
        return self.release_name or self.name

    @property
    def dir(self) -> str:
        """Repository-relative directory of the values file or the kustomization."""
        return f"k8s/platform/{self.name}"


def components(cfg: Config) -> list[Component]:
    """Every platform component the configuration asks for, in wave order."""
    platform, argo = names.platform_namespace(cfg), names.workflows_namespace(cfg)
    out = [
        Component(
            "namespaces",
            platform,
            -3,
            "the project's namespaces (envs, platform, workflows) and the data volume's StorageClass",
            objects=[*objects.namespaces(cfg), objects.data_storage_class()],
        ),
        Component(
            "gateway-crds",
            platform,
            -2,
            "Envoy Gateway's CRDs (the Gateway API's standard CRDs are Kubespray's)",
            CHARTS["gateway-crds"],
            values.envoy_gateway_crds(cfg),
            server_side_apply=True,
        ),
        Component(
            "network-policies",
            platform,
            -2,
            "default deny in every project namespace, then only the flows of cxops.k8s.netpol",
            objects=netpol.policies(cfg),
        ),
        Component(
            "cnpg-operator",
            platform,
            -2,
            "CloudNativePG operator and its CRDs",
            CHARTS["cnpg-operator"],
            values.cnpg_operator(cfg),
            server_side_apply=True,
        ),
        Component(
            "gateway",
            platform,
            -2,
            "Envoy Gateway (Gateway API implementation); its CRDs are gateway-crds'",
            CHARTS["gateway"],
            values.envoy_gateway(cfg),
        ),
        Component(
            "cert-manager",
            platform,
            -2,
            "cert-manager: the gateway's TLS certificate (self-signed CA, or ACME with kubernetes.domain)",
            CHARTS["cert-manager"],
            tls.cert_manager_values(cfg),
        ),
        Component(
            "monitoring",
            platform,
            -2,
            "kube-prometheus-stack: Prometheus, Alertmanager, Grafana, operator",
            CHARTS["monitoring"],
            values.kube_prometheus_stack(cfg),
            server_side_apply=True,
        ),
        Component(
            "argo-workflows",
            argo,
            -2,
            "Argo Workflows controller and server",
            CHARTS["argo-workflows"],
            values.argo_workflows(cfg),
        ),
        Component(
            "gpu-runtime",
            platform,
            -2,
            "RuntimeClass `nvidia`: containerd's NVIDIA runtime on the gpu group's nodes",
            objects=[gpu.runtime_class(cfg)],
        ),
        Component(
            "postgres", platform, -1, "MLflow's PostgreSQL (a CloudNativePG Cluster)", objects=objects.postgres(cfg)
        ),
        Component(
            "gateway-config",
            platform,
            -1,
            "GatewayClass, Gateway (HTTP→HTTPS, TLS), registry route, gateway policies, issuers and certificate",
            objects=[*objects.gateway(cfg), *tls.objects(cfg)],
        ),
        Component(
            "monitoring-config",
            platform,
            -1,
            "ServiceMonitors, PrometheusRules and Grafana dashboards",
            objects=objects.monitoring(cfg),
            files=dashboards.files(cfg),
            generators=dashboards.generators(cfg),
        ),
        Component(
            "workflow-rbac",
            argo,
            -1,
            "the workflows' ServiceAccount with least RBAC",
            objects=objects.workflow_rbac(cfg),
        ),
        Component(
            "services",
            platform,
            -1,
            "the stable Service names workflows and cxops.yaml use",
            objects=objects.platform_services(cfg),
        ),
        Component(
            "gpu-device-plugin",
            platform,
            -1,  # after gpu-runtime: its pods run with the `nvidia` RuntimeClass
            "NVIDIA device plugin on the gpu group's nodes: advertises `nvidia.com/gpu` to the scheduler",
            CHARTS["gpu-device-plugin"],
            gpu.device_plugin_values(cfg),
            release_name=gpu.DEVICE_PLUGIN_RELEASE,
        ),
    ]
    if cfg.platform.object_store == "seaweedfs":
        out.append(
            Component(
                "object-store",
                platform,
                -1,
                "SeaweedFS (S3 API for MLflow artifacts)",
                CHARTS["object-store"],
                values.seaweedfs(cfg),
                release_name=values.OBJECT_STORE_RELEASE,
            )
        )
    out += [
        Component(
            "mlflow", platform, 0, "MLflow tracking server and model registry", CHARTS["mlflow"], values.mlflow(cfg)
        ),
        Component(
            "registry",
            platform,
            0,
            "container registry for serving images (CNCF Distribution)",
            CHARTS["registry"],
            values.registry(cfg),
            ignore_differences=values.REGISTRY_RANDOM_FIELDS,
        ),
    ]
    if cfg.platform.label_studio:
        out.append(
            Component(
                "label-studio",
                platform,
                0,
                "Label Studio (optional labelling UI)",
                CHARTS["label-studio"],
                values.label_studio(cfg),
            )
        )
    return out
