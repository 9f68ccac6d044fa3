"""Bad input to the GitOps platform: a placeholder repository URL, an object the AppProject would refuse, a chart
version the pins do not name. `cxops k8s render --check` and `cxops cluster install` refuse each with one line
naming the value and what would be valid, exit non-zero, and write nothing (run as a user runs them)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import REPO, cli, make_project

PLACEHOLDER = "https://github.com/<your-org>/cxops.git"


def _edit(path: Path, edit) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    path.write_text(yaml.safe_dump_all([edit(d) or d for d in docs], sort_keys=False))


def _set_repo(doc: dict) -> None:
    for src in doc["spec"].get("sources") or [doc["spec"].get("source", {})]:
        if "chart" not in src and "repoURL" in src and not src["repoURL"].startswith("oci://"):
            src["repoURL"] = PLACEHOLDER


def _mutations(root: Path) -> dict[str, tuple]:
    apps = root / "k8s" / "argocd" / "apps"
    return {
        "placeholder": (apps / "workflows.yaml", _set_repo, rf"repoURL '{PLACEHOLDER}' is a placeholder"),
        "refused-namespace": (
            apps / "platform-namespaces.yaml",
            lambda d: d["spec"]["destination"].update(namespace="kube-system"),
            r"destination namespace 'kube-system' is not permitted in project 'cxops-demo'; permitted: argo, ",
        ),
        "refused-object": (
            root / "k8s" / "platform" / "workflow-rbac" / "objects.yaml",
            lambda d: d["metadata"].update(namespace="kube-system"),
            r"ServiceAccount/cxops-workflow \(cxops-demo-workflow-rbac\): namespace 'kube-system' is not permitted",
        ),
        "unpinned-chart": (
            apps / "platform-cert-manager.yaml",
            lambda d: d["spec"]["sources"][0].update(targetRevision="v1.99.0"),
            r"chart cert-manager version 'v1.99.0' is not pinned; pinned: v1\.\d+\.\d+ \(cxops k8s charts\)",
        ),
    }


def _one_line(res) -> str:
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, res.stdout + res.stderr
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("case", ["placeholder", "refused-namespace", "refused-object", "unpinned-chart"])
def test_render_check_refuses(tmp_path: Path, case: str):
    config = make_project(tmp_path)
    path, edit, message = _mutations(tmp_path)[case]
    _edit(path, edit)
    res = cli(config, "k8s", "render", "--check")
    assert res.returncode == 1

    assert re.search(message, " ".join(_one_line(res).split())), res.stdout + res.stderr


def test_render_refuses_a_placeholder_remote_and_writes_nothing(tmp_path: Path):
    config = make_project(tmp_path, {"gitops": {"remote": "git@example.com:owner/cxops.git"}})
    before = {p: p.read_bytes() for p in (tmp_path / "k8s").rglob("*") if p.is_file()}
    res = cli(config, "k8s", "render")
    assert res.returncode == 1
    assert "'git@example.com:owner/cxops.git' (gitops.remote, else workflows.repo_url) is a placeholder" in " ".join(
        _one_line(res).split()
    )
    assert {p: p.read_bytes() for p in (tmp_path / "k8s").rglob("*") if p.is_file()} == before


def _inventory(root: Path) -> Path:
    inv = root / "inventory"
    inv.mkdir()
    hosts = {"node1": {"ansible_host": "node1", "ip": "192.168.1.11", "access_ip": "192.168.1.11"}}
    groups = {g: {"hosts": {"node1": None}} for g in ("kube_control_plane", "etcd", "kube_node")}
    groups["k8s_cluster"] = {"children": {"kube_control_plane": None, "kube_node": None}}
    data = {"all": {"hosts": hosts, "vars": {"ansible_user": "cc"}, "children": groups}}
    (inv / "hosts.yaml").write_text(yaml.safe_dump(data))
    (inv / "ssh_config").write_text("Host node1\n  HostName 192.0.2.11\n")
    return inv


@pytest.mark.parametrize("case", ["placeholder", "refused-object", "unpinned-chart"])
def test_cluster_install_refuses_before_ansible_starts(tmp_path: Path, case: str):
    config = make_project(tmp_path)
    shutil.copytree(REPO / "ansible", tmp_path / "ansible", ignore=shutil.ignore_patterns("kubespray", "cxops"))
    path, edit, message = _mutations(tmp_path)[case]
    _edit(path, edit)
    res = cli(config, "cluster", "install", "--stage", "bootstrap", "--inventory", str(_inventory(tmp_path)))
    assert res.returncode == 1

    assert re.search(message, " ".join(_one_line(res).split())), res.stdout + res.stderr
    assert not (tmp_path / "inventory" / "group_vars").exists()  # nothing written: the vars come after preflight


def test_what_is_and_is_not_a_placeholder_url():
    """A repository on the repo-server's own disk is real (the real ArgoCD test reads one); a URL with no host or an
    example host is a placeholder."""
    from cxops.k8s.committed import placeholder

    assert not placeholder("file:///srv/git/cxops-gitops.git")
    assert not placeholder("git@gitlab.com:ml-team/cxops-gitops.git")
    assert placeholder("https://git.example.org/ml-team/cxops-gitops.git")
    assert placeholder("file://")
    assert placeholder("cxops-gitops.git")
