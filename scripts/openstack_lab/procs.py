"""Start processes in their own sessions, remember them by PID (plus start time), stop them by that PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cxops.waiting import backoff_delays
from openstack_lab.layout import Layout


def _start_time(pid: int) -> str | None:
    """Kernel start time of a PID: tells our process from a later one that reused the number."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def start(
    layout: Layout,
    name: str,
    argv: list[str],
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> int:
    layout.log.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    full_env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(layout.state),
        "CXOPS_LAB_STATE": str(layout.state),
        "CXOPS_LAB_ROOTFS": str(layout.rootfs),
        "PYTHONPATH": str(layout.pylib),
    }
    full_env.update(env or {})
    with open(layout.log / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
            user=user,
            cwd=cwd or layout.state,
        )
    record = {"pid": proc.pid, "start": _start_time(proc.pid), "argv": argv}
    (layout.run / f"{name}.json").write_text(json.dumps(record))
    return proc.pid


def recorded(layout: Layout) -> dict[str, dict]:
    out = {}
    for path in sorted(layout.run.glob("*.json")) if layout.run.exists() else []:
        try:
            out[path.stem] = json.loads(path.read_text())
        except ValueError:
            path.unlink()
    return out


def alive(record: dict) -> bool:
    return record.get("start") is not None and _start_time(record["pid"]) == record["start"]


def stop(layout: Layout, name: str, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    """Signal the process group we started, wait `grace` seconds, then SIGKILL it."""
    path = layout.run / f"{name}.json"
    if not path.exists():
        return
    record = json.loads(path.read_text())
    if alive(record):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], sig)
        for delay in backoff_delays(grace, first=0.1, cap=0.5):
            if not alive(record):
                break
            time.sleep(delay)
        if alive(record):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record["pid"], signal.SIGKILL)
            for delay in backoff_delays(5, first=0.05, cap=0.5):
                if not alive(record):
                    break
                time.sleep(delay)
    # the group may hold children whose leader already exited (uwsgi workers, neutron workers)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record["pid"], signal.SIGKILL)
    path.unlink()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_up(url: str) -> bool:
    """Any HTTP answer (even 401) means the service is listening and routing."""
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
