"""`cxops job`: one-shot jobs on OpenStack servers, driven by cloud-init and read from the console (no SSH)."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli.options import JSON

app = typer.Typer(
    help="Ephemeral jobs on OpenStack instances: run, logs, result, status, list, cleanup.", no_args_is_help=True
)

CLOUD = typer.Option(None, "--cloud", help="clouds.yaml entry (default: $OS_CLOUD, then cxops.yaml cloud.name).")


def _state_dir() -> Path:
    from cxops.config import load_config
    from cxops.paths import state_dir

    return state_dir(load_config())


def _say(message: str) -> None:
    from cxops.cli.output import err_console

    err_console.print(message, soft_wrap=True, markup=False)


@app.command()
def run(
    name: str = typer.Argument(..., help="Job name (a DNS label); the state goes to .cxops/jobs/NAME.json."),
    command: list[str] = typer.Argument(None, help="Command to run in the server, after `--`."),
    flavor: str = typer.Option(None, "--flavor", help="Flavor (default: training.flavor)."),
    image: str = typer.Option(None, "--image", help="Image (default: cloud.image)."),
    volume_gb: int = typer.Option(None, "--volume-gb", min=1, help="Attach a new volume of this size for outputs."),
    gpu: str = typer.Option(None, "--gpu", help="GPU type the flavor must provide (e.g. V100, VGPU)."),
    network: str = typer.Option(None, "--network", help="Network (default: the project's only private one)."),
    script: Path = typer.Option(None, "--script", exists=True, dir_okay=False, help="Run this script instead."),
    deadline: int = typer.Option(1800, "--deadline", min=1, help="Seconds the job may run before it is killed."),
    boot_timeout: int = typer.Option(300, "--boot-timeout", min=10, help="Seconds the server may take to boot."),
    env: list[str] = typer.Option(None, "--env", help="KEY=VALUE for the job's environment (repeatable)."),
    floating_ip: bool = typer.Option(False, "--floating-ip", help="Also attach a floating IP."),
    detach: bool = typer.Option(False, "--detach", help="Return once the server is up; see `job status`."),
    keep: bool = typer.Option(False, "--keep", help="Do not delete the server when the job ends."),
    store: str = typer.Option(
        None,
        "--store",
        help="Swift container (in your project) the job uploads its result and log to, through temporary URLs; "
        "`cxops job result` reads them back, `cxops job cleanup` deletes them.",
    ),
    store_url_seconds: int = typer.Option(None, "--store-url-seconds", min=1, hidden=True),
    volume_wait: int = typer.Option(60, "--volume-wait", min=0, hidden=True),
    cloud: str = CLOUD,
    json_out: bool = JSON,
) -> None:
    """Run COMMAND (or --script) on a fresh server; wait for its JSON result; delete the server."""
    from cxops.cli.output import emit_json, ok
    from cxops.cloud import jobs
    from cxops.cloud.connection import connect
    from cxops.config import load_config
    from cxops.errors import CxopsError, UsageError

    if bool(command) == bool(script):
        raise UsageError("give either a command after `--` or --script FILE (exactly one)")
    pairs = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--env {item!r} must look like KEY=VALUE with KEY a shell variable name")
        pairs[key] = value
    cfg = load_config()
    state = _state_dir()
    conn = connect(cloud)
    spec = jobs.JobSpec(
        name=name,
        flavor=flavor or cfg.training.flavor,
        image=image or cfg.cloud.image,
        command=command or None,
        script=script.read_text() if script else None,
        network=network,
        volume_gb=volume_gb,
        gpu=gpu,
        deadline_seconds=deadline,
        boot_timeout_seconds=boot_timeout,
        floating_ip=floating_ip,
        env=pairs,
        volume_wait_seconds=volume_wait,
        server_prefix=f"{cfg.project.name}-{cfg.project.suffix}-job",
        store_container=store,
        store_url_seconds=store_url_seconds,
    )
    job = jobs.start(conn, state, spec, say=_say)
    if detach:
        ok(f"job {name} started on server {job.server_id}; `cxops job status {name}`")
        return
    final = None
    try:
        final = jobs.wait(conn, state, job, say=_say)
    finally:
        if final != "SUCCEEDED" and job.server_id:
            tail = jobs.console_text(conn, job.server_id).splitlines()[-20:]
            if tail:  # the console is gone with the server: show why it failed while it exists
                _say("--- console (last 20 lines):\n" + "\n".join(tail))
        if not keep:
            jobs.cleanup(conn, state, job, say=_say)  # the server; uploaded results stay for `job result`
    doc, source, why = (job.result, "the console", None)
    if store is not None:
        from cxops.cloud import job_store

        doc, source, why = job_store.read_result(conn, job)
        if doc is not None:
            _say(f"result: from {source}" + (f" ({why})" if why else ""))
    if json_out:
        emit_json({"job": name, "status": final, "result": doc, "fault": job.fault, "result_from": source})
    elif doc is not None:
        emit_json(doc)
    if final != "SUCCEEDED":
        raise CxopsError(f"job {name} ended {final}" + (f": {job.fault}" if job.fault else ""))
    if why is not None:
        shown = "the result shown came from the console" if doc is not None else source
        raise CxopsError(f"job {name} succeeded but its result is not in container {store}: {why}; {shown}")


@app.command()
def logs(name: str = typer.Argument(...), cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """The server's console log, then the job's result JSON extracted from it."""
    from cxops.cli.output import emit_json
    from cxops.cloud import job_state, jobs
    from cxops.cloud.connection import connect

    state = _state_dir()
    job = job_state.load(state, name)
    if job.cleaned_up:
        text = ""
        st = job.status
    else:
        st, text = jobs.refresh(connect(cloud or job.cloud), state, job)
    if json_out:
        emit_json({"job": name, "status": st, "result": job.result})
        return
    import sys

    # raw: a console line must reach the reader unwrapped (the RESULT line is JSON)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    sys.stdout.write(f"--- job {name}: {st}\n")
    if job.result is not None:
        emit_json(job.result)


@app.command()
def result(name: str = typer.Argument(...), cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """The job's result JSON: from its container when it uploaded one (`job run --store`), else from the console;
    says which on stderr. Exit 1 when there is none."""
    from cxops.cli.output import emit_json
    from cxops.cloud import job_state, job_store, jobs
    from cxops.cloud.connection import connect
    from cxops.errors import CxopsError

    state = _state_dir()
    job = job_state.load(state, name)
    conn = connect(cloud or job.cloud)
    if not job.cleaned_up and job.result is None:
        jobs.refresh(conn, state, job)  # the console's copy, while the server is there
    doc, source, why = job_store.read_result(conn, job)
    if doc is None:
        raise CxopsError(f"job {name} has no result to read: {source}" + (f"; the store: {why}" if why else ""))
    _say(f"result: from {source}" + (f" ({why})" if why else ""))
    if json_out:
        emit_json({"job": name, "result_from": source, "result": doc})
    else:
        emit_json(doc)


@app.command()
def status(name: str = typer.Argument(...), cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """Status from the console markers and the server state (never stuck at RUNNING past the deadline)."""
    from cxops.cli.output import emit_json, key_values
    from cxops.cloud import job_state, jobs
    from cxops.cloud.connection import connect

    state = _state_dir()
    job = job_state.load(state, name)
    if not job.cleaned_up:
        jobs.refresh(connect(cloud or job.cloud), state, job)
    info = {
        "job": job.name,
        "status": job.status,
        "server": job.server_id,
        "flavor": job.flavor,
        "image": job.image,
        "volume": job.volume_id,
        "floating_ip": job.floating_ip,
        "cleaned_up": job.cleaned_up,
        "fault": job.fault,
        "exit_code": (job.result or {}).get("exit_code"),
        "store": job.store_container,  # the container only: the upload URLs are never kept
    }
    if json_out:
        emit_json({**info, "result": job.result})
    else:
        key_values(f"job {name}", info)


app.command("show", help="Same as `status`: the job's record and status (never its upload URLs).")(status)


@app.command("list")
def list_jobs(json_out: bool = JSON) -> None:
    """Jobs recorded in .cxops/jobs (their last known status)."""
    import time

    from cxops.cli.output import emit_json, table
    from cxops.cloud import job_state

    jobs_ = job_state.all_jobs(_state_dir())
    if json_out:
        emit_json([j.model_dump() for j in jobs_])
        return
    rows = [
        [
            j.name,
            j.status,
            j.flavor,
            j.server_id,
            "yes" if j.cleaned_up else "no",
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(j.created_at)),
        ]
        for j in jobs_
    ]
    table("jobs", ["name", "status", "flavor", "server", "cleaned up", "created (UTC)"], rows)


@app.command()
def cleanup(
    name: str = typer.Argument(...),
    cloud: str = CLOUD,
    keep_results: bool = typer.Option(
        False, "--keep-results", help="Keep the result and log the job uploaded to its container (--store)."
    ),
) -> None:
    """Delete the job's server, then its volume (once the server is gone), then its floating IP, then the result and
    log it uploaded to its container (unless --keep-results)."""
    from cxops.cli.output import ok
    from cxops.cloud import job_state, jobs
    from cxops.cloud.connection import connect

    state = _state_dir()
    job = job_state.load(state, name)
    conn = connect(cloud or job.cloud)
    if not job.cleaned_up and job.server_id:
        jobs.refresh(conn, state, job)  # keep the result, if the console has one, before the server goes
    done = jobs.cleanup(conn, state, job, say=_say, results=not keep_results)
    ok(f"job {name} cleaned up" + (f": {', '.join(done)}" if done else " (nothing left in the cloud)"))
