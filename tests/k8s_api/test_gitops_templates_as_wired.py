"""`rollback-model`, `promote-model` and `gitops-guard` executed as the rendered YAML wires them (issue 25 item 4):
each DAG's steps (`cxops step rollback`, `cxops step promote`; `cxops gitops guard` then `cxops reconcile`), the
`commit` output handed to `cxops workflows wait-synced` with the environment's Application, retries by the rendered
expression, and the `record-outcome` exit handler with `workflow.status` and `workflow.failures` in Argo v4's form.
tests/argo_interpreter.py says what of Argo it does not model. Each container is a real `cxops` process with the
template's env (CXOPS_EXECUTOR=argo, the in-cluster URLs).

Real: the Kubernetes API server (the session's fixture) with ArgoCD's CRDs and the environments' Applications, an
MLflow server, a git remote (a bare repository). Stand-ins, as in test_deploy_waits_on_argocd.py (whose module says
why): ArgoCD's API and controller (here for any environment: a sync rolls out the environment's overlay in git), each
environment's Deployment (an HTTP server answering /version), the cluster's DNS (a forward proxy).
"""

from __future__ import annotations

import copy
import json

import pytest
from argo_interpreter import Interpreter, Result, manifests, stand_in_secrets, step_pod_env
from helpers import make_project
from k8s_api import argocd_sync
from k8s_api.test_deploy_waits_on_argocd import (
    ARGOCD_HOST,
    IMAGE,
    MODEL,
    NAMESPACE,
    REMOTE,
    TOKEN,
    ArgoCD,
    Rollout,
    _seeded_bare,
    argocd_crds,  # noqa: F401 - a fixture
    mlflow,  # noqa: F401 - a fixture
    proxy,
)

from cxops.gitops.repo import git

MLFLOW_HOST = "mlflow.cxops-platform.svc.cluster.local"
ENVS = ("staging", "canary", "production")


class EnvArgoCD(ArgoCD):
    """The stand-in of test_deploy_waits_on_argocd.py for any environment: Application `cxops-demo-<env>` syncs
    `k8s/serving/overlays/<env>` and rolls that environment's Deployment out; `cxops-demo-traffic` (the canary's
    weight) only reports Synced at the branch head."""

    def __init__(self, kubectl, bare, rollouts: dict[str, Rollout]) -> None:
        super().__init__(kubectl, bare, rollouts["staging"])
        self.rollouts = rollouts

    def sync(self, name: str) -> None:
        env = name.removeprefix("cxops-demo-")
        head = git("rev-parse", "main", cwd=self.bare)
        if env in self.rollouts:  # else the traffic route's Application: nothing here serves it
            overlay = git("show", f"main:k8s/serving/overlays/{env}/model.env", cwd=self.bare)
            pairs = dict(line.split("=", 1) for line in overlay.splitlines() if "=" in line)
            self.rollouts[env].version = pairs.get("MODEL_VERSION") or None
        status = {"sync": {"status": "Synced", "revision": head}, "health": {"status": "Healthy"}}
        status["summary"] = {"images": [IMAGE]}
        patch = json.dumps({"status": status, "metadata": {"annotations": {"argocd.argoproj.io/refresh": None}}})
        self.kubectl.run("-n", NAMESPACE, "patch", "application", name, "--type", "merge", "-p", patch)


def _applications(kubectl) -> None:
    for env in (*ENVS, "traffic"):  # the traffic route's Application: its path is never read here
        name = f"cxops-demo-{env}"
        app = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "project": "cxops-demo",
                "source": {"repoURL": REMOTE, "path": f"k8s/serving/overlays/{env}", "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": f"cxops-{env}"},
            },
        }
        kubectl.run("-n", NAMESPACE, "delete", "application", name, "--ignore-not-found")
        assert not argocd_sync.apply(kubectl, [app], server_side=False)


