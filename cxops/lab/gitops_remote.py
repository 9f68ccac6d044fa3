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
    """Every push to the lab's remote passes the promotion rules (idempotent: rewritten only when it changed)."""
    from cxops.config import config_path
    from cxops.gitops.hook import install_hook

    install_hook(bare, config_path())


def read_file_at_head(bare: Path, branch: str, relpath: str) -> str:
    return git(f"--git-dir={bare}", "show", f"{branch}:{relpath}")
