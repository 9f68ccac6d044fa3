"""The cluster's MLflow on the site's Swift (`platform.object_store: external`, issue 29's cluster half):
`cxops cloud s3-credentials --to-cluster` against the lab's Swift (s3api + s3token on the lab's Keystone) and a real
etcd + kube-apiserver (tests/k8s_api/controlplane.py, the binaries scripts/install-go-tools builds), started per test.

Stand-ins, because no kubelet or image can run here: MLflow's pod is a local `mlflow server` built from the rendered
values file and the Secret read back from the API server (the community chart is in no registry reachable here), on
SQLite instead of CloudNativePG's PostgreSQL. Commands run from the project root with a user's environment:
clouds.yaml in the root, kubectl (Kubernetes v1.35.4's) on PATH, the kubeconfig where `cxops cluster kubeconfig`
writes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import free_port, serving_process

from tests.openstack.s3tools import (
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
    try:
        res = ok(run(root, "cloud", "s3-credentials", "--cloud", PASSWORD_CLOUD, "--to-cluster", tools=kubectl.parent))
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
        again = ok(run(root, "cloud", "s3-credentials", "--check", "--to-cluster", tools=kubectl.parent))
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
        argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
        argv += ["--serve-artifacts", "--artifacts-destination", f"s3://{s3['bucket']}"]
        url = f"http://127.0.0.1:{port}"
        with serving_process(argv, f"{url}/health", timeout=240, env=env, log=tmp_path / "mlflow.log"):
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
        remove_bucket(conn, CLUSTER_BUCKET)
        delete_ec2_credentials(password_conn)


def namespaces(root: Path) -> dict[str, str]:
    """The platform's and the workflows' namespaces of the project at ROOT (cxops.names)."""
    from cxops import names
    from cxops.config import load_config

    cfg = load_config(root / "cxops.yaml")
    return {"platform": names.platform_namespace(cfg), "workflows": names.workflows_namespace(cfg)}


def test_to_cluster_refuses_a_wrong_setup_with_one_line_and_creates_nothing(
    tmp_path: Path, openstack_lab, conn, password_conn, api_server
):
    """SeaweedFS configured, an endpoint other than the credentials', the API server down: one line each, exit 1,
    no EC2 credential made for the first, no bucket and no Secret for the others."""
    plane, kubectl = api_server
    root = tmp_path / "clone"
    endpoint = s3_endpoint(conn)
    cluster_project(root, openstack_lab, endpoint, store="seaweedfs")
    line = one_line_error(run(root, "cloud", "s3-credentials", "--to-cluster", tools=kubectl.parent))
    assert "--to-cluster is for platform.object_store: external; it is 'seaweedfs'" in line, line
    assert ec2_credentials(password_conn) == []
    try:
        ok(run(root, "cloud", "s3-credentials", "--cloud", PASSWORD_CLOUD))  # stored, for the cases below
        cluster_project(root, openstack_lab, "https://swift.example.org:7480")
        line = one_line_error(run(root, "cloud", "s3-credentials", "--check", "--to-cluster", tools=kubectl.parent))
        assert "workflows.s3_endpoint_url is 'https://swift.example.org:7480'" in line and endpoint in line, line

        cluster_project(root, openstack_lab, endpoint)
        kubeconfig = root / ".cxops" / "cluster" / "kubeconfig"
        kubeconfig.parent.mkdir(parents=True)
        kubeconfig.write_text(plane.admin_conf().replace(plane.url, f"https://127.0.0.1:{free_port()}"))
        line = one_line_error(run(root, "cloud", "s3-credentials", "--check", "--to-cluster", tools=kubectl.parent))
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
        delete_ec2_credentials(password_conn)
