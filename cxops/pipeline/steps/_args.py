"""Argument checks shared by the step commands: a bad argument is a usage error (exit 2, never retried)."""

from __future__ import annotations

from collections.abc import Sequence

from cxops.environments import ENV_NAMES
from cxops.errors import UsageError


def check_env(env: str) -> str:
    """`env` itself when it names an environment; UsageError (exit 2) listing the valid ones otherwise."""
    if env not in ENV_NAMES:
        raise UsageError(f"unknown environment {env!r}; valid: {', '.join(ENV_NAMES)}")
    return env


def check_version(version: str) -> str:
    """`version` itself when it is a registered model version's form (a positive integer); UsageError otherwise."""
    if not (version.isascii() and version.isdigit() and int(version) > 0):
        raise UsageError(f"version {version!r} is not a model version; valid: a positive integer, e.g. 3")
    return version


def check_args(command: str, args: Sequence[str]) -> None:
    """Every positional argument of `cxops step <command>` against its definition (cxops.pipeline.definition): a
    value outside the parameter's closed set, or a version that is not a number, is a UsageError naming the
    parameter, the value and what is valid. Runs before anything is loaded or contacted."""
    from cxops.pipeline.definition import COMMANDS

    for param, value in zip(COMMANDS[command].params, args, strict=False):
        if param.enum is not None and value not in param.enum:
            raise UsageError(f"{command} {param.name.upper()} {value!r} is not allowed; valid: {', '.join(param.enum)}")
        elif param.name == "version":
            check_version(value)
