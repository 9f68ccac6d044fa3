"""The GitOps repository: a work clone of the remote; every change is one commit pushed with bounded retry."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

from cxops.errors import CxopsError, GateFailed

GIT_ENV = {
    "GIT_AUTHOR_NAME": "cxops",
    "GIT_AUTHOR_EMAIL": "cxops@localhost",
    "GIT_COMMITTER_NAME": "cxops",
    "GIT_COMMITTER_EMAIL": "cxops@localhost",
    "GIT_TERMINAL_PROMPT": "0",
}


# Extra environment for git in this context: a pre-receive check answered by a long-running process (the lab's hook
# service) sets the pusher's GIT_DIR and quarantine variables here, so its git reads see the pushed objects.
GIT_CONTEXT_ENV: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("cxops_git_env", default=())

# A push lost a race (someone else's commit landed first, or took the ref lock): refetch, redo, push again.
RETRYABLE = ("non-fast-forward", "fetch first", "cannot lock ref", "failed to update ref", "rejected")


class PushRejected(Exception):
    pass


def hook_reasons(stderr: str) -> str:
    """The lines a server-side hook printed (`remote: ...`), joined: what the pusher must read."""
    lines = [ln.removeprefix("remote:").strip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    rules = [ln.removeprefix("cxops:") for ln in lines if ln.startswith("cxops:   ")]  # the hook's rule lines
    return "; ".join(r.strip() for r in (rules or lines) if r.strip())


def git(*args: str, cwd: Path | None = None, check: bool = True, timeout: float = 60) -> str:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **GIT_ENV, **dict(GIT_CONTEXT_ENV.get())},
        )
    except subprocess.TimeoutExpired:
        raise CxopsError(f"git {args[0]} timed out after {timeout:g}s") from None
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise CxopsError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return proc.stdout.strip()


class GitOpsRepo:
    def __init__(self, remote: str, branch: str, workdir: Path, attempts: int) -> None:
        self.remote, self.branch, self.workdir, self.attempts = remote, branch, workdir, attempts

    def sync(self) -> None:
        """Make the work clone exactly the remote branch (discarding any local leftovers)."""
        if not (self.workdir / ".git").exists():
            self.workdir.parent.mkdir(parents=True, exist_ok=True)
            git("clone", "--quiet", "--branch", self.branch, self.remote, str(self.workdir), timeout=120)
        git("fetch", "--quiet", "origin", self.branch, cwd=self.workdir, timeout=120)
        git("reset", "--quiet", "--hard", f"origin/{self.branch}", cwd=self.workdir)
        git("clean", "-qfd", cwd=self.workdir)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.workdir)

    def read(self, relpath: str) -> str:
        return (self.workdir / relpath).read_text()

    def change(self, edit: Callable[[Path], None], message: str) -> str | None:
        """Apply `edit` to a fresh clone, commit and push; on a non-fast-forward, refetch and redo (bounded).

        Returns the pushed commit, or None when the edit changed nothing (no empty commits).
        """
        last = ""
        for _attempt in range(self.attempts):
            self.sync()
            edit(self.workdir)
            if not git("status", "--porcelain", cwd=self.workdir):
                return None
            git("add", "-A", cwd=self.workdir)
            git("commit", "--quiet", "-m", message, cwd=self.workdir)
            out = subprocess.run(
                ["git", "push", "--quiet", "origin", f"HEAD:{self.branch}"],
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, **GIT_ENV},
            )
            if out.returncode == 0:
                return self.head()
            last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "push failed"
            if "hook declined" in out.stderr:  # the remote's promotion rules said no: retrying cannot help
                self.sync()
                raise GateFailed(f"the GitOps remote refused the push: {hook_reasons(out.stderr) or last}")
            if not any(word in out.stderr for word in RETRYABLE):
                raise CxopsError(f"git push to {self.remote} failed: {last}")
        self.sync()  # leave the clone clean: nothing half-committed
        raise CxopsError(f"git push to {self.remote} still rejected after {self.attempts} attempts: {last}")
