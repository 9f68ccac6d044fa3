"""`cxops workflows render --check` passes on the committed files and catches an edited or stale one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from wf_helpers import ROOT, WORKFLOWS


def cxops(*args: str) -> subprocess.CompletedProcess:
    # The project's own cxops.yaml, whatever another test exported into this process's environment.
    env = {**os.environ, "CXOPS_CONFIG": str(ROOT / "cxops.yaml")}
    return subprocess.run(
        [sys.executable, "-m", "cxops", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_committed_files_match_the_code():
    proc = cxops("workflows", "render", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_fails_on_an_edited_and_on_a_stale_file(tmp_path):
    out = tmp_path / "wf"
    shutil.copytree(WORKFLOWS, out)
    target = out / "train-model.yaml"
    target.write_text(target.read_text().replace("activeDeadlineSeconds", "activeDeadlineSecond", 1))
    (out / "old-stage.yaml").write_text("kind: WorkflowTemplate\n")
    proc = cxops("workflows", "render", "--check", "--out", str(out))
    assert proc.returncode != 0
    assert "error:" in proc.stderr and "train-model.yaml" in proc.stderr and "old-stage.yaml" in proc.stderr
    proc = cxops("workflows", "render", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert cxops("workflows", "render", "--check", "--out", str(out)).returncode != 0  # hand-made file is kept
    (out / "old-stage.yaml").unlink()
    assert cxops("workflows", "render", "--check", "--out", str(out)).returncode == 0
