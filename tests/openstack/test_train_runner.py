"""training.runner = openstack-instance: run on an ephemeral server, collect the MLflow run id, always delete."""

from __future__ import annotations

import pytest

from cxops.cloud.train_runner import train_on_instance
from cxops.errors import CxopsError
from tests.openstack.labtools import write_config

pytestmark = pytest.mark.openstack


def _config(tmp_path, **training):
    from cxops.config import load_config

    return load_config(write_config(tmp_path, training={"runner": "openstack-instance", "flavor": "m1.small",
                                                        "timeout_seconds": 60, **training}))


def test_returns_the_run_id_and_deletes_the_server(conn, tmp_path):
    cfg = _config(tmp_path)
    cmd = ["python3", "-c", "import json, os; json.dump({'mlflow_run_id': 'r-42', 'accuracy': 0.97}, "
                            "open(os.environ['CXOPS_RESULT'], 'w'))"]
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
