"""The registry follows git: once an environment serves what git asks for, its alias is moved to match.

A push by hand (`git push` of an overlay) changes git and, through the controller or ArgoCD, live; this moves the
alias last, exactly as `deploy` does, so `cxops status --check` holds after any accepted push. Going back to
`<env>-previous` is a rollback and is finished like `cxops rollback` (previous cleared, the version left tagged).
In the lab the controller runs `cxops reconcile` after git changes; in the cluster the `gitops-guard` CronWorkflow
runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cxops.config import ENV_NAMES, Config
from cxops.gitops import history
from cxops.gitops.overlay import Desired
from cxops.gitops.state import desired, gitops_repo
from cxops.names import overlay_dir
from cxops.registry.client import Registry
from cxops.release.live import live, serves
from cxops.release.rollout import move_alias, step_back

IN_SYNC, MOVED, ROLLED_BACK, RETIRED, WAITING = "in sync", "moved", "rolled back", "retired", "waiting for live"


@dataclass(frozen=True)
class Followed:
    """What reconcile did for one environment. `action` is one of the module's constants."""

    env: str
    git: str | None
    alias_before: str | None
    alias: str | None
    action: str
    commit: str | None
    author: str | None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def reconcile(cfg: Config, envs: tuple[str, ...] = ENV_NAMES, *, start_lab: bool = True) -> list[Followed]:
    """Per environment: if live serves git's model and version (or nothing, when git says nothing), move that
    model's alias to it. The alias moved is always of the model git names for the env (MODEL_NAME), never of
    another model that happens to have a version of the same number.

    Raises CxopsError when git or MLflow cannot be read (nothing is changed then)."""
    registries: dict[str, Registry] = {}

    def registry_of(name: str | None) -> Registry:
        key = name or cfg.model.name
        if key not in registries:
            registries[key] = Registry(cfg, start_lab=start_lab, model=key)
        return registries[key]

    registry_of(cfg.model.name)  # MLflow down fails here, before anything is read
    repo = gitops_repo(cfg, clone="gitops-reconcile")
    repo.sync()
    git_dir = repo.workdir / ".git"
    out = []
    for env in envs:
        state = desired(cfg, repo, env, sync=False)
        out.append(_follow(cfg, registry_of(state.name), git_dir, env, state))
    return out


def _follow(cfg: Config, registry: Registry, git_dir, env: str, state: Desired) -> Followed:
    want = state.version
    alias = registry.alias_version(env)
    before = alias.version if alias else None
    change = history.last_change(git_dir, "HEAD", overlay_dir(cfg, env))
    commit, author = (change.commit, change.author) if change else (None, None)

    def result(action: str, after: str | None, detail: str = "") -> Followed:
        return Followed(env, want, before, after, action, commit, author, detail)

    if before == want:
        return result(IN_SYNC, before)
    now = live(cfg, env)
    if want is None:
        if now.reachable:
            return result(WAITING, before, f"git serves nothing but {env} still answers (v{now.version})")
        registry.delete_alias(env)
        return result(RETIRED, None)
    if not serves(now, state) or not now.ready:
        seen = f"{now.label()}{'' if now.ready else ' (not ready)'}"
        return result(WAITING, before, f"git asks for {state.label()}, {env} serves {seen}")
    made_by = change.previous if change else ""  # "keep"/"clear": a cxops deploy's commit, maybe still in flight
    previous = registry.alias_version(f"{env}-previous")
    back = previous is not None and previous.version == want  # back to the previous version
    if made_by == "clear" or (back and made_by != "keep"):  # a rollback (by cxops, or by a hand push)
        move_alias(registry, env, want, keep_previous=False, commit=commit)
        step_back(registry, env, before, f"rollback by git push {commit[:12] if commit else ''} ({author or '?'})")
        return result(ROLLED_BACK, want)
    move_alias(registry, env, want, commit=commit)
    return result(MOVED, want)
