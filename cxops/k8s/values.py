"""Our values for each upstream chart (rendered into k8s/platform/<component>/values.yaml).

Only keys the pinned chart reads (its values.yaml at the tag named in cxops.k8s.charts). No credential ever appears:
every password or key is a reference to a Secret of cxops.cluster_secrets. Every container we switch on gets
requests/limits; probes are the charts' own (each of these charts ships liveness/readiness probes).
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.cluster_secrets import MLFLOW_PASSWORD_KEY, MLFLOW_USER_KEY
from cxops.config.schema import Config
from cxops.k8s.charts import mlflow_version

# Release names: ArgoCD passes the Application's `helm.releaseName`; charts name their objects after it.
MLFLOW_RELEASE = "mlflow"
MLFLOW_FULLNAME = "mlflow-server"  # the chart's own Service; `mlflow` is ours (cxops.k8s.objects.platform_services)
MLFLOW_AUTH_DATABASE = "mlflow_auth"  # the basic-auth app's users and permissions, owned by the mlflow role
OBJECT_STORE_RELEASE = "seaweedfs"
MONITORING_FULLNAME = "monitoring"  # Prometheus CR `monitoring-prometheus`, operator, Alertmanager
GRAFANA_FULLNAME = "grafana"
REGISTRY_RELEASE = "registry"
REGISTRY_PORT = names.REGISTRY_PORT
# docker-registry 3.0.0 renders a new random REGISTRY_HTTP_SECRET (and a checksum of it on the pod template) each
# time; with one replica its value does not matter, so ArgoCD must not see it as drift (else it restarts the pod).
REGISTRY_RANDOM_FIELDS = [
    {
        "group": "",
        "kind": "Secret",
        "name": f"{REGISTRY_RELEASE}-docker-registry-secret",
        "jsonPointers": ["/data/haSharedSecret"],
    },
    {
        "group": "apps",
        "kind": "Deployment",
        "name": f"{REGISTRY_RELEASE}-docker-registry",
        "jsonPointers": ["/spec/template/metadata/annotations/checksum~1secret"],
    },
]
S3_PORT = 8333  # SeaweedFS's S3 API port
DASHBOARD_LABEL = "grafana_dashboard"  # the Grafana sidecar provisions ConfigMaps carrying this label


def resources(cpu: str, memory: str, cpu_limit: str | None = None, memory_limit: str | None = None) -> dict:
    """Kubernetes resource requests and limits (memory limit defaults to twice the request, CPU limit to 4x)."""
    mem_limit = memory_limit or _double(memory)
    cpu_lim = cpu_limit or _times(cpu, 4)
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_lim, "memory": mem_limit}}


def _double(q: str) -> str:
    return f"{int(q[:-2]) * 2}{q[-2:]}"


def _times(cpu: str, k: int) -> str:
    return f"{int(cpu[:-1]) * k}m" if cpu.endswith("m") else str(int(cpu) * k)


def _storage(cfg: Config) -> dict[str, Any]:
    return {"storageClass": cfg.platform.storage_class} if cfg.platform.storage_class else {}


def cnpg_operator(cfg: Config) -> dict[str, Any]:
    """cloudnative-pg chart: the operator watches the platform namespace's Clusters; PodMonitor for its metrics."""
    return {
        "crds": {"create": True},
        "config": {"clusterWide": False},
        "resources": resources("100m", "128Mi"),
        "monitoring": {"podMonitorEnabled": True},
    }


def envoy_gateway(cfg: Config) -> dict[str, Any]:
    """gateway-helm: the Envoy Gateway controller only. Its CRD subchart is off: it would bring Gateway API
    experimental-channel CRDs, which the safe-upgrades policy Kubespray installs with its standard-channel CRDs
    denies; Envoy Gateway's own CRDs come from gateway-crds-helm (`envoy_gateway_crds`)."""
    return {
        "crds": {"enabled": False},
        "deployment": {"envoyGateway": {"resources": resources("100m", "256Mi", memory_limit="1024Mi")}},
    }


