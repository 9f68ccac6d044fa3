"""The install's own cluster steps (`cxops cluster install --stage bootstrap`: the gitops_bootstrap role's kubectl and
helm tasks) against a real Kubernetes API server, over real SSH, run twice.

Real: `cxops cluster install` over SSH through the jump host to a Debian host in a network namespace
(tests/cluster/hostlab.py), the role's tasks with Kubespray's kubectl v1.35.4 and helm v3.18.4 on that host (where
Kubespray puts them, bin_dir) and an admin kubeconfig at Kubespray's path, talking to etcd + kube-apiserver v1.35.4
that the host reaches on an address the hosts share (tests/cluster/apiserver_lab.py); kube-controller-manager,
kube-scheduler and kwok, so the chart's Deployments and StatefulSet roll out for `helm --wait`.

Stand-ins, and why: the argo-cd chart (only in argo-helm's repository, unreachable here) is ArgoCD v3.4.4's own
install manifests packaged under the chart's name and version, served as a Helm repository on the shared address
(apiserver_lab.py says how); kwok stands in for kubelets. Not run: the tasks tagged `needs_argocd_server` (they call
ArgoCD's API on its Service's cluster IP: needs kube-proxy, a CNI and a running argocd-server) and, as in
test_cluster_install.py, `needs_systemd` and `needs_host_kernel`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster import hostlab
from tests.cluster.apiserver_lab import CHART_NAME, CHART_VERSION, ClusterAPI
from tests.cluster.hostlab import HostLab
from tests.helpers import REPO, cli, make_project

pytestmark = pytest.mark.timeout(1800)
CACHE = hostlab.cache_dir()
SKIP = "needs_systemd,needs_host_kernel,needs_argocd_server"
REMOTE = "git@git.ml-team.internal:ml-team/gitops.git"  # a host of the private-use .internal zone: no placeholder


def _put(lab: HostLab, host: str, path: str, data: bytes, mode: str) -> None:
    """Write a root-owned file on a host through the jump host (as Kubespray leaves its binaries and kubeconfig)."""
    script = f"sudo -n sh -c 'mkdir -p {Path(path).parent} && umask 077 && cat > {path} && chmod {mode} {path}'"
    subprocess.run(["ssh", "-F", str(lab.ssh_config), host, script], input=data, check=True, timeout=300)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostLab, ClusterAPI]]:
    """One SSH host (the first control-plane node) and the API server it reaches; the node has what Kubespray
    leaves there for this role: kubectl and helm in /usr/local/bin, /etc/kubernetes/admin.conf."""
    if os.geteuid() != 0:
        pytest.fail("the SSH test hosts need root (network namespaces, overlay mounts)")
    from k8s_api.controlplane import go_tools

    tools = go_tools()
    work = tmp_path_factory.mktemp("bootstrap")
    with HostLab(work / "hosts", CACHE, nodes=("node1",)) as lab, ClusterAPI(lab, work, tools) as api:
        for name in ("kubectl", "helm"):
            _put(lab, "node1", f"/usr/local/bin/{name}", tools[name].read_bytes(), "0755")
        _put(lab, "node1", "/etc/kubernetes/admin.conf", api.plane.admin_conf().encode(), "0600")
        yield lab, api


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with the root Application rendered (`cxops k8s render`, step 4 of docs/cluster.md)."""
    root = tmp_path_factory.mktemp("project")
    # the operator's repository (SSH, as the steps push) and its deploy key, a file beside cxops.yaml (docs/cluster.md)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", str(root / "deploy_key")],
        check=True,
        timeout=60,
    )
    config = make_project(root, {"workflows": {"gitops_remote": REMOTE, "gitops_credentials_file": "deploy_key"}})
    shutil.copytree(
        REPO / "ansible",
        root / "ansible",
        ignore=shutil.ignore_patterns("kubespray", "hosts.yaml", "ssh_config", "cxops.yml"),
    )
    res = cli(config, "k8s", "render")
    assert res.returncode == 0, res.stderr
    return config


@pytest.fixture(scope="module")
def bootstrapped(cluster: tuple[HostLab, ClusterAPI], project: Path) -> dict:
    """`cxops cluster install --stage bootstrap`, twice; the recap of each run."""
    from cxops.cluster.runner import parse_recap

    lab, api = cluster
    inv = project.parent / "inventory"
    shutil.copytree(project.parent / "ansible" / "inventory" / "cxops", inv)
    # the chart's repository: argo-helm's stand-in on the shared address (a mirror, as an offline site would set)
    lab.inventory(inv, extra_vars={"gitops_bootstrap_argocd_chart_repo": api.chart_repo_url})
    runs: dict = {"inventory": inv}
    for n in (1, 2):
        res, log = _bootstrap(project, inv)
        runs[n] = {r.host: vars(r) for r in parse_recap(log)}
        runs[(n, "output")] = res.stdout + res.stderr + log
    return runs


