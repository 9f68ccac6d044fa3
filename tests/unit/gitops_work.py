"""A work repository for the push-rule tests: the project's k8s/ in a real git repository, committed step by step.

Shared by test_push_rules, test_push_range and test_route_shape (what the lab's remote starts from)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from cxops.config.schema import Config
from cxops.gitops.repo import git


def config() -> Config:
    """The tests' base configuration (tests/helpers.py), validated."""
    from helpers import base_config

    return Config.model_validate(base_config())


def commit(wd: Path, message: str) -> str:
    """Stage everything in WD and commit it (empty commits allowed); returns the new HEAD's sha."""
    git("add", "-A", cwd=wd)
    git("commit", "--quiet", "--allow-empty", "-m", message, cwd=wd)
    return git("rev-parse", "HEAD", cwd=wd)


def seeded_repo(tmp_path: Path, prepare: Callable[[Path], None] | None = None, message: str = "seed") -> Path:
    """TMP_PATH/gitops: a copy of the project's k8s/, changed by PREPARE (if given), as the first commit on main."""
    from helpers import REPO

    wd = tmp_path / "gitops"
    shutil.copytree(REPO / "k8s", wd / "k8s")
    if prepare is not None:
        prepare(wd)
    git("init", "--quiet", "--initial-branch", "main", str(wd))
    commit(wd, message)
    return wd
