"""The servers of SERVERS on one registered model version, loaded in alternation under the same wrk load:

- the floor: a fixed-JSON ASGI app under the same uvicorn (bench/floor.py), what any Python server here can reach;
- ours: `python -m cxops.serving` on the version's build directory, without adaptive batching (as before it) and,
  for a pyfunc model, with it (cxops' defaults, and with no wait);
- MLflow's: `mlflow models serve -m models:/NAME/VERSION --env-manager local` (one uvicorn worker, its default);
- MLServer with its MLflow runtime on the same `models:/` URI, without and with its adaptive batching
  (bench/mlserver.py).

Every server but MLServer gets the same single-row `/invocations` body (MLflow's scoring protocol; the floor ignores
it); MLServer the same row as a v2 `infer` request, the route its batching applies to. At each concurrency, after a
warm-up, in rounds that alternate the servers (a shared VM's speed drifts by 2x within minutes; alternation puts
each drift on all of them, so the ratios hold). Also each server's start-up (started one after the other; process
start → readiness probe answers 200, polled every 20 ms) and resident memory after the load (VmRSS summed over its
process group: `mlflow models serve` runs uvicorn as a child, MLServer its inference worker).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import loadgen, mlserver
from cxops.serving.batch_settings import BatchSettings
from cxops.waiting import wait_until

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
CONCURRENCIES = (1, 16, 64)
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))  # per concurrency level and server, over all rounds
ROUNDS = 3  # per concurrency level, the servers alternating within each
WARMUP_SECONDS = 1.0
ROUTE = "/invocations"


@dataclass(frozen=True)
class Served:
    """One server's figures: start-up seconds, RSS in MB after the load, and a wrk Result per concurrency."""

    startup_s: float
    rss_mb: float
    results: dict[int, loadgen.Result]


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