def _bootstrap(project: Path, inv: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """`cxops cluster install --stage bootstrap`, asserted to succeed; its result and the run's Ansible log."""
    logs = project.parent / ".cxops" / "cluster"
    before = set(logs.glob("*.log")) if logs.exists() else set()
    argv = ["cluster", "install", "--stage", "bootstrap", "--inventory", str(inv), "--skip-tags", SKIP]
    res = cli(project, *argv, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (log,) = sorted(set(logs.glob("*.log")) - before)
    return res, log.read_text()


def test_first_run_changes_and_second_run_changes_nothing(bootstrapped: dict) -> None:
    first, second = bootstrapped[1], bootstrapped[2]
    assert first["node1"]["failed"] == 0 and first["node1"]["changed"] > 0, first
    assert second and all(r["changed"] == 0 and r["failed"] == 0 for r in second.values()), second


def test_argocd_release_installed_once_with_the_roles_values(
    cluster: tuple[HostLab, ClusterAPI], project: Path, bootstrapped: dict
) -> None:
    from cxops import names
    from cxops.config import load_config

    cfg = load_config(project)
    _, api = cluster
    ns = names.argocd_namespace(cfg)
    releases = json.loads(api.kubectl("get", "secret", "-n", ns, "-l", "owner=helm,name=argocd", "-o", "json").stdout)
    # one revision: the second run did not upgrade the release
    assert [s["metadata"]["labels"]["version"] for s in releases["items"]] == ["1"], releases["items"]
    assert releases["items"][0]["metadata"]["labels"]["status"] == "deployed"
    release = releases["items"][0]["data"]["release"]  # base64(gzip(JSON)) of the release record
    chart = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(release))))["chart"]["metadata"]
    assert (chart["name"], chart["version"]) == (CHART_NAME, CHART_VERSION)
    cm = json.loads(api.kubectl("get", "configmap", "argocd-cm", "-n", ns, "-o", "json").stdout)["data"]
    accounts = {k: v for k, v in cm.items() if k.startswith("accounts.")}
    assert accounts == {f"accounts.{names.argocd_operator_account(cfg)}": "login"}, cm
    # the token bootstrap did not run here (needs_argocd_server), so the admin stays enabled for it
    assert cm["admin.enabled"] == "true" and cm["passwordPattern"] == "^.{8,64}$"
    rbac = json.loads(api.kubectl("get", "configmap", "argocd-rbac-cm", "-n", ns, "-o", "json").stdout)["data"]
    operator, argocd_project = names.argocd_operator_account(cfg), names.argocd_project(cfg)
    assert f"p, role:{operator}, applications, *, {argocd_project}/*, allow" in rbac["policy.csv"], rbac
    # `helm --wait` returned (status "deployed" above): every Deployment and StatefulSet of the chart was rolled out
    # onto kwok's nodes. Their readiness is not asserted again afterwards: kwok's node heartbeats lapse on a loaded
    # machine and the node controller then marks pods not ready (kwok's artefact, not the install's).
    for kind in ("deployment", "statefulset"):
        objs = json.loads(api.kubectl("get", kind, "-n", ns, "-o", "json").stdout)["items"]
        assert objs, kind
        for o in objs:
            name, status = o["metadata"]["name"], o["status"]
            assert status.get("updatedReplicas") == o["spec"]["replicas"], f"{kind} {name}: {json.dumps(status)}"


def test_random_secrets_created_from_the_generated_values(
    cluster: tuple[HostLab, ClusterAPI], project: Path, bootstrapped: dict
) -> None:
    from cxops.cluster_secrets import catalogue
    from cxops.config import load_config

    lab, api = cluster
    secrets_dir = lab.host("node1").upper / "etc" / "cxops" / "secrets"
    randoms = [s for s in catalogue(load_config(project)) if s.generate == "random"]
    assert randoms
    for s in randoms:
        got = json.loads(api.kubectl("get", "secret", s.name, "-n", s.namespace, "-o", "json").stdout)
        assert got["type"] == s.type, (s.name, got["type"])
        data = {k: base64.b64decode(v).decode() for k, v in got["data"].items()}
        pairs = dict(line.split("=", 1) for line in (secrets_dir / f"{s.name}.env").read_text().splitlines())
        assert sorted(data) == sorted(s.keys), (s.namespace, s.name)
        # same values as the node's generated file (compared as digests: never put a value in a message)
        digest = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in data.items()}
        assert digest == {k: hashlib.sha256(v.encode()).hexdigest() for k, v in pairs.items()}, s.name
        leaked = [k for k, v in pairs.items() if len(v) >= 40 and any(v in o for o in _outputs(bootstrapped))]
        assert not leaked, f"values of {s.name} keys {leaked} appear in the install's output"


