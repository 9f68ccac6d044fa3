"""`cxops job run|logs|status|list|cleanup` end to end on the local OpenStack (the sandbox runs user-data)."""

from __future__ import annotations

import json

import pytest

from tests.openstack.labtools import cli, write_config

pytestmark = pytest.mark.openstack

WRITE_RESULT = (
    'import json, os; print("training on", os.uname().nodename); '
    'json.dump({"accuracy": 0.96, "mlflow_run_id": "0a1b2c"}, open(os.environ["CXOPS_RESULT"], "w"))'
)


def _job(cfg, *args, timeout=300):
    return cli(cfg, "job", *args, timeout=timeout)


def test_run_logs_result_cleanup(lab_env, conn, tmp_path):
    cfg = write_config(tmp_path)
    res = _job(
        cfg,
        "run",
        "train1",
        "--flavor",
        "m1.small",
        "--volume-gb",
        "1",
        "--volume-wait",
        "1",
        "--floating-ip",
        "--keep",
        "--deadline",
        "120",
        "--",
        "python3",
        "-c",
        WRITE_RESULT,
    )
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["status"] == "succeeded" and result["exit_code"] == 0
    assert result["result"] == {"accuracy": 0.96, "mlflow_run_id": "0a1b2c"}

    state = json.loads((tmp_path / ".cxops" / "jobs" / "train1.json").read_text())
    assert state["volume_id"] and state["floating_ip"].startswith("203.0.113.")
    assert conn.compute.get_server(state["server_id"]).status in ("ACTIVE", "SHUTOFF")  # --keep kept it

    logs = _job(cfg, "logs", "train1")
    assert logs.returncode == 0, logs.stderr
    assert "training on" in logs.stdout and "CXOPS-JOB-BEGIN" in logs.stdout
    assert "--- job train1: SUCCEEDED" in logs.stdout
    assert json.loads(logs.stdout.split("--- job train1: SUCCEEDED\n", 1)[1]) == result

    st = json.loads(_job(cfg, "status", "train1", "--json").stdout)
    assert st["status"] == "SUCCEEDED" and st["exit_code"] == 0
    listing = json.loads(_job(cfg, "list", "--json").stdout)
    assert [(j["name"], j["status"]) for j in listing] == [("train1", "SUCCEEDED")]

    clean = _job(cfg, "cleanup", "train1")
    assert clean.returncode == 0, clean.stderr
    assert "server" in clean.stdout and "volume" in clean.stdout and "floating IP" in clean.stdout
    assert conn.compute.find_server(state["server_id"], ignore_missing=True) is None
    assert conn.block_storage.find_volume(state["volume_id"], ignore_missing=True) is None
    again = _job(cfg, "cleanup", "train1")  # idempotent
    assert again.returncode == 0 and "nothing left" in again.stdout


def test_failing_command_reports_exit_code_and_is_deleted(lab_env, tmp_path):
    cfg = write_config(tmp_path)
    res = _job(cfg, "run", "fails", "--flavor", "m1.tiny", "--json", "--", "sh", "-c", "echo boom >&2; exit 3")
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["status"] == "FAILED" and out["result"]["exit_code"] == 3
    assert "error: job fails ended FAILED" in res.stderr


def test_server_in_error_is_cleaned_up(lab_env, admin_conn, tmp_path):
    # bigger than any lab hypervisor's disk: the scheduler finds no host and the server goes to ERROR
    flavor = admin_conn.compute.create_flavor(name="lab.toobig", vcpus=1, ram=512, disk=900000, is_public=True)
    try:
        res = _job(write_config(tmp_path), "run", "noroom", "--flavor", "lab.toobig", "--", "true")
    finally:
        admin_conn.compute.delete_flavor(flavor)
    assert res.returncode == 1
    assert "went to ERROR" in res.stderr and "No valid host" in res.stderr
    assert "deleted server" in res.stderr
    state = json.loads((tmp_path / ".cxops" / "jobs" / "noroom.json").read_text())
    assert state["status"] == "ERROR" and state["cleaned_up"] is True


def test_job_exceeding_its_deadline(lab_env, tmp_path):
    cfg = write_config(tmp_path)
    res = _job(
        cfg, "run", "slow", "--flavor", "m1.tiny", "--deadline", "2", "--json", "--", "sleep", "600", timeout=120
    )
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["status"] == "DEADLINE_EXCEEDED"
    assert out["result"]["exit_code"] == 124 and out["result"]["status"] == "deadline_exceeded"


def test_detached_job_status_moves_on_and_name_is_not_reused(lab_env, tmp_path):
    from cxops.waiting import wait_until

    cfg = write_config(tmp_path)
    res = _job(cfg, "run", "bg", "--flavor", "m1.tiny", "--detach", "--", "sh", "-c", "sleep 2; echo done")
    assert res.returncode == 0, res.stderr
    dup = _job(cfg, "run", "bg", "--flavor", "m1.tiny", "--", "true")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    seen = []

    def finished():
        st = json.loads(_job(cfg, "status", "bg", "--json").stdout)["status"]
        seen.append(st)
        return st == "SUCCEEDED"

    wait_until(finished, timeout=60, what="detached job to succeed")
    assert set(seen) <= {"BOOTING", "RUNNING", "SUCCEEDED"}
    assert _job(cfg, "cleanup", "bg").returncode == 0


def test_bad_inputs_are_one_line_errors(lab_env, tmp_path):
    cfg = write_config(tmp_path)
    res = _job(cfg, "run", "Bad_Name", "--", "true")
    assert res.returncode == 1 and "must be a DNS label" in res.stderr
    res = _job(cfg, "run", "x1", "--flavor", "m9.huge", "--", "true")
    assert res.returncode == 1 and "flavor 'm9.huge' not found" in res.stderr and "m1.small" in res.stderr
    res = _job(cfg, "run", "x2", "--flavor", "m1.tiny", "--gpu", "V100", "--", "true")
    assert res.returncode == 1 and "has no GPU" in res.stderr
    res = _job(cfg, "logs", "never-ran")
    assert res.returncode == 1 and "no job named 'never-ran'" in res.stderr
