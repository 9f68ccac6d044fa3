"""`wrk` (Debian's C HTTP load generator, installed by scripts/install-bench-deps) driving one URL with one POST
body, so the load generator is never the bottleneck. Results come from wrk's Lua `done()` hook (bench/post.lua) as
one JSON line, not from its text report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("post.lua")
MARK = "WRK_JSON "


@dataclass(frozen=True)
class Result:
    """One wrk run: requests/s and latency percentiles in ms; `errors` = socket errors, timeouts and non-2xx/3xx."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: run scripts/install-bench-deps (Debian's wrk package)")
    return found


def parse(stdout: str) -> Result:
    """The Result in wrk's output (the line post.lua's done() prints); ValueError when it is missing."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise ValueError(f"no {MARK.strip()} line in wrk's output: {stdout[-300:]!r}")
    d = json.loads(line[len(MARK) :])
    errors = sum(d[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "status_errors"))
    seconds = d["duration_us"] / 1e6
    return Result(d["requests"] / seconds, d["p50_us"] / 1000, d["p99_us"] / 1000, d["requests"], errors)


def run(url: str, body: bytes, connections: int, seconds: float) -> Result:
    """POST `body` to `url` over `connections` keep-alive connections (one wrk thread) for `seconds`."""
    with tempfile.NamedTemporaryFile(prefix="cxops-bench-body-", suffix=".json") as fh:
        fh.write(body)
        fh.flush()
        argv = [wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(LUA), url]
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
            env={**os.environ, "WRK_BODY_FILE": fh.name},
        )
    return parse(out.stdout)
