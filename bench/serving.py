"""The cxops model server vs `mlflow models serve --env-manager local` on the same registered model version and the
same load: identical `/invocations` bodies to both (MLflow's scoring protocol, which both speak), plus each server's
start-up time (process start → model loaded and answering its readiness probe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cxops.pipeline.load import run_load
from cxops.waiting import wait_until

BIN = Path(sys.executable).parent
CONCURRENCIES = (1, 16, 64)
REQUESTS = 1500


def _start(argv: list[str], url: str, probe: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    """Start a server; return it and the seconds until `probe` first answered 200."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})},
    )

    def up() -> bool:
        try:
            return httpx.get(f"{url}{probe}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=180, what=f"{argv[0]} {url}{probe}", first=0.05, cap=0.25)
    return proc, time.perf_counter() - started


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def bodies(build_dir: Path) -> list[bytes]:
    """One single-row /invocations body per golden row: `inputs` for a tensor signature, `dataframe_split` with
    the column names for a DataFrame signature (what an MLflow client sends for each)."""
    from cxops.serving.model_dir import read_mlmodel
    from cxops.serving.signature import parse_signature

    rows = json.loads((build_dir / "golden.json").read_text())["inputs"]
    schema = parse_signature(read_mlmodel(build_dir / "model"))
    if schema.kind == "columns":
        return [json.dumps({"dataframe_split": {"columns": list(schema.names), "data": [r]}}).encode() for r in rows]
    return [json.dumps({"inputs": [r]}).encode() for r in rows]


def measure(url: str, route: str, payloads: list[bytes]) -> dict[int, dict]:
    out = {}
    load = [payloads[i % len(payloads)] for i in range(REQUESTS)]
    run_load([(f"{url}{route}", b) for b in load[:100]], 4)  # warm-up
    for c in CONCURRENCIES:
        stats = run_load([(f"{url}{route}", b) for b in load], c)
        assert stats.errors == 0, f"{url}{route}: {stats.errors} errors at concurrency {c}"
        out[c] = stats.summary()
    return out


def run(
    label: str, build_dir: Path, model_uri: str, tracking_uri: str, ports: tuple[int, int]
) -> tuple[list[list[str]], list[str]]:
    """Rows (one per concurrency) of the throughput/p99 table and one row of the start-up table for one model."""
    payloads = bodies(build_dir)
    ours_url, peer_url = (f"http://127.0.0.1:{p}" for p in ports)
    ours, ours_start = _start(
        [sys.executable, "-m", "cxops.serving", "--model-dir", str(build_dir), "--port", str(ports[0])],
        ours_url,
        "/readyz",
    )
    try:
        scorer = httpx.get(f"{ours_url}/version").json().get("scorer", "?")
        ours_stats = measure(ours_url, "/invocations", payloads)
    finally:
        _stop(ours)
    peer, peer_start = _start(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(ports[1]),
        ],
        peer_url,
        "/ping",
        env={"MLFLOW_TRACKING_URI": tracking_uri},
    )
    try:
        peer_stats = measure(peer_url, "/invocations", payloads)
    finally:
        _stop(peer)
    table = []
    for c in CONCURRENCIES:
        o, p = ours_stats[c], peer_stats[c]
        table.append(
            [
                f"{label} ({scorer})",
                str(c),
                f"{o['rps']:.0f}",
                f"{p['rps']:.0f}",
                f"{o['rps'] / p['rps']:.2f}x",
                f"{o['p50_ms']:.2f} / {o['p99_ms']:.2f}",
                f"{p['p50_ms']:.2f} / {p['p99_ms']:.2f}",
                f"{p['p99_ms'] / o['p99_ms']:.2f}x",
            ]
        )
    startup = [label, f"{ours_start:.2f} s", f"{peer_start:.2f} s", f"{peer_start / ours_start:.1f}x"]
    return table, startup
