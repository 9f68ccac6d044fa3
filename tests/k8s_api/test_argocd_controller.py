"""The real ArgoCD syncs the app-of-apps from a real git remote into a real API server.

Real: ArgoCD's application-controller and repo-server (v3.2.11, built by scripts/install-go-tools: v3.4.4, the
chart's, cannot be built from the Go module proxy, docs/platform.md), Debian's redis-server as its cache, kustomize
v5.8.1 and helm v3.19.4 on the repo-server's PATH, a bare git repository holding the project's rendered k8s/ tree
(`cxops k8s render` with `gitops.remote` naming it), etcd + kube-apiserver v1.35.4. The root Application is applied
as the install applies it; ArgoCD does the rest.

All of it runs in a network namespace of its own (one loopback, nothing else): the application-controller serves
its metrics on 0.0.0.0 whatever its flags say, and servers here must not listen on this machine's interfaces.
So this module has its own API server, not the session's.

Checked: the Applications whose sources are our own trees and need no operator's CRDs become Synced and Healthy.
Not checked here, and why: the chart Applications (their Helm repositories are unreachable: ArgoCD reports a
ComparisonError) and our trees whose objects are those charts' custom resources (postgres, gateway-config,
monitoring-config: their CRDs come with the charts); tests/k8s_api/test_argocd_sync.py covers those with the
CRDs from the charts' Go modules.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml
from helpers import REPO, cli, make_project
from k8s_api import upstream
from k8s_api.controlplane import ControlPlane

ARGOCD = ("github.com/argoproj/argo-cd/v3", "v3.2.11")  # scripts/install-go-tools' argocd
SYNC_TIMEOUT = 300.0  # seconds for ArgoCD to sync the app-of-apps' children on a loaded 2-core machine
STOP_TIMEOUT = 15.0
# our trees (k8s/platform/*) whose objects are built-in kinds only
OWN_TREES = ("namespaces", "network-policies", "services", "workflow-rbac")


class ArgoLab:
    """A network namespace with etcd, kube-apiserver, redis-server, ArgoCD's repo-server and application-controller."""

    def __init__(self, root: Path, tools: Mapping[str, Path]) -> None:
        self.root, self.tools = root, tools
        self.netns = f"cxargo{os.getpid() % 100000}"
        self.plane = ControlPlane(root / "k8s", tools, netns=self.netns)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._netns_made = False

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """kubectl v1.35.4 as the admin, from inside the namespace."""
        argv = [str(self.tools["kubectl"]), f"--kubeconfig={self.plane.kubeconfig}", *args]
        return self.plane.run_in_netns(argv, input=stdin)

    def start(self) -> None:
        subprocess.run(["ip", "netns", "add", self.netns], check=True, timeout=30)
        self._netns_made = True
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, timeout=30)
        self.plane.root.mkdir(parents=True)
        self.plane.start()
        crds = upstream.module_dir(*ARGOCD) / "manifests" / "crds"
        files = [
            f"--filename={crds / n}" for n in ("application-crd.yaml", "applicationset-crd.yaml", "appproject-crd.yaml")
        ]
        res = self.kubectl("apply", "--server-side", *files)
        assert res.returncode == 0, res.stderr
        names = ["crd/applications.argoproj.io", "crd/applicationsets.argoproj.io", "crd/appprojects.argoproj.io"]
        deadline, delay = time.monotonic() + 60, 0.5
        while (res := self.kubectl("wait", "--for=condition=Established", "--timeout=10s", *names)).returncode:
            # kubectl wait fails at once while a new CRD has no conditions yet
            assert time.monotonic() < deadline, res.stderr
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
        # what the argo-cd chart creates besides the workloads: ArgoCD's settings (empty but for the server key)
        part_of = {"app.kubernetes.io/part-of": "argocd"}
        objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}]
        for name in ("argocd-cm", "argocd-rbac-cm"):
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "argocd", "labels": part_of},
                }
            )
        # the Application health check the install sets (I3), so the root app awaits each wave's health as there
        defaults = yaml.safe_load((REPO / "ansible/roles/gitops_bootstrap/defaults/main.yml").read_text())
        health = defaults["gitops_bootstrap_argocd_application_health"]
        objs[1]["data"] = {"resource.customizations.health.argoproj.io_Application": health}
        key = {"server.secretkey": secrets.token_urlsafe(32)}  # per run; never printed
        secret_meta = {"name": "argocd-secret", "namespace": "argocd", "labels": part_of}
        objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": secret_meta, "stringData": key})
        res = self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
        assert res.returncode == 0, res.stderr
        bin_dir = self.root / "bin"  # the repo-server runs `kustomize` and `helm` from its PATH
        bin_dir.mkdir()
        (bin_dir / "kustomize").symlink_to(self.tools["kustomize"])
        (bin_dir / "helm").symlink_to(self.tools["helm-argocd"])
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(self.root),
            "ARGOCD_FAKE_IN_CLUSTER": "true",  # kubernetes.default.svc = $KUBECONFIG's server (ArgoCD's dev mode)
            "KUBECONFIG": str(self.plane.kubeconfig),
            "ARGOCD_GPG_ENABLED": "false",
            "ARGOCD_TLS_DATA_PATH": str(self.root / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(self.root / "ssh"),
        }
        redis = shutil.which("redis-server")
        assert redis, "redis-server is not installed: run scripts/install-test-deps"
        self._spawn("redis", [redis, "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"], env)
        argocd = str(self.tools["argocd"])
        repo = ["--address=127.0.0.1", "--port=8081", "--metrics-address=127.0.0.1", "--redis=127.0.0.1:6379"]
        self._spawn("repo-server", [argocd, *repo], {**env, "ARGOCD_BINARY_NAME": "argocd-repo-server"})
        controller = ["--redis=127.0.0.1:6379", "--repo-server=127.0.0.1:8081", "--namespace=argocd", "--app-resync=30"]
        env_ctl = {
            **env,
            "ARGOCD_BINARY_NAME": "argocd-application-controller",
            "HOSTNAME": "argocd-application-controller-0",
        }
        self._spawn("application-controller", [argocd, *controller], env_ctl)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        )

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.root / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Stop ArgoCD, redis and the control plane by PID, then delete the namespace."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT)
        self.plane.stop()
        if self._netns_made:
            subprocess.run(["ip", "netns", "del", self.netns], timeout=30)


