"""`cxops cluster credentials SERVICE`: one login, on a terminal only.

No Kubernetes API server can run here, so kubectl is a stand-in: a script that answers `get secret NAME -o json`
with a Secret holding a random value made by the test (and records its arguments). Everything else is real: the
CLI in a subprocess, a real pseudo-terminal (pty) for the run that may show the value, a pipe for the one that
must refuse; the test checks the value appears on the terminal, and never in a pipe, an error or the arguments.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import secrets
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

from cxops import names
from cxops.cluster import credentials
from cxops.cluster_secrets import catalogue
from cxops.config import load_config

CFG = load_config(REPO / "cxops.yaml")


def _stand_in(tmp_path: Path, data: dict[str, str], fail: bool = False) -> Path:
    """A kubectl that prints a Secret with `data` (base64-encoded, as the API does) or fails like a down API."""
    args_log = tmp_path / "kubectl-args.json"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    script = tmp_path / "kubectl"
    body = f"import json, sys\njson.dump(sys.argv[1:], open({str(args_log)!r}, 'w'))\n" + (
        "sys.stderr.write('The connection to the server 127.0.0.1:6443 was refused\\n'); sys.exit(1)\n"
        if fail
        else f"print(json.dumps({secret!r}))\n"
    )
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return script


def _env(kubectl: Path) -> dict[str, str]:
    return {**os.environ, "CXOPS_CONFIG": str(REPO / "cxops.yaml"), "CXOPS_KUBECTL": str(kubectl), "NO_COLOR": "1"}


def _run_on_pty(argv: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run with stdout and stderr on a fresh pseudo-terminal; (exit code, everything the terminal showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=REPO)
    os.close(follower)
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=10), out.decode(errors="replace")


def test_shows_the_login_on_a_terminal(tmp_path: Path):
    password = secrets.token_urlsafe(24)
    kubectl = _stand_in(tmp_path, {"admin-user": "admin", "admin-password": password})
    code, shown = _run_on_pty([sys.executable, "-m", "cxops", "cluster", "credentials", "grafana"], _env(kubectl))
    assert code == 0, shown
    assert password in shown and "admin" in shown
    args = json.loads((tmp_path / "kubectl-args.json").read_text())
    assert args[-7:] == [
        "-n",
        names.platform_namespace(CFG),
        "get",
        "secret",
        names.grafana_admin_secret(CFG),
        "-o",
        "json",
    ]
    assert password not in " ".join(args)


def test_refuses_when_stdout_is_not_a_terminal(tmp_path: Path):
    password = secrets.token_urlsafe(24)
    kubectl = _stand_in(tmp_path, {"admin-user": "admin", "admin-password": password})
    proc = subprocess.run(
        [sys.executable, "-m", "cxops", "cluster", "credentials", "grafana"],
        capture_output=True,
        text=True,
        env=_env(kubectl),
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert password not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a terminal" in lines[0] and "kubectl -n" in lines[0], proc.stderr
    assert not (tmp_path / "kubectl-args.json").exists(), "it asked the cluster before refusing"


def test_a_down_api_is_reported_as_such_without_a_value(tmp_path: Path):
    kubectl = _stand_in(tmp_path, {}, fail=True)
    code, shown = _run_on_pty([sys.executable, "-m", "cxops", "cluster", "credentials", "mlflow"], _env(kubectl))
    assert code == 1
    assert "refused" in shown and names.mlflow_admin_secret(CFG) in shown


def test_an_unknown_service_names_the_valid_ones():
    from cxops.errors import CxopsError

    with pytest.raises(CxopsError, match="argocd, mlflow, grafana"):
        credentials.find(CFG, "jenkins")


def test_every_login_is_a_catalogued_secret_with_those_keys():
    cat = {(s.namespace, s.name): set(s.keys) for s in catalogue(CFG)}
    for login in credentials.logins(CFG).values():
        assert {login.user_key, login.password_key} <= cat[(login.namespace, login.secret)], login.service
