"""GitOps against real git remotes: concurrent commits are retried onto, never overwritten; no empty commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxops.errors import CxopsError
from cxops.gitops.overlay import desired_from_text, write_overlay
from cxops.gitops.repo import GitOpsRepo, git

pytestmark = pytest.mark.integration
OVERLAY = "k8s/serving/overlays/staging"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    from helpers import REPO

    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch", "main", str(bare))
    seed = tmp_path / "seed"
    git("clone", "--quiet", str(bare), str(seed))
    (seed / OVERLAY).mkdir(parents=True)
    for name in ("kustomization.yaml", "model.env"):
        (seed / OVERLAY / name).write_text((REPO / OVERLAY / name).read_text())
    git("add", "-A", cwd=seed)
    git("commit", "--quiet", "-m", "seed", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    return bare


def teammate_commit(remote: Path, workdir: Path, name: str) -> None:
    """Someone else pushes to the same branch (a real concurrent commit on the remote)."""
    if not workdir.exists():
        git("clone", "--quiet", str(remote), str(workdir))
    git("pull", "--quiet", "--rebase", "origin", "main", cwd=workdir)
    (workdir / name).write_text(name)
    git("add", "-A", cwd=workdir)
    git("commit", "--quiet", "-m", f"teammate: {name}", cwd=workdir)
    git("push", "--quiet", "origin", "HEAD:main", cwd=workdir)


def deploy_edit(version: str):
    def edit(wd: Path) -> None:
        write_overlay(wd / OVERLAY, "staging", "digits-classifier", version, f"reg/digits:{version}-abc")

    return edit


def test_push_conflict_is_retried_on_top_of_the_other_commit(remote: Path, tmp_path: Path):
    repo = GitOpsRepo(str(remote), "main", tmp_path / "work", attempts=4)
    calls = {"n": 0}
    edit = deploy_edit("7")

    def racing_edit(wd: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # the remote moves between our fetch and our push
            teammate_commit(remote, tmp_path / "mate", "notes.txt")
        edit(wd)

    commit = repo.change(racing_edit, "staging: deploy v7")
    assert calls["n"] == 2, "the first push must have been rejected and redone"
    log = git(f"--git-dir={remote}", "log", "--format=%s", "main")
    assert log.splitlines()[:2] == ["staging: deploy v7", "teammate: notes.txt"]
    assert git(f"--git-dir={remote}", "rev-parse", "main") == commit
    model_env = git(f"--git-dir={remote}", "show", f"main:{OVERLAY}/model.env")
    assert desired_from_text("staging", model_env).version == "7"
    kust = git(f"--git-dir={remote}", "show", f"main:{OVERLAY}/kustomization.yaml")
    assert "newTag: 7-abc" in kust


def test_same_version_makes_no_commit(remote: Path, tmp_path: Path):
    repo = GitOpsRepo(str(remote), "main", tmp_path / "work", attempts=2)
    assert repo.change(deploy_edit("3"), "deploy v3") is not None
    head = git(f"--git-dir={remote}", "rev-parse", "main")
    assert repo.change(deploy_edit("3"), "deploy v3 again") is None
    assert git(f"--git-dir={remote}", "rev-parse", "main") == head


def test_endless_conflict_gives_up_without_a_partial_commit(remote: Path, tmp_path: Path):
    repo = GitOpsRepo(str(remote), "main", tmp_path / "work", attempts=3)
    counter = {"n": 0}

    def always_racing(wd: Path) -> None:
        counter["n"] += 1
        teammate_commit(remote, tmp_path / "mate", f"n{counter['n']}.txt")
        deploy_edit("9")(wd)

    with pytest.raises(CxopsError, match="still rejected after 3 attempts"):
        repo.change(always_racing, "deploy v9")
    log = git(f"--git-dir={remote}", "log", "--format=%s", "main")
    assert "deploy v9" not in log
    assert git("status", "--porcelain", cwd=tmp_path / "work") == ""
    assert git("rev-parse", "HEAD", cwd=tmp_path / "work") == git(f"--git-dir={remote}", "rev-parse", "main")


def test_unreachable_remote_is_a_clear_error(tmp_path: Path):
    repo = GitOpsRepo(str(tmp_path / "missing.git"), "main", tmp_path / "work", attempts=2)
    with pytest.raises(CxopsError, match=r"git clone failed: fatal: repository .* does not exist"):
        repo.change(deploy_edit("1"), "x")
