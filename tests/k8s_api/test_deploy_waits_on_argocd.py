"""`cxops step deploy` in a workflow pod waits on ArgoCD (issue 25 item 2, audit W2/W3).

Real: the Kubernetes API server v1.35.4 (the session's fixture) holding ArgoCD v3.4.4's CRDs and the env's
Application; an MLflow server; a git remote (a bare repository); the `cxops step deploy` process with
CXOPS_EXECUTOR=argo and a cluster configuration.

Stand-ins, because nothing real runs here:
- ArgoCD's API server and controller (`ArgoCD` below): ArgoCD v3.4.4 is not run here. It serves the documented
  `GET /api/v1/applications/{name}` (Bearer token, `refresh=normal`) from the real Application in the API server.
  Asked to refresh, it annotates the Application (as argocd-server does), then "syncs" after a short delay: it reads
  the branch head of the git remote, writes the Application's `status` (Synced, Healthy, that revision, the image)
  into the API server, and rolls the environment out. Without a refresh it never syncs (its poll, 120-180 s in
  ArgoCD, is longer than the test), which is how a deploy that never asks ArgoCD used to time out and revert.
- The environment's Deployment: a small HTTP server answering /version with what the last sync rolled out.
- Cluster DNS and Services: a forward HTTP proxy (HTTP_PROXY for the step) maps the in-cluster names
  (`argocd-server.argocd.svc.cluster.local`, `model-server.cxops-staging.svc.cluster.local`) to those servers on
  127.0.0.1; git's `url.<bare>.insteadOf` maps the GitOps remote's SSH URL to the bare repository.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from helpers import cli, free_port, make_project
from k8s_api import argocd_sync, upstream

from cxops.gitops.repo import git
from cxops.waiting import wait_until

TOKEN = "test-argocd-token"  # a test value, not a secret of anything
NAMESPACE = "argocd-wait"  # not `argocd`: the platform sync test creates that one in the same session
REMOTE = "git@git.example.org:ml-team/gitops.git"
APP = "cxops-demo-staging"
ARGOCD_HOST = "argocd-server.argocd.svc.cluster.local"
STAGING_HOST = "model-server.cxops-staging.svc.cluster.local"
MODEL = "digits-classifier"
IMAGE = "registry.cxops.local/cxops/digits-classifier:1-abcdef012345"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # quiet test output
        pass

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Rollout:
    """What the env's Deployment serves (/version); set by a sync."""

    def __init__(self) -> None:
        self.version: str | None = None
        rollout = self

        class VersionHandler(Handler):
            def do_GET(self) -> None:
                if rollout.version is None:
                    self.reply(503, {"error": "no pods"})
                else:
                    self.reply(200, {"version": rollout.version, "name": MODEL, "ready": True})

        self.server = serve(VersionHandler)


class ArgoCD:
    """ArgoCD's API server and controller, in the subset the deploy step uses (see the module docstring)."""

    def __init__(self, kubectl: argocd_sync.Kubectl, bare: Path, rollout: Rollout, *, syncs: bool = True) -> None:
        self.kubectl, self.bare, self.rollout, self.syncs = kubectl, bare, rollout, syncs
        self.refreshes = 0
        argo = self

        class ApiHandler(Handler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.reply(401, {"error": "invalid session", "code": 16})
                    return
                name = url.path.removeprefix("/api/v1/applications/")
                got = argo.kubectl.run("-n", NAMESPACE, "get", "application", name, "-o", "json")
                if got.returncode:
                    self.reply(404, {"error": f'applications.argoproj.io "{name}" not found', "code": 5})
                    return
                if parse_qs(url.query).get("refresh") == ["normal"]:
                    argo.refresh(name)
                self.reply(200, json.loads(got.stdout))

        self.server = serve(ApiHandler)

    def refresh(self, name: str) -> None:
        self.refreshes += 1
        self.kubectl.run(
            "-n", NAMESPACE, "annotate", "--overwrite", "application", name, "argocd.argoproj.io/refresh=normal"
        )
        if self.syncs:
            threading.Timer(1.0, self.sync, args=(name,)).start()

    def sync(self, name: str) -> None:
        head = git("rev-parse", "main", cwd=self.bare)
        overlay = git("show", "main:k8s/serving/overlays/staging/model.env", cwd=self.bare)
        version = dict(line.split("=", 1) for line in overlay.splitlines() if "=" in line).get("MODEL_VERSION")
        self.rollout.version = version or None
        status = {
            "sync": {"status": "Synced", "revision": head},
            "health": {"status": "Healthy"},
            "summary": {"images": [IMAGE]},
        }
        patch = json.dumps({"status": status, "metadata": {"annotations": {"argocd.argoproj.io/refresh": None}}})
        self.kubectl.run("-n", NAMESPACE, "patch", "application", name, "--type", "merge", "-p", patch)


def proxy(routes: dict[str, int]) -> ThreadingHTTPServer:
    """A forward HTTP proxy: an in-cluster host name → a port on 127.0.0.1 (cluster DNS + the Service)."""

    class ProxyHandler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            port = routes.get(url.hostname or "")
            if port is None:
                self.send_error(502, f"no route to {url.hostname}")
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body=body, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            conn.close()

        do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    return serve(ProxyHandler)


@pytest.fixture(scope="module")
def argocd_crds(kubectl: argocd_sync.Kubectl) -> None:
    crds = upstream.crd_files(upstream.ARGO_CD, "manifests/crds")
    errors = argocd_sync.apply(kubectl, crds, server_side=True)
    errors += argocd_sync.wait_established(kubectl, [c["metadata"]["name"] for c in crds])
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    errors += argocd_sync.apply(kubectl, [ns], server_side=False)
    assert not errors, errors


@pytest.fixture(scope="module")
def mlflow() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="cxops-argocd-wait-mlflow-"))
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--workers", "1"]
    argv += ["--artifacts-destination", str(root / "artifacts"), "--serve-artifacts"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, timeout=120, what="mlflow /health")
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=url)
        client.create_registered_model(MODEL)
        mv = client.create_model_version(MODEL, source="s3://mlflow/never-read", run_id=None)
        client.set_model_version_tag(MODEL, mv.version, "cxops.build.image", IMAGE)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _seeded_bare(tmp_path: Path) -> Path:
    from helpers import REPO

    work = tmp_path / "seed"
    shutil.copytree(REPO / "k8s", work / "k8s")
    git("init", "--quiet", "--initial-branch", "main", str(work))
    git("add", "-A", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "seed", cwd=work)
    bare = tmp_path / "gitops.git"
    git("clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def _application(kubectl: argocd_sync.Kubectl) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": APP, "namespace": NAMESPACE},
        "spec": {
            "project": "cxops-demo",
            "source": {"repoURL": REMOTE, "path": "k8s/serving/overlays/staging", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "cxops-staging"},
        },
    }
    kubectl.run("-n", NAMESPACE, "delete", "application", APP, "--ignore-not-found")
    assert not argocd_sync.apply(kubectl, [app], server_side=False)