def envoy_gateway_crds(cfg: Config) -> dict[str, Any]:
    """gateway-crds-helm: Envoy Gateway's CRDs, not the Gateway API's (Kubespray owns those: `gateway_api_enabled`
    in the inventory's addons.yml installs the standard channel)."""
    return {"crds": {"gatewayAPI": {"enabled": False}, "envoyGateway": {"enabled": True}}}


def kube_prometheus_stack(cfg: Config) -> dict[str, Any]:
    """kube-prometheus-stack: Prometheus selects every ServiceMonitor/PodMonitor/PrometheusRule in the cluster (not
    only the chart's), Grafana's admin comes from a Secret and its sidecar provisions our dashboards."""
    platform = names.platform_namespace(cfg)
    nil_false = {f"{k}SelectorNilUsesHelmValues": False for k in ("serviceMonitor", "podMonitor", "rule", "probe")}
    return {
        "fullnameOverride": MONITORING_FULLNAME,
        "crds": {"enabled": True},
        # these exporters' Services live in kube-system, outside the AppProject's destinations (and Kubespray binds
        # the control-plane components to localhost, so they could not be scraped anyway)
        **{
            k: {"enabled": False}
            for k in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy", "coreDns")
        },
        "prometheusOperator": {"resources": resources("100m", "128Mi")},
        "prometheus": {
            "prometheusSpec": {
                **nil_false,
                "retention": cfg.platform.prometheus_retention,
                "resources": resources("250m", "1Gi"),
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            **({"storageClassName": cfg.platform.storage_class} if cfg.platform.storage_class else {}),
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "20Gi"}},
                        }
                    }
                },
            },
        },
        "alertmanager": {"alertmanagerSpec": {"resources": resources("50m", "64Mi")}},
        "kube-state-metrics": {"resources": resources("50m", "128Mi")},
        "prometheus-node-exporter": {"resources": resources("50m", "64Mi")},
        "grafana": {
            "fullnameOverride": GRAFANA_FULLNAME,
            "admin": {
                "existingSecret": names.grafana_admin_secret(cfg),
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "resources": resources("100m", "256Mi"),
            "sidecar": {
                "resources": resources("50m", "64Mi"),
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": platform,
                },
            },
        },
    }


def argo_workflows(cfg: Config) -> dict[str, Any]:
    """argo-workflows: controller limited to the workflows namespace, metrics for its ServiceMonitor, the server in
    client-token mode (no anonymous access); the workflows' ServiceAccount is ours (workflow-rbac)."""
    ns = names.workflows_namespace(cfg)
    return {
        "crds": {"install": True, "keep": True},
        "singleNamespace": False,
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "controller": {
            "workflowNamespaces": [ns],
            "metricsConfig": {"enabled": True},
            "serviceMonitor": {"enabled": True, "namespace": ns},
            "resources": resources("100m", "256Mi"),
        },
        "executor": {"resources": resources("50m", "64Mi")},
        "server": {"enabled": True, "authModes": ["client"], "resources": resources("50m", "128Mi")},
    }


