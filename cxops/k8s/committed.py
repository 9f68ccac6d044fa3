"""Checks on the committed app-of-apps (k8s/argocd/, k8s/platform/) for what ArgoCD would only refuse later, on the
cluster: a placeholder repository URL, an object the AppProject refuses, a chart version the pins do not name.

`cxops k8s render --check` and `cxops cluster install` (bootstrap) run them on the files in git, which is what
ArgoCD reads; each failure is one CxopsError line naming the bad value and what would be valid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from cxops.errors import CxopsError
from cxops.k8s.argocd_apps import CLUSTER_KINDS
from cxops.k8s.charts import CHARTS

# RFC 2606 / RFC 6761 names reserved for examples, and the marks people leave in a URL they mean to fill in
PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net")
PLACEHOLDER_SUFFIXES = (".example", ".invalid", ".test", ".localhost")
PLACEHOLDER_MARKS = re.compile(r"[<>{}]|change-?me|your[-_]|replace[-_]?me|\bTODO\b|xxx", re.IGNORECASE)
# Cluster-scoped kinds of Kubernetes itself (group, kind): an object of another kind is namespaced, and ArgoCD
# puts it in the Application's destination namespace when it names none
BUILTIN_CLUSTER_KINDS = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("node.k8s.io", "RuntimeClass"),
        ("apiregistration.k8s.io", "APIService"),
        ("networking.k8s.io", "IngressClass"),
    }
)


def _host(url: str) -> str:
    """The host of an https://, ssh:// or scp-like (git@host:path) git URL ('' when there is none)."""
    if "://" in url:
        return (urlsplit(url).hostname or "").lower()
    if "@" in url and ":" in url:
        return url.split("@", 1)[1].split(":", 1)[0].lower()
    return ""


def placeholder(url: str) -> bool:
    """True when `url` is a placeholder: a reserved example host, or a mark such as `<your-org>` or CHANGEME."""
    if url.startswith("file:///"):
        return False  # a repository on the repo-server's own disk (a single-machine or test setup): real, not a mark
    host = _host(url)
    if not host:
        return True
    reserved = host in PLACEHOLDER_HOSTS or host.endswith(tuple("." + h for h in PLACEHOLDER_HOSTS))
    return reserved or host.endswith(PLACEHOLDER_SUFFIXES) or bool(PLACEHOLDER_MARKS.search(url))


def _docs(path: Path) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as exc:
        raise CxopsError(f"{path}: not readable YAML ({exc}); run `cxops k8s render`") from None


