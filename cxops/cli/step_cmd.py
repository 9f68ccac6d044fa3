"""`cxops step`."""

from __future__ import annotations

import typer

app = typer.Typer(help="step", no_args_is_help=True)
