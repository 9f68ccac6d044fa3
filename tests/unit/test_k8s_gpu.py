"""K9: GPU nodes are usable. containerd on the gpu group's nodes has an `nvidia` runtime; the platform must bring the
RuntimeClass that selects it and NVIDIA's device plugin (which advertises `nvidia.com/gpu`), both only on the nodes
the inventory labels as GPU nodes, and the AppProject must let ArgoCD sync them.

Reads the committed files (what ArgoCD syncs and what Ansible applies), not the code that renders them; the same
objects are synced into a real API server by tests/k8s_api/test_argocd_sync.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from helpers import REPO

APPS = REPO / "k8s" / "argocd" / "apps"
GPU_VARS = REPO / "ansible" / "inventory" / "cxops" / "group_vars" / "gpu"
EXACT = re.compile(r"^v?\d+\.\d+\.\d+$")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _apps() -> list[dict[str, Any]]:
    return [d for p in sorted(APPS.glob("*.yaml")) for d in _docs(p) if d.get("kind") == "Application"]


def _gpu_labels() -> dict[str, str]:
    """Every label Kubespray puts on the gpu group's nodes (group_vars/gpu, `node_labels`)."""
    labels: dict[str, str] = {}
    for path in sorted(GPU_VARS.glob("*.yml")):
        labels |= (yaml.safe_load(path.read_text()) or {}).get("node_labels", {})
    return labels


def _runtime_handlers() -> set[str]:
    runtimes = yaml.safe_load((GPU_VARS / "containerd.yml").read_text())["containerd_additional_runtimes"]
    return {r["name"] for r in runtimes}


def _synced_objects() -> dict[str, list[dict[str, Any]]]:
    """Application name → the objects of its own tree (k8s/platform/<dir>/objects.yaml) for git-sourced apps."""
    out = {}
    for app in _apps():
        src = app["spec"].get("source", {})
        objects = REPO / src.get("path", "-") / "objects.yaml"
        if objects.is_file():
            out[app["metadata"]["name"]] = _docs(objects)
    return out


def _wave(app: dict[str, Any]) -> int:
    return int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def _runtime_class() -> tuple[str, dict[str, Any]]:
    found = [
        (name, o)
        for name, objs in _synced_objects().items()
        for o in objs
        if o["kind"] == "RuntimeClass" and o["metadata"]["name"] == "nvidia"
    ]
    assert len(found) == 1, f"one RuntimeClass nvidia synced by the app-of-apps, found {len(found)}"
    return found[0]


def _device_plugin_app() -> dict[str, Any]:
    found = [
        a
        for a in _apps()
        for s in a["spec"].get("sources", [])
        if s.get("chart") == "nvidia-device-plugin" or s.get("repoURL", "").endswith("/nvidia-device-plugin")
    ]
    assert len(found) == 1, f"one Application of NVIDIA's device plugin chart, found {len(found)}"
    return found[0]


def test_the_gpu_group_carries_a_node_label():
    assert _gpu_labels(), "group_vars/gpu sets no node_labels: nothing can select the GPU nodes"


def test_runtime_class_selects_containerds_nvidia_runtime_on_gpu_nodes_only():
    _, rc = _runtime_class()
    assert rc["apiVersion"] == "node.k8s.io/v1"
    assert rc["handler"] in _runtime_handlers()
    selector = rc.get("scheduling", {}).get("nodeSelector", {})
    assert selector and selector.items() <= _gpu_labels().items(), selector


def test_device_plugin_chart_is_pinned_and_runs_on_gpu_nodes_with_the_nvidia_runtime():
    app = _device_plugin_app()
    chart_src, values_src = app["spec"]["sources"]
    assert EXACT.match(chart_src["targetRevision"]), chart_src["targetRevision"]
    assert values_src["ref"] == "values"
    [values_file] = chart_src["helm"]["valueFiles"]
    values = yaml.safe_load((REPO / values_file.removeprefix("$values/")).read_text())
    selector = values.get("nodeSelector", {})
    assert selector and selector.items() <= _gpu_labels().items(), selector
    _, rc = _runtime_class()
    assert values["runtimeClassName"] == rc["metadata"]["name"]
    limits = values["resources"]["limits"]
    assert {"cpu", "memory"} <= set(limits) and "nvidia.com/gpu" not in limits  # the plugin itself needs no GPU


def test_device_plugin_syncs_after_the_runtime_class_it_runs_with():
    """The RuntimeClass admission plugin refuses a pod naming a RuntimeClass that does not exist yet."""
    rc_app, _ = _runtime_class()
    by_name = {a["metadata"]["name"]: a for a in _apps()}
    assert _wave(_device_plugin_app()) > _wave(by_name[rc_app])


def test_app_project_allows_the_runtime_class_and_the_chart_repository():
    [project] = [d for d in _docs(REPO / "k8s" / "argocd" / "root-application.yaml") if d["kind"] == "AppProject"]
    whitelist = {(w["group"], w["kind"]) for w in project["spec"]["clusterResourceWhitelist"]}
    assert ("node.k8s.io", "RuntimeClass") in whitelist
    chart_src = _device_plugin_app()["spec"]["sources"][0]
    assert chart_src["repoURL"] in project["spec"]["sourceRepos"]
    destinations = {d["namespace"] for d in project["spec"]["destinations"]}
    assert _device_plugin_app()["spec"]["destination"]["namespace"] in destinations
