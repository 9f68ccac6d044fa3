"""`test-staging` and `analyze-canary` executed as the rendered YAML wires them (issue 25 item 4): each DAG's gate
step, the `rollback` task after a crashed analysis (and not after a failed or inconclusive one, which the step
handles itself), the chain into `promote-model`, retries by the rendered expression, and the `record-outcome` exit
handler with `workflow.status` and `workflow.failures` in Argo v4's form. tests/argo_interpreter.py says what of
Argo it does not model.

Real: each container is a `cxops` process with the template's command, args and env (CXOPS_EXECUTOR=argo, the
in-cluster URLs of MLflow, Prometheus and the model servers) and the tools image's cluster configuration
(CXOPS_CONFIG), against the session's embedded lab (tests/integration/conftest.py): its MLflow, its git remote, its
model servers (one per environment, each the real server of a real build), and its controller applying git to them
when a step pushes. A real Prometheus (tests/prometheus_server.py) scrapes those servers with the label a cluster's
Prometheus gives a pod (`namespace`), so the canary gate's default selector finds them. The load generators of both
gates open their own connections to the Services' names and ports, as in a pod.

Stand-ins:
- cluster DNS, Services and kube-proxy: each step runs in a network namespace of its own whose /etc/hosts maps the
  in-cluster names to addresses inside it, relayed to the lab's servers (tests/pod_network.py says why this and not
  the HTTP proxy of the other as-wired tests: the load generator honours no proxy, and a pod needs none);
- the platform's MLflow: a second `mlflow server` on the lab's store (its sqlite database and artifacts), started
  as the platform's chart configures it, `--allowed-hosts` from cxops.k8s.values.mlflow's `serverAllowedHosts` (the
  lab's own server accepts only localhost in the Host header, so the Service name a pod sends is refused there);
- ArgoCD's API (`ArgoCD` below), which a rollback in a step asks to refresh and waits on: it reports the
  Application Synced and Healthy at the git remote's head. What applies git here is the lab's controller (woken by
  the push, as ArgoCD by a refresh); the step's wait also requires the environment's Service to answer /version
  with the rolled-back version, which only the lab's real server can make true;
- `promote-model`, the stage both chains hand on to, is recorded with its arguments and not run here
  (tests/k8s_api/test_gitops_templates_as_wired.py runs its DAG against a real API server).
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from argo_interpreter import Interpreter, Result, manifests, pod_env, stand_in_secrets
from helpers import make_project
from pod_network import PodNetwork
from prometheus_server import prometheus as prometheus_server
from prometheus_server import scrape_job

pytestmark = pytest.mark.integration

REMOTE = "git@git.example.org:ml-team/gitops.git"
TOKEN = "test-argocd-token"  # a test value, not a credential of anything
ENVS = ("staging", "canary", "production")


class ArgoCD:
    """ArgoCD's `GET /api/v1/applications/{name}` (Bearer TOKEN): every Application Synced and Healthy at the head
    of the git remote BARE's BRANCH (the lab's controller applies git; the step's own live check is what waits on
    it). `refreshed` lists the Applications asked to refresh."""

    def __init__(self, bare: Path, branch: str) -> None:
        from cxops.gitops.repo import git

        self.refreshed: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                name = path.removeprefix("/api/v1/applications/")
                if self.headers.get("Authorization") != f"Bearer {TOKEN}" or name == path:
                    self.send_response(401 if name != path else 404)
                    self.end_headers()
                    return
                if "refresh=" in query:
                    outer.refreshed.append(name)
                head = git("rev-parse", branch, cwd=bare)
                status = {"sync": {"status": "Synced", "revision": head}, "health": {"status": "Healthy"}}
                body = json.dumps({"metadata": {"name": name}, "status": status}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Cluster:
    """What a step pod of this module sees: the tools image's cxops.yaml, its env, the Services (`services`:
    in-cluster name → (Service port, the lab's port)) and the stand-in ArgoCD."""

    image: Path
    env: dict[str, str]
    services: dict[str, tuple[int, int | None]]
    argocd: ArgoCD
    versions: tuple[str, str]  # (v1, v2): production v1; canary v1 with canary-previous v2; staging v1

    def run(self, wt: str, arguments: dict[str, str], *, without: str = "", config: Path | None = None, **kw):
        """Run WorkflowTemplate WT as wired, each step in a pod network (the Service WITHOUT has no endpoints)."""
        services = {
            h: (sp, None if h.startswith(without + ".") and without else p) for h, (sp, p) in self.services.items()
        }
        env = {**self.env, "CXOPS_CONFIG": str(config or self.image)}
        with PodNetwork(services) as net:
            interp = Interpreter(
                env,
                stand_in_secrets(TOKEN),
                deadline=600,
                stand_in=frozenset({"promote-model"}),
                launcher=net.launcher,
                **kw,
            )
            return interp.run(wt, arguments)


@pytest.fixture(scope="module")
def cluster(lab: Path, cfg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two versions built in the lab; production v1, staging v1, canary v1 after v2 (so canary-previous is v2); a
    real Prometheus scraping the three servers; the tools image's configuration and the Services a pod reaches."""
    from helpers import lab_build

    from cxops import names
    from cxops.gates.reports import gate_tag
    from cxops.gitops.bare_remote import bare_path
    from cxops.paths import state_dir
    from cxops.registry.client import Registry
    from cxops.release.rollout import deploy

    versions = [lab_build(cfg).parent.name for _ in range(2)]  # .../builds/<model>/<version>/context
    registry = Registry(cfg)
    for version in versions:  # the verdicts the earlier gates leave (their own tests run them): the hook admits it
        for gate in ("staging", "canary"):
            registry.set_version_tag(version, gate_tag(gate), "passed")
    v1, v2 = versions
    for env, version in (("production", v1), ("staging", v1), ("canary", v2), ("canary", v1)):
        deploy(cfg, env, version, "as-wired test setup", registry=registry)

    root = tmp_path_factory.mktemp("gate-templates")
    overrides = {
        "workflows": {"gitops_remote": REMOTE, "sync_timeout_seconds": 180},
        "gates": {"canary": {"prometheus_scrape_seconds": 1.0}},  # as the Prometheus below scrapes
    }
    image = make_project(root / "tools-image", overrides)
    from cxops.config import load_config

    image_cfg = load_config(image)
    jobs = [
        scrape_job(
            env, [f"127.0.0.1:{cfg.environments.get(env).port}"], {"namespace": names.env_namespace(image_cfg, env)}
        )
        for env in ENVS
    ]
    bare = bare_path(state_dir(cfg))
    argocd = ArgoCD(bare, cfg.gitops.branch)
    with (
        contextlib.closing(argocd),
        prometheus_server(root, jobs) as prom,
        platform_mlflow(cfg, image_cfg) as mlflow_port,
    ):
        services: dict[str, tuple[int, int | None]] = {
            f"model-server.{names.env_namespace(image_cfg, env)}.svc.cluster.local": (
                80,
                cfg.environments.get(env).port,
            )
            for env in ENVS
        }
        services |= {
            host(names.mlflow_tracking_uri(image_cfg)): (5000, mlflow_port),
            host(names.prometheus_url(image_cfg)): (9090, int(prom.rsplit(":", 1)[1])),
            host(names.argocd_server(image_cfg)): (80, argocd.server.server_port),
        }
        yield Cluster(image, pod_env(image, bare, REMOTE), services, argocd, (v1, v2))


@contextlib.contextmanager
def platform_mlflow(cfg, image_cfg) -> Iterator[int]:
    """MLflow on the lab's store, accepting the Host headers the platform's MLflow accepts; yields its port."""
    from helpers import free_port, serving_process

    from cxops.k8s.values import mlflow
    from cxops.paths import state_dir

    root = state_dir(cfg) / "mlflow"
    port = free_port()
    argv = [
        *("env", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false"),  # as the lab's (cxops.registry.mlflow_server)
        *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
        *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")),
        *("--serve-artifacts", "--workers", "1", "--allowed-hosts", ",".join(mlflow(image_cfg)["serverAllowedHosts"])),
    ]
    with serving_process(argv, f"http://127.0.0.1:{port}/health", timeout=120):
        yield port


def host(url: str) -> str:
    """The host name of URL (http://name[:port][/...])."""
    return url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]


def _why(result: Result) -> list:
    return [(n.name, n.phase, n.exit_code, getattr(n, "stderr", "")[-600:]) for n in result.nodes]


def _outcome(result: Result) -> dict:
    assert result.exit_handler is not None and result.exit_handler.phase == "Succeeded", result.exit_handler
    return json.loads(result.exit_handler.outputs["outcome"])


def _canary(cfg) -> str | None:
    from cxops.gitops.state import desired, gitops_repo
    from cxops.release.live import live

    git_says = desired(cfg, gitops_repo(cfg, "as-wired-reader"), "canary").version
    serving = live(cfg, "canary")
    assert (serving.version if serving.reachable else None) == git_says, (git_says, serving)
    return git_says


def test_test_staging_runs_as_wired(cluster: Cluster) -> None:
    """`cxops step test staging` in its pod: health, readiness, /version against git, the golden predictions (the
    build's golden.json rebuilt from MLflow: this pod has no build directory) and the load test, all through the
    Service's name; its success hands the version on to promote-model's canary stage."""
    v1, _ = cluster.versions
    result = cluster.run("test-staging", {"version": v1, "image": ""})
    assert result.status == "Succeeded", _why(result)
    [test] = result.nodes[:-1]
    assert (test.name, test.outputs["passed"], test.attempts) == ("test-staging", "true", 1)
    assert test.argv[-3:] == ["staging", "--outputs-dir", test.argv[-1]]
    [promote] = result.stood_in
    assert (promote.workflow_template, promote.template) == ("promote-model", "from-promote-canary")
    assert promote.arguments == {"version": v1, "image": "", "chain": "true", "to_production": "true"}
    outcome = _outcome(result)
    assert (outcome["status"], outcome["gate_outcome"]) == ("Succeeded", "passed")


def test_a_passing_canary_hands_on_to_production(cluster: Cluster, cfg) -> None:
    """Canary v1 against production v1 (the same build): the gate passes from Prometheus' evidence, no rollback
    runs, and the version goes on to promote-model's production stage."""
    v1, _ = cluster.versions
    assert _canary(cfg) == v1
    result = cluster.run("analyze-canary", {"version": v1, "image": ""})
    assert result.status == "Succeeded", _why(result)
    nodes = {n.name: n for n in result.nodes}
    assert nodes["analyze-canary"].outputs["passed"] == "true" and "analyze-canary-rollback" not in nodes
    [promote] = result.stood_in
    assert (promote.workflow_template, promote.template) == ("promote-model", "from-promote-production")
    assert promote.arguments == {"version": v1, "image": "", "chain": "true", "to_production": "true"}
    assert _outcome(result)["gate_outcome"] == "passed"
    assert _canary(cfg) == v1


def test_a_failed_canary_gate_is_handled_by_the_step_not_the_rollback_task(cluster: Cluster, cfg) -> None:
    """Canary v1 (canary-previous v2) with a p95 ratio no two servers meet: the gate fails (exit 3, not retried),
    the step itself rolls the canary back to v2 (waiting on ArgoCD's Application and the canary's Service), the
    DAG's `rollback` task does not run (its `when` reads the exit code), nothing is promoted, and the exit handler
    records the failed gate."""
    import yaml

    v1, v2 = cluster.versions
    assert _canary(cfg) == v1
    data = yaml.safe_load(cluster.image.read_text())
    data["gates"]["canary"]["max_p95_ratio"] = 0.001
    strict = cluster.image.parent.parent / "strict-image" / "cxops.yaml"
    strict.parent.mkdir(exist_ok=True)
    strict.write_text(yaml.safe_dump(data, sort_keys=False))
    result = cluster.run("analyze-canary", {"version": v1, "image": ""}, config=strict)
    nodes = {n.name: n for n in result.nodes}
    assert result.status == "Failed"
    assert (nodes["analyze-canary"].exit_code, nodes["analyze-canary"].attempts) == ("3", 1), _why(result)
    assert "analyze-canary-rollback" not in nodes and not result.stood_in
    assert _canary(cfg) == v2
    outcome = _outcome(result)
    assert (outcome["status"], outcome["gate_outcome"]) == ("Failed", "failed")


def test_a_crashed_analysis_runs_the_rollback_task(cluster: Cluster, cfg) -> None:
    """Prometheus' Service has no endpoints: the step fails with exit 1 (not a verdict), is retried once by the
    rendered expression, and then the DAG's `rollback` task restores canary-previous (v2) in git and live,
    waiting on ArgoCD's Application for the canary; nothing is promoted."""
    from cxops import names
    from cxops.config import load_config
    from cxops.registry.client import Registry
    from cxops.release.rollout import deploy

    v1, v2 = cluster.versions
    deploy(cfg, "canary", v1, "as-wired test: canary v1 again, canary-previous v2", registry=Registry(cfg))
    assert _canary(cfg) == v1
    cluster.argocd.refreshed.clear()
    result = cluster.run("analyze-canary", {"version": v1, "image": ""}, without="prometheus")
    nodes = {n.name: n for n in result.nodes}
    assert result.status == "Failed"
    analyze = nodes["analyze-canary"]
    assert (analyze.exit_code, analyze.attempts) == ("1", 2), _why(result)
    assert "prometheus" in analyze.stderr.lower()  # type: ignore[attr-defined]
    assert nodes["analyze-canary-rollback"].phase == "Succeeded", _why(result)
    assert not result.stood_in
    assert _canary(cfg) == v2
    assert names.argocd_app(load_config(cluster.image), "canary") in cluster.argocd.refreshed
    outcome = _outcome(result)
    assert outcome["status"] == "Failed"


def test_wiring_mistakes_fail(cluster: Cluster) -> None:
    """In a copy of the rendered YAML, test-staging's task passing its environment under a name its template does
    not declare is refused before anything runs (docs/workflows.md lists the mutations tried by hand, each of which
    made one of the tests above fail)."""
    v1, _ = cluster.versions
    templates = copy.deepcopy(manifests())
    dag = next(t for t in templates["test-staging"]["spec"]["templates"] if t["name"] == "from-test-staging")["dag"]
    dag["tasks"][0]["arguments"]["parameters"][0]["name"] = "environment"
    with pytest.raises(AssertionError, match=r"arguments \['environment'\] are no inputs"):
        cluster.run("test-staging", {"version": v1, "image": ""}, templates=templates)