def _group(obj: dict[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


def _applications(root: Path) -> tuple[dict[str, Any], list[tuple[Path, dict[str, Any]]]]:
    """The AppProject and every Application (with its file) under k8s/argocd/."""
    project, apps = None, []
    for path in sorted((root / "k8s" / "argocd").rglob("*.yaml")):
        for doc in _docs(path):
            if doc.get("kind") == "AppProject" and isinstance(doc.get("spec"), dict):
                project = doc
            elif doc.get("kind") in ("Application", "ApplicationSet") and isinstance(doc.get("spec"), dict):
                apps.append((path, doc))  # a malformed one is the drift check's to report
    if project is None:
        raise CxopsError(f"no AppProject under {root / 'k8s' / 'argocd'}: run `cxops k8s render`")
    return project, apps


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app["spec"].get("template", {}).get("spec", app["spec"])  # an ApplicationSet's template
    return list(spec.get("sources") or [spec.get("source", {})])


def check_repositories(root: Path) -> None:
    """Every git source ArgoCD would fetch is the operator's own repository: not a placeholder, not the cxops
    project's upstream. Raises CxopsError naming the URL and the fix."""
    from cxops.cluster_config import is_upstream

    _, apps = _applications(root)
    for path, app in apps:
        for src in _sources(app):
            url = str(src.get("repoURL", ""))
            if "chart" in src or url.startswith("oci://"):
                continue
            if placeholder(url):
                what = "is a placeholder"
            elif is_upstream(url):
                what = "is the cxops project's own repository, not yours"
            else:
                continue
            raise CxopsError(
                f"{path.relative_to(root)}: repoURL {url!r} {what}; set workflows.gitops_remote in cxops.yaml to "
                "your GitOps repository's URL (https://host/owner/repo.git or git@host:owner/repo.git) and run "
                "`cxops k8s render`"
            )


def check_charts(root: Path) -> None:
    """Every chart source names a chart and version the pins (cxops.k8s.charts.CHARTS) name. Raises CxopsError."""
    pinned = {(c.chart, c.version) for c in CHARTS.values()}
    versions: dict[str, list[str]] = {}
    for c in CHARTS.values():
        versions.setdefault(c.chart, []).append(c.version)
    _, apps = _applications(root)
    for path, app in apps:
        for src in _sources(app):
            if "chart" not in src and not str(src.get("repoURL", "")).startswith("oci://"):
                continue
            chart = src.get("chart") or str(src["repoURL"]).rstrip("/").rpartition("/")[2]
            version = str(src.get("targetRevision", ""))
            if (chart, version) not in pinned:
                valid = ", ".join(versions.get(chart, [])) or "none (not a pinned chart)"
                raise CxopsError(
                    f"{path.relative_to(root)}: chart {chart} version {version!r} is not pinned; pinned: {valid} "
                    "(cxops k8s charts)"
                )


def _objects(root: Path, app: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of an Application's own tree in this repository (kustomize resources or a plain directory)."""
    out = []
    for src in _sources(app):
        if "path" not in src or "chart" in src or str(src.get("repoURL", "")).startswith("oci://"):
            continue
        tree = root / src["path"]
        if "{{" in str(src["path"]) or not tree.is_dir():
            continue
        kustomization = tree / "kustomization.yaml"
        files = (
            [tree / r for r in (_docs(kustomization)[0].get("resources") or []) if (tree / r).is_file()]
            if kustomization.is_file()
            else sorted(tree.glob("*.yaml"))
        )
        out += [d for f in files for d in _docs(f) if "kind" in d]
    return out


def check_project(root: Path) -> None:
    """Every Application's destination, and every object of our own trees, is one the AppProject permits (its
    destinations' namespaces; cluster-scoped kinds only from clusterResourceWhitelist), as ArgoCD's permission
    check decides. Raises CxopsError naming the object, the namespace or kind, and what the project allows."""
    project, apps = _applications(root)
    name = project["metadata"]["name"]
    allowed = {d.get("namespace") for d in project["spec"].get("destinations", [])}
    whitelist = {(w["group"], w["kind"]) for w in project["spec"].get("clusterResourceWhitelist", [])}
    cluster_kinds = BUILTIN_CLUSTER_KINDS | set(CLUSTER_KINDS)
    permitted = ", ".join(sorted(str(n) for n in allowed))
    for path, app in apps:
        dest = app["spec"].get("template", {}).get("spec", app["spec"]).get("destination", {}).get("namespace")
        if "{{" not in str(dest) and dest not in allowed and "*" not in allowed:
            raise CxopsError(
                f"{path.relative_to(root)}: destination namespace {dest!r} is not permitted in project '{name}'; "
                f"permitted: {permitted}"
            )
        app_name = app.get("metadata", {}).get("name")
        for obj in _objects(root, app):
            kind = (_group(obj), obj["kind"])
            ident = f"{obj['kind']}/{obj.get('metadata', {}).get('name')}"
            if kind in cluster_kinds:
                if kind not in whitelist:
                    raise CxopsError(
                        f"{ident} ({app_name}): cluster resource {kind[0] or 'core'}/{kind[1]} is "
                        f"not permitted in project '{name}'; add it to the project's clusterResourceWhitelist"
                    )
                continue
            ns = obj.get("metadata", {}).get("namespace", dest)
            if ns not in allowed and "*" not in allowed:
                raise CxopsError(
                    f"{ident} ({app_name}): namespace {ns!r} is not permitted in project '{name}'; "
                    f"permitted: {permitted}"
                )


def check(root: Path) -> None:
    """All three checks on the committed tree under `root`; the first failure raises CxopsError (one line). The
    repository comes last: the project's own tree names a placeholder until the operator renders it with theirs."""
    check_charts(root)
    check_project(root)
    check_repositories(root)
