"""A real Kubernetes API server the SSH test hosts reach, for the install's own cluster steps (gitops_bootstrap).

etcd and kube-apiserver v1.35.4 (tests/k8s_api/controlplane.py, the binaries scripts/install-go-tools builds) run
inside the jump host's network namespace; the API server binds the jump host's address on the nodes' bridge
(`HostLab.shared_address`), which every node reaches directly, as nodes reach a cluster's API endpoint. Nothing
listens on this machine's own interfaces: the runner reaches that one address through a /32 route via the jump
host. kube-controller-manager, kube-scheduler and kwok run beside the test runner (kwok's fake nodes report pods
running and ready, so `helm --wait` sees Deployments roll out: the stand-in for kubelets and images).

Stand-in: the argo-cd chart 10.1.1 is published only to argo-helm's chart repository, which cannot be reached here.
`argocd_chart_repo` builds a chart of that name and version from ArgoCD v3.4.4's own install manifests (the
module zip's manifests/install.yaml, the version the chart ships) whose argocd-cm and argocd-rbac-cm come from the
values the role passes (`configs.cm`, `configs.rbac`, as in the chart), and serves it as a Helm repository over
HTTP on the shared address: the role's helm task installs it through its real `chart_repo_url` path.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import yaml
from k8s_api import upstream
from k8s_api.controlplane import ControlPlane, free_port

from tests.cluster.hostlab import HostLab

CHART_NAME, CHART_VERSION = "argo-cd", "10.1.1"  # ansible/roles/gitops_bootstrap/defaults/main.yml
READY_TIMEOUT = 60.0  # seconds for the chart repository's HTTP server to answer

CONFIG_TEMPLATE = """\
{{- range $name, $data := dict "argocd-cm" .Values.configs.cm "argocd-rbac-cm" .Values.configs.rbac }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  labels:
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/part-of: argocd
data:
  {{- toYaml $data | nindent 2 }}
{{- end }}
"""


def argocd_install_manifests() -> str:
    """ArgoCD v3.4.4's manifests/install.yaml without argocd-cm and argocd-rbac-cm (the values make those)."""
    text = (upstream.module_dir(*upstream.ARGO_CD) / "manifests" / "install.yaml").read_text()
    kept = []
    for doc in re.split(r"^---[ \t]*$", text, flags=re.M):
        obj = yaml.safe_load(doc) or {}
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] in ("argocd-cm", "argocd-rbac-cm"):
            continue
        if obj:
            kept.append(doc.strip("\n"))
    return "\n---\n".join(kept) + "\n"


def argocd_chart_repo(directory: Path, helm: Path, url: str) -> Path:
    """A Helm repository (index.yaml + the packaged chart) in `directory`, its index naming `url`."""
    chart = directory / "src" / CHART_NAME
    (chart / "templates").mkdir(parents=True)
    (chart / "files").mkdir()
    meta = {"apiVersion": "v2", "name": CHART_NAME, "version": CHART_VERSION, "appVersion": upstream.ARGO_CD[1]}
    meta["description"] = "tests' stand-in for argo-helm's argo-cd chart: ArgoCD's install manifests"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "values.yaml").write_text("configs:\n  cm: {}\n  rbac: {}\n")
    (chart / "files" / "install.yaml").write_text(argocd_install_manifests())
    # .Files.Get: the manifests are not templates (they hold `{{` of their own)
    (chart / "templates" / "install.yaml").write_text('{{ .Files.Get "files/install.yaml" }}\n')
    (chart / "templates" / "config.yaml").write_text(CONFIG_TEMPLATE)
    repo = directory / "repo"
    env = {"HELM_CACHE_HOME": str(directory / "helm"), "HELM_CONFIG_HOME": str(directory / "helm")}
    env |= {"HELM_DATA_HOME": str(directory / "helm"), "PATH": "/usr/bin:/bin"}
    for argv in (["package", str(chart), "-d", str(repo)], ["repo", "index", str(repo), "--url", url]):
        res = subprocess.run([str(helm), *argv], capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 0, f"helm {argv[0]}: {res.stderr}"
    return repo


class ClusterAPI:
    """The API server (+ workloads) and the chart repository, in and beside a HostLab; a context manager."""

    def __init__(self, lab: HostLab, workdir: Path, tools: Mapping[str, Path]) -> None:
        self.lab, self.workdir, self.tools = lab, workdir, tools
        self.plane = ControlPlane(workdir / "k8s", tools, address=lab.shared_address, netns=lab.bastion.netns)
        self.chart_repo_url = ""
        self._http: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ClusterAPI:
        try:
            self.plane.root.mkdir(parents=True)
            self.lab.route_runner_to_shared_address()
            self.plane.start()
            self.plane.start_workloads(nodes=2)
            self._serve_chart()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve_chart(self) -> None:
        port = free_port()  # a number; the server listens in the jump host's namespace
        self.chart_repo_url = f"http://{self.lab.shared_address}:{port}"
        repo = argocd_chart_repo(self.workdir / "charts", self.tools["helm"], self.chart_repo_url)
        log = (self.workdir / "chart-repo.log").open("wb")
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", self.lab.shared_address]
        self._http = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.bastion.netns, *argv, "--directory", str(repo)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline, delay = time.monotonic() + READY_TIMEOUT, 0.2
        while True:
            try:
                with urllib.request.urlopen(f"{self.chart_repo_url}/index.yaml", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self._http.poll() is not None or time.monotonic() > deadline:
                tail = (self.workdir / "chart-repo.log").read_text(errors="replace")[-800:]
                raise AssertionError(f"chart repository at {self.chart_repo_url} not serving: {tail}")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl v1.35.4 against the API server, as the admin, from the runner."""
        argv = [str(self.tools["kubectl"]), f"--kubeconfig={self.plane.kubeconfig}", *args]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert not check or res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
        return res

    def close(self) -> None:
        """Stop the chart server and every control-plane process, each by its PID."""
        if self._http is not None and self._http.poll() is None:
            self._http.terminate()
            try:
                self._http.wait(15)
            except subprocess.TimeoutExpired:
                self._http.kill()
                self._http.wait(15)
        self.plane.stop()
