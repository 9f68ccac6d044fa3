"""Run install stages with ansible-playbook (several playbooks in one run): stream its output to a log and a
progress callback, then read the PLAY RECAP into a per-host summary (ok / changed / unreachable / failed / skipped)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cxops.cluster import layout
from cxops.cluster.inventory_files import HOSTS_FILE, Inventory
from cxops.errors import CxopsError

# `node1 : ok=5 changed=1 unreachable=0 failed=0 skipped=2 rescued=0 ignored=0` (ansible's default callback).
_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")
_TASK = re.compile(r"^(?P<kind>TASK|PLAY|RUNNING HANDLER) \[(?P<name>.*)\]")
# Kubespray alone takes 20+ minutes on real hosts; a stage that runs for three hours is stuck.
DEFAULT_TIMEOUT_S = 3 * 3600


@dataclass(frozen=True)
class HostRecap:
    """One host's line of the PLAY RECAP."""

    host: str
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class RunResult:
    """What a run did: its stages ("prepare+bootstrap"), exit code, recap per host, full log, and seconds taken."""

    stage: str
    returncode: int
    recap: list[HostRecap]
    log: Path
    seconds: float

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.recap)


def parse_recap(text: str) -> list[HostRecap]:
    """The PLAY RECAP lines of an ansible-playbook run (the last recap when there are several)."""
    out: dict[str, HostRecap] = {}
    in_recap = False
    for line in text.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap, out = True, {}
            continue
        m = _RECAP.match(line.strip()) if in_recap else None
        if m:
            counts = {k: int(v) for k, v in (p.split("=") for p in m["counts"].split())}
            out[m["host"]] = HostRecap(m["host"], **{k: v for k, v in counts.items() if k in HostRecap.__annotations__})
    return list(out.values())


def playbook_binary() -> str:
    """ansible-playbook beside this Python (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise CxopsError("ansible-playbook not found; run `make setup` (installs ansible==11.13.0 into .venv)")
    return found


def command(
    ansible_dir: Path, inventory_dir: Path, stages: list[str], tags: list[str], skip_tags: list[str], limit: str | None
) -> list[str]:
    """The ansible-playbook argv for the stages, in order (run with cwd=ansible_dir)."""
    argv = [playbook_binary(), "-i", str(inventory_dir / HOSTS_FILE)]
    argv += [str(ansible_dir / layout.STAGES[s]) for s in stages]
    if tags:
        argv += ["--tags", ",".join(tags)]
    if skip_tags:
        argv += ["--skip-tags", ",".join(skip_tags)]
    if limit:
        argv += ["--limit", limit]
    return argv


def run(
    ansible_dir: Path,
    inv: Inventory,
    stages: list[str],
    log: Path,
    *,
    tags: Sequence[str] = (),
    skip_tags: Sequence[str] = (),
    limit: str | None = None,
    on_line: Callable[[str], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> RunResult:
    """Run the stages; every output line goes to `log` and `on_line`. Raises CxopsError on timeout (process killed)."""
    stage = "+".join(stages)
    argv = command(ansible_dir, inv.directory, stages, list(tags), list(skip_tags), limit)
    full_env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ansible_dir / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    lines: list[str] = []
    with log.open("w") as f:
        f.write("$ " + " ".join(argv) + "\n")
        proc = subprocess.Popen(
            argv, cwd=ansible_dir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        watchdog = threading.Timer(timeout_s, proc.kill)  # a silent hang is stopped too
        watchdog.start()
        try:
            for line in proc.stdout:
                f.write(line)
                lines.append(line)
                if on_line:
                    on_line(line.rstrip("\n"))
            rc = proc.wait()
        finally:
            watchdog.cancel()
    if time.monotonic() - started >= timeout_s:
        raise CxopsError(f"stage {stage} ran past {timeout_s:.0f}s and was stopped; log: {log}")
    return RunResult(stage, rc, parse_recap("".join(lines)), log, time.monotonic() - started)


def task_name(line: str) -> str | None:
    """`TASK [node_prep : Install the node packages] ***` -> `node_prep : Install the node packages`."""
    m = _TASK.match(line)
    return f"{m['kind'].lower()} {m['name']}" if m and m["kind"] != "TASK" else (m["name"] if m else None)


def failure_message(result: RunResult, inv: Inventory) -> str:
    """One line per failed or unreachable host (unreachable ones name their address and the jump host)."""
    parts = []
    for r in result.recap:
        if r.unreachable:
            parts.append(
                f"host {r.host} ({inv.address(r.host)}) did not answer over SSH through jump host "
                f"{inv.jump_host}; is it running and is its address in {inv.directory}/ssh_config right?"
            )
        elif r.failed:
            parts.append(f"host {r.host}: {r.failed} task(s) failed")
    if not parts:
        parts.append(f"ansible-playbook exited {result.returncode}")
    return f"stage {result.stage} failed: " + "; ".join(parts) + f" (full log: {result.log})"
