"""Local record of each job (`.cxops/jobs/NAME.json`) and the status derived from the cloud and console.

Status never sticks at RUNNING: once the job's deadline (plus boot time and a grace) has passed without
a result on the console, the job is DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cxops.cloud.console import ConsoleMarkers
from cxops.errors import CxopsError

JOB_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
# UNREADABLE: the console shows the job's result but it could not be read back (cut or garbled): the job ended,
# how is unknown; never reported as FAILED (a large result is on the job's volume, see userdata.RESULT_PY)
TERMINAL = {"SUCCEEDED", "FAILED", "ERROR", "DEADLINE_EXCEEDED", "GONE", "UNREADABLE"}
RESULT_STATUS = {"succeeded": "SUCCEEDED", "failed": "FAILED", "deadline_exceeded": "DEADLINE_EXCEEDED"}
GRACE_SECONDS = 30  # after the in-guest deadline: time for the wrapper to print its result


class JobState(BaseModel):
    name: str
    run_id: str
    cloud: str
    server_name: str
    flavor: str
    image: str
    network: str | None = None
    gpu: str | None = None
    deadline_seconds: int
    boot_timeout_seconds: int
    created_at: float
    server_id: str | None = None
    volume_id: str | None = None
    floating_ip_id: str | None = None
    floating_ip: str | None = None
    status: str = "CREATING"
    fault: str | None = None
    result: dict[str, Any] | None = None
    cleaned_up: bool = False
    store_container: str | None = None  # the Swift container the job uploads its result and log to (job_store.py)
    results_deleted: bool = False  # cleanup removed the uploaded objects

    @property
    def deadline_at(self) -> float:
        return self.created_at + self.boot_timeout_seconds + self.deadline_seconds + GRACE_SECONDS


def check_name(name: str) -> str:
    if not JOB_NAME.match(name):
        raise CxopsError(f"job name {name!r} must be a DNS label: lowercase letters, digits and '-', at most 40")
    return name


def jobs_dir(state_dir: Path) -> Path:
    d = state_dir / "jobs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(state_dir: Path, job: JobState) -> Path:
    path = jobs_dir(state_dir) / f"{job.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(job.model_dump_json(indent=2))
    tmp.replace(path)  # atomic: a crash never leaves half a record
    return path


def load(state_dir: Path, name: str) -> JobState:
    path = jobs_dir(state_dir) / f"{check_name(name)}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in jobs_dir(state_dir).glob("*.json"))) or "none"
        raise CxopsError(f"no job named {name!r} in {path.parent}; known jobs: {known}")
    return JobState.model_validate(json.loads(path.read_text()))


def all_jobs(state_dir: Path) -> list[JobState]:
    return [JobState.model_validate(json.loads(p.read_text())) for p in sorted(jobs_dir(state_dir).glob("*.json"))]


def derive_status(job: JobState, server_status: str | None, markers: ConsoleMarkers, now: float | None = None) -> str:
    """One status from what the cloud says (None = server gone) and what the console says."""
    now = time.time() if now is None else now
    if markers.result is not None:
        return RESULT_STATUS.get(str(markers.result.get("status")), "UNREADABLE")
    if markers.unreadable is not None and server_status in (None, "SHUTOFF", "STOPPED"):
        return "UNREADABLE"  # the guest printed its result and powered off: it ended, how cannot be read
    if server_status is None:
        if job.result is not None:
            return RESULT_STATUS.get(str(job.result.get("status")), "UNREADABLE")
        return job.status if job.status in TERMINAL else "GONE"
    if server_status == "ERROR":
        return "ERROR"
    if now > job.deadline_at:
        return "DEADLINE_EXCEEDED"
    if server_status in ("SHUTOFF", "STOPPED", "DELETED", "SOFT_DELETED"):
        return "FAILED"  # the guest stopped without reporting a result
    if server_status == "ACTIVE":
        return "RUNNING" if markers.begun else "BOOTING"
    return "BUILDING"
