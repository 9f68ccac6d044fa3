"""`cxops job`: placeholder until its issue fills it in."""

from __future__ import annotations

import typer

app = typer.Typer(help="Ephemeral jobs on OpenStack instances: run, logs, status, list, cleanup.", no_args_is_help=True)
