"""`cxops lab up | down | status`: the embedded services of one-machine mode."""

from __future__ import annotations

import typer

from cxops.cli.options import JSON

app = typer.Typer(
    help="Start, stop and inspect the embedded services (MLflow, GitOps remote, env servers).", no_args_is_help=True
)


@app.command()
def up() -> None:
    """Start the embedded services on 127.0.0.1 (idempotent: running ones are left alone)."""
    from cxops.cli.output import ok, spinner
    from cxops.config import load_config
    from cxops.lab.services import lab_up

    cfg = load_config()
    with spinner("starting the lab"):
        for line in lab_up(cfg):
            ok(line)


@app.command()
def down() -> None:
    """Stop every embedded service cxops started, by PID."""
    from cxops.cli.output import ok
    from cxops.config import load_config
    from cxops.lab.services import lab_down

    for line in lab_down(load_config()):
        ok(line)


@app.command()
def status(json_out: bool = JSON) -> None:
    """Show each embedded service: URL, PID, health."""
    from cxops.cli.output import emit_json, table
    from cxops.config import load_config
    from cxops.lab.services import lab_status

    rows = lab_status(load_config())
    if json_out:
        emit_json(rows)
        return
    table("cxops lab", ["service", "url", "pid", "health"], [list(r.values()) for r in rows])
