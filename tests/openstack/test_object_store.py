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
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import free_port, make_project, model_server

pytestmark = [pytest.mark.openstack, pytest.mark.timeout(900)]

BUCKET = "cxops-e2e-artifacts"
PASSWORD_CLOUD = "cxops-lab-password"  # the lab user's password login (scripts/openstack_lab/seed.py)
CXOPS = str(Path(sys.executable).parent / "cxops")


def project(root: Path, lab: dict[str, Any]) -> Path:
    """A project whose cloud is the lab and whose MLflow keeps artifacts in Swift; clouds.yaml in its root."""
    config = make_project(
        root,
        {"cloud": {"name": lab["cloud"]}, "lab": {"artifact_store": "swift"}, "platform": {"artifacts_bucket": BUCKET}},
    )
    clouds = yaml.safe_load(Path(lab["clouds_yaml"]).read_text())["clouds"]
    mine = {name: clouds[name] for name in (lab["cloud"], PASSWORD_CLOUD)}
    (root / "clouds.yaml").write_text(yaml.safe_dump({"clouds": mine}))
    return config


def run(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
    }
    started = time.monotonic()
    res = subprocess.run([CXOPS, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(f"cxops {' '.join(args)}: exit {res.returncode} in {time.monotonic() - started:.0f}s\n")
    return res


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def ec2_credentials(conn) -> list[dict[str, Any]]:
    """The tester's EC2 credentials for the lab project, as Keystone lists them."""
    listed = conn.identity.get(f"/users/{conn.current_user_id}/credentials/OS-EC2").json()["credentials"]
    return [c for c in listed if c["tenant_id"] == conn.current_project_id]


def one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


@pytest.fixture
def password_conn(lab_env):
    from cxops.cloud.connection import connect

    return connect(PASSWORD_CLOUD)


def s3_endpoint(conn) -> str:
    """The lab's Swift proxy as the catalog names it (scheme, host and port: its S3 API is at the root); the port
    depends on the lab's CXOPS_LAB_PORT_OFFSET (tests/openstack/conftest.py gives each worker's lab its own)."""
    url = urllib.parse.urlsplit(conn.endpoint_for("object-store"))
    return f"{url.scheme}://{url.netloc}"


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
        if BUCKET in [c.name for c in conn.object_store.containers()]:
            for obj in list(conn.object_store.objects(BUCKET)):
                conn.object_store.delete_object(obj, container=BUCKET)
            conn.object_store.delete_container(BUCKET)
        for cred in ec2_credentials(password_conn):
            password_conn.identity.delete(f"/users/{password_conn.current_user_id}/credentials/OS-EC2/{cred['access']}")


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


# --- the cluster's MLflow on the site's Swift (platform.object_store: external) ---

CLUSTER_BUCKET = "cxops-e2e-cluster-artifacts"


def cluster_project(root: Path, lab: dict[str, Any], endpoint: str, store: str = "external") -> Path:
    """A project whose cluster keeps MLflow's artifacts in the lab's Swift, with the kubeconfig `cxops cluster
    kubeconfig` would have written; clouds.yaml in its root."""
    overrides: dict[str, Any] = {
        "cloud": {"name": lab["cloud"]},
        "platform": {"object_store": store, "artifacts_bucket": CLUSTER_BUCKET},
        "workflows": {"s3_endpoint_url": endpoint},
    }
    config = project(root, lab)
    raw = yaml.safe_load(config.read_text())
    for key, value in overrides.items():
        raw.setdefault(key, {}).update(value)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config


def run_with_kubectl(root: Path, kubectl: Path, *args: str) -> subprocess.CompletedProcess:
    """`cxops ARGS` as a user with kubectl on PATH (the Kubernetes release's own, v1.35.4) runs it."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:{kubectl.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
    }
    res = subprocess.run([CXOPS, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    sys.stderr.write(f"cxops {' '.join(args)}: exit {res.returncode}\n")
    return res


@pytest.fixture
def api_server(tmp_path: Path):
    """A real etcd + kube-apiserver (tests/k8s_api/controlplane.py; the binaries scripts/install-go-tools built),
    stopped by PID after the test. Kubelets cannot run here, so MLflow's pod is started below as a process."""
    from k8s_api.controlplane import ControlPlane, go_tools

    tools = go_tools()
    plane = ControlPlane(tmp_path / "apiserver", tools)
    (tmp_path / "apiserver").mkdir()
    try:
        plane.start()
        yield plane, tools["kubectl"]
    finally:
        plane.stop()


def secret_data(kubectl: Path, plane, namespace: str, name: str) -> dict[str, str]:
    import base64

    res = subprocess.run(
        [str(kubectl), f"--kubeconfig={plane.kubeconfig}", "-n", namespace, "get", "secret", name, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return {k: base64.b64decode(v).decode() for k, v in json.loads(res.stdout)["data"].items()}


def test_the_clusters_mlflow_keeps_its_artifacts_in_the_sites_swift(
    tmp_path: Path, openstack_lab, conn, password_conn, api_server
):
    """`cxops cloud s3-credentials --to-cluster` puts the EC2 credentials into the S3 Secret of both namespaces of
    a real API server and creates the bucket; an MLflow server configured as the platform's values say (the
    artifacts proxied to `s3://<bucket>` at MLFLOW_S3_ENDPOINT_URL, credentials from that Secret) keeps a logged,
    registered model in the lab's Swift, and serves it back.

    Stand-ins, since no kubelet or image runs here: the MLflow pod is a local `mlflow server` process built from
    the rendered values file and the Secret read back from the API server (the community chart itself is not
    served by any registry reachable here); its backend store is SQLite instead of CloudNativePG's PostgreSQL."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    plane, kubectl = api_server
    root = tmp_path / "clone"
    cluster_project(root, openstack_lab, s3_endpoint(conn))
    kubeconfig = root / ".cxops" / "cluster" / "kubeconfig"  # where `cxops cluster kubeconfig` writes it
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text(plane.admin_conf())
    kubeconfig.chmod(0o600)
    server = None
    try:
        res = ok(run_with_kubectl(root, kubectl, "cloud", "s3-credentials", "--cloud", PASSWORD_CLOUD, "--to-cluster"))
        assert f"bucket {CLUSTER_BUCKET} created" in res.stdout, res.stdout
        [made] = ec2_credentials(password_conn)
        assert made["secret"] not in res.stdout + res.stderr
        assert CLUSTER_BUCKET in [c.name for c in conn.object_store.containers()]
        ok(run(root, "k8s", "render", "--out", str(tmp_path / "rendered")))
        values = yaml.safe_load((tmp_path / "rendered" / "k8s" / "platform" / "mlflow" / "values.yaml").read_text())
        s3 = values["artifactRoot"]["s3"]
        spaces = namespaces(root)
        keys = secret_data(kubectl, plane, spaces["platform"], s3["existingSecret"]["name"])
        assert keys == {"AWS_ACCESS_KEY_ID": made["access"], "AWS_SECRET_ACCESS_KEY": made["secret"]}
        # the workflow pods' copy: the same values
        assert secret_data(kubectl, plane, spaces["workflows"], s3["existingSecret"]["name"]) == keys
        again = ok(run_with_kubectl(root, kubectl, "cloud", "s3-credentials", "--check", "--to-cluster"))
        assert f"bucket {CLUSTER_BUCKET} exists" in again.stdout, again.stdout

        port = free_port()
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            **values["extraEnvVars"],
            "AWS_ACCESS_KEY_ID": keys[s3["existingSecret"]["keyOfAccessKeyId"]],
            "AWS_SECRET_ACCESS_KEY": keys[s3["existingSecret"]["keyOfSecretAccessKey"]],
        }
        assert values["artifactRoot"]["proxiedArtifactStorage"] is True
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{tmp_path / 'mlflow.db'}",
                "--serve-artifacts",
                "--artifacts-destination",
                f"s3://{s3['bucket']}",
            ],
            env=env,
            stdout=(tmp_path / "mlflow.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/health", server, tmp_path / "mlflow.log")

        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("cluster-swift")
        model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        with mlflow.start_run() as active:
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name="cluster-swift")
        names = [o.name for o in conn.object_store.objects(CLUSTER_BUCKET)]
        assert any(n.endswith("MLmodel") for n in names), names  # in the site's Swift, through the server
        loaded = mlflow.pyfunc.load_model(f"models:/cluster-swift/{info.registered_model_version}")
        assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]
        assert active.info.run_id
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if CLUSTER_BUCKET in [c.name for c in conn.object_store.containers()]:
            for obj in list(conn.object_store.objects(CLUSTER_BUCKET)):
                conn.object_store.delete_object(obj, container=CLUSTER_BUCKET)
            conn.object_store.delete_container(CLUSTER_BUCKET)
        for cred in ec2_credentials(password_conn):
            password_conn.identity.delete(f"/users/{password_conn.current_user_id}/credentials/OS-EC2/{cred['access']}")


def namespaces(root: Path) -> dict[str, str]:
    """The platform's and the workflows' namespaces of the project at ROOT (cxops.names)."""
    from cxops import names
    from cxops.config import load_config

    cfg = load_config(root / "cxops.yaml")
    return {"platform": names.platform_namespace(cfg), "workflows": names.workflows_namespace(cfg)}


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Until URL answers 200 (backoff to 2 s); AssertionError with the log's tail when PROC exits or time is up."""
    deadline, delay = time.monotonic() + timeout, 0.25
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} not up in {timeout}s: {log.read_text(errors='replace')[-2000:]}"
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def test_to_cluster_refuses_a_wrong_setup_with_one_line_and_creates_nothing(
    tmp_path: Path, openstack_lab, conn, password_conn, api_server
):
    """SeaweedFS configured, an endpoint other than the credentials', the API server down: one line each, exit 1,
    no EC2 credential made for the first, no bucket and no Secret for the others."""
    plane, kubectl = api_server
    root = tmp_path / "clone"
    endpoint = s3_endpoint(conn)
    cluster_project(root, openstack_lab, endpoint, store="seaweedfs")
    line = one_line_error(run_with_kubectl(root, kubectl, "cloud", "s3-credentials", "--to-cluster"))
    assert "--to-cluster is for platform.object_store: external; it is 'seaweedfs'" in line, line
    assert ec2_credentials(password_conn) == []
    try:
        ok(run(root, "cloud", "s3-credentials", "--cloud", PASSWORD_CLOUD))  # stored, for the cases below
        cluster_project(root, openstack_lab, "https://swift.example.org:7480")
        line = one_line_error(run_with_kubectl(root, kubectl, "cloud", "s3-credentials", "--check", "--to-cluster"))
        assert "workflows.s3_endpoint_url is 'https://swift.example.org:7480'" in line and endpoint in line, line

        cluster_project(root, openstack_lab, endpoint)
        kubeconfig = root / ".cxops" / "cluster" / "kubeconfig"
        kubeconfig.parent.mkdir(parents=True)
        kubeconfig.write_text(plane.admin_conf().replace(plane.url, f"https://127.0.0.1:{free_port()}"))
        line = one_line_error(run_with_kubectl(root, kubectl, "cloud", "s3-credentials", "--check", "--to-cluster"))
        assert "the cluster's API server is down" in line and "not found" not in line.lower(), line
        assert CLUSTER_BUCKET not in [c.name for c in conn.object_store.containers()]
        res = subprocess.run(
            [str(kubectl), f"--kubeconfig={plane.kubeconfig}", "get", "secrets", "-A", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "cxops-s3-credentials" not in res.stdout
    finally:
        for cred in ec2_credentials(password_conn):
            password_conn.identity.delete(f"/users/{password_conn.current_user_id}/credentials/OS-EC2/{cred['access']}")
