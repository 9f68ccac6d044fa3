"""Ephemeral jobs on OpenStack servers: create, watch the console, collect the JSON result, clean up.

Every wait is bounded; a server that goes to ERROR is cleaned up at once; cleanup deletes the server,
then (only once the server is gone) its volume, then its floating IP.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxops.cloud import console, job_state, userdata
from cxops.cloud.job_state import TERMINAL, JobState
from cxops.errors import CxopsError
from cxops.waiting import wait_until

if TYPE_CHECKING:
    from openstack.connection import Connection

Say = Callable[[str], None]


@dataclass
class JobSpec:
    name: str
    flavor: str
    image: str
    command: list[str] | None = None
    script: str | None = None
    network: str | None = None
    volume_gb: int | None = None
    gpu: str | None = None
    deadline_seconds: int = 1800
    boot_timeout_seconds: int = 300
    floating_ip: bool = False
    env: dict[str, str] | None = None
    volume_wait_seconds: int = 60
    server_prefix: str = "cxops-job"
    store_container: str | None = None  # upload result and log there (job_store.py)
    store_url_seconds: int | None = None  # how long the upload URLs live; None = until the deadline has passed


def _find(getter, name: str, what: str, candidates: Callable[[], list[str]]) -> Any:
    found = getter(name, ignore_missing=True)
    if found is None:
        raise CxopsError(f"{what} {name!r} not found; available: {', '.join(sorted(candidates())[:10]) or 'none'}")
    return found


def pick_network(conn: Connection, name: str | None) -> Any:
    if name:
        return _find(conn.network.find_network, name, "network", lambda: [n.name for n in conn.network.networks()])
    own = [n for n in conn.network.networks(project_id=conn.current_project_id) if not n.is_router_external]
    if len(own) != 1:
        raise CxopsError(
            f"pass --network: the project has {len(own)} private networks ({', '.join(n.name for n in own) or 'none'})"
        )
    return own[0]


def gpu_of_flavor(flavor: Any, gpu: str | None = None) -> tuple[str, int] | None:
    """(gpu type, count) a flavor asks for: a PCI alias (with `gpu`, the one of that name among several, e.g.
    `nvme:1,a100:2` and gpu a100 → (a100, 2)), or a Placement resource (VGPU / CUSTOM_*GPU*)."""
    from cxops.cloud.gpus import flavor_gpu_request

    req = flavor_gpu_request(dict(flavor.extra_specs or {}), [gpu] if gpu else None)
    return (req.gpu_type, req.count) if req else None


def console_text(conn: Connection, server_id: str) -> str:
    try:
        return conn.compute.get_server_console_output(server_id).get("output") or ""
    except Exception:  # the console is not there yet (BUILD) or any more (deleted)
        return ""


def _server(conn: Connection, server_id: str | None) -> Any:
    return conn.compute.find_server(server_id, ignore_missing=True) if server_id else None


def status(conn: Connection, job: JobState) -> tuple[str, Any, console.ConsoleMarkers, str]:
    """(status, server or None, markers, console text), from the cloud as it is now."""
    server = _server(conn, job.server_id)
    text = console_text(conn, server.id) if server is not None else ""
    markers = console.parse(text, job.run_id)
    st = job_state.derive_status(job, server.status if server is not None else None, markers)
    if server is not None and server.status == "ERROR" and server.fault:
        job.fault = server.fault.get("message")
    return st, server, markers, text


def refresh(conn: Connection, state_dir: Path, job: JobState) -> tuple[str, str]:
    """Update and save the job's status (and result, once seen); return (status, console text)."""
    st, _server_obj, markers, text = status(conn, job)
    job.status = st
    if markers.result is not None:
        job.result = markers.result
    elif st == "UNREADABLE" and markers.unreadable:
        job.fault = f"the result on the console could not be read back ({markers.unreadable}); not a failure"
    job_state.save(state_dir, job)
    return st, text


