"""`cxops init-model NAME`: scaffold a model project (docs/models.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def init_model(
    name: str = typer.Argument(..., help="Python package name of the new project, e.g. bird_sounds."),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to create it (default: here, beside cxops.yaml)."),
) -> None:
    """Create NAME/project.py: one class implementing the model-project interface (load_data, train, log_model),
    runnable as generated on stand-in data; print the cxops.yaml lines that select it."""
    from cxops.cli.output import console, ok
    from cxops.model.scaffold import config_snippet, scaffold

    dest = scaffold(name, directory)
    ok(f"created {dest}/project.py: fill in the TODOs (data, model, flavor); see docs/models.md")
    console.print("Select it in cxops.yaml:\n" + config_snippet(name), highlight=False, soft_wrap=True)
