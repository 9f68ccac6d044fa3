"""`cxops init-model NAME`: scaffold a model project (docs/models.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def init_model(
    name: str = typer.Argument(..., help="Python package name of the new project, e.g. bird_sounds."),
    directory: Path = typer.Option(
        None, "--dir", help="Where to create it (default: beside cxops.yaml, where cxops imports it from)."
    ),
    exist_ok: bool = typer.Option(
        False, "--exist-ok", help="A project NAME already there is kept as it is (your edits stay); exit 0."
    ),
) -> None:
    """Create NAME/project.py: one class implementing the model-project interface (load_data, train, log_model),
    runnable as generated on stand-in data; print the cxops.yaml lines that select it."""
    from cxops.cli.output import console, ok
    from cxops.config.loader import config_path
    from cxops.model.scaffold import config_snippet, existing_project, scaffold

    # cxops imports model.project from the folder of cxops.yaml (cxops.model.interface.load_project), wherever
    # the command runs (a notebook's kernel runs in notebooks/); without a cxops.yaml yet, here.
    parent = directory if directory is not None else config_path().absolute().parent
    if exist_ok and (found := existing_project(name, parent)) is not None:
        ok(f"kept {found}/project.py as it is (--exist-ok)")
    else:
        dest = scaffold(name, parent)
        ok(f"created {dest}/project.py: fill in the TODOs (data, model, flavor); see docs/models.md")
    console.print("Select it in cxops.yaml:\n" + config_snippet(name), highlight=False, soft_wrap=True)