def start(conn: Connection, state_dir: Path, spec: JobSpec, say: Say = lambda _m: None) -> JobState:
    """Create the job's resources and its server; return once the server is ACTIVE (or raise, cleaned)."""
    job_state.check_name(spec.name)
    path = job_state.jobs_dir(state_dir) / f"{spec.name}.json"
    if path.exists() and not job_state.load(state_dir, spec.name).cleaned_up:
        raise CxopsError(f"job {spec.name!r} already exists; `cxops job cleanup {spec.name}` first")
    flavor = _find(
        conn.compute.find_flavor,
        spec.flavor,
        "flavor",
        lambda: [f.name for f in conn.compute.flavors() if not f.is_disabled],
    )
    if flavor.is_disabled:
        raise CxopsError(f"flavor {spec.flavor!r} is disabled")
    image = _find(conn.image.find_image, spec.image, "image", lambda: [i.name for i in conn.image.images()])
    if spec.gpu:
        got = gpu_of_flavor(flavor, spec.gpu) or gpu_of_flavor(flavor)
        if got is None or got[0].lower() != spec.gpu.lower():
            raise CxopsError(
                f"flavor {spec.flavor!r} provides {got[1]} x {got[0]}"
                if got
                else f"flavor {spec.flavor!r} has no GPU (no pci_passthrough:alias or resources:*GPU*); "
                f"--gpu {spec.gpu} needs a GPU flavor (see `cxops cloud gpus`)"
            )
    network = pick_network(conn, spec.network)
    run_id = secrets.token_hex(6)
    store_env = None
    if spec.store_container is not None:  # before anything is created: a bad container stops here
        from cxops.cloud import job_store

        lifetime = spec.store_url_seconds
        if lifetime is None:
            lifetime = spec.boot_timeout_seconds + spec.deadline_seconds + job_store.URL_MARGIN_S
        store_env = job_store.prepare(conn, spec.store_container, spec.name, run_id, lifetime)
    job = JobState(
        name=spec.name,
        run_id=run_id,
        cloud=conn.config.name,
        server_name=f"{spec.server_prefix}-{spec.name}",
        flavor=flavor.name,
        image=image.name,
        network=network.name,
        gpu=spec.gpu,
        deadline_seconds=spec.deadline_seconds,
        boot_timeout_seconds=spec.boot_timeout_seconds,
        created_at=time.time(),
        store_container=spec.store_container,
    )
    job_state.save(state_dir, job)  # before anything exists: cleanup can always find what was made
    from openstack import exceptions as os_exc

    try:
        try:
            _create(conn, state_dir, job, spec, flavor, image, network, say, store_env)
        except os_exc.HttpException as exc:
            raise CxopsError(f"job {job.name}: the cloud refused: {exc.details or exc}") from exc
    except BaseException:
        say(f"job {job.name}: start failed; cleaning up")
        try:
            cleanup(conn, state_dir, job, say)
        except Exception as exc:  # keep the original error; say what is left to do
            say(f"job {job.name}: cleanup failed too ({exc}); run `cxops job cleanup {job.name}`")
        raise
    return job


def _create(conn, state_dir, job, spec, flavor, image, network, say, store_env=None) -> None:
    bdm = None
    if spec.volume_gb:
        vol = conn.block_storage.create_volume(
            name=f"{job.server_name}-data", size=spec.volume_gb, description=f"cxops job {job.name}"
        )
        job.volume_id = vol.id
        job_state.save(state_dir, job)
        say(f"volume {vol.id} ({spec.volume_gb} GB) creating")
        wait_until(lambda: _volume_ready(conn, vol.id), timeout=120, what=f"volume {vol.id} to be available")
        # attached at boot (not after), so the job sees its disk from the start; deleted by cleanup,
        # never with the server, so the order server -> volume is ours to keep
        bdm = [  # Nova wants the image's own mapping (boot index 0) alongside imageRef
            {
                "boot_index": 0,
                "uuid": image.id,
                "source_type": "image",
                "destination_type": "local",
                "delete_on_termination": True,
            },
            {
                "boot_index": -1,
                "uuid": vol.id,
                "source_type": "volume",
                "destination_type": "volume",
                "delete_on_termination": False,
            },
        ]
    user_data = userdata.render(
        job.name,
        job.run_id,
        command=spec.command,
        script=spec.script,
        deadline_seconds=spec.deadline_seconds,
        env=spec.env,
        volume_id=job.volume_id,
        volume_wait_seconds=spec.volume_wait_seconds,
        store_env=store_env,
    )
    kwargs: dict[str, Any] = {
        "name": job.server_name,
        "flavor_id": flavor.id,
        "networks": [{"uuid": network.id}],
        "user_data": base64.b64encode(user_data.encode()).decode(),
        "metadata": {"cxops-job": job.name, "cxops-run": job.run_id},
    }
    kwargs["image_id"] = image.id
    if bdm:
        kwargs["block_device_mapping"] = bdm
    server = conn.compute.create_server(**kwargs)
    job.server_id = server.id
    job.status = "BUILDING"
    job_state.save(state_dir, job)
    say(f"server {server.id} building")
    server = wait_until(
        lambda: _left_build(conn, server.id),
        timeout=spec.boot_timeout_seconds,
        what=f"server {job.server_name} to leave BUILD",
    )
    if server.status == "ERROR":
        job.status = "ERROR"
        job.fault = (server.fault or {}).get("message") or "no fault recorded"
        job_state.save(state_dir, job)
        raise CxopsError(f"job {job.name}: server {server.id} went to ERROR: {job.fault}")
    if spec.floating_ip:
        _attach_floating_ip(conn, state_dir, job, server)
    job.status = "BOOTING"
    job_state.save(state_dir, job)
    say(f"server {server.id} {server.status}")


