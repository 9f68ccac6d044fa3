"""deploy ENV VERSION: commit the env overlay, push, wait until the env serves it, then move the alias."""

from __future__ import annotations

from cxops.config import Config
from cxops.pipeline.results import DeployResult
from cxops.pipeline.steps._args import check_env
from cxops.release.rollout import deploy


def run(cfg: Config, env: str, version: str, reason: str = "manual deploy") -> DeployResult:
    return deploy(cfg, check_env(env), version, reason)
