"""The upstream Go tools the tests run (scripts/install-go-tools), each waited for on first use.

`make test` starts the tools' build in the background before pytest (docs/testing.md, "Upstream Go tools"), so on a
new machine the tests that need none of them run while they build. A test asks for a tool by name; the first ask
waits, bounded, for that tool's build in progress (the script's lock) and fails with the script's one line when the
tool is not built and nothing is building it. Tests install nothing themselves.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from helpers import REPO

from tests.stages import STAGES

SCRIPT = REPO / "scripts" / "install-go-tools"
WAIT_TIMEOUT = 5400 + 120  # seconds: the script's own bound on a wait (WAIT_TIMEOUT there) plus its start


class GoTools(Mapping[str, Path]):
    """Tool name (a row of the script's TOOLS) → its binary, waiting for the background build on first access.

    A wait longer than a second is recorded as the stage "go-tools wait: NAME" (printed after the run). Raises
    AssertionError with the script's one line for a tool that is not built; KeyError for a name not in TOOLS."""

    def __init__(self) -> None:
        self._found: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._found:
            self._found[name] = _wait_for(name)
        return self._found[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_names())

    def __len__(self) -> int:
        return len(_names())


@functools.cache
def _names() -> tuple[str, ...]:
    res = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, timeout=60)
    return tuple(res.stdout.split())


def _wait_for(name: str) -> Path:
    if name not in _names():
        raise KeyError(name)
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--cached", "--json", "--only", name],
        capture_output=True,
        text=True,
        timeout=WAIT_TIMEOUT,
    )
    waited = time.monotonic() - started
    if waited > 1:
        STAGES.append((f"go-tools wait: {name}", waited))
    assert res.returncode == 0, f"scripts/install-go-tools --cached: {res.stderr.strip().splitlines()[-1:]}"
    return Path(json.loads(res.stdout)["tools"][name]["binary"])