def _volume_ready(conn: Connection, volume_id: str) -> bool:
    vol = conn.block_storage.get_volume(volume_id)
    if vol.status == "error":
        raise CxopsError(f"volume {volume_id} went to error")
    return vol.status == "available"


def _left_build(conn: Connection, server_id: str) -> Any:
    server = conn.compute.get_server(server_id)
    return server if server.status != "BUILD" else None


def _attach_floating_ip(conn: Connection, state_dir: Path, job: JobState, server: Any) -> None:
    external = [n for n in conn.network.networks(is_router_external=True)]
    if not external:
        raise CxopsError("--floating-ip: the cloud has no external network")
    ports = list(conn.network.ports(device_id=server.id))
    fip = conn.network.create_ip(
        floating_network_id=external[0].id, port_id=ports[0].id, description=f"cxops job {job.name}"
    )
    job.floating_ip_id, job.floating_ip = fip.id, fip.floating_ip_address
    job_state.save(state_dir, job)


def wait(conn: Connection, state_dir: Path, job: JobState, say: Say = lambda _m: None) -> str:
    """Watch until the job is terminal; bounded by the job's own deadline (never waits forever)."""
    last = [""]

    def probe() -> str | None:
        st, _ = refresh(conn, state_dir, job)
        if st != last[0]:
            say(f"job {job.name}: {st}")
            last[0] = st
        return st if st in TERMINAL else None

    timeout = max(1.0, job.deadline_at - time.time()) + 5
    return wait_until(probe, timeout=timeout, what=f"job {job.name} to finish", first=0.5, cap=5.0)


def cleanup(
    conn: Connection,
    state_dir: Path,
    job: JobState,
    say: Say = lambda _m: None,
    timeout: float = 180,
    results: bool = False,
) -> list[str]:
    """Delete server, then volume (only once the server is gone), then floating IP; with `results`, also the result
    and log the job uploaded to its container (job_store.py). Returns what was deleted."""
    done: list[str] = []
    if job.floating_ip_id and conn.network.find_ip(job.floating_ip_id, ignore_missing=True) is not None:
        # released first so the address is not left pointing at a dying port; deleted at the end
        with contextlib.suppress(Exception):
            conn.network.update_ip(job.floating_ip_id, port_id=None)
    if job.server_id and _server(conn, job.server_id) is not None:
        conn.compute.delete_server(job.server_id, ignore_missing=True)
        wait_until(
            lambda: _server(conn, job.server_id) is None, timeout=timeout, what=f"server {job.server_id} to be deleted"
        )
        done.append(f"server {job.server_id}")
        say(f"deleted server {job.server_id}")
    if (volume_id := job.volume_id) is not None:
        vol = conn.block_storage.find_volume(volume_id, ignore_missing=True)
        if vol is not None:
            # the attachment is released asynchronously after the server is gone
            wait_until(
                lambda: conn.block_storage.get_volume(volume_id).status in ("available", "error"),
                timeout=timeout,
                what=f"volume {volume_id} to be detached",
            )
            conn.block_storage.delete_volume(volume_id, ignore_missing=True)
            wait_until(
                lambda: conn.block_storage.find_volume(volume_id, ignore_missing=True) is None,
                timeout=timeout,
                what=f"volume {volume_id} to be deleted",
            )
            done.append(f"volume {volume_id}")
            say(f"deleted volume {volume_id}")
    if job.floating_ip_id and conn.network.find_ip(job.floating_ip_id, ignore_missing=True) is not None:
        conn.network.delete_ip(job.floating_ip_id, ignore_missing=True)
        done.append(f"floating IP {job.floating_ip}")
        say(f"released floating IP {job.floating_ip}")
    if results and job.store_container and not job.results_deleted:
        from cxops.cloud import job_store

        for name in job_store.delete_objects(conn, job):
            done.append(f"object {name}")
            say(f"deleted object {name}")
        job.results_deleted = True
    job.cleaned_up = True
    job_state.save(state_dir, job)
    return done
