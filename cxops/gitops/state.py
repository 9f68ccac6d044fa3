"""Where the GitOps remote is (team repo, or the lab's bare repo) and what each env's overlay asks for."""

from __future__ import annotations

from cxops.config import Config
from cxops.gitops.overlay import Desired, desired_from_text
from cxops.gitops.repo import GitOpsRepo
from cxops.paths import state_dir


def overlay_path(cfg: Config, env: str) -> str:
    return f"{cfg.gitops.overlays_dir.rstrip('/')}/{env}"


def gitops_repo(cfg: Config, clone: str = "gitops-work") -> GitOpsRepo:
    """The GitOps remote with a work clone under the state dir. Readers that run beside deploys (status, reconcile)
    pass their own `clone` name so a `sync` never resets a clone a deploy is committing in."""
    state = state_dir(cfg)
    remote = cfg.gitops.remote
    if remote is None:  # embedded (Config.embedded): the lab's bare repository
        from cxops.gitops.bare_remote import ensure_bare_remote

        remote = str(ensure_bare_remote(state, cfg.gitops.branch)[0])
    return GitOpsRepo(remote, cfg.gitops.branch, state / clone, cfg.gitops.push_attempts)


def desired(cfg: Config, repo: GitOpsRepo, env: str, sync: bool = True) -> Desired:
    if sync:
        repo.sync()
    return desired_from_text(env, repo.read(f"{overlay_path(cfg, env)}/model.env"))
