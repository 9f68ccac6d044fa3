"""`cxops lab`."""

from __future__ import annotations

import typer

app = typer.Typer(help="lab", no_args_is_help=True)
