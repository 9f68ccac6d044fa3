"""The cxops model server vs `mlflow models serve --env-manager local` on the same registered model and load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from cxops.pipeline.load import run_load
from cxops.waiting import wait_until

BIN = Path(sys.executable).parent
CONCURRENCIES = (1, 16, 64)
REQUESTS = 1500


def _start(argv: list[str], url: str, probe: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})})
    wait_until(lambda: httpx.get(f"{url}{probe}", timeout=2).status_code == 200, timeout=120, what=argv[0])
    return proc


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def measure(url: str, route: str, rows: list[list[float]]) -> dict[int, dict]:
    out = {}
    bodies = [json.dumps({"inputs": [rows[i % len(rows)]]}).encode() for i in range(REQUESTS)]
    run_load([(f"{url}{route}", b) for b in bodies[:100]], 4)  # warm-up
    for c in CONCURRENCIES:
        stats = run_load([(f"{url}{route}", b) for b in bodies], c)
        assert stats.errors == 0, f"{url}{route}: {stats.errors} errors at concurrency {c}"
        out[c] = stats.summary()
    return out


def run(build_dir: Path, model_uri: str, tracking_uri: str, ports: tuple[int, int]) -> list[list[str]]:
    rows = json.loads((build_dir / "golden.json").read_text())["inputs"]
    ours_url, peer_url = (f"http://127.0.0.1:{p}" for p in ports)
    ours = _start([sys.executable, "-m", "cxops.serving", "--model-dir", str(build_dir), "--port", str(ports[0])],
                  ours_url, "/readyz")
    try:
        ours_stats = measure(ours_url, "/predict", rows)
    finally:
        _stop(ours)
    peer = _start([str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
                   "-h", "127.0.0.1", "-p", str(ports[1])], peer_url, "/ping",
                  env={"MLFLOW_TRACKING_URI": tracking_uri})  # fmt: skip
    try:
        peer_stats = measure(peer_url, "/invocations", rows)
    finally:
        _stop(peer)
    table = []
    for c in CONCURRENCIES:
        o, p = ours_stats[c], peer_stats[c]
        table.append([str(c), f"{o['rps']:.0f}", f"{p['rps']:.0f}", f"{o['rps'] / p['rps']:.2f}x",
                      f"{o['p50_ms']:.2f} / {o['p99_ms']:.2f}", f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f}",
                      f"{p['p99_ms'] / o['p99_ms']:.2f}x"])  # fmt: skip
    return table
