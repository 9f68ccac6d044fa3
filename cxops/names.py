"""Every derived name in one place: namespaces, gateway, traffic directory, ArgoCD Applications, in-cluster URLs.

Each is a function of the configuration so a user changes it in cxops.yaml (`kubernetes:`), never in code, and no
other module spells `cxops-staging` or `cxops-platform`. Kubernetes DNS form of a Service:
`<service>.<namespace>.svc.cluster.local` (Kubernetes docs, "DNS for Services and Pods").
"""

from __future__ import annotations

from cxops.config.schema import ENV_NAMES, Config

# Node label of the node the data volume is attached to (written into the inventory's `node_labels` by
# `cxops infra inventory`); the platform's StorageClass places volumes only on nodes carrying it.
DATA_VOLUME_LABEL = "cxops.io/data-volume"
# Node label of the gpu group's nodes (ansible/inventory/cxops/group_vars/gpu/node-labels.yml, Kubespray's
# `node_labels`); the NVIDIA device plugin and the `nvidia` RuntimeClass schedule only onto nodes carrying it. The
# name is the one NVIDIA's GPU feature discovery sets, which the device plugin's chart already matches.
GPU_NODE_LABEL = "nvidia.com/gpu.present"
GPU_RUNTIME_CLASS = "nvidia"  # containerd's extra runtime on gpu nodes (group_vars/gpu/containerd.yml)
DATA_STORAGE_CLASS = "cxops-data"  # platform.storage_class's default: local-path on the data volume's node


def env_namespace(cfg: Config, env: str) -> str:
    """Namespace that holds one environment's model server, e.g. `cxops-staging`. Raises KeyError for an unknown env."""
    if env not in ENV_NAMES:
        raise KeyError(env)
    return f"{cfg.kubernetes.namespace_prefix}-{env}"


def platform_namespace(cfg: Config) -> str:
    """Namespace of the shared platform services (MLflow, S3, Prometheus, the gateway, the registry)."""
    return cfg.kubernetes.platform_namespace


def argocd_namespace(cfg: Config) -> str:
    """Namespace ArgoCD is installed in (its Applications and AppProjects live there)."""
    return cfg.kubernetes.argocd_namespace


def workflows_namespace(cfg: Config) -> str:
    """Namespace the Argo WorkflowTemplates are applied to and workflows run in."""
    return cfg.workflows.namespace


PUBLIC_ROUTE = "model-server"  # the production/canary HTTPRoute (production's namespace), the only public one
GATEWAY_HTTPS = "https"  # the Gateway's TLS listener (443): every public route attaches to it
GATEWAY_HTTP = "http"  # the plain listener (80): the HTTPS redirect, the ACME challenge, the nodes' registry pulls


def gateway_ref(cfg: Config, listener: str = GATEWAY_HTTPS) -> dict[str, str]:
    """The Gateway API `parentRef` of one listener of the shared gateway: {"name", "namespace", "sectionName"}.
    Routes attach to the HTTPS listener unless they must be reached over plain HTTP."""
    return {"name": cfg.kubernetes.gateway_name, "namespace": platform_namespace(cfg), "sectionName": listener}


def traffic_dir(cfg: Config) -> str:
    """Repository-relative directory of the production/canary HTTPRoute (beside the overlays)."""
    return cfg.gitops.traffic_dir


def overlay_dir(cfg: Config, env: str) -> str:
    """Repository-relative kustomize overlay directory of one environment."""
    if env not in ENV_NAMES:
        raise KeyError(env)
    return f"{cfg.gitops.overlays_dir}/{env}"


def argocd_app(cfg: Config, env: str) -> str:
    """ArgoCD Application name that syncs one environment's overlay (`workflows.argocd_app` with the blanks filled)."""
    return cfg.workflows.argocd_app.replace("{project}", cfg.project.name).replace("{env}", env)


