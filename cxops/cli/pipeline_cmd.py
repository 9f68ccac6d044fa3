"""`cxops pipeline run | show`: the whole chain with a progress display, stopping at the first failed gate."""

from __future__ import annotations

import typer

from cxops.cli.options import JSON

app = typer.Typer(help="Run the whole lifecycle (train → … → production) or show its definition.", no_args_is_help=True)


@app.command()
def show(json_out: bool = JSON) -> None:
    """The one pipeline definition: steps, arguments, outputs, limits."""
    from dataclasses import asdict

    from cxops.cli.output import emit_json, table
    from cxops.pipeline.definition import PIPELINE

    if json_out:
        emit_json([{**asdict(s), "args": dict(s.args)} for s in PIPELINE])
        return
    table(
        "pipeline",
        ["#", "step", "command", "args", "outputs", "template", "timeout", "retries"],
        [
            [
                i + 1,
                s.id,
                s.command,
                " ".join(f"{k}={v}" for k, v in s.args.items()),
                ", ".join(s.outputs),
                s.template,
                f"{s.timeout_seconds}s",
                s.retries,
            ]
            for i, s in enumerate(PIPELINE)
        ],
    )


@app.command()
def run(
    until: str = typer.Option(None, help="Stop after this step id (e.g. register)."),
    json_out: bool = JSON,
) -> None:
    """Run every step locally; print each gate's result, the registered → production latency and the status."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cxops.cli.output import console, emit_json, fail, ok
    from cxops.cli.status_cmd import print_status
    from cxops.config import load_config
    from cxops.errors import GateFailed, GateInconclusive, UsageError
    from cxops.gates.verdict import gate_line
    from cxops.pipeline.definition import PIPELINE, step
    from cxops.pipeline.local import run_pipeline
    from cxops.registry.tracking import tracking_uri
    from cxops.release.status import env_statuses

    cfg = load_config()
    if until is not None:
        try:
            step(until)
        except KeyError:
            raise UsageError(f"unknown step {until!r}; valid: {', '.join(s.id for s in PIPELINE)}") from None
    uri = tracking_uri(cfg)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json_out,
    )
    lines: list[str] = []

    def on_end(r) -> None:
        out = r.result.outputs() if r.result else {}
        progress.advance(task)
        if r.error:
            msg = f"{r.step.id} failed after {r.seconds:.1f}s: {r.error}"
        elif "passed" in out:
            detail = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, int | float) else f"{k}=null"
                for k, v in list(out.get("metrics", {}).items())[:5]
            )
            msg = f"{r.step.id}: {gate_line(out['gate'], out.get('outcome'))} ({detail}) in {r.seconds:.1f}s"
            msg += "".join(f"\n    - {reason}" for reason in out.get("reasons", []))
            if out.get("action"):
                msg += f"\n    → {out['action']}"
        else:
            keys = [k for k in r.step.outputs if k in out]
            shown = ", ".join(f"{k}={str(out[k])[:72] + ('…' if len(str(out[k])) > 72 else '')}" for k in keys)
            msg = f"{r.step.id}: {shown} in {r.seconds:.1f}s"
        lines.append(msg)
        if not json_out:
            (fail if r.error or out.get("passed") is False else ok)(msg)

    with progress:
        task = progress.add_task("pipeline", total=len(PIPELINE))
        result = run_pipeline(
            cfg, on_start=lambda s: progress.update(task, description=s.description or s.id), on_end=on_end, until=until
        )
    latency = result.production_at - result.registered_at if result.production_at and result.registered_at else None
    summary = {
        "succeeded": result.succeeded,
        "stopped_at": result.stopped_at,
        "reason": result.reason,
        "steps": lines,
        "registered_to_production_seconds": round(latency, 2) if latency else None,
        "mlflow_ui": uri,
        "status": [s.as_dict() for s in env_statuses(cfg)],
    }
    try:
        summary["version"] = str(result.output("register", "version"))
    except KeyError:
        summary["version"] = None
    if json_out:
        emit_json(summary)
    else:
        console.print()
        if latency:
            console.print(f"registered → production in [bold]{latency:.1f} s[/bold]")
        console.print(f"MLflow UI: {uri}   model version: {summary['version'] or '-'}")
        print_status(env_statuses(cfg))
    last = result.steps[-1].result.outputs() if result.steps and result.steps[-1].result else {}
    if not result.succeeded and last.get("outcome") == "inconclusive":
        raise GateInconclusive(f"pipeline stopped at {result.stopped_at} (inconclusive): {result.reason}")
    if not result.succeeded:
        raise GateFailed(f"pipeline stopped at {result.stopped_at}: {result.reason}")
