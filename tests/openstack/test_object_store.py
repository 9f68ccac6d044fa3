"""Chameleon's object store in the lab: Swift with s3api + s3token against the lab's Keystone (scripts/openstack-lab),
EC2 credentials made through Keystone by `cxops cloud s3-credentials`, and the lab's MLflow keeping its artifacts in a
Swift container through MLflow's S3 client (`lab.artifact_store: swift`).

Keystone refuses application-credential logins on its EC2 credentials API (the fix for LP#2159643 in Debian's
keystone): the credentials are made with the clouds.yaml entry that logs in with the lab user's password, and the
application-credential entry gets one clear line (the last test).

Nothing here is a stand-in: Swift's proxy and account/container/object servers (Debian's), Keystone's EC2 and
s3tokens APIs, MLflow and boto3 are the real ones. "Swift down" is an endpoint where nothing listens (the lab's
Swift is shared by the whole session and is not stopped for one case). Commands run from the project root with a
user's environment: clouds.yaml (the lab user's application credential) in the root, no OS_* variables.
"""

from __future__ import annotations

import json
import stat
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from helpers import free_port, model_server

from tests.openstack.s3tools import (
    BUCKET,
    PASSWORD_CLOUD,
    delete_ec2_credentials,
    ec2_credentials,
    ok,
    one_line_error,
    project,
    remove_bucket,
    run,
    s3_endpoint,
)

pytestmark = [pytest.mark.openstack, pytest.mark.timeout(900)]


def test_s3_credentials_and_mlflow_artifacts_in_swift(tmp_path: Path, openstack_lab, conn, password_conn):
    import mlflow
    from sklearn.linear_model import LogisticRegression

    root = tmp_path / "clone"
    project(root, openstack_lab)
    assert ec2_credentials(password_conn) == []
    try:
        res = ok(run(root, "cloud", "s3-credentials", "--cloud", PASSWORD_CLOUD))
        assert "created EC2 credentials" in res.stdout and "accepts them (0 buckets)" in res.stdout, res.stdout
        path = root / ".cxops" / "s3-credentials.json"
        stored = json.loads(path.read_text())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stored["endpoint_url"] == s3_endpoint(conn)  # the catalog's object-store URL, path dropped
        [made] = ec2_credentials(password_conn)
        assert (made["access"], made["secret"]) == (stored["access_key"], stored["secret_key"])
        assert made["secret"] not in res.stdout + res.stderr and made["access"] not in res.stdout + res.stderr

        res = ok(run(root, "cloud", "s3-credentials", "--cloud", PASSWORD_CLOUD))  # a second run reuses it
        assert "reused EC2 credentials" in res.stdout
        assert [c["access"] for c in ec2_credentials(password_conn)] == [made["access"]]
        assert "accepts them" in ok(run(root, "cloud", "s3-credentials", "--check")).stdout

        assert BUCKET not in [c.name for c in conn.object_store.containers()]
        up = ok(run(root, "lab", "up", timeout=300))
        assert "MLflow started" in up.stdout
        assert BUCKET in [c.name for c in conn.object_store.containers()]  # created by lab up, in Swift

        lab_cfg = yaml.safe_load((root / "cxops.yaml").read_text())["lab"]
        mlflow.set_tracking_uri(f"http://127.0.0.1:{lab_cfg['mlflow_port']}")
        mlflow.set_experiment("swift-artifacts")
        model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        with mlflow.start_run() as active:
            mlflow.log_text("kept in swift", "notes/hello.txt")
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name="swift-e2e")
        names = [o.name for o in conn.object_store.objects(BUCKET)]
        assert any(n.endswith(f"{active.info.run_id}/artifacts/notes/hello.txt") for n in names), names
        assert any(n.endswith("MLmodel") for n in names), names  # the logged model's files are in Swift too
        assert not (root / ".cxops" / "mlflow" / "artifacts").exists()  # and not on the local disk

        got = mlflow.artifacts.download_artifacts(f"runs:/{active.info.run_id}/notes/hello.txt", dst_path=tmp_path)
        assert Path(got).read_text() == "kept in swift"
        loaded = mlflow.pyfunc.load_model(f"models:/swift-e2e/{info.registered_model_version}")
        assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]

        # the project's own model through the pipeline's steps, as a user runs them: its artifacts go to Swift, the
        # build reads them back through MLflow, and the build is served
        models_before = {o.name for o in conn.object_store.objects(BUCKET) if o.name.endswith("/MLmodel")}
        trained = json.loads(ok(run(root, "step", "train", "--json", timeout=600)).stdout)
        ok(run(root, "step", "evaluate", trained["run_id"], "--json", timeout=600))
        version = json.loads(ok(run(root, "step", "register", trained["run_id"], "--json")).stdout)["version"]
        models = {o.name for o in conn.object_store.objects(BUCKET) if o.name.endswith("/MLmodel")}
        assert models - models_before, "the trained model's files are not in Swift"  # MLflow 3: <exp>/models/m-…
        build = json.loads(ok(run(root, "step", "build", version, "--json", timeout=600)).stdout)
        with model_server(Path(build["path"])) as (url, _proc), urllib.request.urlopen(f"{url}/version") as resp:
            served = json.loads(resp.read())
        assert str(served["version"]) == version and served["model_digest"] == build["model_digest"], served
    finally:
        run(root, "lab", "down", timeout=120)
        remove_bucket(conn, BUCKET)
        delete_ec2_credentials(password_conn)


def test_bad_s3_credentials_and_a_down_store_each_stop_with_one_line(tmp_path: Path, openstack_lab, conn):
    """Wrong credentials, a store that does not answer, no credentials at all: one line each, exit 1, MLflow not
    started and no bucket made."""
    root = tmp_path / "clone"
    project(root, openstack_lab)
    path = root / ".cxops" / "s3-credentials.json"
    pid_file = root / ".cxops" / "mlflow" / "mlflow.pid"

    line = one_line_error(run(root, "lab", "up"))
    assert f"no S3 credentials at {path}" in line and "cxops cloud s3-credentials" in line, line
    # the application credential (the project's default cloud entry): Keystone refuses it on the EC2 API
    line = one_line_error(run(root, "cloud", "s3-credentials"))
    assert f"cloud '{openstack_lab['cloud']}'" in line and "application credential" in line, line
    assert "--cloud NAME" in line and not path.exists()

    path.parent.mkdir(parents=True, exist_ok=True)
    wrong = {
        "endpoint_url": s3_endpoint(conn),
        "access_key": "0123456789abcdef0123456789abcdef",
        "secret_key": "not-the-secret",
        "cloud": openstack_lab["cloud"],
        "project_id": conn.current_project_id,
    }
    path.write_text(json.dumps(wrong))
    line = one_line_error(run(root, "cloud", "s3-credentials", "--check"))
    # s3token asks Keystone, which knows no such access key: Swift answers SignatureDoesNotMatch
    assert "rejected the credentials with access key 012345" in line and "SignatureDoesNotMatch" in line, line
    assert "not-the-secret" not in line
    line = one_line_error(run(root, "lab", "up"))
    assert "rejected the credentials with access key 012345" in line, line
    assert not pid_file.exists() and BUCKET not in [c.name for c in conn.object_store.containers()]

    path.write_text(json.dumps({**wrong, "endpoint_url": f"http://127.0.0.1:{free_port()}"}))
    line = one_line_error(run(root, "cloud", "s3-credentials", "--check"))
    assert "is down (no answer to a bucket listing)" in line and "not found" not in line.lower(), line
