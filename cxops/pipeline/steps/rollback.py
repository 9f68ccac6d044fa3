"""rollback ENV: restore `<env>-previous` in registry AND git, wait until live agrees."""

from __future__ import annotations

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.pipeline.deploy import deploy, step_back
from cxops.pipeline.results import DeployResult
from cxops.pipeline.steps._args import check_env
from cxops.registry.client import Registry


def run(cfg: Config, env: str, reason: str = "manual rollback") -> DeployResult:
    """Deploy `<env>-previous` back into `env` and clear `<env>-previous` (a second rollback errors instead of
    flipping between two versions); the rolled-back version is tagged `cxops.rolled_back.<env>`.

    CxopsError, with nothing changed, when there is no previous version; otherwise `deploy`'s guarantees."""
    check_env(env)
    registry = Registry(cfg)
    previous = registry.alias_version(f"{env}-previous")
    if previous is None:
        raise CxopsError(f"no previous version for {env} (alias {env}-previous is unset); nothing to roll back to")
    current = registry.alias_version(env)
    result = deploy(cfg, env, previous.version, f"rollback: {reason}", registry=registry, keep_previous=False)
    step_back(
        registry, env, current.version if current is not None and current.version != previous.version else None, reason
    )
    return result
