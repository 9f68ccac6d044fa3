"""`train-model` and the `scheduled-retrain` CronWorkflow executed as the rendered YAML wires them (issue 25 item 4):
the DAG `from-train` (train → evaluate → register → next-build-container-image), the `run_id` output handed to both
evaluate and register, register's `version` handed on, retries by the rendered expression, and the `record-outcome`
exit handler with `workflow.status` and `workflow.failures` in Argo v4's form. tests/argo_interpreter.py says what of
Argo it does not model.

Real: each container is a `cxops` process with the template's command, args and env (CXOPS_EXECUTOR=argo, the
in-cluster MLflow URL) and the tools image's cluster configuration (CXOPS_CONFIG); MLflow is the session's lab MLflow
server (tests/integration/conftest.py), so training, evaluation and registration are real.
Stand-ins: the cluster's DNS is a forward HTTP proxy (HTTP_PROXY) mapping the MLflow Service's name to the lab's
port; the image build the chain hands on to (`build-container-image`, a BuildKit containerSet the interpreter does
not run; tests/integration/test_image_build.py builds it for real) is recorded with its arguments, not run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from argo_interpreter import Interpreter, Result, manifests, process_env
from helpers import make_project
from k8s_api.test_deploy_waits_on_argocd import proxy

pytestmark = pytest.mark.integration

MLFLOW_HOST = "mlflow.cxops-platform.svc.cluster.local"
REMOTE = "git@git.example.org:ml-team/gitops.git"
SECRETS = {
    ("cxops-s3-credentials", "AWS_ACCESS_KEY_ID"): "test-key-id",
    ("cxops-s3-credentials", "AWS_SECRET_ACCESS_KEY"): "test-secret",
    ("cxops-demo-mlflow-admin", "MLFLOW_TRACKING_USERNAME"): "admin",
    ("cxops-demo-mlflow-admin", "MLFLOW_TRACKING_PASSWORD"): "test-password",
}


@pytest.fixture(scope="module")
def pod_env(lab: Path, tmp_path_factory: pytest.TempPathFactory):
    """The env a workflow pod's process starts from: the image's cxops.yaml and the cluster's DNS (a proxy)."""
    port = yaml.safe_load(lab.read_text())["lab"]["mlflow_port"]
    fwd = proxy({MLFLOW_HOST: port})
    image = make_project(tmp_path_factory.mktemp("tools-image"), {"workflows": {"gitops_remote": REMOTE}})
    env = process_env(
        {"CXOPS_CONFIG": str(image), "HTTP_PROXY": f"http://127.0.0.1:{fwd.server_port}", "NO_PROXY": "127.0.0.1"}
    )
    yield env
    fwd.shutdown()
    fwd.server_close()


def _why(result: Result) -> list:
    return [(n.name, n.phase, getattr(n, "stderr", "")[-400:]) for n in result.nodes]


def _arg(argv: list[str], step: str) -> str:
    return argv[argv.index(step) + 1]


def _outcome(result: Result) -> dict:
    assert result.exit_handler is not None and result.exit_handler.phase == "Succeeded", result.exit_handler
    return json.loads(result.exit_handler.outputs["outcome"])


def _registered(lab: Path, version: str) -> dict:
    from mlflow import MlflowClient

    cfg = yaml.safe_load(lab.read_text())
    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{cfg['lab']['mlflow_port']}")
    mv = client.get_model_version(cfg["model"]["name"], version)
    return {"run_id": mv.run_id, "aliases": list(mv.aliases)}


def test_scheduled_retrain_runs_train_model_as_wired(lab: Path, pod_env) -> None:
    """The CronWorkflow's workflow: train's run_id reaches evaluate and register, and register's version and the
    CronWorkflow's `to_production` false (workflows.scheduled_retrain_to_production) reach the build it chains to."""
    result = Interpreter(pod_env, SECRETS, deadline=600, stand_in=frozenset({"build-container-image"})).run_cron(
        "scheduled-retrain"
    )
    assert result.status == "Succeeded", _why(result)
    nodes = {n.name: n for n in result.nodes}
    run_id = nodes["train"].outputs["run_id"]
    assert _arg(nodes["evaluate"].argv, "evaluate") == run_id and _arg(nodes["register"].argv, "register") == run_id
    assert nodes["evaluate"].outputs["passed"] == "true"
    version = nodes["register"].outputs["version"]
    assert _registered(lab, version) == {"run_id": run_id, "aliases": ["candidate"]}
    [build] = result.stood_in
    assert (build.workflow_template, build.template) == ("build-container-image", "from-build")
    assert build.arguments == {"version": version, "chain": "true", "to_production": "false"}
    outcome = _outcome(result)
    assert (outcome["status"], outcome["gate_outcome"]) == ("Succeeded", "passed")
    assert outcome["workflow"] == "train-model-test"


def test_a_failed_evaluation_gate_is_recorded_as_failed(pod_env) -> None:
    """Evaluate exits 3 (its gate failed: a threshold no model reaches): not retried, register never runs (nor the
    chain: chain=false), and the exit handler reads the gate's verdict out of `workflow.failures`."""
    config = Path(pod_env["CXOPS_CONFIG"])
    strict = config.parent.parent / "strict-image" / "cxops.yaml"
    data = yaml.safe_load(config.read_text())
    data["gates"]["evaluation"]["min_accuracy"] = 0.9999
    strict.parent.mkdir(exist_ok=True)
    strict.write_text(yaml.safe_dump(data, sort_keys=False))
    result = Interpreter({**pod_env, "CXOPS_CONFIG": str(strict)}, SECRETS, deadline=600).run(
        "train-model", {"chain": "false"}
    )
    nodes = {n.name: n for n in result.nodes}
    assert result.status == "Failed"
    assert nodes["evaluate"].exit_code == "3" and nodes["evaluate"].attempts == 1, _why(result)
    assert "register" not in nodes and "next-build-container-image" not in nodes and not result.stood_in
    outcome = _outcome(result)
    assert (outcome["status"], outcome["gate_outcome"]) == ("Failed", "failed")


def test_a_wiring_mistake_fails(pod_env) -> None:
    """The interpreter catches the mistakes this module exists for, in a copy of the rendered YAML: evaluate reading
    an output train does not write (one mutation here, after a real train; docs/workflows.md lists those tried)."""
    templates = copy.deepcopy(manifests())
    dag = next(t for t in templates["train-model"]["spec"]["templates"] if t["name"] == "from-train")["dag"]
    evaluate = next(t for t in dag["tasks"] if t["name"] == "evaluate")
    evaluate["arguments"]["parameters"][0]["value"] = "{{tasks.train.outputs.parameters.run}}"
    with pytest.raises(AssertionError, match="no such output"):
        Interpreter(pod_env, SECRETS, deadline=600, templates=templates).run("train-model", {"chain": "false"})