def seaweedfs(cfg: Config) -> dict[str, Any]:
    """seaweedfs (all-in-one): S3 on port 8333 with one admin identity taken from the S3 Secret's
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment (SeaweedFS then refuses anonymous requests), and the
    artifacts bucket created at install."""
    secret = cfg.workflows.s3_secret
    env = {k: {"secretKeyRef": {"name": secret, "key": k}} for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return {
        "master": {"enabled": False},
        "volume": {"enabled": False},
        "filer": {"enabled": False},
        "s3": {"enabled": False, "port": S3_PORT},
        "allInOne": {
            "enabled": True,
            "s3": {"enabled": True, "port": S3_PORT, "createBuckets": [{"name": cfg.platform.artifacts_bucket}]},
            "data": {
                "type": "persistentVolumeClaim",
                "size": f"{cfg.platform.object_store_storage_gb}Gi",
                **_storage(cfg),
            },
            "secretExtraEnvironmentVars": env,
            "resources": resources("250m", "512Mi", memory_limit="2Gi"),
        },
    }


def mlflow(cfg: Config) -> dict[str, Any]:
    """mlflow (community chart): PostgreSQL from CloudNativePG (credentials from its bootstrap Secret), artifacts in
    S3 through the configured endpoint (credentials from the S3 Secret); no ServiceMonitor (basic auth guards
    /metrics)."""
    return {
        "fullnameOverride": MLFLOW_FULLNAME,
        # the server at the client's exact version (the chart's appVersion is older; audit W11); the chart's own
        # image repository, tagged per MLflow release
        "image": {"tag": mlflow_version()},
        "service": {"port": 5000},
        "backendStore": {
            "databaseMigration": True,
            "databaseConnectionCheck": True,
            "postgres": {"enabled": True, "host": names.postgres_host(cfg), "port": 5432, "database": "mlflow"},
            "existingDatabaseSecret": {
                "name": names.postgres_app_secret(cfg),
                "usernameKey": "username",
                "passwordKey": "password",
            },
        },
        "artifactRoot": {
            "proxiedArtifactStorage": True,
            "s3": {
                "enabled": True,
                "bucket": cfg.platform.artifacts_bucket,
                "existingSecret": {
                    "name": cfg.workflows.s3_secret,
                    "keyOfAccessKeyId": "AWS_ACCESS_KEY_ID",
                    "keyOfSecretAccessKey": "AWS_SECRET_ACCESS_KEY",
                },
            },
        },
        "extraEnvVars": {"MLFLOW_S3_ENDPOINT_URL": names.s3_endpoint_url(cfg)},
        # MLflow's basic-auth app (`mlflow server --app-name basic-auth`): every request needs a login; the admin
        # comes from a generated Secret, the user table lives in its own PostgreSQL database (survives restarts).
        "auth": {
            "enabled": True,
            "appName": "basic-auth",
            "defaultPermission": "READ",
            "existingAdminSecret": {
                "name": names.mlflow_admin_secret(cfg),
                "usernameKey": MLFLOW_USER_KEY,
                "passwordKey": MLFLOW_PASSWORD_KEY,
            },
            "postgres": {
                "enabled": True,
                "host": names.postgres_host(cfg),
                "port": 5432,
                "database": MLFLOW_AUTH_DATABASE,
                "driver": "psycopg2",
                "existingSecret": {
                    "name": names.postgres_app_secret(cfg),
                    "usernameKey": "username",
                    "passwordKey": "password",
                },
            },
        },
        "serverAllowedHosts": _mlflow_hosts(cfg),
        # Not scraped: basic auth protects /metrics and the allowed-hosts list refuses a pod-IP Host header, so a
        # ServiceMonitor would only record MLflow down (its /health probes are exempt from both)
        "serviceMonitor": {"enabled": False},
        "resources": resources("250m", "512Mi", memory_limit="1536Mi"),
    }


def _mlflow_hosts(cfg: Config) -> list[str]:
    """Host headers MLflow accepts (its server refuses others): the platform Service's DNS forms and localhost for
    a port-forward."""
    svc = f"mlflow.{names.platform_namespace(cfg)}"
    return [f"{h}:5000" for h in (f"{svc}.svc.cluster.local", f"{svc}.svc", svc, "mlflow", "localhost", "127.0.0.1")]


def registry(cfg: Config) -> dict[str, Any]:
    """docker-registry (CNCF Distribution): filesystem storage on a volume, metrics on its debug port."""
    return {
        "persistence": {"enabled": True, "size": f"{cfg.platform.registry_storage_gb}Gi", **_storage(cfg)},
        "service": {"port": REGISTRY_PORT},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        "configData": {"http": {"debug": {"addr": ":5001", "prometheus": {"enabled": True, "path": "/metrics"}}}},
        "resources": resources("100m", "128Mi"),
    }


def label_studio(cfg: Config) -> dict[str, Any]:
    """label-studio: on our PostgreSQL (a database and role of its own) instead of the chart's Bitnami subchart."""
    return {
        "postgresql": {"enabled": False},
        "redis": {"enabled": False},
        "global": {
            "pgConfig": {
                "host": names.postgres_host(cfg),
                "port": 5432,
                "dbName": "labelstudio",
                "userName": "labelstudio",
                "password": {"secretName": names.label_studio_db_secret(cfg), "secretKey": "password"},
            }
        },
        "app": {"resources": resources("250m", "512Mi", memory_limit="1536Mi")},
    }
