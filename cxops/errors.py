"""The one error type the CLI turns into a one-line message and a non-zero exit, and every exit status."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status of the cxops command, in one place (docs/troubleshooting.md says what to do about each)."""

    OK = 0
    ERROR = 1  # something could not be done: a service down, a name not found, a timeout
    USAGE = 2  # a bad argument, option, configuration or environment variable: never retried
    GATE_FAILED = 3
    GATE_INCONCLUSIVE = 4
    INTERNAL = 70  # a bug in cxops (EX_SOFTWARE in BSD's sysexits.h)
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, the shells' convention


class CxopsError(Exception):
    """A user-facing failure: the message names the bad value and what would be valid."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CxopsError):
    """A bad argument or option (a value outside its closed set, a malformed value): exit 2, as a shell command's
    usage error. Retry policies never retry it: the same input fails the same way."""

    exit_code = ExitCode.USAGE


class ConfigError(CxopsError):
    """cxops.yaml is missing, malformed or invalid; carries every problem found."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class GateFailed(CxopsError):
    """A gate said no; the reasons are the message."""

    exit_code = ExitCode.GATE_FAILED


class GateInconclusive(CxopsError):
    """A gate had too little evidence to decide (e.g. no series for the canary): not passed, never promoted, and
    not retried (the same missing evidence would be missing again); the reasons name the metrics source."""

    exit_code = ExitCode.GATE_INCONCLUSIVE
