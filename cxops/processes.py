"""A background process owned by cxops: PID file, log file, readiness, stop by PID (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cxops.errors import CxopsError
from cxops.waiting import backoff_delays


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    run_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> int:
        """Start detached in its own session so a stop reaches its workers through the process group; `pass_fds`
        stay open in the child (e.g. a readiness pipe)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        tmp = self.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(str(proc.pid))
        tmp.replace(self.pid_file)
        return proc.pid

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL. True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            stop_pid(pid, self.name, grace)
        finally:
            self.pid_file.unlink(missing_ok=True)
        return True


def stop_pid(pid: int, name: str, grace: float = 15.0) -> None:
    """SIGTERM the process group `pid` leads (a ManagedProcess), wait up to `grace` seconds, then SIGKILL.
    CxopsError if it still lives after that."""
    _signal(pid, signal.SIGTERM)
    for delay in backoff_delays(grace, first=0.02, cap=0.25):
        if not pid_alive(pid):
            break
        time.sleep(delay)
    else:
        _signal(pid, signal.SIGKILL)
        for delay in backoff_delays(5, first=0.05, cap=0.5):
            if not pid_alive(pid):
                break
            time.sleep(delay)
    _reap(pid)
    if pid_alive(pid):
        raise CxopsError(f"{name} (pid {pid}) did not stop after SIGKILL")


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the group this process leads (start_new_session)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
