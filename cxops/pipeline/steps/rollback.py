"""rollback ENV: restore `<env>-previous` in registry AND git, wait until live agrees."""

from __future__ import annotations

from dataclasses import replace

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.gitops.state import desired, gitops_repo
from cxops.pipeline.results import DeployResult
from cxops.pipeline.steps._args import check_env
from cxops.registry.client import Registry
from cxops.release.rollout import deploy, retire, step_back


def run(cfg: Config, env: str, reason: str = "manual rollback") -> DeployResult:
    """Deploy `<env>-previous` back into `env` and clear `<env>-previous` (a second rollback errors instead of
    flipping between two versions); the rolled-back version is tagged `cxops.rolled_back.<env>`.

    A production rollback first retires a canary that serves the version being rolled back (git's canary overlay
    names it): otherwise the public endpoint would keep sending the canary's share of traffic to it. The retire is
    `deploy.retire`: the canary overlay empty and its traffic weight 0 in one commit, its server stopped, alias
    `canary` removed; the result's `note` says so. A canary serving another version is left alone.

    CxopsError, with nothing changed, when there is no previous version; otherwise `deploy`'s guarantees (if the
    production deploy then fails, the canary stays retired and the error says so)."""
    check_env(env)
    registry = Registry(cfg)
    previous = registry.alias_version(f"{env}-previous")
    if previous is None:
        raise CxopsError(f"no previous version for {env} (alias {env}-previous is unset); nothing to roll back to")
    current = registry.alias_version(env)
    leaving = current.version if current is not None and current.version != previous.version else None
    note = ""
    if env == "production" and leaving is not None:
        canary = desired(cfg, gitops_repo(cfg), "canary")
        if canary.version == leaving and canary.name in (None, cfg.model.name):
            retire(cfg, "canary", f"production rolled back from v{leaving}, which the canary served", registry=registry)
            note = f"canary v{leaving} retired too (it served the rolled-back version; traffic weight 0)"
    try:
        result = deploy(cfg, env, previous.version, f"rollback: {reason}", registry=registry, keep_previous=False)
    except CxopsError as exc:
        raise CxopsError(f"{exc}{f' ({note})' if note else ''}") from None
    step_back(registry, env, leaving, reason)
    return replace(result, note=note)
