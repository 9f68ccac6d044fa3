"""Read the GitOps history straight from a git directory (a bare remote, a hook's quarantine, a work clone).

Everything here takes a git directory and revisions, so the same code serves the lab's pre-receive hook, the
cluster's guard and `cxops status`. Revisions are full object names; git's all-zero name (`ZERO`) stands for
"no such ref" in pre-receive input (git-scm.com, githooks(5), "pre-receive").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cxops.gitops.repo import git

ZERO = re.compile(r"^0+$")


def is_zero(rev: str) -> bool:
    """True for git's all-zero object name: the ref did not exist (old) or is being deleted (new)."""
    return bool(ZERO.match(rev))


def show(git_dir: Path, rev: str, relpath: str) -> str | None:
    """The file `relpath` at `rev`, or None when the file (or the revision) does not exist."""
    if is_zero(rev):
        return None
    out = _git(git_dir, "cat-file", "-e", f"{rev}:{relpath}", check=False)
    if out is None:
        return None
    return _git(git_dir, "show", f"{rev}:{relpath}")


def changed(git_dir: Path, old: str, new: str, relpath: str) -> bool:
    """True when anything under `relpath` differs between `old` and `new` (an absent side counts as empty)."""
    if is_zero(old) or is_zero(new):
        return (show_tree(git_dir, old, relpath) or "") != (show_tree(git_dir, new, relpath) or "")
    return bool(_git(git_dir, "diff", "--name-only", old, new, "--", relpath))


def show_tree(git_dir: Path, rev: str, relpath: str) -> str | None:
    """`git ls-tree -r` of `relpath` at `rev` (object names of every file), None when absent."""
    if is_zero(rev):
        return None
    return _git(git_dir, "ls-tree", "-r", rev, "--", relpath) or None


def is_ancestor(git_dir: Path, old: str, new: str) -> bool:
    """True when `new` contains `old` (a fast-forward); False for a rewritten history."""
    return _git(git_dir, "merge-base", "--is-ancestor", old, new, check=False) is not None


MAX_RANGE = 200  # commits judged one by one in a push; a longer range is refused (push it in parts)


def commits_between(git_dir: Path, old: str, new: str) -> list[tuple[str, str]]:
    """(commit, first parent) of every commit in `old..new`, oldest first (`git rev-list --reverse`); merges'
    side commits included. Empty when `old` is zero (a new branch: only its tip is judged)."""
    if is_zero(old) or is_zero(new):
        return []
    out = _git(git_dir, "rev-list", "--reverse", "--parents", f"{old}..{new}") or ""
    pairs = []
    for line in out.splitlines():
        commit, *parents = line.split()
        pairs.append((commit, parents[0] if parents else ZERO_NAME))
    return pairs


ZERO_NAME = "0" * 40


def values_ever_set(git_dir: Path, rev: str, relpath: str, key: str) -> set[str]:
    """Every non-empty value `key=` was given in the file at any commit reachable from `rev` (one `git log -p`)."""
    if is_zero(rev):
        return set()
    text = _git(git_dir, "log", "-p", "--format=", rev, "--", relpath) or ""
    pattern = re.compile(rf"^\+{re.escape(key)}=(.+)$", re.M)
    found = {m.strip() for m in pattern.findall(text) if m.strip()}
    current = show(git_dir, rev, relpath) or ""  # the seed commit's values appear as additions too, but be exact
    found |= {m.strip() for m in re.findall(rf"^{re.escape(key)}=(.+)$", current, re.M) if m.strip()}
    return found


# The trailer a cxops deploy writes on its overlay commit: "keep" (a deploy: `<env>-previous` becomes what was
# there) or "clear" (a rollback: `<env>-previous` is cleared). `cxops reconcile`, racing the deploy that made the
# commit, then moves the alias as that deploy does; a hand push has no trailer.
PREVIOUS_TRAILER = "Cxops-Previous"


@dataclass(frozen=True)
class Change:
    """The last commit that touched a path: full name, author name and email, subject, and its PREVIOUS_TRAILER
    value ("keep", "clear", or "" for a commit cxops did not make)."""

    commit: str
    author: str
    email: str
    subject: str
    previous: str = ""


def last_change(git_dir: Path, rev: str, relpath: str) -> Change | None:
    """The newest commit reachable from `rev` that changed `relpath`; None when none did."""
    trailer = f"%(trailers:key={PREVIOUS_TRAILER},valueonly,separator=%x20)"
    out = _git(git_dir, "log", "-1", f"--format=%H%x00%an%x00%ae%x00%s%x00{trailer}", rev, "--", relpath)
    if not out:
        return None
    commit, author, email, subject, previous = [*out.split("\x00"), "", "", "", ""][:5]
    return Change(commit, author, email, subject, previous.strip())


def _git(git_dir: Path, *args: str, check: bool = True) -> str | None:
    """git with an explicit git directory; with check=False a failure returns None instead of raising."""
    if check:
        return git(f"--git-dir={git_dir}", *args)
    from cxops.errors import CxopsError

    try:
        return git(f"--git-dir={git_dir}", *args)
    except CxopsError:
        return None
