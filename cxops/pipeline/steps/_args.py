"""Argument checks shared by the step commands."""

from __future__ import annotations

from cxops.environments import ENV_NAMES
from cxops.errors import CxopsError


def check_env(env: str) -> str:
    """`env` itself when it names an environment; CxopsError listing the valid ones otherwise."""
    if env not in ENV_NAMES:
        raise CxopsError(f"unknown environment {env!r}; valid: {', '.join(ENV_NAMES)}")
    return env
