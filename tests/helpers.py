"""Test helpers: free ports, throwaway projects, running the real `cxops` CLI as a user would."""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "cxops.yaml").read_text())


def merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in overrides.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def make_project(root: Path, overrides: dict | None = None) -> Path:
    """A project dir with its own cxops.yaml (free ports, fast gates) and a copy of k8s/; returns the config path."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = merge(
        base_config(),
        {
            "lab": {
                "mlflow_port": free_port(),
                "endpoint_port": free_port(),
                "ready_timeout_seconds": 240,
            },  # a loaded 2-core machine is slow
            "environments": {
                "staging": {"port": free_port()},
                "canary": {"port": free_port(), "weight": 20},
                "production": {"port": free_port()},
            },
            "gates": {"staging": {"requests": 100, "concurrency": 4}, "canary": {"window_seconds": 3, "requests": 150}},
            "gitops": {"sync_timeout_seconds": 45},
        },
    )
    cfg = merge(cfg, overrides or {})
    (root / "cxops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if not (root / "k8s").exists():
        shutil.copytree(REPO / "k8s", root / "k8s")
    return root / "cxops.yaml"


def cli(
    config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `cxops` in a subprocess exactly as a user would (own process, real exit code, real output)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env.update({"CXOPS_CONFIG": str(config), "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "cxops", *args],
        cwd=config.parent,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def serving_process(
    argv: list[str], ready_url: str, timeout: float = 60, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A real server process for one test module: wait (bounded) until `ready_url` answers 200, stop it after.
    `env`: its whole environment (default: this process's); `log`: a file for its output, whose tail a start that
    fails shows (default: discarded)."""
    import httpx

    from cxops.errors import CxopsError
    from cxops.waiting import wait_until

    out = log.open("wb") if log else None
    proc = subprocess.Popen(argv, stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)

    def ready() -> bool:
        if proc.poll() is not None:  # stop waiting at once, with why
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise CxopsError(f"{argv[0]} exited with {proc.returncode} before {ready_url} answered:\n{tail}")
        return httpx.get(ready_url).status_code == 200

    try:
        wait_until(ready, timeout=timeout, what=ready_url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if out:
            out.close()


@contextlib.contextmanager
def model_server(build: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The model server as the serving image runs it (`python -m cxops.serving --model-dir BUILD`, plus `options`)
    on a free port of 127.0.0.1, ready (its /readyz answered 200, bounded); (its URL, the process). Stopped after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(build), "--port", str(port), *options]
    with serving_process(argv, f"{url}/readyz") as proc:
        yield url, proc


def lab_build(cfg) -> Path:
    """Train, evaluate, register and build one version in the lab's MLflow; the build directory a deploy would serve."""
    from cxops.pipeline.local import step_function

    run_id = step_function("train")(cfg).run_id
    assert step_function("evaluate")(cfg, run_id).passed
    version = step_function("register")(cfg, run_id).version
    return Path(step_function("build")(cfg, version).path)


class RecordingTransport:
    """An asyncio transport that records what a protocol writes instead of sending it (for tests of uvicorn protocol
    subclasses: the writes, their content and whether the connection was closed are what they assert)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5), "sockname": ("127.0.0.1", 80)}.get(name, default)
