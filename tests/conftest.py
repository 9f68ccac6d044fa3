import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.stages import STAGES


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per timed set-up stage (tests/stages.py), after pytest's own --durations table."""
    if not STAGES:
        return
    terminalreporter.section("set-up stages")
    for stage, seconds in STAGES:
        terminalreporter.write_line(f"stage {stage}: {seconds:.0f} s")