def service_url(cfg: Config, service: str, port: int, scheme: str = "http") -> str:
    """In-cluster URL of a platform Service, e.g. `http://mlflow.cxops-platform.svc.cluster.local:5000`."""
    return f"{scheme}://{service}.{platform_namespace(cfg)}.svc.cluster.local:{port}"


def mlflow_tracking_uri(cfg: Config) -> str:
    """MLflow as workflow pods reach it: `workflows.mlflow_tracking_uri`, else the platform's `mlflow` Service."""
    return cfg.workflows.mlflow_tracking_uri or service_url(cfg, "mlflow", 5000)


def s3_endpoint_url(cfg: Config) -> str:
    """S3 API for MLflow artifacts: `workflows.s3_endpoint_url`, else the platform's in-cluster store (`s3` Service)."""
    return cfg.workflows.s3_endpoint_url or service_url(cfg, "s3", 8333)


def prometheus_url(cfg: Config) -> str:
    """Prometheus as workflow pods reach it: `workflows.prometheus_url`, else the platform's `prometheus` Service."""
    return cfg.workflows.prometheus_url or service_url(cfg, "prometheus", 9090)


def argocd_server(cfg: Config) -> str:
    """ArgoCD's API as workflow pods reach it: `workflows.argocd_server`, else the `argocd-server` Service over plain
    HTTP (port 80; the install sets server.insecure, docs/security.md)."""
    return cfg.workflows.argocd_server or f"http://argocd-server.{argocd_namespace(cfg)}.svc.cluster.local"


def cloud_resource(cfg: Config, part: str) -> str:
    """Name of a cloud resource cxops creates: `<project.name>-<part>-<project.suffix>`, e.g. `cxops-demo-node1-proj01`.

    The formula tf/ applies to every resource name, so several users can share one OpenStack project."""
    return f"{cfg.project.name}-{part}-{cfg.project.suffix}"


# --- the GitOps platform (k8s/argocd, k8s/platform; docs/platform.md) ---

ARGOCD_DEPLOY_ROLE = "deploy"  # AppProject role whose token the workflows' deploy steps use (read + sync apps)


def argocd_project(cfg: Config) -> str:
    """The ArgoCD AppProject every cxops Application belongs to (limits repos and destination namespaces)."""
    return cfg.project.name


def argocd_root_app(cfg: Config) -> str:
    """The root (app-of-apps) Application the cluster install applies once: `<project>-root`."""
    return f"{cfg.project.name}-root"


def argocd_platform_app(cfg: Config, component: str) -> str:
    """ArgoCD Application of one platform component, e.g. `cxops-demo-mlflow`."""
    return f"{cfg.project.name}-{component}"


def gitops_repo_url(cfg: Config) -> str:
    """The git URL ArgoCD reads k8s/ and workflows/ from: the remote the cluster's steps push to
    (`workflows.gitops_remote`, else `gitops.remote`; cxops.cluster_config.gitops_remote), so what they push is
    what ArgoCD syncs. Raises CxopsError (one line) when there is none, it is a local path, or it is the cxops
    project's own repository."""
    from cxops.cluster_config import argocd_repo_problem, gitops_remote
    from cxops.errors import CxopsError

    problem, remote = argocd_repo_problem(cfg), gitops_remote(cfg)
    if problem or remote is None:
        raise CxopsError(problem or "no GitOps repository")
    return remote


def argocd_repository_secret(cfg: Config) -> str:
    """The ArgoCD repository Secret (label argocd.argoproj.io/secret-type: repository) the cluster install creates
    in ArgoCD's namespace: the GitOps repository's URL and the credential ArgoCD fetches it with."""
    return f"{cfg.project.name}-gitops-repository"


REGISTRY_SERVICE, REGISTRY_PORT = "registry", 5000  # the platform's registry Service (cxops.k8s.objects)


def registry_in_cluster(cfg: Config) -> str:
    """`host:port` of the registry's Service as pods resolve it (cluster DNS), e.g.
    `registry.cxops-platform.svc.cluster.local:5000`: where BuildKit pushes. The nodes pull the same repositories by
    `registry_host` through the gateway (their DNS does not see cluster names)."""
    return f"{REGISTRY_SERVICE}.{platform_namespace(cfg)}.svc.cluster.local:{REGISTRY_PORT}"


