"""Job results through the object store (issue 29 item 4): `cxops job run --store CONTAINER`, `job result`,
`job cleanup [--keep-results]`, end to end on the local OpenStack.

Nothing here is a stand-in: the lab's Swift proxy with its tempurl and container_quotas middlewares (as Chameleon's
Swift has them), Nova's sandbox running the job's user data, which uploads through the temporary URLs. One job runs
the whole path; the bad inputs that stop before a server exists (a container that does not exist, a store that is
down) create none; the two that need a job (an expired upload URL, a result larger than the container allows) run
on m1.tiny. "Swift down" is the user's own clouds.yaml pointing the object store at a port where nothing listens
(`object_store_endpoint_override`), as the lab's Swift is shared by the session.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import yaml

from tests.openstack.labtools import cli, free_port, write_config

pytestmark = pytest.mark.openstack

WRITE_RESULT = (
    'import json, os; print("training on", os.uname().nodename); '
    'json.dump({"accuracy": 0.96, "mlflow_run_id": "0a1b2c"}, open(os.environ["CXOPS_RESULT"], "w"))'
)
QUOTA_BYTES = 2000  # the small container's X-Container-Meta-Quota-Bytes


@pytest.fixture(scope="module")
def containers(openstack_lab):
    """Two containers of the lab project for the module: one plain, one with a 2000-byte quota."""
    from cxops.cloud.connection import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", openstack_lab["clouds_yaml"])
        conn = connect(openstack_lab["cloud"])
    tag = secrets.token_hex(3)
    plain, small = f"cxops-jobs-{tag}", f"cxops-jobs-small-{tag}"
    conn.object_store.create_container(name=plain)
    conn.object_store.create_container(name=small)
    conn.object_store.set_container_metadata(small, quota_bytes=str(QUOTA_BYTES))
    try:
        yield conn, plain, small
    finally:
        for c in (plain, small):
            for obj in list(conn.object_store.objects(c)):
                conn.object_store.delete_object(obj, container=c)
            conn.object_store.delete_container(c)


def _objects(conn, container: str) -> list[str]:
    return sorted(o.name for o in conn.object_store.objects(container))


def _job(cfg: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
    return cli(cfg, "job", *args, env=env, timeout=timeout)


def _error_line(res) -> str:
    """The one `error:` line (progress lines about the server come before it on stderr)."""
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    return errors[0]


def test_a_result_comes_back_through_the_store_and_cleanup_removes_it(lab_env, conn, containers, tmp_path):
    _, plain, _ = containers
    cfg = write_config(tmp_path)
    run_args = ["--flavor", "m1.tiny", "--store", plain, "--keep"]  # --keep: the console stays for `job logs`
    res = _job(cfg, "run", "stored", *run_args, "--", "python3", "-c", WRITE_RESULT)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["result"] == {"accuracy": 0.96, "mlflow_run_id": "0a1b2c"} and doc["status"] == "succeeded"
    run = doc["run"]
    prefix = f"cxops-jobs/stored/{run}"
    assert f"result: from the object store ({plain}/{prefix}/result.json)" in res.stderr, res.stderr
    assert _objects(conn, plain) == [f"{prefix}/log.txt", f"{prefix}/result.json"]
    log = conn.object_store.download_object(f"{prefix}/log.txt", container=plain).decode()
    assert log.startswith("training on "), log  # the job's own output
    assert "store" not in doc  # the stored document is the console's without the upload's own outcome

    # the upload URLs (the job's credential) are nowhere a user or a log would see them
    logs = _job(cfg, "logs", "stored")
    show = _job(cfg, "show", "stored", "--json")
    state = (tmp_path / ".cxops" / "jobs" / "stored.json").read_text()
    for text in (res.stdout, res.stderr, logs.stdout, logs.stderr, show.stdout, state):
        assert "temp_url_sig" not in text and "temp_url_expires" not in text
    assert f"CXOPS-JOB-STORED {run} result uploaded " in logs.stdout, logs.stdout
    assert json.loads(show.stdout)["store"] == plain

    got = _job(cfg, "result", "stored")
    assert got.returncode == 0 and json.loads(got.stdout) == doc, got.stdout + got.stderr
    assert "result: from the object store" in got.stderr

    kept = _job(cfg, "cleanup", "stored", "--keep-results")
    assert kept.returncode == 0 and "server" in kept.stdout and "object" not in kept.stdout, kept.stdout + kept.stderr
    assert _objects(conn, plain) == [f"{prefix}/log.txt", f"{prefix}/result.json"]
    assert "result: from the object store" in _job(cfg, "result", "stored").stderr

    gone = _job(cfg, "cleanup", "stored")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert f"object {plain}/{prefix}/result.json" in gone.stdout and f"object {plain}/{prefix}/log.txt" in gone.stdout
    assert _objects(conn, plain) == []
    after = _job(cfg, "result", "stored")
    assert after.returncode == 0 and json.loads(after.stdout)["result"] == doc["result"]
    assert "result: from the console (the stored copy was deleted by `cxops job cleanup`)" in after.stderr


def test_a_container_that_does_not_exist_stops_before_a_server(lab_env, conn, tmp_path):
    cfg = write_config(tmp_path)
    res = _job(cfg, "run", "nostore", "--flavor", "m1.tiny", "--store", "no-such-container", "--", "true")
    line = _error_line(res)
    assert "container 'no-such-container' does not exist in project " in line, line
    assert "openstack container create no-such-container" in line
    assert conn.compute.find_server("cxops-demo-proj01-job-nostore", ignore_missing=True) is None
    assert not (tmp_path / ".cxops" / "jobs" / "nostore.json").exists()
    assert "no-such-container" not in [c.name for c in conn.object_store.containers()]


def test_a_store_that_does_not_answer_is_down_not_missing(lab_env, openstack_lab, conn, containers, tmp_path):
    _, plain, _ = containers
    clouds = yaml.safe_load(Path(openstack_lab["clouds_yaml"]).read_text())
    entry = clouds["clouds"][openstack_lab["cloud"]]
    dead = f"http://127.0.0.1:{free_port()}/v1/AUTH_{conn.current_project_id}"
    entry["object_store_endpoint_override"] = dead
    mine = tmp_path / "clouds.yaml"
    mine.write_text(yaml.safe_dump({"clouds": {openstack_lab["cloud"]: entry}}))
    cfg = write_config(tmp_path)
    res = _job(cfg, "run", "down", "--store", plain, "--", "true", env={"OS_CLIENT_CONFIG_FILE": str(mine)})
    line = _error_line(res)
    assert f"the object store at {dead} is down" in line and "not exist" not in line, line
    assert conn.compute.find_server("cxops-demo-proj01-job-down", ignore_missing=True) is None


# case: (store container key, job command, --store-url-seconds, words of the error line)
REFUSED = {
    "an upload URL that has expired": (
        "plain",
        ["sh", "-c", 'sleep 4; echo \'{"n": 1}\' > "$CXOPS_RESULT"'],
        ["--store-url-seconds", "1"],
        ["the upload was refused: HTTP 401", "the temporary URL was wrong or had expired"],
    ),
    "a result larger than the container allows": (
        "small",
        ["python3", "-c", "import json, os; json.dump({'x': 'y' * 4000}, open(os.environ['CXOPS_RESULT'], 'w'))"],
        [],
        ["the upload was refused: HTTP 413", "larger than the container allows", "the job's data directory"],
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_an_upload_the_store_refuses_is_one_line_and_leaves_nothing(lab_env, conn, containers, tmp_path, case):
    _, plain, small = containers
    key, command, extra, words = REFUSED[case]
    container = {"plain": plain, "small": small}[key]
    before = _objects(conn, container)
    cfg = write_config(tmp_path)
    res = _job(cfg, "run", "refused", "--flavor", "m1.tiny", "--store", container, *extra, "--", *command)
    line = _error_line(res)
    assert line.startswith(f"error: job refused succeeded but its result is not in container {container}: "), line
    for w in words:
        assert w in line, (w, line)
    assert "temp_url_sig" not in res.stdout + res.stderr
    run = json.loads(res.stdout)["run"] if res.stdout.strip() else None
    assert not [o for o in _objects(conn, container) if o not in before and o.endswith("result.json")]  # no half
    if run:
        assert f"cxops-jobs/refused/{run}/result.json" not in _objects(conn, container)
    assert _job(cfg, "cleanup", "refused").returncode == 0
    assert _objects(conn, container) == before
