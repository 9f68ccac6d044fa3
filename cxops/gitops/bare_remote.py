"""The embedded GitOps remote: a local bare repository seeded once from the project's k8s/ directory, guarded by
the pre-receive hook that enforces the promotion rules (cxops.gitops.hook)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cxops.errors import CxopsError
from cxops.gitops.repo import git
from cxops.paths import project_root


def bare_path(state: Path) -> Path:
    return state / "gitops.git"


def ensure_bare_remote(state: Path, branch: str) -> tuple[Path, bool]:
    """Create and seed the bare repo if absent; return (path, created_now). Idempotent."""
    bare = bare_path(state)
    if (bare / "HEAD").exists():
        _guard(bare)
        return bare, False
    source = project_root() / "k8s"
    if not source.is_dir():
        raise CxopsError(f"cannot seed the GitOps remote: {source} does not exist (the project's k8s/ overlays)")
    tmp_bare = Path(tempfile.mkdtemp(prefix=".gitops-", dir=state))
    seed = Path(tempfile.mkdtemp(prefix=".seed-", dir=state))
    try:
        git("init", "--quiet", "--bare", "--initial-branch", branch, str(tmp_bare))
        shutil.copytree(source, seed / "k8s")
        git("init", "--quiet", "--initial-branch", branch, cwd=seed)
        git("add", "-A", cwd=seed)
        git("commit", "--quiet", "-m", "Seed GitOps state from the project's k8s/", cwd=seed)
        git("push", "--quiet", str(tmp_bare), f"HEAD:{branch}", cwd=seed)
        tmp_bare.rename(bare)
    except BaseException:
        shutil.rmtree(tmp_bare, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(seed, ignore_errors=True)
    _guard(bare)
    return bare, True


def _guard(bare: Path) -> None:
    """Every push to the lab's remote passes the promotion rules, and wakes the env controller once accepted
    (idempotent: each hook is rewritten only when it changed)."""
    from cxops.config import config_path
    from cxops.gitops.hook import install_hook
    from cxops.gitops.hook_service import socket_path

    install_hook(bare, config_path(), service=socket_path(bare.parent))
    install_wake_hook(bare)


def install_wake_hook(bare: Path) -> Path:
    """`hooks/post-receive`: SIGUSR1 to the lab's env controller (PID from its PID file beside the remote), so it
    applies an accepted push at once rather than at its next poll. Best effort: no controller, no signal."""
    from cxops.generated import header, write_atomic

    pid_file = bare.parent / "envs" / "controller.pid"
    path = bare / "hooks" / "post-receive"
    path.parent.mkdir(parents=True, exist_ok=True)
    script = (
        "#!/bin/sh\n"
        + header("cxops lab up (wakes the lab's env controller after a push)")
        + f"pid=$(cat '{pid_file}' 2>/dev/null) || exit 0\n"
        + "# only that PID if it still is the controller (a stale PID file must not signal another process)\n"
        + 'grep -q cxops.lab.controller "/proc/$pid/cmdline" 2>/dev/null && kill -USR1 "$pid" 2>/dev/null\n'
        + "exit 0\n"
    )
    write_atomic(path, script)
    path.chmod(0o755)
    return path


def read_file_at_head(bare: Path, branch: str, relpath: str) -> str:
    return git(f"--git-dir={bare}", "show", f"{branch}:{relpath}")