@pytest.fixture(scope="module")
def argo(tools: Mapping[str, Path]) -> Iterator[ArgoLab]:
    if os.geteuid() != 0:
        pytest.fail("the real ArgoCD runs in a network namespace of its own: needs root")
    root = Path(tempfile.mkdtemp(prefix="cxops-argocd-"))
    lab = ArgoLab(root, tools)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def remote_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose gitops remote is a local bare repository holding its rendered k8s/ tree (pushed)."""
    work = tmp_path_factory.mktemp("argocd-git")
    bare = work / "cxops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True, timeout=30)
    # ArgoCD follows the remote the steps push to: here the local bare repository (no separate cluster remote)
    config = make_project(
        work / "project", {"gitops": {"remote": f"file://{bare}"}, "workflows": {"gitops_remote": None}}
    )
    res = cli(config, "k8s", "render")
    assert res.returncode == 0, res.stderr
    tree = config.parent
    ident = ["-c", "user.email=tests@cxops.invalid", "-c", "user.name=cxops tests"]
    for argv in (
        ["init", "-q", "-b", "main"],
        ["add", "k8s"],
        [*ident, "commit", "-q", "-m", "k8s"],
        ["push", "-q", str(bare), "main"],
    ):
        subprocess.run(["git", "-C", str(tree), *argv], check=True, timeout=60, capture_output=True)
    return config


def _app_states(argo: ArgoLab) -> dict[str, tuple[str, str]]:
    res = argo.kubectl("get", "applications.argoproj.io", "-n", "argocd", "-o", "json")
    assert res.returncode == 0, res.stderr
    return {
        a["metadata"]["name"]: (
            a.get("status", {}).get("sync", {}).get("status", ""),
            a.get("status", {}).get("health", {}).get("status", ""),
        )
        for a in json.loads(res.stdout)["items"]
    }


def test_argocd_syncs_our_trees_from_git(argo: ArgoLab, remote_project: Path) -> None:
    from cxops.config import load_config

    project = load_config(remote_project).project.name
    root_app = remote_project.parent / "k8s" / "argocd" / "root-application.yaml"
    assert f"file://{remote_project.parent.parent}/cxops.git" in root_app.read_text()  # ArgoCD reads our remote
    res = argo.kubectl("apply", "-f", str(root_app))
    assert res.returncode == 0, res.stderr
    want = {f"{project}-{t}" for t in OWN_TREES}
    deadline, delay, states = time.monotonic() + SYNC_TIMEOUT, 2.0, {}
    while True:
        states = _app_states(argo)
        if all(states.get(n) == ("Synced", "Healthy") for n in want):
            break
        for proc in argo.procs:
            assert proc.poll() is None, f"{proc.args[3:5]} exited:\n{argo.log_tail('application-controller')}"
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not Synced and Healthy within {SYNC_TIMEOUT:.0f}s: "
                f"{ {n: states.get(n) for n in sorted(want)} }\n{argo.log_tail('application-controller')}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 10.0)
    # ArgoCD expanded the app-of-apps itself: every child of the waves before 0 exists (whether wave 0 has appeared
    # yet depends on timing: the chart Applications here hold no resources, so they count as healthy at once)
    apps_dir = remote_project.parent / "k8s" / "argocd" / "apps"
    early = {
        d["metadata"]["name"]
        for f in apps_dir.glob("*.yaml")
        for d in yaml.safe_load_all(f.read_text())
        if d
        and d.get("kind") == "Application"
        and int(d["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0")) < 0
    }
    assert len(early) > len(want) and early <= set(states), sorted(early - set(states))
    # and the objects are there, applied by ArgoCD (its tracking label or annotation on a Namespace it created)
    res = argo.kubectl("get", "namespace", "-o", "json")
    tracked = [
        n["metadata"]["name"]
        for n in json.loads(res.stdout)["items"]
        if "argocd.argoproj.io/tracking-id" in n["metadata"].get("annotations", {})
        or "app.kubernetes.io/instance" in n["metadata"].get("labels", {})
    ]
    assert tracked, "no Namespace carries ArgoCD's tracking"