def registry_host(cfg: Config) -> str:
    """Host (and port, if any) of `serving.image_registry`, e.g. `registry.cxops.local`: the platform registry."""
    return cfg.serving.image_registry.split("/", 1)[0]


def model_project_slug(cfg: Config) -> str:
    """The model project as a DNS label, from `model.project`'s module: `cxops.model.examples.torch_cnn:...` →
    `torch-cnn`. Names the project's own tools image."""
    module = cfg.model.project.split(":", 1)[0].rsplit(".", 1)[-1]
    return module.lower().replace("_", "-").strip("-")[:40] or "model"


def tools_image(cfg: Config) -> str:
    """The image every step container runs: `workflows.tools_image`, else one per model project in the platform
    registry, `<serving.image_registry>/cxops-tools-<project>:<cxops version>` (build-initial builds it with the
    project's `model.requirements`)."""
    from cxops import __version__

    default = f"{cfg.serving.image_registry}/cxops-tools-{model_project_slug(cfg)}:{__version__}"
    return cfg.workflows.tools_image or default


def postgres_cluster(cfg: Config) -> str:
    """CloudNativePG Cluster holding MLflow's database; the operator names its Services `<cluster>-rw|ro|r`."""
    return f"{cfg.project.name}-postgres"


def postgres_app_secret(cfg: Config) -> str:
    """basic-auth Secret of MLflow's PostgreSQL role (CloudNativePG `bootstrap.initdb.secret`)."""
    return f"{cfg.project.name}-postgres-app"


def grafana_admin_secret(cfg: Config) -> str:
    """Secret with Grafana's admin login (keys admin-user, admin-password)."""
    return f"{cfg.project.name}-grafana-admin"


def postgres_host(cfg: Config) -> str:
    """In-cluster DNS name of the read-write PostgreSQL Service."""
    return f"{postgres_cluster(cfg)}-rw.{platform_namespace(cfg)}.svc.cluster.local"


def label_studio_db_secret(cfg: Config) -> str:
    """basic-auth Secret of Label Studio's PostgreSQL role (only when platform.label_studio is on)."""
    return f"{cfg.project.name}-label-studio-db"


def root_application_file() -> str:
    """Repository-relative path of the rendered root Application (`cxops k8s render` writes it)."""
    return "k8s/argocd/root-application.yaml"


# --- security (docs/security.md): TLS, credentials the platform's services check ---


def gateway_tls_secret(cfg: Config) -> str:
    """Secret cert-manager writes the gateway's certificate into (the HTTPS listener's certificateRef)."""
    return f"{cfg.kubernetes.gateway_name}-tls"


def cluster_issuer(cfg: Config) -> str:
    """ClusterIssuer that signs the gateway's certificate: `<project>-acme` with kubernetes.domain, else
    `<project>-ca` (the cluster's own CA, itself signed by `<project>-selfsigned`)."""
    return f"{cfg.project.name}-{'acme' if cfg.kubernetes.domain else 'ca'}"


def ca_secret(cfg: Config) -> str:
    """Secret holding the cluster's self-signed CA (key pair; clients trust its `ca.crt`)."""
    return f"{cfg.project.name}-ca"


def mlflow_admin_secret(cfg: Config) -> str:
    """Secret with MLflow's admin login (basic-auth app), in the platform namespace and copied to the workflows'."""
    return f"{cfg.project.name}-mlflow-admin"


def argocd_operator_account(cfg: Config) -> str:
    """ArgoCD local account (login only) for people, instead of the admin the install disables after bootstrap."""
    return f"{cfg.project.name}-operator"


def argocd_operator_secret(cfg: Config) -> str:
    """Secret in ArgoCD's namespace holding the operator account's password (set by the cluster install)."""
    return f"{cfg.project.name}-argocd-operator"
