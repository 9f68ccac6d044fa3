"""Set-up stages that session fixtures go through (local OpenStack, API server…), timed and printed at the end.

Fixtures record with `timed("openstack-lab up")`; `pytest_terminal_summary` in tests/conftest.py prints one line per
stage after the run (also when tests fail), so a slower set-up is visible in every CI log beside the slowest tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES: list[tuple[str, float]] = []


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Record how long the block took (wall clock, seconds) under STAGE, whether or not it raised."""
    started = time.monotonic()
    try:
        yield
    finally:
        STAGES.append((stage, time.monotonic() - started))
