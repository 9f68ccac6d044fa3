"""The session's Kubernetes API server (etcd + kube-apiserver v1.35.4 on loopback) and one ArgoCD-style sync of
everything the app-of-apps syncs into it. A start failure fails the tests that need it (never a skip)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from k8s_api import argocd_sync, upstream
from k8s_api.controlplane import ControlPlane, go_tools

from tests.stages import timed


@pytest.fixture(scope="session")
def tools() -> Mapping[str, Path]:
    """The binaries scripts/install-go-tools built (name → path)."""
    return go_tools()


@pytest.fixture(scope="session")
def control_plane(tools: Mapping[str, Path]) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver, ready; stopped by PID after the session."""
    root = Path(tempfile.mkdtemp(prefix="cxops-apiserver-"))
    plane = ControlPlane(root, tools)
    try:
        with timed("api-server start (etcd + kube-apiserver)"):
            plane.start()
        yield plane
    finally:
        plane.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane, tools: Mapping[str, Path]) -> argocd_sync.Kubectl:
    """kubectl v1.35.4 with the admin kubeconfig of the session's API server (and kustomize beside it)."""
    return argocd_sync.Kubectl(tools["kubectl"], control_plane.kubeconfig, tools["kustomize"])


@pytest.fixture(scope="session")
def synced(kubectl: argocd_sync.Kubectl, tools: Mapping[str, Path]) -> Iterator[argocd_sync.Synced]:
    """Kubespray's Gateway API v1.5.1 standard install (CRDs + safe-upgrades policy) and local-path StorageClass,
    ArgoCD's CRDs (v3.4.4), the root app's render, then every Application in wave order (argocd_sync)."""
    errors = argocd_sync.apply(kubectl, [*upstream.gateway_api_standard(), upstream.local_path_storage_class()], False)
    argo_crds = upstream.crd_files(upstream.ARGO_CD, "manifests/crds")
    errors += argocd_sync.apply(kubectl, argo_crds, server_side=True)  # the argo-cd chart installs them
    errors += argocd_sync.wait_established(kubectl, [c["metadata"]["name"] for c in argo_crds])
    created = kubectl.run("create", "namespace", "argocd")
    errors += [created.stderr] if created.returncode else []
    root_objs, project, apps = argocd_sync.applications(kubectl)
    errors += argocd_sync.apply(kubectl, root_objs, server_side=False)  # the install applies the root app
    work = Path(tempfile.mkdtemp(prefix="cxops-charts-"))
    results = {}
    try:
        for app in apps:
            rendered = argocd_sync.render(kubectl, tools["helm-argocd"], app, work)
            results[app.name] = argocd_sync.sync(kubectl, project, app, rendered)
        yield argocd_sync.Synced([e for e in errors if e.strip()], project, apps, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def workloads(control_plane: ControlPlane, synced: argocd_sync.Synced) -> ControlPlane:
    """After the sync: kube-controller-manager, kube-scheduler and kwok with two fake nodes (pods "run" there)."""
    with timed("api-server workloads (controller-manager, scheduler, kwok)"):
        control_plane.start_workloads()
    return control_plane