def _deploy(tmp_path: Path, kubectl, mlflow: str, *, syncs: bool, token: str = TOKEN, timeout: int = 180):
    bare = _seeded_bare(tmp_path)
    _application(kubectl)
    rollout = Rollout()
    argocd = ArgoCD(kubectl, bare, rollout, syncs=syncs)
    routes = {ARGOCD_HOST: argocd.server.server_port, STAGING_HOST: rollout.server.server_port}
    fwd = proxy(routes)
    config = make_project(
        tmp_path / "proj",
        {"workflows": {"gitops_remote": REMOTE, "sync_timeout_seconds": timeout}, "model": {"name": MODEL}},
    )
    data = yaml.safe_load(config.read_text())
    data["workflows"]["argocd_app"] = "{project}-{env}"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {
        "CXOPS_EXECUTOR": "argo",
        "MLFLOW_TRACKING_URI": mlflow,
        "ARGOCD_AUTH_TOKEN": token,
        "HTTP_PROXY": f"http://127.0.0.1:{fwd.server_port}",
        "NO_PROXY": "127.0.0.1,localhost",
        "GIT_CONFIG_COUNT": "3",
        "GIT_CONFIG_KEY_0": f"url.{bare}.insteadOf",
        "GIT_CONFIG_VALUE_0": REMOTE,
        "GIT_CONFIG_KEY_1": "user.name",
        "GIT_CONFIG_VALUE_1": "cxops-step",
        "GIT_CONFIG_KEY_2": "user.email",
        "GIT_CONFIG_VALUE_2": "cxops-step@example.org",
    }
    try:
        started = time.monotonic()
        r = cli(config, "step", "deploy", "staging", "1", env=env, timeout=timeout + 120)
        return r, argocd, bare, rollout, time.monotonic() - started
    finally:
        for server in (fwd, argocd.server, rollout.server):
            server.shutdown()
            server.server_close()


def test_deploy_refreshes_argocd_and_waits_for_its_commit(tmp_path, kubectl, argocd_crds, mlflow) -> None:
    r, argocd, bare, rollout, _ = _deploy(tmp_path, kubectl, mlflow, syncs=True)
    assert r.returncode == 0, r.stdout + r.stderr
    head = git("rev-parse", "main", cwd=bare)
    assert git("log", "-1", "--format=%s", "main", cwd=bare).startswith("staging: deploy"), "the commit was reverted"
    assert argocd.refreshes >= 1  # the step asked ArgoCD instead of waiting for its poll
    app = json.loads(kubectl.run("-n", NAMESPACE, "get", "application", APP, "-o", "json").stdout)
    assert app["status"]["sync"]["revision"] == head  # what the real API server holds is the step's commit
    assert rollout.version == "1"
    from mlflow import MlflowClient

    assert MlflowClient(tracking_uri=mlflow).get_model_version_by_alias(MODEL, "staging").version == "1"


def test_a_wrong_token_fails_at_once_and_git_is_restored(tmp_path, kubectl, argocd_crds, mlflow) -> None:
    r, _, bare, _, seconds = _deploy(tmp_path, kubectl, mlflow, syncs=True, token="not-the-token")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "refused the token (401)" in r.stderr and "Traceback" not in r.stderr
    assert seconds < 60  # not after the whole timeout
    assert git("log", "-1", "--format=%s", "main", cwd=bare).startswith("staging: retire (revert"), git(
        "log", "--format=%s", "main", cwd=bare
    )
