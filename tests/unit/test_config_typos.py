"""A misspelled key in cxops.yaml: one line naming the unknown key at its own line, the closest valid name and the
valid names (which need no valid file), never a "missing" message for another line (issue 31, item 7). Real files,
the real CLI in its own process in the project folder, as a user runs `cxops config check`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _check(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "cxops.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CXOPS_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "cxops", "config", *(args or ("check",))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(start))


@pytest.mark.parametrize(
    ("key", "typo", "valid"),
    [("model:", "modle:", "model"), ("environments:", "enviroments:", "environments"), ("lab:", "labb:", "lab")],
)
def test_a_misspelled_section_is_reported_at_its_line_with_the_right_name(tmp_path: Path, key, typo, valid):
    text = (REPO / "cxops.yaml").read_text().replace(f"\n{key}", f"\n{typo}", 1)
    res = _check(tmp_path, text)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"cxops.yaml:{_line_of(text, typo)} {typo[:-1]}: unknown key; did you mean {valid!r}?" in lines[0]
    assert "missing" not in res.stderr and "project, cloud, model" in lines[0]


@pytest.mark.parametrize(
    ("right", "typo", "path", "valid"),
    [
        ("    min_accuracy:", "    min_acuracy:", "gates.evaluation.min_acuracy", "min_accuracy, min_macro_f1"),
        ("weight: 10", "wieght: 10", "environments.canary.wieght", "port, replicas, weight"),
        ("role: worker}", "rol: worker}", "cloud.nodes[1].rol", "name, address, role"),
    ],
)
def test_a_misspelled_nested_key_names_its_section_s_keys(tmp_path: Path, right, typo, path, valid):
    text = (REPO / "cxops.yaml").read_text().replace(right, typo, 1)
    res = _check(tmp_path, text)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    line = next(i for i, s in enumerate(text.splitlines(), 1) if typo in s)
    guess = typo.strip().split(":")[0]
    assert lines[0].startswith(f"error: cxops.yaml:{line} {path}: unknown key; did you mean"), lines[0]
    assert f"(valid here: {valid}" in lines[0] and guess in lines[0]


def test_the_hint_names_what_works_on_a_broken_file(tmp_path: Path):
    text = (REPO / "cxops.yaml").read_text().replace("\nmodel:", "\nmodle:", 1)
    res = _check(tmp_path, text)
    assert "docs/configuration.md" in res.stderr and "config show" not in res.stderr
    assert (REPO / "docs" / "configuration.md").is_file()
    assert _check(tmp_path, text, "show").returncode == 2  # `config show` cannot list keys of a broken file
