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
UPSTREAM = "https://github.com/cxops/cxops.git"  # the project's own repository (workflows.repo_url's default)
OPERATOR = "git@git.ml-team.internal:ml-team/gitops.git"  # the operator's repository (.internal: private use)


def _project(root: Path, overrides: dict | None = None) -> Path:
    """A project rendered for the operator's repository (`cxops k8s render`, as docs/cluster.md step 4)."""
    config = make_project(root, {"workflows": {"gitops_remote": OPERATOR}, **(overrides or {})})
    res = cli(config, "k8s", "render")
    assert res.returncode == 0, res.stdout + res.stderr
    return config


def _edit(path: Path, edit) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    path.write_text(yaml.safe_dump_all([edit(d) or d for d in docs], sort_keys=False))


def _set_repo(doc: dict, url: str = PLACEHOLDER) -> None:
    for src in doc["spec"].get("sources") or [doc["spec"].get("source", {})]:
        if "chart" not in src and "repoURL" in src and not src["repoURL"].startswith("oci://"):
            src["repoURL"] = url


def _mutations(root: Path) -> dict[str, tuple]:
    apps = root / "k8s" / "argocd" / "apps"
    return {
        "placeholder": (apps / "workflows.yaml", _set_repo, rf"repoURL '{PLACEHOLDER}' is a placeholder"),
        "upstream": (
            apps / "workflows.yaml",
            lambda d: _set_repo(d, UPSTREAM),
            rf"repoURL '{UPSTREAM}' is the cxops project's own repository, not yours; set workflows.gitops_remote",
        ),
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


@pytest.mark.parametrize("case", ["placeholder", "upstream", "refused-namespace", "refused-object", "unpinned-chart"])
def test_render_check_refuses(tmp_path: Path, case: str):
    config = _project(tmp_path)
    path, edit, message = _mutations(tmp_path)[case]
    _edit(path, edit)
    res = cli(config, "k8s", "render", "--check")
    assert res.returncode == 1

    assert re.search(message, " ".join(_one_line(res).split())), res.stdout + res.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"workflows": {"gitops_remote": None}, "gitops": {"remote": None}},
            "no GitOps repository for ArgoCD to follow: set workflows.gitops_remote in cxops.yaml to your "
            "repository's URL",
        ),
        (
            {"workflows": {"gitops_remote": UPSTREAM}},
            f"workflows.gitops_remote '{UPSTREAM}' is the cxops project's own repository, not yours; set your fork's "
            "URL",
        ),
        (
            {"workflows": {"gitops_remote": None}, "gitops": {"remote": "/srv/git/gitops.git"}},
            "gitops.remote '/srv/git/gitops.git' is a local path, which ArgoCD cannot read",
        ),
    ],
    ids=["none", "upstream", "local-path"],
)
def test_render_refuses_without_an_operator_repository_and_writes_nothing(
    tmp_path: Path, overrides: dict, message: str
):
    """ArgoCD follows the repository the steps push to; without one of the operator's, nothing is rendered."""
    config = make_project(tmp_path, overrides)
    before = {p: p.read_bytes() for p in (tmp_path / "k8s").rglob("*") if p.is_file()}
    res = cli(config, "k8s", "render")
    assert res.returncode == 1
    assert message in " ".join(_one_line(res).split())
    assert {p: p.read_bytes() for p in (tmp_path / "k8s").rglob("*") if p.is_file()} == before


def test_render_points_every_git_source_at_the_remote_the_steps_push_to(tmp_path: Path):
    """One source of truth: the AppProject's and every Application's git repository is workflows.gitops_remote,
    not workflows.repo_url (the tools image's source, default the cxops project's own repository)."""
    _project(tmp_path)
    urls = set()
    for path in (tmp_path / "k8s" / "argocd").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in ("Application", "ApplicationSet"):
                spec = doc["spec"].get("template", {}).get("spec", doc["spec"])
                sources = spec.get("sources") or [spec["source"]]
                urls |= {s["repoURL"] for s in sources if "chart" not in s and not s["repoURL"].startswith("oci:")}
            elif doc and doc.get("kind") == "AppProject":
                assert OPERATOR in doc["spec"]["sourceRepos"] and UPSTREAM not in doc["spec"]["sourceRepos"]
    assert urls == {OPERATOR}


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


@pytest.mark.parametrize("case", ["placeholder", "upstream", "refused-object", "unpinned-chart"])
def test_cluster_install_refuses_before_ansible_starts(tmp_path: Path, case: str):
    config = _project(tmp_path)
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


def _install(config: Path, root: Path):
    shutil.copytree(REPO / "ansible", root / "ansible", ignore=shutil.ignore_patterns("kubespray", "cxops"))
    return cli(config, "cluster", "install", "--stage", "bootstrap", "--inventory", str(_inventory(root)))


def test_cluster_install_refuses_the_projects_own_unrendered_tree(tmp_path: Path):
    """The project's committed k8s/argocd names cxops.yaml's placeholder repository: refused until rendered for
    the operator's."""
    config = make_project(tmp_path)
    res = _install(config, tmp_path)
    assert res.returncode == 1
    assert re.search(
        r"repoURL 'git@git\.example\.org:[^']+' is a placeholder; set workflows.gitops_remote", _one_line(res)
    )
    assert not (tmp_path / "inventory" / "group_vars").exists()


@pytest.mark.parametrize(
    ("remote", "content", "message"),
    [
        (OPERATOR, None, f"workflows.gitops_credentials_file is unset but ArgoCD follows the SSH URL '{OPERATOR}'"),
        (OPERATOR, "username=bot\npassword=secret-token\n", "holds no SSH private key, which the SSH URL"),
        (
            "https://git.ml-team.internal/ml-team/gitops.git",
            "username=bot\n",
            "lacks a line username=<user> or password=<token>, which the HTTPS URL",
        ),
    ],
    ids=["ssh-no-file", "ssh-no-key", "https-no-token"],
)
def test_cluster_install_refuses_a_repository_credential_that_cannot_work(
    tmp_path: Path, remote: str, content: str | None, message: str
):
    """ArgoCD's repository Secret is made from workflows.gitops_credentials_file: one that could not work is
    refused before Ansible starts, naming the file, never its content."""
    overrides: dict = {"workflows": {"gitops_remote": remote}}
    if content is not None:
        (tmp_path / "repo-credential").write_text(content)
        overrides["workflows"]["gitops_credentials_file"] = "repo-credential"
    config = _project(tmp_path, overrides)
    res = _install(config, tmp_path)
    assert res.returncode == 1
    line = _one_line(res)
    assert message in line and "secret-token" not in line
    assert not (tmp_path / "inventory" / "group_vars").exists()
