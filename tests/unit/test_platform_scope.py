"""What the platform renders matches what works on a cluster (audit K5, K8): no scrape MLflow's basic auth refuses,
no Argo Events install without anything that uses it, and no docs describing a push check that does not exist."""

from __future__ import annotations

import yaml
from helpers import REPO

APPS = REPO / "k8s" / "argocd" / "apps"


def test_nothing_scrapes_mlflow_metrics_without_the_login_basic_auth_demands():
    """K5: MLflow's basic-auth app protects /metrics (only /health, /version, /static are open) and its explicit
    allowed-hosts list refuses a pod-IP Host header, so a ServiceMonitor would only ever record it down."""
    values = yaml.safe_load((REPO / "k8s" / "platform" / "mlflow" / "values.yaml").read_text())
    assert values["auth"]["enabled"] is True
    assert values.get("serviceMonitor", {}).get("enabled") is not True


def test_argo_events_is_either_wired_or_absent():
    """K8: an Argo Events controller with no EventBus, EventSource or Sensor checks no push; the docs described
    one. Either all of it is rendered, or neither the app nor the docs section."""
    kinds = set()
    for path in [*REPO.joinpath("k8s").rglob("*.yaml"), *REPO.joinpath("workflows").glob("*.yaml")]:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
                kinds.add(doc.get("kind"))
    wired = {"EventBus", "EventSource", "Sensor"} <= kinds
    app = (APPS / "platform-argo-events.yaml").exists()
    docs = "Argo Events" in (REPO / "docs" / "workflows.md").read_text()
    assert wired or not (app or docs), f"Argo Events: app={app}, docs={docs}, but no EventBus/EventSource/Sensor"
