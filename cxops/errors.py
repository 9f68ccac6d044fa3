"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class CxopsError(Exception):
    """A user-facing failure: the message names the bad value and what would be valid."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CxopsError):
    """A bad argument or option (a value outside its closed set, a malformed value): exit 2, as a shell command's
    usage error. Retry policies never retry it: the same input fails the same way."""

    exit_code = 2


class ConfigError(CxopsError):
    """cxops.yaml is missing, malformed or invalid; carries every problem found."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class GateFailed(CxopsError):
    """A gate said no; the reasons are the message."""

    exit_code = 3


class GateInconclusive(CxopsError):
    """A gate had too little evidence to decide (e.g. no series for the canary): not passed, never promoted, and
    not retried (the same missing evidence would be missing again); the reasons name the metrics source."""

    exit_code = 4