def _outputs(bootstrapped: dict) -> list[str]:
    return [v for k, v in bootstrapped.items() if isinstance(k, tuple) and k[1] == "output"]


def test_root_application_and_its_project_applied(
    cluster: tuple[HostLab, ClusterAPI], project: Path, bootstrapped: dict
) -> None:
    from cxops import names
    from cxops.config import load_config

    cfg = load_config(project)
    _, api = cluster
    ns = names.argocd_namespace(cfg)
    root = names.argocd_root_app(cfg)
    app = json.loads(api.kubectl("get", "applications.argoproj.io", root, "-n", ns, "-o", "json").stdout)
    assert app["spec"]["project"] == names.argocd_project(cfg)
    api.kubectl("get", "appprojects.argoproj.io", names.argocd_project(cfg), "-n", ns)


def test_argocd_repository_secret_holds_the_url_and_the_deploy_key(
    cluster: tuple[HostLab, ClusterAPI], project: Path, bootstrapped: dict
) -> None:
    """ArgoCD's repository Secret (label argocd.argoproj.io/secret-type: repository) names the URL every Application
    reads and holds the deploy key; compared by digest, so the key never reaches the test's output."""
    from cxops import names
    from cxops.config import load_config

    cfg = load_config(project)
    _, api = cluster
    ns = names.argocd_namespace(cfg)
    label = "argocd.argoproj.io/secret-type=repository"  # how ArgoCD finds repository credentials
    found = json.loads(api.kubectl("get", "secret", "-n", ns, "-l", label, "-o", "json").stdout)["items"]
    assert len(found) == 1, f"{len(found)} Secrets labelled {label} in {ns} (ArgoCD's repository credential); want 1"
    (secret,) = found
    assert secret["metadata"]["name"] == f"{cfg.project.name}-gitops-repository"  # names.argocd_repository_secret
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert sorted(data) == ["sshPrivateKey", "type", "url"]
    assert data["type"] == b"git" and data["url"].decode() == REMOTE
    root_app = yaml.safe_load_all((project.parent / names.root_application_file()).read_text())
    urls = {d["spec"]["source"]["repoURL"] for d in root_app if d and d.get("kind") == "Application"}
    assert urls == {REMOTE}  # the URL ArgoCD fetches is the one the credential is for
    key = (project.parent / "deploy_key").read_bytes()
    same = hashlib.sha256(data["sshPrivateKey"]).hexdigest() == hashlib.sha256(key).hexdigest()
    assert same, "the Secret's sshPrivateKey differs from the deploy key file (digests differ)"
    body = key.decode().splitlines()[1]  # a line of the key itself
    leaked = [n for n, text in enumerate(_outputs(bootstrapped), 1) if body in text]
    assert not leaked, f"the deploy key appears in the output of run(s) {leaked}"


def test_a_changed_root_application_is_reported_changed(
    cluster: tuple[HostLab, ClusterAPI], project: Path, bootstrapped: dict
) -> None:
    """The operator changes the branch ArgoCD follows and renders again: the root Application changes, its AppProject
    does not. The apply task must say changed (kubectl prints one line per object, one of them "unchanged")."""
    from cxops import names
    from cxops.cluster.runner import parse_recap
    from cxops.config import load_config

    _, api = cluster
    data = yaml.safe_load(project.read_text())
    data["gitops"]["branch"] = "release"
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    res = cli(project, "k8s", "render")
    assert res.returncode == 0, res.stderr
    _, log = _bootstrap(project, bootstrapped["inventory"])
    cfg = load_config(project)
    app = api.kubectl(
        "get",
        "applications.argoproj.io",
        names.argocd_root_app(cfg),
        "-n",
        names.argocd_namespace(cfg),
        "-o",
        "jsonpath={.spec.source.targetRevision}",
    ).stdout
    assert app == "release"  # the apply did change the live object
    task = log.split("TASK [gitops_bootstrap : Apply the root Application", 1)[1].split("TASK [", 1)[0]
    assert "changed: [node1]" in task, task
    # the copied file and its apply; nothing else
    assert {r.host: r.changed for r in parse_recap(log)}["node1"] == 2
