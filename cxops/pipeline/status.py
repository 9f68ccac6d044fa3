"""Per environment: registry alias vs git desired version vs live /version, and whether they agree."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cxops.config import ENV_NAMES, Config
from cxops.gitops.history import last_change
from cxops.gitops.state import desired, gitops_repo
from cxops.names import overlay_dir
from cxops.pipeline.live import env_url, live
from cxops.registry.client import Registry


@dataclass(frozen=True)
class EnvStatus:
    env: str
    alias: str | None
    git: str | None
    live: str | None
    ready: bool
    url: str
    previous: str | None
    agree: bool
    problem: str
    commit: str | None = None  # the GitOps commit that last changed this env's overlay, and its author
    author: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def env_statuses(cfg: Config) -> list[EnvStatus]:
    registry = Registry(cfg)
    repo = gitops_repo(cfg, clone="gitops-status")
    repo.sync()
    out = []
    for env in ENV_NAMES:
        a = registry.alias_version(env)
        prev = registry.alias_version(f"{env}-previous")
        g = desired(cfg, repo, env, sync=False).version
        now = live(cfg, env)
        alias_v = a.version if a else None
        live_v = now.version if now.reachable else None
        problems = []
        if alias_v != g:
            problems.append(f"alias {alias_v or '-'} ≠ git {g or '-'}")
        if g != live_v:
            problems.append(f"git {g or '-'} ≠ live {live_v or '-'}")
        if live_v is not None and not now.ready:
            problems.append("live server not ready")
        moved = last_change(repo.workdir / ".git", "HEAD", overlay_dir(cfg, env))
        out.append(
            EnvStatus(
                env,
                alias_v,
                g,
                live_v,
                now.ready,
                env_url(cfg, env),
                prev.version if prev else None,
                not problems,
                "; ".join(problems),
                moved.commit if moved else None,
                moved.author if moved else None,
            )
        )
    return out
