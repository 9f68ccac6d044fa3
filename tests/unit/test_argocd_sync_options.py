"""What ArgoCD needs to order and keep the app-of-apps steady (audit I3, I4): read from what the install hands the
argo-cd chart and from the rendered root Application."""

from __future__ import annotations

import yaml
from helpers import REPO

BOOTSTRAP_DEFAULTS = REPO / "ansible" / "roles" / "gitops_bootstrap" / "defaults" / "main.yml"
HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"


def _root_app() -> dict:
    docs = yaml.safe_load_all((REPO / "k8s" / "argocd" / "root-application.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "Application")


def test_argocd_assesses_child_application_health_so_waves_wait():
    """I3: ArgoCD 1.8+ reports every child Application Healthy at once unless argocd-cm restores the Application
    health check; then sync waves in the root app really wait for the wave before."""
    defaults = yaml.safe_load(BOOTSTRAP_DEFAULTS.read_text())
    cm = str(defaults["gitops_bootstrap_argocd_values"]["configs"]["cm"])
    assert f"'{HEALTH_KEY}': gitops_bootstrap_argocd_application_health" in cm, "argocd-cm: no Application health"
    script = defaults["gitops_bootstrap_argocd_application_health"]
    # ArgoCD's documented check: the child's own health status, Progressing until it has one
    assert "obj.status.health" in script and "health.status" in script and "Progressing" in script
    assert script.rstrip().endswith("return hs")


def test_root_app_leaves_the_project_tokens_alone():
    """I4: minting the `deploy` token writes spec.roles[].jwtTokens into the AppProject the root app owns; without
    an ignore rule self-heal replaces the roles list on every reconcile (argoproj/argo-cd#2718)."""
    app = _root_app()
    ignored = [
        d
        for d in app["spec"].get("ignoreDifferences", [])
        if d.get("group") == "argoproj.io" and d.get("kind") == "AppProject"
    ]
    assert any("jwtTokens" in p for d in ignored for p in d.get("jqPathExpressions", [])), ignored
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
