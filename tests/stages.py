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


# Per (worker, group of tests/groups.py: a module, a folder's group, or "-" for the ungrouped; or "  <module>", two
# spaces first, for a module of a folder's group): the first start and last stop of its tests' phases (epoch seconds)
# and its test count. Filled on the xdist controller
# from each report, printed by tests/conftest.py, so a CI log shows which worker's groups set the run's length.
GROUP_SPANS: dict[tuple[str, str], list[float]] = {}


def record_report(group: str, worker: str, start: float, stop: float, counts: bool) -> None:
    """Widen GROUP's span to [START, STOP] on WORKER; COUNTS is True for the report that ends a test (teardown)."""
    span = GROUP_SPANS.setdefault((worker, group), [start, stop, 0])
    span[0], span[1] = min(span[0], start), max(span[1], stop)
    span[2] += int(counts)


def worker_lines() -> list[str]:
    """One line per worker: when its last test ended (seconds after the run's first test began) and its ten groups of
    longest span (first start to last stop, so "-", the ungrouped tests, spans the groups run between them); then,
    indented, the modules of its folder groups (tests/openstack's halves, tests/k8s_api, tests/cluster), longest
    first, whose spans are what to cut or move."""
    if not GROUP_SPANS:
        return []
    origin = min(span[0] for span in GROUP_SPANS.values())
    lines = []
    for worker in sorted({worker for worker, _ in GROUP_SPANS}):
        spans = sorted(
            ((name, span) for (owner, name), span in GROUP_SPANS.items() if owner == worker),
            key=lambda item: item[1][0] - item[1][1],
        )
        end = max(span[1] for _, span in spans) - origin
        groups = [(name, span) for name, span in spans if not name.startswith("  ")]
        modules = [(name.strip(), span) for name, span in spans if name.startswith("  ")]
        lines.append(f"worker {worker}: done at {end:.0f} s; {_listed(groups[:10])}")
        if modules:
            lines.append(f"  modules: {_listed(modules)}")
    return lines


def _listed(spans: list[tuple[str, list[float]]]) -> str:
    return ", ".join(f"{name} {span[1] - span[0]:.0f} s ({span[2]:.0f})" for name, span in spans)