def start(argv: list[str], url: str, probe: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    """Start one server in its own process group; (process, seconds from start until `probe` answers 200)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **(env or {})},
    )

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[:4]} exited with {proc.returncode} during start-up")
        try:
            return httpx.get(f"{url}{probe}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=180, what=f"{url}{probe}", first=0.02, cap=0.02)
    except BaseException:
        stop(proc)
        raise
    return proc, time.perf_counter() - started


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group; SIGKILL after 30 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def median_result(results: list[loadgen.Result]) -> loadgen.Result:
    """Per figure, the median over rounds (requests and errors summed)."""
    return loadgen.Result(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.requests for r in results),
        sum(r.errors for r in results),
    )


def measure(servers: dict[str, tuple[subprocess.Popen, float, str, bytes]]) -> dict[str, Served]:
    """Load the running servers in turn: per concurrency, ROUNDS rounds of SECONDS / ROUNDS each, the servers
    alternating within a round, so that a slower or faster spell of a shared machine falls on all of them; the
    median of the rounds per server. Each server (process, start-up, scoring URL, body). Then each server's memory."""
    per = SECONDS / ROUNDS
    for _, _, url, data in servers.values():
        loadgen.run(url, data, 16, WARMUP_SECONDS)
    rounds: dict[str, dict[int, list[loadgen.Result]]] = {name: {c: [] for c in CONCURRENCIES} for name in servers}
    for c in CONCURRENCIES:
        for _ in range(ROUNDS):
            for name, (_, _, url, data) in servers.items():
                rounds[name][c].append(loadgen.run(url, data, c, per))
    out = {}
    for name, (proc, startup, _, _) in servers.items():
        results = {c: median_result(rs) for c, rs in rounds[name].items()}
        bad = {c: r.errors for c, r in results.items() if r.errors}
        if bad:
            raise RuntimeError(f"{name}: failed requests per concurrency {bad}: its figures would mean nothing")
        out[name] = Served(startup, group_rss_mb(proc.pid), results)
    return out


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


Figures = dict[str, Served]  # server name (SERVERS) -> its figures

# The servers, in the order they alternate: name -> what it is (the bench's table headers).
SERVERS = {
    "floor": "floor (fixed JSON)",
    "cxops": "cxops, unbatched",
    "cxops-batched": "cxops, batched",
    "cxops-batched-nowait": "cxops, batched, no wait",
    "mlflow": "mlflow models serve",
    "mlserver": "MLServer",
    "mlserver-batched": "MLServer, batched",
}
# MLServer's adaptive batching with cxops' defaults: max_batch_size (requests; one row each here) and the wait limit
MLSERVER_WAIT_S = BatchSettings().max_wait_ms / 1000


def run(
    build_dir: Path, model_uri: str, tracking_uri: str, ports: list[int], batched: bool, tmp: Path
) -> tuple[str, Figures]:
    """The scorer our server chose and every server's figures for one model (SERVERS; the batched cxops variants
    only when `batched`, i.e. for a pyfunc model): started one after the other (each start-up timed alone), then
    loaded in alternation (`measure`). `ports`: 11 free loopback ports."""
    payload, v2 = body(build_dir), mlserver.v2_body(build_dir)
    port = iter(ports)
    url = {name: f"http://127.0.0.1:{next(port)}" for name in SERVERS}
    cxops_argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(build_dir)]
    defaults = BatchSettings()
    tracking = {"MLFLOW_TRACKING_URI": tracking_uri}
    v2_route = f"/v2/models/{mlserver.NAME}/infer"

    def mls(name: str, size: int) -> list[str]:
        extra = (next(port), next(port))
        folder = mlserver.settings_dir(
            tmp / name, model_uri, (int(url[name].rsplit(":", 1)[1]), *extra), size, MLSERVER_WAIT_S
        )
        return mlserver.argv(folder)

    specs: dict[str, tuple[list[str], str, dict[str, str] | None, str, bytes]] = {
        "floor": ([sys.executable, "-m", "bench.floor", url["floor"].rsplit(":", 1)[1]], "/", None, ROUTE, payload),
        "cxops": (
            [*cxops_argv, "--port", url["cxops"].rsplit(":", 1)[1], "--batching", "off"],
            "/readyz",
            None,
            ROUTE,
            payload,
        ),
        "cxops-batched": (
            [*cxops_argv, "--port", url["cxops-batched"].rsplit(":", 1)[1], *defaults.argv()],
            "/readyz",
            None,
            ROUTE,
            payload,
        ),
        "cxops-batched-nowait": (
            [
                *cxops_argv,
                "--port",
                url["cxops-batched-nowait"].rsplit(":", 1)[1],
                *BatchSettings(True, defaults.max_batch_size, 0).argv(),
            ],
            "/readyz",
            None,
            ROUTE,
            payload,
        ),
        "mlflow": (
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
                url["mlflow"].rsplit(":", 1)[1],
            ],
            "/ping",
            tracking,
            ROUTE,
            payload,
        ),
        "mlserver": (mls("mlserver", 1), f"/v2/models/{mlserver.NAME}/ready", tracking, v2_route, v2),
        "mlserver-batched": (
            mls("mlserver-batched", defaults.max_batch_size),
            f"/v2/models/{mlserver.NAME}/ready",
            tracking,
            v2_route,
            v2,
        ),
    }
    if not batched:
        specs = {k: v for k, v in specs.items() if k not in ("cxops-batched", "cxops-batched-nowait")}
    running: dict[str, tuple[subprocess.Popen, float, str, bytes]] = {}
    try:
        for name, (argv, probe, env, route, data) in specs.items():
            proc, startup = start(argv, url[name], probe, env)
            running[name] = (proc, startup, f"{url[name]}{route}", data)
            check_answers(name, running[name][2], data)
        scorer = str(httpx.get(f"{url['cxops']}/version", timeout=5).json().get("scorer", "?"))
        return scorer, measure(running)
    finally:
        for proc, _, _, _ in running.values():
            stop(proc)


def check_answers(name: str, url: str, data: bytes) -> None:
    """One request before the load: a server that refuses the body would only measure its refusals."""
    r = httpx.post(url, content=data, headers={"content-type": "application/json"}, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"{name}: {url} answered {r.status_code}: {r.text[:300]}")
