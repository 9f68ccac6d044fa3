"""Argument checks shared by the step commands."""

from __future__ import annotations

from cxops.config import ENV_NAMES
from cxops.errors import CxopsError

# Which gate a version must have passed in SRC before it may move on.
GATE_OF = {"staging": "staging", "canary": "canary"}


def check_env(env: str) -> str:
    if env not in ENV_NAMES:
        raise CxopsError(f"unknown environment {env!r}; valid: {', '.join(ENV_NAMES)}")
    return env
