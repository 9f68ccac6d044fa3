"""Every command finds its project the way git finds its repository: the nearest cxops.yaml in the working
directory or a parent (issue 31, item 1). Run as a user runs them: the real CLI in its own process, started in a
subfolder of a project (where a notebook's kernel runs), with no CXOPS_CONFIG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import make_project


def cxops(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`cxops ARGS` started in CWD with the caller's environment minus CXOPS_CONFIG (plus ENV)."""
    full = {k: v for k, v in os.environ.items() if k != "CXOPS_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "cxops", *args],
        cwd=cwd,
        env={**full, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_in_a_subfolder_uses_the_project_above_it(tmp_path: Path):
    config = make_project(tmp_path / "team")
    notebooks = tmp_path / "team" / "notebooks"
    notebooks.mkdir()
    res = cxops(notebooks, "config", "check")
    assert res.returncode == 0, res.stderr
    # rich wraps at 80 columns in a pipe, mid-path when the path is long (pytest-xdist's tmp paths are)
    assert f"{config} is valid" in res.stdout.replace("\n", "")
    deeper = notebooks / "a" / "b"
    deeper.mkdir(parents=True)
    assert cxops(deeper, "config", "check").returncode == 0


def test_cxops_config_wins_over_the_walk(tmp_path: Path):
    make_project(tmp_path / "team")
    other = tmp_path / "other.yaml"
    other.write_text("project: [broken\n")
    res = cxops(tmp_path / "team", "config", "check", env={"CXOPS_CONFIG": str(other)})
    assert res.returncode == 2 and "other.yaml:2 malformed YAML" in res.stderr, res.stderr


def test_outside_any_project_the_error_says_where_it_looked(tmp_path: Path):
    res = cxops(tmp_path, "config", "check")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no such file in {tmp_path} or any parent directory" in lines[0], res.stderr


def test_init_model_in_a_subfolder_lands_beside_cxops_yaml_and_runs_again(tmp_path: Path):
    make_project(tmp_path / "team")
    notebooks = tmp_path / "team" / "notebooks"
    notebooks.mkdir()
    first = cxops(notebooks, "init-model", "bird_sounds", "--exist-ok")
    assert first.returncode == 0, first.stderr
    project = tmp_path / "team" / "bird_sounds" / "project.py"
    assert project.is_file() and not (notebooks / "bird_sounds").exists()
    project.write_text(project.read_text() + "\n# my edit\n")
    again = cxops(notebooks, "init-model", "bird_sounds", "--exist-ok")
    assert again.returncode == 0 and "kept" in again.stdout, again.stderr
    assert project.read_text().endswith("# my edit\n")
    refused = cxops(notebooks, "init-model", "bird_sounds")
    assert refused.returncode == 1 and "already exists" in refused.stderr
