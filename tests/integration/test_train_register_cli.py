"""Issue 2 end to end through the CLI against a real MLflow server: train → evaluate → register, and bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from helpers import cli, free_port, make_project

pytestmark = pytest.mark.integration


def step_json(config: Path, *args: str, **kw) -> dict:
    res = cli(config, "step", *args, "--json", **kw)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_train_evaluate_register_models(lab: Path, tmp_path: Path):
    train = step_json(lab, "train", "--outputs-dir", str(tmp_path / "train"))
    run_id = train["run_id"]
    assert (tmp_path / "train" / "run_id").read_text() == run_id  # Argo output parameter file
    assert train["cost"] > 0 and len(train["data_hash"]) == 64

    ev = step_json(lab, "evaluate", run_id)
    assert ev["passed"] is True and ev["metrics"]["test_accuracy"] > 0.9

    reg = step_json(lab, "register", run_id)
    assert reg["alias"] == "candidate"
    again = step_json(lab, "register", run_id)
    assert again["version"] == reg["version"], "registering the same run twice must not mint a new version"

    listed = json.loads(cli(lab, "models", "list", "--json").stdout)
    mine = next(v for v in listed if v["version"] == reg["version"])
    assert "candidate" in mine["aliases"] and mine["run_id"] == run_id
    shown = json.loads(cli(lab, "models", "show", reg["version"], "--json").stdout)
    assert shown["tags"]["cxops.data_hash"] == train["data_hash"]
    assert shown["tags"]["cxops.gate.evaluation"] == "passed"
    assert shown["metrics"]["test_accuracy"] == pytest.approx(ev["metrics"]["test_accuracy"], abs=1e-4)

    from mlflow.tracking import MlflowClient

    from cxops.config import load_config
    from cxops.registry.mlflow_server import MlflowLab

    client = MlflowClient(MlflowLab.from_config(load_config(lab)).url)
    artifacts = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/cm.png", "evaluation/report.json"} <= artifacts
    run = client.get_run(run_id)
    assert run.data.params["C"] == "0.5" and "train_duration_seconds" in run.data.metrics


def test_failed_evaluation_is_not_registered(lab: Path, tmp_path: Path):
    strict = make_project(tmp_path / "strict", {"gates": {"evaluation": {"min_accuracy": 0.999}}})
    # same MLflow as the lab, different thresholds
    strict.write_text(strict.read_text().replace(f"mlflow_port: {_port_of(strict)}", f"mlflow_port: {_port_of(lab)}"))
    run_id = step_json(strict, "train")["run_id"]
    ev = cli(strict, "step", "evaluate", run_id)
    assert ev.returncode == 3 and "accuracy" in ev.stderr and "< min 0.999" in ev.stderr
    reg = cli(strict, "step", "register", run_id)
    assert reg.returncode == 3
    assert f"refusing to register run {run_id}" in reg.stderr and "< min 0.999" in reg.stderr
    versions = json.loads(cli(lab, "models", "list", "--json").stdout)
    assert all(v["run_id"] != run_id for v in versions)


def _port_of(config: Path) -> int:
    import yaml

    return yaml.safe_load(config.read_text())["lab"]["mlflow_port"]


def test_unknown_run_id(lab: Path):
    res = cli(lab, "step", "evaluate", "0123456789abcdef0123456789abcdef")
    assert res.returncode == 1
    assert "run id '0123456789abcdef0123456789abcdef' does not exist" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_version(lab: Path):
    res = cli(lab, "models", "show", "9999")
    assert res.returncode == 1 and "version '9999'" in res.stderr


def test_unreachable_mlflow_uri_is_named_after_a_bounded_wait(lab: Path):
    dead = f"http://127.0.0.1:{free_port()}"
    res = cli(lab, "models", "list", env={"MLFLOW_TRACKING_URI": dead, "CXOPS_MLFLOW_TIMEOUT": "2"}, timeout=60)
    assert res.returncode == 1
    assert dead in res.stderr and "timed out after 2s" in res.stderr


def test_lab_up_twice_is_idempotent(lab: Path):
    res = cli(lab, "lab", "up")
    assert res.returncode == 0 and "already running" in res.stdout
    status = json.loads(cli(lab, "lab", "status", "--json").stdout)
    assert next(r for r in status if r["service"] == "mlflow")["health"] == "ok"


def test_lab_up_on_a_busy_port_fails_cleanly(tmp_path: Path):
    config = make_project(tmp_path / "busy")
    port = _port_of(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        res = cli(config, "lab", "up")
    assert res.returncode == 1
    assert f"port {port}" in res.stderr and "lab.mlflow_port" in res.stderr
    assert not (tmp_path / "busy" / ".cxops" / "mlflow" / "mlflow.pid").exists()


def test_invalid_config_stops_before_anything_runs(tmp_path: Path):
    config = make_project(tmp_path / "bad", {"gates": {"evaluation": {"min_accuracy": 1.7}}})
    res = cli(config, "step", "train")
    assert res.returncode == 2 and "gates.evaluation.min_accuracy" in res.stderr
    assert not (tmp_path / "bad" / ".cxops").exists()
