"""Per environment: registry alias vs git desired state vs live /version, and whether they agree.

Agreement is of the model, not only of the version number: git's overlay names the model (MODEL_NAME) and its
build's model digest (MODEL_DIGEST); live must serve that model with that digest, the alias is read from that
model, and the registry's record of the version's build (tag `cxops.build.model_digest`) must be that digest."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cxops.config import ENV_NAMES, Config
from cxops.gitops.history import last_change
from cxops.gitops.state import desired, gitops_repo
from cxops.names import overlay_dir
from cxops.registry.client import Registry
from cxops.release.live import env_url, live, serves


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
    model: str | None = None  # the model git names (MODEL_NAME); the alias is this model's
    live_model: str | None = None  # the model live serves (/version `name`)
    digest: str | None = None  # git's MODEL_DIGEST
    live_digest: str | None = None  # live's /version `model_digest`

    def as_dict(self) -> dict:
        return asdict(self)


def env_statuses(cfg: Config) -> list[EnvStatus]:
    registries = {cfg.model.name: Registry(cfg)}
    repo = gitops_repo(cfg, clone="gitops-status")
    repo.sync()
    out = []
    for env in ENV_NAMES:
        want = desired(cfg, repo, env, sync=False)
        model = want.name or cfg.model.name
        if model not in registries:
            registries[model] = Registry(cfg, model=model)
        registry = registries[model]
        a = registry.alias_version(env)
        prev = registry.alias_version(f"{env}-previous")
        g = want.version
        now = live(cfg, env)
        alias_v = a.version if a else None
        live_v = now.version if now.reachable else None
        problems = []
        if alias_v != g:
            problems.append(f"alias {alias_v or '-'} ≠ git {g or '-'}")
        recorded = a.tags.get("cxops.build.model_digest") if a else None
        if a is not None and alias_v == g and want.digest and recorded and recorded != want.digest:
            problems.append(f"registry's build of {model} v{g} is {recorded[:19]}, git's {want.digest[:19]}")
        if g != live_v:
            problems.append(f"git {g or '-'} ≠ live {live_v or '-'}")
        elif g is not None and not serves(now, want):
            git_build, live_build = (want.digest or "-")[:19], (now.digest or "-")[:19]
            problems.append(f"git {want.label()} ({git_build}) ≠ live {now.label()} ({live_build})")
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
                want.name,
                now.name if now.reachable else None,
                want.digest,
                now.digest if now.reachable else None,
            )
        )
    return out
