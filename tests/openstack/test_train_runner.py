"""training.runner = openstack-instance: run on an ephemeral server, collect the MLflow run id, always delete."""

from __future__ import annotations

import pytest

from cxops.cloud.train_runner import train_on_instance
from cxops.errors import CxopsError
from tests.openstack.labtools import write_config

pytestmark = pytest.mark.openstack


def _config(tmp_path, **training):
    from cxops.config import load_config

    return load_config(
        write_config(
            tmp_path, training={"runner": "openstack-instance", "flavor": "m1.small", "timeout_seconds": 60, **training}
        )
    )


def test_returns_the_run_id_and_deletes_the_server(conn, tmp_path):
    cfg = _config(tmp_path)
    cmd = [
        "python3",
        "-c",
        "import json, os; json.dump({'mlflow_run_id': 'r-42', 'accuracy': 0.97}, "
        "open(os.environ['CXOPS_RESULT'], 'w'))",
    ]
    out = train_on_instance(cfg, conn, tmp_path / ".cxops", cmd)
    assert out["run_id"] == "r-42" and out["result"]["accuracy"] == 0.97
    assert list(conn.compute.servers()) == []


def test_missing_run_id_fails_and_still_deletes(conn, tmp_path):
    with pytest.raises(CxopsError, match="wrote no mlflow_run_id"):
        train_on_instance(_config(tmp_path), conn, tmp_path / ".cxops", ["true"])
    assert list(conn.compute.servers()) == []


def test_gpu_flavor_without_capacity_is_refused(admin_conn, tmp_path):
    flavor = admin_conn.compute.create_flavor(name="g1.nohost", vcpus=1, ram=512, disk=1, is_public=True)
    admin_conn.compute.create_flavor_extra_specs(flavor, {"pci_passthrough:alias": "V100:1"})
    try:
        # no aggregate declares V100 hosts: the aggregate method counts 0 total, 0 available
        with pytest.raises(CxopsError, match="no GPU capacity free now"):
            train_on_instance(_config(tmp_path, flavor="g1.nohost"), admin_conn, tmp_path / ".cxops", ["true"])
    finally:
        admin_conn.compute.delete_flavor(flavor)


# What the instance runs in this test: the sandbox root has python3 but no cxops, so the "training" logs a real
# MLflow run through MLflow's REST API (the same server the outer step reads back) and hands its id over.
REST_TRAINING = """
import json, os, time, urllib.request
uri = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/"
def call(path, body):
    req = urllib.request.Request(uri + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
run_id = call("runs/create", {"experiment_id": "0", "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]
for key, value in {"train_accuracy": 0.97, "train_duration_seconds": 2.5, "train_cost": 0.001}.items():
    call("runs/log-metric", {"run_id": run_id, "key": key, "value": value, "timestamp": 0, "step": 0})
call("runs/set-tag", {"run_id": run_id, "key": "cxops.data_hash", "value": "abc123"})
call("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)})
json.dump({"mlflow_run_id": run_id}, open(os.environ["CXOPS_RESULT"], "w"))
"""


def test_train_step_on_an_instance_reads_back_the_mlflow_run(conn, tmp_path, monkeypatch):
    from helpers import free_port

    from cxops.pipeline.steps import train
    from cxops.registry.mlflow_server import MlflowLab

    mlflow = MlflowLab(free_port(), tmp_path / "mlflow", 90)
    mlflow.up()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow.url)
        cfg = _config(tmp_path, instance_command=["python3", "-c", REST_TRAINING])
        monkeypatch.setenv("CXOPS_CONFIG", str(tmp_path / "cxops.yaml"))
        result = train.run(cfg)
        assert result.metrics == {"train_accuracy": 0.97}
        assert result.duration_seconds == 2.5 and result.data_hash == "abc123"
        from mlflow.tracking import MlflowClient

        assert MlflowClient(mlflow.url).get_run(result.run_id).info.status == "FINISHED"
        assert list(conn.compute.servers()) == [], "the training server is always deleted"
    finally:
        mlflow.down()
