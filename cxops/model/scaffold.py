"""`cxops init-model NAME`: a model project a team fills in (a package with one class implementing
cxops.model.interface), plus the cxops.yaml lines that select it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from cxops.errors import CxopsError, UsageError

PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def check_name(name: str) -> None:
    """CxopsError unless NAME is a Python package name (what model.project imports)."""
    if not PACKAGE_NAME.match(name):
        raise UsageError(
            f"model project name {name!r} must be a Python package name (lowercase letters, digits, "
            "'_', starting with a letter), e.g. bird_sounds"
        )


def scaffold(name: str, parent: Path) -> Path:
    """Create `parent/name/` (`__init__.py`, `project.py` with class Project on the iris stand-in data, trainable
    as generated). Written to a temporary directory and renamed, so it is whole or absent. CxopsError for a name
    that is not a Python package name or a directory that already exists."""
    check_name(name)
    dest = parent / name
    if dest.exists():
        raise CxopsError(f"{dest} already exists; choose another name or remove it")
    parent.mkdir(parents=True, exist_ok=True)
    template = resources.files("cxops.model.templates").joinpath("sklearn_project.py.txt").read_text()
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        (tmp / "__init__.py").write_text(f'"""{name}: a cxops model project."""\n')
        (tmp / "project.py").write_text(template.format(name=name))
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def existing_project(name: str, parent: Path) -> Path | None:
    """`parent/name` when it already holds a model project (its project.py), else None. CxopsError for a bad name,
    or when `parent/name` exists without a project.py: it is something else, and is never overwritten."""
    check_name(name)
    dest = parent / name
    if not dest.exists():
        return None
    if not (dest / "project.py").is_file():
        raise CxopsError(f"{dest} exists but holds no project.py; choose another name or remove it")
    return dest


def config_snippet(name: str) -> str:
    """The cxops.yaml `model:` section selecting the scaffolded project."""
    return (
        f"model:\n  name: {name.replace('_', '-')}\n  project: {name}.project:Project\n"
        f"  dataset: {{name: iris, test_size: 0.25, seed: 42}}\n  params: {{max_iter: 500}}\n"
    )
