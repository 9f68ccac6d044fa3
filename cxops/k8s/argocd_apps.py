"""ArgoCD objects: the AppProject, the root Application (app-of-apps), the serving ApplicationSet, and one
Application each for the traffic split, the WorkflowTemplates and every platform component.

Field names follow ArgoCD's `argoproj.io/v1alpha1` CRDs (Application, AppProject, ApplicationSet, ArgoCD 3.x).
Every Application: automated sync with prune and selfHeal, a bounded retry with exponential backoff,
`CreateNamespace=true`, the resources finalizer (deleting the app deletes what it created), and a sync wave;
every child also `SkipDryRunOnMissingResource=true` (its custom resources may wait on an earlier wave's CRDs).
Sync waves order Applications inside the root app only when ArgoCD assesses Application health, which the install
turns on in argocd-cm (ansible/roles/gitops_bootstrap; docs/platform.md).
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import ENV_NAMES, Config
from cxops.k8s.components import Component

API = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}
SERVING_WAVE = 1
# Cluster-scoped kinds the platform's charts and objects create; everything else is namespaced and limited to the
# project's destinations.
CLUSTER_KINDS = (
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("cert-manager.io", "ClusterIssuer"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "StorageClass"),
    ("node.k8s.io", "RuntimeClass"),
)


def _sync_policy(server_side_apply: bool = False, respect_ignored: bool = False, child: bool = True) -> dict[str, Any]:
    options = ["CreateNamespace=true"] + (["ServerSideApply=true"] if server_side_apply else [])
    options += ["RespectIgnoreDifferences=true"] if respect_ignored else []
    # A child's custom resources may be of a kind an earlier wave's Application installs: without this ArgoCD's
    # dry run fails the whole Application until that CRD exists (retried 5 times, then left until the next commit)
    options += ["SkipDryRunOnMissingResource=true"] if child else []
    return {"automated": {"prune": True, "selfHeal": True}, "syncOptions": options, "retry": RETRY}


def _app(
    cfg: Config, name: str, wave: int, destination_ns: str, spec_source: dict[str, Any], server_side_apply: bool = False
) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": names.argocd_namespace(cfg),
            "finalizers": [FINALIZER],
            "annotations": {"argocd.argoproj.io/sync-wave": str(wave)},
            "labels": {"app.kubernetes.io/part-of": "cxops"},
        },
        "spec": {
            "project": names.argocd_project(cfg),
            **spec_source,
            "destination": {"server": IN_CLUSTER, "namespace": destination_ns},
            "syncPolicy": _sync_policy(server_side_apply),
        },
    }


def _git(cfg: Config, path: str) -> dict[str, Any]:
    return {"repoURL": names.gitops_repo_url(cfg), "targetRevision": cfg.gitops.branch, "path": path}


def chart_repo_url(component: Component) -> str:
    """The repoURL ArgoCD fetches the component's chart from (OCI charts: `oci://registry/path/chart`)."""
    chart = component.chart
    assert chart is not None
    return f"{chart.repo}/{chart.chart}" if chart.oci else chart.repo


def platform_app(cfg: Config, c: Component) -> dict[str, Any]:
    """The Application of one platform component: its chart with our values file, or its kustomization."""
    name = names.argocd_platform_app(cfg, c.name)
    if c.chart is None:
        return _app(cfg, name, c.wave, c.namespace, {"source": _git(cfg, c.dir)}, c.server_side_apply)
    helm = {"releaseName": c.release, "valueFiles": [f"$values/{c.dir}/values.yaml"]}
    chart_source: dict[str, Any] = {"repoURL": chart_repo_url(c), "targetRevision": c.chart.version, "helm": helm}
    if c.chart.oci:
        chart_source["path"] = "."
    else:
        chart_source["chart"] = c.chart.chart
    values_source = {"repoURL": names.gitops_repo_url(cfg), "targetRevision": cfg.gitops.branch, "ref": "values"}
    app = _app(cfg, name, c.wave, c.namespace, {"sources": [chart_source, values_source]}, c.server_side_apply)
    if c.ignore_differences:
        app["spec"]["ignoreDifferences"] = c.ignore_differences
        app["spec"]["syncPolicy"] = _sync_policy(c.server_side_apply, respect_ignored=True)
    return app


