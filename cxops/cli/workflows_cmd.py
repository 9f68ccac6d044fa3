"""`cxops workflows`: placeholder until its issue fills it in."""

from __future__ import annotations

import typer

app = typer.Typer(help="Render, check and submit the Argo WorkflowTemplates derived from the pipeline.",
                  no_args_is_help=True)
