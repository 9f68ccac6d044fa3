"""K9 on a real Kubernetes v1.35.4 API server: the GPU platform apps sync as ArgoCD syncs them (the RuntimeClass
`nvidia` from our tree, NVIDIA's device plugin chart 0.19.1 from github.com/NVIDIA/k8s-device-plugin@v0.19.1, whole),
the API server admits the RuntimeClass and applies its scheduling to a pod that asks for it, and under
kube-controller-manager, kube-scheduler and kwok the device plugin's DaemonSet runs on a node labelled as the
inventory labels the gpu group and on no other node. kwok's fake node stands in for a GPU node's kubelet (no GPU,
driver or container runs here; the device plugin advertising `nvidia.com/gpu` needs a real GPU node).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from helpers import REPO
from k8s_api import argocd_sync
from k8s_api.controlplane import KWOK_ANNOTATION

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

RUNTIME_APP, PLUGIN_APP = "cxops-demo-gpu-runtime", "cxops-demo-gpu-device-plugin"
GPU_NODE = "kwok-gpu1"


def _gpu_labels() -> dict[str, str]:
    path = REPO / "ansible" / "inventory" / "cxops" / "group_vars" / "gpu" / "node-labels.yml"
    return yaml.safe_load(path.read_text())["node_labels"]


def _plugin_daemonset(synced: argocd_sync.Synced) -> dict[str, Any]:
    [ds] = [
        o
        for o in synced.results[PLUGIN_APP].objects
        if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "nvidia-device-plugin"
    ]
    return ds


def test_gpu_apps_sync_whole_and_the_runtime_class_is_admitted(synced: argocd_sync.Synced, kubectl):
    for app in (RUNTIME_APP, PLUGIN_APP):
        result = synced.results[app]
        assert result.refused == [] and result.errors == [], result.refused + result.errors
        assert result.checked == "all", f"{app}: {result.checked}"
    got = kubectl.run("get", "runtimeclass", "nvidia", "-o", "json")
    assert got.returncode == 0, got.stderr
    live = json.loads(got.stdout)
    assert live["handler"] == "nvidia" and live["scheduling"]["nodeSelector"] == _gpu_labels()
    pod = _plugin_daemonset(synced)["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia" and pod["nodeSelector"] == _gpu_labels()


def test_a_pod_asking_for_the_nvidia_runtime_is_sent_to_gpu_nodes(synced: argocd_sync.Synced, workloads, kubectl):
    """The RuntimeClass admission plugin merges the class's nodeSelector into the pod (server-side dry run)."""
    namespace = synced.results[PLUGIN_APP].objects[0]["metadata"]["namespace"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gpu-probe", "namespace": namespace},
        "spec": {
            "runtimeClassName": "nvidia",
            "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": {}}],
        },
    }
    out = kubectl.run("create", "--dry-run=server", "-o", "json", "-f", "-", stdin=json.dumps(pod))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["spec"]["nodeSelector"] == _gpu_labels()


def _daemonset_status(kubectl, namespace: str) -> dict[str, Any]:
    got = kubectl.run("get", "daemonset", "nvidia-device-plugin", "-n", namespace, "-o", "json")
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout).get("status", {})


def test_the_device_plugin_runs_on_gpu_nodes_only(synced: argocd_sync.Synced, workloads, kubectl):
    """A fake node labelled as the gpu group is gets exactly one device-plugin pod; kwok's two plain nodes none.
    Bounded wait with backoff; the GPU node is removed afterwards (the other tests count on two plain nodes)."""
    namespace = _plugin_daemonset(synced)["metadata"]["namespace"]
    before = _daemonset_status(kubectl, namespace)
    assert before.get("desiredNumberScheduled", 0) == 0, before  # kwok-node1/2 carry no GPU label
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": GPU_NODE,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {"kubernetes.io/hostname": GPU_NODE, "kubernetes.io/os": "linux", **_gpu_labels()},
        },
    }
    created = kubectl.run("apply", "-f", "-", stdin=json.dumps(node))
    assert created.returncode == 0, created.stderr
    try:
        deadline, delay, status = time.monotonic() + 120, 1.0, before
        while time.monotonic() < deadline:
            status = _daemonset_status(kubectl, namespace)
            if status.get("desiredNumberScheduled") == 1 and status.get("numberAvailable") == 1:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 10.0)
        assert status.get("desiredNumberScheduled") == 1 and status.get("numberAvailable") == 1, status
        pods = kubectl.run(
            "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/name=nvidia-device-plugin", "-o", "json"
        )
        assert pods.returncode == 0, pods.stderr
        placed = {p["spec"].get("nodeName") for p in json.loads(pods.stdout)["items"]}
        assert placed == {GPU_NODE}, placed
    finally:
        kubectl.run("delete", "node", GPU_NODE, "--wait=false")
