"""The limits on what a client may send before the server answers (see cxops.serving.limited, which enforces them).
Kept apart from the protocol so the CLI and the lab can name them without importing the server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestLimits:
    """What the server waits for and accepts before it answers (cxops.yaml `serving`: request_head_timeout_seconds,
    request_body_timeout_seconds, max_request_head_bytes, max_request_headers). Seconds and bytes."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_head_bytes: int = 16 * 1024
    max_headers: int = 100

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
