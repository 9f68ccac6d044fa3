"""`cxops config check | show | reference`."""

from __future__ import annotations

import typer

from cxops.cli.options import JSON

app = typer.Typer(help="Validate and print cxops.yaml, the one configuration.", no_args_is_help=True)


@app.command()
def check() -> None:
    """Validate cxops.yaml; print every problem with its line, exit non-zero on any."""
    from cxops.cli.output import ok
    from cxops.config import config_path, load_config

    load_config()
    ok(f"{config_path()} is valid")


@app.command()
def show(json_out: bool = JSON) -> None:
    """Print the effective configuration (the file plus every default)."""
    import yaml

    from cxops.cli.output import console, emit_json
    from cxops.config import load_config

    data = load_config().model_dump(mode="json")
    if json_out:
        emit_json(data)
    else:
        console.print(yaml.safe_dump(data, sort_keys=False), end="", markup=False)


@app.command()
def reference(
    check: bool = typer.Option(False, "--check", help="Exit 1 with a diff if docs/configuration.md is out of date."),
) -> None:
    """Write docs/configuration.md from the schema: every key's type, default, limits and description."""
    from pathlib import Path

    from cxops import generated
    from cxops.cli.output import ok
    from cxops.config.reference import COMMAND, files

    repo = Path(__file__).resolve().parents[2]  # the reference documents this checkout's schema
    pages = files(repo)
    if check:
        generated.check(pages, COMMAND)
        ok("docs/configuration.md is up to date")
        return
    generated.write_all(pages)
    ok(f"wrote {', '.join(str(p.relative_to(repo)) for p in pages)}")
