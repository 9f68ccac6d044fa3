"""`cxops --help` start-up vs `mlflow --help`, both from this venv, median of several runs."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def median_seconds(argv: list[str], runs: int = 7) -> float:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run() -> list[list[str]]:
    ours = median_seconds([str(BIN / "cxops"), "--help"])
    peer = median_seconds([str(BIN / "mlflow"), "--help"])
    return [
        ["cxops --help", f"{ours * 1000:.0f} ms"],
        ["mlflow --help", f"{peer * 1000:.0f} ms"],
        ["speed-up", f"{peer / ours:.1f}x"],
    ]
