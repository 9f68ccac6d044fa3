"""`cxops infra`: placeholder until its issue fills it in."""

from __future__ import annotations

import typer

app = typer.Typer(help="Provision the cluster: preflight checks, Terraform variables, inventory.", no_args_is_help=True)
