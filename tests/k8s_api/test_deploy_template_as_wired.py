"""`deploy-container-image` executed as the rendered YAML wires it (issue 25 item 4, this template only): the DAG
`from-deploy-staging` (deploy-staging → deploy-staging-synced → next-test-staging), its parameters, the `commit`
output passed to the ArgoCD wait, retries by the rendered expression, and the `record-outcome` exit handler with
`workflow.status` and `workflow.failures` in Argo v4's form. tests/argo_interpreter.py says what of Argo it does not
model. Each container is a real `cxops` process with the template's env (CXOPS_EXECUTOR=argo, the in-cluster URLs);
the services and stand-ins are those of test_deploy_waits_on_argocd.py (real API server, MLflow, git remote; ArgoCD's
API and the Deployment's rollout are stand-ins, the cluster's DNS a forward proxy)."""

from __future__ import annotations

import json

import pytest
from argo_interpreter import Interpreter, stand_in_secrets, step_pod_env
from helpers import make_project
from k8s_api.test_deploy_waits_on_argocd import (
    ARGOCD_HOST,
    IMAGE,
    MODEL,
    REMOTE,
    STAGING_HOST,
    TOKEN,
    ArgoCD,
    Rollout,
    _application,
    _seeded_bare,
    argocd_crds,  # noqa: F401 - a fixture
    mlflow,  # noqa: F401 - a fixture
    proxy,
)

from cxops.gitops.repo import git

MLFLOW_HOST = "mlflow.cxops-platform.svc.cluster.local"


def _run(tmp_path, kubectl, mlflow_url: str, token: str):
    bare = _seeded_bare(tmp_path)
    _application(kubectl)
    rollout = Rollout()
    argocd = ArgoCD(kubectl, bare, rollout)
    port = int(mlflow_url.rsplit(":", 1)[1])
    fwd = proxy({ARGOCD_HOST: argocd.server.server_port, STAGING_HOST: rollout.server.server_port, MLFLOW_HOST: port})
    # the tools image's cxops.yaml (docker/tools.Dockerfile bakes it; CXOPS_CONFIG names it)
    config = make_project(tmp_path / "image", {"workflows": {"gitops_remote": REMOTE}, "model": {"name": MODEL}})
    env = step_pod_env(config, fwd.server_port, bare, REMOTE)
    secrets = stand_in_secrets(token)
    try:
        result = Interpreter(env, secrets, deadline=300).run(
            "deploy-container-image", {"version": "1", "image": IMAGE, "chain": "false"}
        )
    finally:
        for server in (fwd, argocd.server, rollout.server):
            server.shutdown()
            server.server_close()
    return result, bare


def _outcome(result) -> dict:
    assert result.exit_handler is not None and result.exit_handler.phase == "Succeeded", result.exit_handler
    return json.loads(result.exit_handler.outputs["outcome"])


@pytest.mark.usefixtures("argocd_crds")
def test_deploy_stage_runs_as_wired(tmp_path, kubectl, mlflow) -> None:  # noqa: F811 - the fixture
    result, bare = _run(tmp_path, kubectl, mlflow, TOKEN)
    nodes = {n.name: n for n in result.nodes}
    assert result.status == "Succeeded", [(n.name, n.phase, getattr(n, "stderr", "")[-300:]) for n in result.nodes]
    commit = nodes["deploy-staging"].outputs["commit"]
    assert commit == git("rev-parse", "main", cwd=bare)  # the step's output is the commit it pushed
    synced = nodes["deploy-staging-synced"].argv
    assert synced[synced.index("--revision") + 1] == commit and synced[synced.index("--image") + 1] == IMAGE
    assert "next-test-staging" not in nodes  # chain=false: skipped, never run
    assert _outcome(result)["gate_outcome"] == "passed"


@pytest.mark.usefixtures("argocd_crds")
def test_a_failing_deploy_is_retried_then_recorded(tmp_path, kubectl, mlflow) -> None:  # noqa: F811 - the fixture
    result, _ = _run(tmp_path, kubectl, mlflow, "not-the-token")
    deploy = next(n for n in result.nodes if n.name == "deploy-staging")
    assert deploy.phase == "Failed" and deploy.exit_code == "1"
    assert deploy.attempts == 4  # retries: 3 for a transient failure (exit 1), by the rendered expression
    assert result.status == "Failed"
    outcome = _outcome(result)
    assert outcome["status"] == "Failed" and outcome["gate_outcome"] == "error"  # exit 1 is no gate's verdict
