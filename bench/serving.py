"""Three servers on one registered model version, one at a time, under the same wrk load:

- the floor: a fixed-JSON ASGI app under the same uvicorn (bench/floor.py), what any Python server here can reach;
- ours: `python -m cxops.serving` on the version's build directory;
- MLflow's: `mlflow models serve -m models:/NAME/VERSION --env-manager local` (one uvicorn worker, its default).

Every server gets the same single-row `/invocations` body (MLflow's scoring protocol, which both model servers
speak; the floor ignores it) at each concurrency, after a warm-up. Also each server's start-up (process start →
readiness probe answers 200, polled every 20 ms) and resident memory after the load (VmRSS summed over its process
group: `mlflow models serve` runs uvicorn as a child).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import loadgen
from cxops.waiting import wait_until

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
CONCURRENCIES = (1, 16, 64)
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))  # per concurrency level and server
WARMUP_SECONDS = 1.0
ROUTE = "/invocations"


@dataclass(frozen=True)
class Served:
    """One server's figures: start-up seconds, RSS in MB after the load, and a wrk Result per concurrency."""

    startup_s: float
    rss_mb: float
    results: dict[int, loadgen.Result]
    info: dict  # what GET `info` answered (our /version names the scorer), else {}


def group_rss_mb(pgid: int) -> float:
    """VmRSS summed over the processes of group `pgid` (Linux /proc), in MB."""
    total_kb = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        total_kb += next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:")), 0)
    return total_kb / 1024


def serve_and_measure(
    argv: list[str], url: str, probe: str, body: bytes, env: dict[str, str] | None = None, info: str = ""
) -> Served:
    """Start one server in its own process group, time its start-up, load it at every concurrency, stop it."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})},
    )
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[:4]} exited with {proc.returncode} during start-up")
            try:
                return httpx.get(f"{url}{probe}", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=180, what=f"{url}{probe}", first=0.02, cap=0.02)
        startup = time.perf_counter() - started
        about = httpx.get(f"{url}{info}", timeout=5).json() if info else {}
        loadgen.run(f"{url}{ROUTE}", body, 16, WARMUP_SECONDS)
        results = {c: loadgen.run(f"{url}{ROUTE}", body, c, SECONDS) for c in CONCURRENCIES}
        rss = group_rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    bad = {c: r.errors for c, r in results.items() if r.errors}
    if bad:
        raise RuntimeError(f"{argv[:4]}: failed requests per concurrency {bad}: its figures would mean nothing")
    return Served(startup, rss, results, about)


def body(build_dir: Path) -> bytes:
    """One single-row /invocations body from the build's golden rows: `inputs` for a tensor signature,
    `dataframe_split` with the column names for a DataFrame signature (what an MLflow client sends for each)."""
    from cxops.serving.model_dir import read_mlmodel
    from cxops.serving.signature import parse_signature

    row = json.loads((build_dir / "golden.json").read_text())["inputs"][0]
    schema = parse_signature(read_mlmodel(build_dir / "model"))
    if schema.kind == "columns":
        return json.dumps({"dataframe_split": {"columns": list(schema.names), "data": [row]}}).encode()
    return json.dumps({"inputs": [row]}).encode()


def run(build_dir: Path, model_uri: str, tracking_uri: str, port: int) -> tuple[str, dict[str, Served]]:
    """The scorer our server chose and the floor's, ours and MLflow's figures for one model (one port, in turn)."""
    payload = body(build_dir)
    url = f"http://127.0.0.1:{port}"
    floor = serve_and_measure([sys.executable, "-m", "bench.floor", str(port)], url, "/", payload)
    ours_argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(build_dir), "--port", str(port)]
    ours = serve_and_measure(ours_argv, url, "/readyz", payload, info="/version")
    peer_argv = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    peer = serve_and_measure(
        [*peer_argv, "-h", "127.0.0.1", "-p", str(port)], url, "/ping", payload, {"MLFLOW_TRACKING_URI": tracking_uri}
    )
    return str(ours.info.get("scorer", "?")), {"floor": floor, "cxops": ours, "mlflow": peer}
