"""A push is judged commit by commit, not by its net change (issue 26, class 8).

Real git repositories seeded with the project's k8s/, judged by verify_push (what the pre-receive hook and the
cluster's guard run). The registry-backed case (a version that never passed its gate, pushed and reverted in one
push, then pushed alone as a "rollback") runs against a real MLflow in tests/integration/test_push_promotion.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cxops.config.schema import Config
from cxops.gitops.overlay import write_overlay
from cxops.gitops.repo import git
from cxops.gitops.verify import Push, verify_push
from tests.unit.gitops_work import commit, config, seeded_repo


@pytest.fixture
def cfg() -> Config:
    return config()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work repository seeded with the project's k8s/ (what the lab's remote starts from)."""
    return seeded_repo(tmp_path)


def check(cfg: Config, wd: Path, old: str, new: str) -> list[str]:
    def no_registry():  # none of these cases may need one
        raise AssertionError("the registry was consulted")

    return [v.line() for v in verify_push(cfg, wd / ".git", Push(old, new, "refs/heads/main"), registry=no_registry)]


def test_a_bad_commit_undone_later_in_the_same_push_is_refused(cfg, repo):
    seed = git("rev-parse", "HEAD", cwd=repo)
    write_overlay(repo / "k8s/serving/overlays/production", "production", cfg.model.name, None, None)
    bad = commit(repo, "empty production")
    git("checkout", seed, "--", "k8s/serving/overlays/production", cwd=repo)
    tip = commit(repo, "put it back")
    assert git("diff", "--stat", seed, tip, "--", "k8s/serving/overlays/production", cwd=repo) == ""  # net: nothing
    assert check(cfg, repo, seed, tip) == [
        f"production: commit {bad[:12]} (before the tip): production would serve nothing; roll back to an earlier "
        "version instead"
    ]


def test_a_range_of_good_commits_passes_and_the_tip_is_still_judged(cfg, repo):
    seed = git("rev-parse", "HEAD", cwd=repo)
    first = commit(repo, "nothing deployed changes")
    assert check(cfg, repo, seed, commit(repo, "nor here")) == []
    write_overlay(repo / "k8s/serving/overlays/production", "production", cfg.model.name, None, None)
    lines = check(cfg, repo, first, commit(repo, "empty production at the tip"))
    assert lines == ["production: production would serve nothing; roll back to an earlier version instead"]
