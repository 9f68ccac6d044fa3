"""The three environments, in promotion order, and which gate guards the move out of each.

A tiny module (no pydantic) so the CLI can name them in `--help` without slowing start-up.
"""

from __future__ import annotations

ENV_NAMES: tuple[str, ...] = ("staging", "canary", "production")

# The gate a version must have passed in SRC before it may move on to the next environment.
GATE_OF: dict[str, str] = {"staging": "staging", "canary": "canary"}
