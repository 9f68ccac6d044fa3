"""Upstream manifests and charts at the versions the project pins, taken from their Go modules.

The Go module proxy serves a module's whole source tree as a zip (`go mod download -json MODULE@VERSION` → `Dir`),
so charts and CRDs that live in a Go repository arrive at exactly the pinned tag. They are read-only in the module
cache; charts are copied to a temporary directory and given the version their release tooling would stamp
(Chart.yaml `version`/`appVersion`, Envoy Gateway's values template), nothing else changed.

Charts published only to Helm repositories (argo-helm, cloudnative-pg/charts, kube-prometheus-stack, MLflow,
docker-registry, SeaweedFS) cannot be had this way; for those the CRDs the rest of the platform needs come from the
operator's own module where the proxy serves it (NOT_FROM_MODULES says what is and is not checked).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

GATEWAY_API = ("sigs.k8s.io/gateway-api", "v1.5.1")  # Kubespray v2.31.0's gateway_api_version
CERT_MANAGER = ("github.com/cert-manager/cert-manager", "v1.21.1")
ENVOY_GATEWAY = ("github.com/envoyproxy/gateway", "v1.9.0")
NVIDIA_DEVICE_PLUGIN = ("github.com/NVIDIA/k8s-device-plugin", "v0.19.1")  # chart nvidia-device-plugin 0.19.1
CLOUDNATIVE_PG = ("github.com/cloudnative-pg/cloudnative-pg", "v1.30.0")  # chart 0.29.0's appVersion
ARGO_CD = ("github.com/argoproj/argo-cd/v3", "v3.4.4")  # argo-cd chart 10.1.1's appVersion
PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.93.1")  # kube-prometheus-stack 88.5.3
# argo-workflows chart 1.0.18 = v4.0.6, which the proxy refuses; v4.0.5 is the nearest it serves (same CRD schema
# version line; the chart installs these full CRDs with a server-side-apply hook Job)
ARGO_WORKFLOWS = ("github.com/argoproj/argo-workflows/v4", "v4.0.5")

# chart name → what is checked instead of the whole chart, and why (docs/platform.md carries the same table)
NOT_FROM_MODULES = {
    "cloudnative-pg": "CRDs only: cloudnative-pg v1.30.0 config/crd (the chart is only in cloudnative-pg/charts)",
    "kube-prometheus-stack": "CRDs only: prometheus-operator v0.93.1 example/prometheus-operator-crd",
    "argo-workflows": "CRDs only: argo-workflows v4.0.5 manifests/base/crds/full (the proxy refuses v4.0.6: 403)",
    "mlflow": "not checked: the chart is only in community-charts",
    "docker-registry": "not checked: the chart is only in twuni's Helm repository",
    "seaweedfs": "not checked: SeaweedFS tags are not Go module versions",
}


class _Loader(yaml.CSafeLoader):
    """PyYAML's safe loader without YAML 1.1's `=` "value" tag (CRD enums contain a bare `=`). libyaml's parser (the
    same documents as the pure-Python one, about 5 times faster): the CRDs read here are about 20 MB."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:value"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_all(text: str) -> list[dict]:
    """The non-empty YAML documents of a stream."""
    return [d for d in yaml.load_all(text, Loader=_Loader) if d]


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """The unpacked module (read-only) from the Go module cache, downloading it through $GOPROXY if needed."""
    res = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=_go_env(),
    )
    info = json.loads(res.stdout or "{}")
    assert res.returncode == 0 and "Dir" in info, f"go mod download {module}@{version}: {info.get('Error', res.stderr)}"
    return Path(info["Dir"])


def _copy_chart(src: Path, dest: Path, version: str) -> Path:
    shutil.copytree(src, dest)
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # module cache files are read-only
    chart = yaml.safe_load((dest / "Chart.yaml").read_text())
    chart["version"], chart["appVersion"] = version, version
    (dest / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
    return dest


def cert_manager_chart(work: Path) -> Path:
    """cert-manager's chart at v1.21.1 (deploy/charts/cert-manager; its release stamps the tag as version)."""
    src = module_dir(*CERT_MANAGER) / "deploy" / "charts" / "cert-manager"
    return _copy_chart(src, work / "cert-manager", CERT_MANAGER[1])


def envoy_gateway_chart(work: Path, name: str = "gateway-helm") -> Path:
    """Envoy Gateway's chart (`gateway-helm` or `gateway-crds-helm`) at v1.9.0, values.yaml made from the
    template as the release does (the control-plane image at the tag)."""
    version = ENVOY_GATEWAY[1]
    dest = _copy_chart(module_dir(*ENVOY_GATEWAY) / "charts" / name, work / name, version)
    template = dest / "values.tmpl.yaml"
    if template.exists():
        text = template.read_text().replace("${GatewayImage}", f"docker.io/envoyproxy/gateway:{version}")
        (dest / "values.yaml").write_text(text.replace("${GatewayImagePullPolicy}", "IfNotPresent"))
    return dest


def nvidia_device_plugin_chart(work: Path) -> Path:
    """NVIDIA's device plugin chart at v0.19.1 (deployments/helm/nvidia-device-plugin, with its node-feature-discovery
    subchart archive; published at nvidia.github.io/k8s-device-plugin as version 0.19.1, without the `v`)."""
    src = module_dir(*NVIDIA_DEVICE_PLUGIN) / "deployments" / "helm" / "nvidia-device-plugin"
    return _copy_chart(src, work / "nvidia-device-plugin", NVIDIA_DEVICE_PLUGIN[1].removeprefix("v"))


def gateway_api_standard() -> list[dict]:
    """What Kubespray v2.31.0 applies for `gateway_api_enabled: true`: the v1.5.1 standard-channel CRDs and the
    safe-upgrades ValidatingAdmissionPolicy + binding (the release's standard-install.yaml is built from
    config/crd/standard with the bundle-version annotation set to the tag)."""
    objs = []
    for path in sorted((module_dir(*GATEWAY_API) / "config" / "crd" / "standard").glob("*.yaml")):
        for doc in load_all(path.read_text()):
            if doc:
                doc.pop("status", None)  # server-owned; the generated files carry an empty one
                doc["metadata"].setdefault("annotations", {})["gateway.networking.k8s.io/bundle-version"] = GATEWAY_API[
                    1
                ]
                objs.append(doc)
    return objs


def crd_files(module: tuple[str, str], subdir: str) -> list[dict]:
    """Every CustomResourceDefinition in the module's directory (one level, *.yaml); a fresh copy on each call."""
    return copy.deepcopy(_crd_files(module, subdir))


@functools.cache
def _crd_files(module: tuple[str, str], subdir: str) -> list[dict]:
    objs = []
    for path in sorted((module_dir(*module) / subdir).glob("*.yaml")):
        for doc in load_all(path.read_text()):
            if doc.get("kind") == "CustomResourceDefinition":
                doc.pop("status", None)  # server-owned; generated files carry an empty one
                objs.append(doc)
    return objs


def local_path_storage_class() -> dict:
    """Kubespray's local_path_provisioner StorageClass (`local-path`, the default class in the inventory)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
