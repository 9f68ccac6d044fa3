"""`cxops serve --model-dir` as the README names it (issue 31, item 5): the real CLI in its own process, started in
the project folder with the build folder `.cxops/builds/<model>/<v>` (not its context/), prints one line saying what it
serves and where, and answers there; a port in use is one clear line and exit 1 (not uvicorn's log and exit 3,
the code for "a gate said no"). The build is a real one from the session's lab (real MLflow)."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers import cli, free_port, lab_build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def build_folder(cfg) -> Path:
    """`.cxops/builds/<model>/<v>`: the folder that holds a build (its context/ is what the server loads)."""
    return lab_build(cfg).parent


def _serve(project: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CXOPS_CONFIG"}  # found from the working directory
    return subprocess.Popen(
        [sys.executable, "-m", "cxops", "serve", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_line(proc: subprocess.Popen, timeout: float = 120) -> str:
    """The first line the server prints on stdout, waiting at most TIMEOUT seconds."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if sel.select(timeout=1):
            return proc.stdout.readline()
    raise AssertionError(
        f"no start-up line within {timeout}s (exit {proc.poll()}): {proc.stderr.read() if proc.stderr else ''}"
    )


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.parametrize("form", ["build folder", "context", "model files"])
def test_serve_accepts_the_build_folder_and_says_where_it_listens(lab: Path, build_folder: Path, form: str):
    project = lab.parent
    named = {
        "build folder": build_folder,
        "context": build_folder / "context",
        "model files": build_folder / "context" / "model",
    }[form]
    port = free_port()
    proc = _serve(project, "--model-dir", str(named.relative_to(project)), "--port", str(port))
    try:
        line = _first_line(proc)
        lineage = json.loads((build_folder / "context" / "version.json").read_text())
        assert f"serving {lineage['name']} version {lineage['version']} (local)" in line, line
        assert f"on http://127.0.0.1:{port}" in line, line
        answer = httpx.get(f"http://127.0.0.1:{port}/version", timeout=10).json()
        assert str(answer["version"]) == str(lineage["version"]), answer
    finally:
        _stop(proc)


def test_a_port_in_use_is_one_line_and_exit_1(lab: Path, build_folder: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        proc = _serve(lab.parent, "--model-dir", str(build_folder), "--port", str(port))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (proc.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0] and "in use" in lines[0], err
    assert "serving" not in out


def test_a_folder_without_a_build_names_what_to_pass(lab: Path, tmp_path: Path):
    proc = _serve(lab.parent, "--model-dir", str(tmp_path))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1 and "holds no build" in err, err


def test_serve_env_serves_what_git_says_and_says_so(lab: Path, build_folder: Path):
    version = json.loads((build_folder / "context" / "version.json").read_text())["version"]
    deployed = cli(lab, "step", "deploy", "staging", str(version), timeout=300)
    assert deployed.returncode == 0, deployed.stderr
    port = free_port()
    proc = _serve(lab.parent, "--env", "staging", "--port", str(port))
    try:
        line = _first_line(proc)
        assert f"version {version} (staging)" in line and f"on http://127.0.0.1:{port}" in line, line
        assert httpx.get(f"http://127.0.0.1:{port}/version", timeout=10).json()["env"] == "staging"
    finally:
        _stop(proc)
