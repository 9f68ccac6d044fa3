"""The limits on what a client may send before the server answers (see cxops.serving.limited, which enforces them).
Kept apart from the protocol so the CLI and the lab can name them without importing the server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

# The environment variables that carry cxops.yaml's limits to a server in the cluster (the overlay's model.env, read
# through the Deployment's envFrom): the serving image's command line is fixed, its environment is per overlay.
ENV_VARS = {
    "head_timeout": "CXOPS_SERVING_HEAD_TIMEOUT_SECONDS",
    "body_timeout": "CXOPS_SERVING_BODY_TIMEOUT_SECONDS",
    "max_head_bytes": "CXOPS_SERVING_MAX_HEAD_BYTES",
    "max_headers": "CXOPS_SERVING_MAX_HEADERS",
}
MAX_BATCH_VAR = "CXOPS_SERVING_MAX_BATCH"  # serving.max_batch, carried the same way
DIRECT_PATH_VAR = "CXOPS_SERVING_DIRECT_PATH"  # serving.direct_path (cxops.serving.direct), carried the same way
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def direct_path_from_env(environ: Mapping[str, str]) -> bool:
    """serving.direct_path as `environ` carries it (DIRECT_PATH_VAR; unset or empty: on). ValueError naming the
    variable and its value when it is not true or false."""
    raw = environ.get(DIRECT_PATH_VAR, "").strip()
    if not raw or raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise ValueError(f"{DIRECT_PATH_VAR}={raw!r} is not true or false")


def direct_path_env(on: bool) -> dict[str, str]:
    """serving.direct_path as the environment variable direct_path_from_env reads."""
    return {DIRECT_PATH_VAR: "true" if on else "false"}


@dataclass(frozen=True)
class RequestLimits:
    """What the server waits for and accepts before it answers (cxops.yaml `serving`: request_head_timeout_seconds,
    request_body_timeout_seconds, max_request_head_bytes, max_request_headers). Seconds and bytes."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_head_bytes: int = 16 * 1024
    max_headers: int = 100

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RequestLimits:
        """The limits named in `environ` (ENV_VARS), the defaults for the rest. ValueError naming the variable and
        its value when one is not a positive number."""
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = environ.get(ENV_VARS[f.name], "").strip()
            if not raw:
                continue
            kind = float if f.type == "float" else int
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if value <= 0:
                what = "seconds" if kind is float else "a whole number"
                raise ValueError(f"{ENV_VARS[f.name]}={raw!r} is not a positive number ({what})")
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """These limits as the environment variables `from_env` reads (for an overlay's model.env)."""
        return {ENV_VARS[f.name]: f"{getattr(self, f.name):g}" for f in fields(self)}

    def argv(self) -> list[str]:
        """These limits as `python -m cxops.serving` options."""
        return [
            "--head-timeout",
            f"{self.head_timeout:g}",
            "--body-timeout",
            f"{self.body_timeout:g}",
            "--max-head-bytes",
            str(self.max_head_bytes),
            "--max-headers",
            str(self.max_headers),
        ]
