"""GPU nodes made usable: the `nvidia` RuntimeClass and our values for NVIDIA's device plugin chart.

containerd on the gpu group's nodes has an extra runtime `nvidia` (ansible/inventory/cxops/group_vars/gpu/
containerd.yml); a pod selects it with `runtimeClassName: nvidia`, which needs a RuntimeClass of that name. The device
plugin advertises each node's GPUs as the extended resource `nvidia.com/gpu`, so pods can request them.

Both are placed only on nodes labelled names.GPU_NODE_LABEL=true, the label the inventory gives the gpu group
(group_vars/gpu/node-labels.yml). Fields: `node.k8s.io/v1` RuntimeClass (`handler`, `scheduling.nodeSelector`);
values keys from nvidia-device-plugin 0.19.1's values.yaml (`nodeSelector`, `runtimeClassName`, `resources`,
`gfd.enabled`; NFD stays off because the inventory labels the nodes).
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import Config
from cxops.k8s.values import resources

DEVICE_PLUGIN_RELEASE = "nvidia-device-plugin"
GPU_RESOURCE = "nvidia.com/gpu"  # the extended resource the device plugin advertises


def node_selector() -> dict[str, str]:
    """The node selector of everything GPU-specific: the gpu group's node label."""
    return {names.GPU_NODE_LABEL: "true"}


def runtime_class(cfg: Config) -> dict[str, Any]:
    """RuntimeClass `nvidia` → containerd's `nvidia` handler; pods using it are scheduled onto GPU nodes only (the
    other nodes' containerd has no such handler, so a pod there could never start)."""
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": names.GPU_RUNTIME_CLASS, "labels": {"app.kubernetes.io/part-of": "cxops"}},
        "handler": names.GPU_RUNTIME_CLASS,
        "scheduling": {"nodeSelector": node_selector()},
    }


def device_plugin_values(cfg: Config) -> dict[str, Any]:
    """nvidia-device-plugin chart values: the DaemonSet only on GPU nodes, run with the `nvidia` runtime (containerd's
    default runtime is runc, which does not give the plugin the driver's NVML library), bounded resources, no GPU
    feature discovery and no NFD (their labels are not needed: the inventory labels the nodes)."""
    return {
        "nodeSelector": node_selector(),
        "runtimeClassName": names.GPU_RUNTIME_CLASS,
        "resources": resources("10m", "32Mi", cpu_limit="100m", memory_limit="128Mi"),
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
    }