def _versions(mlflow_url: str, aliases: dict[str, str], tags: dict[str, dict[str, str]]) -> None:
    """Model versions up to the highest one named, each with its build's image; then the aliases and tags given."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_url)
    wanted = max(int(v) for v in [*aliases.values(), *tags, "1"])
    existing = len(client.search_model_versions(f"name='{MODEL}'"))
    for _ in range(existing, wanted):
        mv = client.create_model_version(MODEL, source="s3://mlflow/never-read", run_id=None)
        client.set_model_version_tag(MODEL, mv.version, "cxops.build.image", IMAGE)
    for alias in client.get_registered_model(MODEL).aliases:  # each test starts from its own aliases
        client.delete_registered_model_alias(MODEL, alias)
    for alias, version in aliases.items():
        client.set_registered_model_alias(MODEL, alias, version)
    for version, kv in tags.items():
        for k, v in kv.items():
            client.set_model_version_tag(MODEL, version, k, v)


def _run(tmp_path, kubectl, mlflow_url: str, wt: str, arguments: dict[str, str], templates=None):
    bare = _seeded_bare(tmp_path)
    _applications(kubectl)
    rollouts = {env: Rollout() for env in ENVS}
    argocd = EnvArgoCD(kubectl, bare, rollouts)
    routes = {ARGOCD_HOST: argocd.server.server_port, MLFLOW_HOST: int(mlflow_url.rsplit(":", 1)[1])}
    routes |= {f"model-server.cxops-{env}.svc.cluster.local": r.server.server_port for env, r in rollouts.items()}
    fwd = proxy(routes)
    # the shortest wait cxops.yaml allows, inside the deadline: a wait that never ends fails with a message
    image = {"workflows": {"gitops_remote": REMOTE, "sync_timeout_seconds": 180}, "model": {"name": MODEL}}
    config = make_project(tmp_path / "image", image)
    env = step_pod_env(config, fwd.server_port, bare, REMOTE)
    secrets = stand_in_secrets(TOKEN)
    try:
        result = Interpreter(env, secrets, deadline=300, templates=templates).run(wt, arguments)
    finally:
        for server in (fwd, argocd.server, *(r.server for r in rollouts.values())):
            server.shutdown()
            server.server_close()
    return result, bare, rollouts


def _why(result: Result) -> list:
    return [(n.name, n.phase, n.exit_code, getattr(n, "stderr", "")[-400:]) for n in result.nodes]


def _outcome(result: Result) -> dict:
    assert result.exit_handler is not None and result.exit_handler.phase == "Succeeded", result.exit_handler
    return json.loads(result.exit_handler.outputs["outcome"])


def _arg(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.usefixtures("argocd_crds")
def test_rollback_model_runs_as_wired(tmp_path, kubectl, mlflow) -> None:  # noqa: F811 - the fixture
    _versions(mlflow, {"staging": "2", "staging-previous": "1"}, {})
    result, bare, rollouts = _run(tmp_path, kubectl, mlflow, "rollback-model", {"env": "staging"})
    assert result.status == "Succeeded", _why(result)
    nodes = {n.name: n for n in result.nodes}
    commit = nodes["rollback"].outputs["commit"]
    assert commit == git("rev-parse", "main", cwd=bare)  # the output is the commit the step pushed
    synced = nodes["rollback-synced"].argv
    assert synced[synced.index("wait-synced") + 1] == "cxops-demo-staging" and _arg(synced, "--revision") == commit
    assert rollouts["staging"].version == "1"
    outcome = _outcome(result)
    assert (outcome["status"], outcome["gate_outcome"]) == ("Succeeded", "passed")


@pytest.mark.usefixtures("argocd_crds")
def test_promote_model_runs_as_wired(tmp_path, kubectl, mlflow) -> None:  # noqa: F811 - the fixture
    _versions(mlflow, {"staging": "2"}, {"2": {"cxops.gate.staging": "passed"}})
    result, bare, rollouts = _run(tmp_path, kubectl, mlflow, "promote-model", {"version": "2"})
    assert result.status == "Succeeded", _why(result)
    nodes = {n.name: n for n in result.nodes}
    promote = nodes["promote-canary"].argv
    assert promote[promote.index("promote") + 1 :][:3] == ["staging", "canary", "2"]  # the defaults src/dst
    synced = nodes["promote-canary-synced"].argv
    assert synced[synced.index("wait-synced") + 1] == "cxops-demo-canary"
    assert _arg(synced, "--revision") == nodes["promote-canary"].outputs["commit"] == git("rev-parse", "main", cwd=bare)
    assert rollouts["canary"].version == "2"
    assert _outcome(result)["gate_outcome"] == "passed"


@pytest.mark.usefixtures("argocd_crds")
def test_promoting_an_ungated_version_is_a_failed_gate(tmp_path, kubectl, mlflow) -> None:  # noqa: F811
    """promote exits 3 (the staging gate never passed): not retried, nothing waited on, recorded as a failed gate."""
    _versions(mlflow, {"staging": "3"}, {})
    result, _, _ = _run(tmp_path, kubectl, mlflow, "promote-model", {"version": "3"})
    nodes = {n.name: n for n in result.nodes}
    assert result.status == "Failed"
    assert (nodes["promote-canary"].exit_code, nodes["promote-canary"].attempts) == ("3", 1), _why(result)
    assert "promote-canary-synced" not in nodes
    outcome = _outcome(result)
    assert (outcome["status"], outcome["gate_outcome"]) == ("Failed", "failed")


@pytest.mark.usefixtures("argocd_crds")
def test_a_wait_on_an_output_the_step_does_not_write_fails(tmp_path, kubectl, mlflow) -> None:  # noqa: F811
    """A wiring mistake in a copy of the rendered YAML: rollback-synced reading `revision` instead of `commit`."""
    _versions(mlflow, {"staging": "2", "staging-previous": "1"}, {})
    templates = copy.deepcopy(manifests())
    dag = next(t for t in templates["rollback-model"]["spec"]["templates"] if t["name"] == "main")["dag"]
    synced = next(t for t in dag["tasks"] if t["name"] == "rollback-synced")
    synced["arguments"]["parameters"][1]["value"] = "{{tasks.rollback.outputs.parameters.revision}}"
    with pytest.raises(AssertionError, match="no such output"):
        _run(tmp_path, kubectl, mlflow, "rollback-model", {"env": "staging"}, templates)


@pytest.mark.usefixtures("argocd_crds")
def test_gitops_guard_runs_as_wired(tmp_path, kubectl, mlflow) -> None:  # noqa: F811 - the fixture
    """verify-push then reconcile (it depends on the guard passing): the guard's first run trusts the branch head and
    records it in the remote; reconcile runs against the environments' live /version (none serves yet)."""
    _versions(mlflow, {"staging": "2"}, {})
    result, bare, _ = _run(tmp_path, kubectl, mlflow, "gitops-guard", {})
    assert result.status == "Succeeded", _why(result)
    assert [n.name for n in result.nodes] == ["verify-push", "reconcile", "record-outcome"]
    assert git("rev-parse", "refs/cxops/verified", cwd=bare) == git("rev-parse", "main", cwd=bare)
    assert _outcome(result)["gate_outcome"] == "passed"
