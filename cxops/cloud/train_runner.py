"""The pipeline's `training.runner: openstack-instance`: train on an ephemeral (GPU) server.

Check the flavor's GPU capacity, run the training command as a job, read the MLflow run id from the
job's console JSON, and always delete the server (and its volume) whatever happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxops.cloud import jobs
from cxops.cloud.gpus import flavor_gpu_request
from cxops.errors import CxopsError

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cxops.config.schema import Config


def gpu_capacity_check(conn: Connection, flavor: Any, say: Callable[[str], None]) -> str | None:
    """The flavor's GPU type, after checking one instance fits; None for CPU flavors."""
    from cxops.cloud.gpus import measure

    req = flavor_gpu_request(dict(flavor.extra_specs or {}))
    if req is None:
        return None
    try:
        report = measure(conn)
    except CxopsError as exc:  # member credentials cannot see hypervisors: let the scheduler decide
        say(f"GPU capacity not checked: {exc}")
        return req.gpu_type
    rows = [r for r in report["flavors"] if r["flavor"] == flavor.name]
    if rows and sum(r["available"] for r in rows) < 1:
        raise CxopsError(
            f"flavor {flavor.name!r}: no GPU capacity free now ({rows[0]['total']} in total); "
            "try later or another flavor (see `cxops cloud gpus`)"
        )
    # the measured row names the alias a GPU aggregate offers (a flavor may ask for several, e.g. nvme:1,a100:2)
    return str(rows[0]["gpu_type"]) if rows else req.gpu_type


def train_on_instance(
    config: Config,
    conn: Connection,
    state_dir: Path,
    command: list[str],
    say: Callable[[str], None] = lambda _m: None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run `command` on a fresh server; return {"run_id", "job", "result"}. The job must write
    {"mlflow_run_id": ...} to $CXOPS_RESULT."""
    flavor = conn.compute.find_flavor(config.training.flavor, ignore_missing=True)
    if flavor is None:
        raise CxopsError(f"training.flavor {config.training.flavor!r} not found (see `cxops cloud flavors`)")
    gpu = gpu_capacity_check(conn, flavor, say)
    spec = jobs.JobSpec(
        name=f"train-{secrets.token_hex(3)}",
        flavor=flavor.name,
        image=config.cloud.image,
        command=command,
        gpu=gpu,
        deadline_seconds=config.training.timeout_seconds,
        env=env,
        server_prefix=f"{config.project.name}-{config.project.suffix}",
    )
    job = jobs.start(conn, state_dir, spec, say)
    try:
        final = jobs.wait(conn, state_dir, job, say)
    finally:
        jobs.cleanup(conn, state_dir, job, say)  # always: a forgotten GPU server is the costliest leak
    if final != "SUCCEEDED":
        raise CxopsError(f"training job {job.name} ended {final}" + (f": {job.fault}" if job.fault else ""))
    payload = (job.result or {}).get("result") or {}
    run_id = payload.get("mlflow_run_id")
    if not run_id:
        raise CxopsError(f"training job {job.name} succeeded but wrote no mlflow_run_id to $CXOPS_RESULT")
    return {"run_id": run_id, "job": job.name, "result": payload}