def project(cfg: Config, components: list[Component]) -> dict[str, Any]:
    """The AppProject: only the GitOps repo and the pinned charts' repos as sources, only the project's namespaces
    (and ArgoCD's, for the Applications themselves) as destinations, and the `deploy` role whose token the
    workflows use to read their Applications' sync state (nothing else)."""
    proj = names.argocd_project(cfg)
    repos = sorted({names.gitops_repo_url(cfg)} | {chart_repo_url(c) for c in components if c.chart})
    dest = sorted(
        {names.env_namespace(cfg, e) for e in ENV_NAMES}
        | {c.namespace for c in components}
        | {names.argocd_namespace(cfg), names.workflows_namespace(cfg)}
    )
    role = names.ARGOCD_DEPLOY_ROLE
    return {
        "apiVersion": API,
        "kind": "AppProject",
        "metadata": {
            "name": proj,
            "namespace": names.argocd_namespace(cfg),
            "labels": {"app.kubernetes.io/part-of": "cxops"},
        },
        "spec": {
            "description": f"{cfg.project.name}: serving environments, pipeline and platform (cxops)",
            "sourceRepos": repos,
            "destinations": [{"server": IN_CLUSTER, "namespace": ns} for ns in dest],
            "clusterResourceWhitelist": [{"group": g, "kind": k} for g, k in CLUSTER_KINDS],
            "orphanedResources": {"warn": True},
            "roles": [
                {
                    "name": role,
                    "description": "workflows: read the sync state of the project's Applications",
                    "policies": [f"p, proj:{proj}:{role}, applications, get, {proj}/*, allow"],
                }
            ],
        },
    }


def root_app(cfg: Config) -> dict[str, Any]:
    """The app-of-apps: syncs k8s/argocd/ (this file included, so it manages itself after the first apply)."""
    app = _app(cfg, names.argocd_root_app(cfg), 0, names.argocd_namespace(cfg), {"source": _git(cfg, "k8s/argocd")})
    del app["metadata"]["annotations"]
    # The install mints the `deploy` role's token into the AppProject (spec.roles[].jwtTokens); self-heal would
    # replace the roles list without it on every reconcile (argoproj/argo-cd#2718)
    app["spec"]["ignoreDifferences"] = [
        {"group": "argoproj.io", "kind": "AppProject", "jqPathExpressions": [".spec.roles[]?.jwtTokens"]}
    ]
    app["spec"]["syncPolicy"] = _sync_policy(respect_ignored=True, child=False)
    return app


def serving_appset(cfg: Config) -> dict[str, Any]:
    """ApplicationSet over the env overlays: one Application per env named as `workflows.argocd_app` says (the
    name the deploy step waits on), syncing `<overlays_dir>/<env>` into the env's namespace."""
    elements = [
        {
            "env": env,
            "app": names.argocd_app(cfg, env),
            "path": names.overlay_dir(cfg, env),
            "namespace": names.env_namespace(cfg, env),
        }
        for env in ENV_NAMES
    ]
    template = _app(cfg, "{{.app}}", SERVING_WAVE, "{{.namespace}}", {"source": _git(cfg, "{{.path}}")})
    template["metadata"]["labels"]["cxops.dev/env"] = "{{.env}}"
    del template["apiVersion"], template["kind"]
    return {
        "apiVersion": API,
        "kind": "ApplicationSet",
        "metadata": {
            "name": f"{cfg.project.name}-serving",
            "namespace": names.argocd_namespace(cfg),
            "labels": {"app.kubernetes.io/part-of": "cxops"},
        },
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": template,
        },
    }


def traffic_app(cfg: Config) -> dict[str, Any]:
    """The production/canary HTTPRoute and its ReferenceGrant (objects carry their own namespaces)."""
    return _app(
        cfg,
        names.argocd_platform_app(cfg, "traffic"),
        SERVING_WAVE,
        names.env_namespace(cfg, "production"),
        {"source": _git(cfg, names.traffic_dir(cfg))},
    )


def workflows_app(cfg: Config) -> dict[str, Any]:
    """The rendered WorkflowTemplates and CronWorkflow (workflows/) in the Argo namespace."""
    return _app(
        cfg,
        names.argocd_platform_app(cfg, "workflows"),
        SERVING_WAVE,
        names.workflows_namespace(cfg),
        {"source": _git(cfg, "workflows")},
    )
