"""The Makefile installs only what a target needs: `make demo` (a scikit-learn model) never installs PyTorch, while
`make test` (the PyTorch example's tests) does. Read from make's own dry run with every prerequisite forced out of
date (`-n -B`): the commands the target's whole dependency graph would run on a fresh clone, none of them run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dry_run(target: str) -> str:
    if shutil.which("make") is None:
        pytest.fail("make is not installed; the README's first command needs it")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    res = subprocess.run(
        ["make", "-n", "-B", target], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_demo_never_installs_torch():
    commands = dry_run("demo")
    assert "cxops pipeline run" in commands  # the dry run did walk demo's recipe
    assert "torch" not in commands.lower(), commands
    # nor do the scripts demo's recipe runs
    for script in sorted(set(re.findall(r"^(scripts/[\w.-]+)", commands, re.M))):
        assert "torch" not in (REPO / script).read_text().lower(), script


@pytest.mark.parametrize("target", ["test", "setup-torch"])
def test_test_installs_the_pinned_torch(target: str):
    pin = re.search(r"^TORCH\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert pin is not None
    assert f"pip install --quiet --disable-pip-version-check torch=={pin.group(1)}" in dry_run(target)


def test_torch_pin_matches_the_extra_and_the_docs():
    pin = re.search(r"^TORCH\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M)
    assert pin is not None
    assert f'torch = ["torch=={pin.group(1)}"]' in (REPO / "pyproject.toml").read_text()
    assert "make setup-torch" in (REPO / "docs" / "models.md").read_text()
