"""What the object-store tests share: a project on the lab with clouds.yaml in its root, `cxops` run as a user runs
it, the lab user's EC2 credentials as Keystone lists them, and the one-line-error check."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml
from helpers import make_project

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


def run(root: Path, *args: str, timeout: float = 300, tools: Path | None = None) -> subprocess.CompletedProcess:
    """`cxops ARGS` from the project root with a user's environment; TOOLS is a directory of programs the user has
    on PATH besides (kubectl)."""
    extra = f"{tools}:" if tools else ""
    env = {
        "PATH": f"{Path(sys.executable).parent}:{extra}/usr/local/bin:/usr/bin:/bin",
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


def s3_endpoint(conn) -> str:
    """The lab's Swift proxy as the catalog names it (scheme, host and port: its S3 API is at the root); the port
    depends on the lab's CXOPS_LAB_PORT_OFFSET (tests/openstack/conftest.py gives each worker's lab its own)."""
    url = urllib.parse.urlsplit(conn.endpoint_for("object-store"))
    return f"{url.scheme}://{url.netloc}"


def remove_bucket(conn, bucket: str) -> None:
    """Delete BUCKET (a Swift container) and its objects, when it exists."""
    if bucket in [c.name for c in conn.object_store.containers()]:
        for obj in list(conn.object_store.objects(bucket)):
            conn.object_store.delete_object(obj, container=bucket)
        conn.object_store.delete_container(bucket)


def delete_ec2_credentials(password_conn) -> None:
    """Delete every EC2 credential the tester holds for the lab project."""
    for cred in ec2_credentials(password_conn):
        password_conn.identity.delete(f"/users/{password_conn.current_user_id}/credentials/OS-EC2/{cred['access']}")
