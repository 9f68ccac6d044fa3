"""The Kubernetes Secrets the platform consumes: one catalogue, read by the cluster install (which creates them once,
with random values, never printed) and by the platform manifests and workflows (which only reference them).

No value ever lives in git; this module holds names and keys only.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxops import names
from cxops.config.schema import Config

# Keys of the MLflow admin Secret: the names MLflow's client reads from the environment, so workflow pods map them
# one to one (secretKeyRef env).
MLFLOW_USER_KEY = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_KEY = "MLFLOW_TRACKING_PASSWORD"


@dataclass(frozen=True)
class ClusterSecret:
    """One Secret: where it lives, the keys it must hold, and how the install fills them.

    `generate` is "random" (the install makes each key a random string once and keeps it on re-runs), "user" (the
    user supplies it, e.g. a registry login; the install leaves a placeholder-free Secret absent until given),
    or "argocd" (the install asks ArgoCD for a project-scoped token). `fixed` names keys whose value is not secret
    and must be exactly the one given (e.g. a PostgreSQL role name the database bootstrap also names); the install
    writes those as given and generates the others."""

    name: str
    namespace: str
    keys: tuple[str, ...]
    purpose: str
    generate: str = "random"
    type: str = "Opaque"
    fixed: tuple[tuple[str, str], ...] = ()


def catalogue(cfg: Config) -> list[ClusterSecret]:
    """Every Secret the platform and the workflows expect, in the order the install creates them."""
    w, platform, argo = cfg.workflows, names.platform_namespace(cfg), names.workflows_namespace(cfg)
    s3_keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    mlflow_keys = (MLFLOW_USER_KEY, MLFLOW_PASSWORD_KEY)
    # the site's store (external) has credentials only its Keystone can make: `cxops cloud s3-credentials
    # --to-cluster` puts them into both Secrets; random ones would be refused by it
    s3_how = "user" if cfg.platform.object_store == "external" else "random"
    s3_site = " (the site's EC2 credentials: `cxops cloud s3-credentials --to-cluster`)" if s3_how == "user" else ""
    return [
        ClusterSecret(w.s3_secret, platform, s3_keys, f"S3 store credentials (MLflow artifacts){s3_site}", s3_how),
        ClusterSecret(
            w.s3_secret,
            argo,
            s3_keys,
            f"S3 credentials for workflow pods (same values as the platform's){s3_site}",
            s3_how,
        ),
        ClusterSecret(
            names.postgres_app_secret(cfg),
            platform,
            ("username", "password"),
            "MLflow's PostgreSQL role (CloudNativePG bootstrap secret)",
            type="kubernetes.io/basic-auth",
            fixed=(("username", "mlflow"),),
        ),
        ClusterSecret(
            names.grafana_admin_secret(cfg), platform, ("admin-user", "admin-password"), "Grafana's admin login"
        ),
        ClusterSecret(
            names.mlflow_admin_secret(cfg),
            platform,
            mlflow_keys,
            "MLflow's admin login (basic-auth app)",
            fixed=((mlflow_keys[0], "admin"),),
        ),
        ClusterSecret(
            names.mlflow_admin_secret(cfg),
            argo,
            mlflow_keys,
            "MLflow login for workflow pods (same values as the platform's)",
            fixed=((mlflow_keys[0], "admin"),),
        ),
        ClusterSecret(
            names.argocd_operator_secret(cfg),
            names.argocd_namespace(cfg),
            ("username", "password"),
            "ArgoCD login for people (local account; the admin is disabled after bootstrap)",
            type="kubernetes.io/basic-auth",
            fixed=(("username", names.argocd_operator_account(cfg)),),
        ),
        ClusterSecret(
            w.argocd_token_secret,
            argo,
            ("token",),
            "project-scoped ArgoCD token the deploy steps use to wait for a sync",
            generate="argocd",
        ),
        ClusterSecret(
            w.git_deploy_key_secret,
            argo,
            ("ssh-privatekey", "known_hosts"),
            "deploy key that may push to the GitOps repository",
            generate="user",
        ),
        ClusterSecret(
            w.registry_auth_secret,
            argo,
            (".dockerconfigjson",),
            "push credentials for the image registry",
            generate="user",
            type="kubernetes.io/dockerconfigjson",
        ),
    ] + (
        [
            ClusterSecret(
                names.label_studio_db_secret(cfg),
                platform,
                ("username", "password"),
                "Label Studio's PostgreSQL role (CloudNativePG managed role)",
                type="kubernetes.io/basic-auth",
                fixed=(("username", "labelstudio"),),
            )
        ]
        if cfg.platform.label_studio
        else []
    )
