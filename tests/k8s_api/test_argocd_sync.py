"""What ArgoCD syncs from k8s/, synced the way ArgoCD syncs it into a real Kubernetes v1.35.4 API server.

Before the app-of-apps: what Kubespray v2.31.0 applies (Gateway API v1.5.1 standard CRDs with their safe-upgrades
ValidatingAdmissionPolicy, the local-path StorageClass) and ArgoCD's CRDs. Then each Application in wave order
(tests/k8s_api/argocd_sync.py): refused where ArgoCD's AppProject check refuses, applied client- or server-side as
the Application says. Charts that no Go module carries are listed in upstream.NOT_FROM_MODULES with what is
checked for them instead. A stand-in for ArgoCD's controller (not buildable here), not for the API server.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from helpers import REPO
from k8s_api import argocd_sync

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def _app_names() -> list[str]:
    names = []
    for path in sorted((REPO / "k8s" / "argocd" / "apps").glob("*.yaml")):
        for doc in argocd_sync.docs(path.read_text()):
            if doc["kind"] == "Application":
                names.append(doc["metadata"]["name"])
            elif doc["kind"] == "ApplicationSet":
                names += [e["app"] for e in doc["spec"]["generators"][0]["list"]["elements"]]
    return names


def test_api_server_is_kubesprays_kubernetes(kubectl: argocd_sync.Kubectl):
    out = kubectl.run("version", "-o", "json")
    assert out.returncode == 0, out.stderr
    server = json.loads(out.stdout)["serverVersion"]["gitVersion"]
    inventory = REPO / "ansible" / "inventory" / "cxops" / "group_vars" / "k8s_cluster" / "k8s-cluster.yml"
    assert server == "v" + yaml.safe_load(inventory.read_text())["kube_version"]


def test_kubespray_and_argocd_prerequisites_apply(synced: argocd_sync.Synced):
    assert synced.prerequisites == []


def test_every_object_is_permitted_by_the_app_project(synced: argocd_sync.Synced):
    refused = [f"{name}: {line}" for name, r in synced.results.items() for line in r.refused]
    assert refused == [], "ArgoCD would refuse:\n" + "\n".join(refused)


def test_cert_manager_keeps_its_leader_election_in_the_project(synced: argocd_sync.Synced):
    """K1: the chart's default puts the leader-election Role/RoleBinding in kube-system."""
    result = synced.results["cxops-demo-cert-manager"]
    namespaces = {o["metadata"].get("namespace") for o in result.objects if o["kind"] in ("Role", "RoleBinding")}
    assert "kube-system" not in namespaces
    assert result.refused == [] and result.errors == []


def test_cloudnative_pg_crds_apply_as_the_application_applies_them(synced: argocd_sync.Synced):
    """K2: clusters/poolers.postgresql.cnpg.io exceed the last-applied annotation of a client-side apply."""
    result = synced.results["cxops-demo-cnpg-operator"]
    assert any(o["metadata"]["name"] == "clusters.postgresql.cnpg.io" for o in result.objects)
    assert result.errors == []


def test_envoy_gateway_syncs_over_kubesprays_gateway_api(synced: argocd_sync.Synced):
    """K3: Envoy Gateway's CRDs are too large for a client-side apply (a), and its experimental Gateway API CRDs
    are denied by the safe-upgrades policy Kubespray installs with the standard ones (b)."""
    gateway_apps = [name for name in synced.results if name.startswith("cxops-demo-gateway")]
    errors = [f"{n}: {e}" for n in gateway_apps for e in synced.results[n].errors + synced.results[n].refused]
    assert errors == []
    channels = set()
    for name in gateway_apps:
        for obj in synced.results[name].objects:
            if obj["kind"] == "CustomResourceDefinition" and obj["spec"]["group"] == "gateway.networking.k8s.io":
                channels.add(obj["metadata"]["annotations"].get("gateway.networking.k8s.io/channel"))
    assert channels == set(), f"Gateway API CRDs have one owner, Kubespray; the gateway apps bring {channels}"


@pytest.mark.parametrize("app", _app_names())
def test_application_syncs(synced: argocd_sync.Synced, app: str):
    result = synced.results[app]
    assert result.refused == [], "\n".join(result.refused)
    assert result.errors == [], "\n".join(result.errors)


def test_a_second_sync_changes_nothing(synced: argocd_sync.Synced, kubectl: argocd_sync.Kubectl):
    changed = {}
    for app in synced.apps:
        result = synced.results[app.name]
        if result.refused or result.errors:
            continue  # reported by test_application_syncs
        server_side = app.server_side or bool(result.crds_server_side)
        delta = argocd_sync.diff(kubectl, argocd_sync.stored(result), server_side)
        if delta:
            changed[app.name] = delta[:2000]
    assert changed == {}, "\n".join(f"{k}:\n{v}" for k, v in changed.items())


def test_charts_checked_only_in_part_are_the_known_ones(synced: argocd_sync.Synced):
    partial = {name: r.checked for name, r in synced.results.items() if r.checked != "all"}
    expected = {
        "cxops-demo-argo-workflows",
        "cxops-demo-cnpg-operator",
        "cxops-demo-mlflow",
        "cxops-demo-monitoring",
        "cxops-demo-object-store",
        "cxops-demo-registry",
    }
    assert set(partial) == expected, partial


def test_every_deployment_becomes_available_on_kwok_nodes(synced: argocd_sync.Synced, workloads, kubectl):
    """Under kube-controller-manager, kube-scheduler and kwok's fake kubelets: every Deployment the sync applied
    rolls out (selectors, templates, ServiceAccounts, scheduling constraints), bounded with a backoff."""
    deployments = [o for r in synced.results.values() for o in argocd_sync.stored(r) if o["kind"] == "Deployment"]
    assert len(deployments) >= 5  # cert-manager's three, Envoy Gateway's, the serving envs'
    deadline, delay = time.monotonic() + 240, 1.0
    while (waiting := argocd_sync.unavailable(kubectl, "Deployment", deployments)) and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 1.5, 10.0)
    pods = kubectl.run("get", "pods", "-A", "--field-selector=status.phase!=Running", "-o", "wide").stdout
    assert waiting == {}, f"not available: {waiting}\n{pods}"


def test_apps_using_another_apps_kinds_wait_for_its_crds(synced: argocd_sync.Synced):
    """I3: ArgoCD dry-runs every object of an Application before applying any; an object whose CRD another
    Application installs fails that dry run until the CRD exists (the whole app, retried 5 times, then left until
    the next commit), unless the Application sets SkipDryRunOnMissingResource=true."""
    owner = {
        (o["spec"]["group"], o["spec"]["names"]["kind"]): name
        for name, r in synced.results.items()
        for o in r.objects
        if o["kind"] == "CustomResourceDefinition"
    }
    missing = {}
    for app in synced.apps:
        foreign = {
            f"{o['kind']} (CRD from {owner[key]})"
            for o in synced.results[app.name].objects
            if owner.get(key := (argocd_sync.group_of(o), o["kind"]), app.name) != app.name
        }
        if foreign and "SkipDryRunOnMissingResource=true" not in app.sync_options:
            missing[app.name] = sorted(foreign)
    assert missing == {}
