"""cxops writes plain text when its output is not a terminal: no colour or cursor escape codes and no spinner frames,
even with FORCE_COLOR=1, which Jupyter's kernel sets and every notebook cell's `cxops` inherits (issue 31, item 8).
The real CLI in its own process with pipes for stdout and stderr, as cxops.notebook.run starts it.

The slow command is `cloud ping` against an identity endpoint that is down (a free loopback port nothing listens on):
the spinner runs while it tries, and the answer is a one-line error. Also: `make kernel` registers the venv's
Python as a Jupyter kernel (in a throwaway HOME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from helpers import REPO, free_port, make_project


def _run(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cxops", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k not in ("CXOPS_CONFIG", "NO_COLOR")}
    return {**env, **extra}


def _assert_plain(res: subprocess.CompletedProcess) -> None:
    out = res.stdout + res.stderr
    assert "\x1b" not in out and "\r" not in out, repr(out[:400])


def test_piped_output_is_plain_even_with_force_color(tmp_path: Path):
    config = make_project(tmp_path / "team")
    res = _run(config.parent, "config", "check", env=_env(FORCE_COLOR="1", CLICOLOR_FORCE="1"))
    assert res.returncode == 0 and "is valid" in res.stdout
    _assert_plain(res)


def test_a_spinner_draws_no_frames_into_a_pipe(tmp_path: Path):
    config = make_project(tmp_path / "team")
    clouds = tmp_path / "clouds.yaml"
    auth = {"auth_url": f"http://127.0.0.1:{free_port()}/v3", "username": "u", "password": "p", "project_name": "p"}
    auth |= {"user_domain_name": "Default", "project_domain_name": "Default"}
    clouds.write_text(yaml.safe_dump({"clouds": {"down": {"auth": auth, "region_name": "RegionOne"}}}))
    env = _env(FORCE_COLOR="1", OS_CLIENT_CONFIG_FILE=str(clouds))
    res = _run(config.parent, "cloud", "ping", "--cloud", "down", env=env)
    assert res.returncode == 1 and "cannot reach the identity endpoint" in res.stderr, res.stderr
    _assert_plain(res)


def test_make_kernel_registers_the_venv_python(tmp_path: Path):
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("JUPYTER_DATA_DIR", None)
    res = subprocess.run(["make", "-s", "kernel"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    spec = json.loads((tmp_path / ".local/share/jupyter/kernels/cxops/kernel.json").read_text())
    assert Path(spec["argv"][0]).resolve() == (REPO / ".venv/bin/python").resolve()
