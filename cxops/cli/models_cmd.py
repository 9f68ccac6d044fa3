"""`cxops models list | show VERSION`: the registry's versions with aliases and key metrics."""

from __future__ import annotations

import json

import typer

from cxops.cli.options import JSON

app = typer.Typer(help="List and inspect registered model versions.", no_args_is_help=True)


def _metrics(tags: dict[str, str]) -> dict[str, float]:
    try:
        return json.loads(tags.get("cxops.metrics", "{}"))
    except ValueError:
        return {}


@app.command("list")
def list_(json_out: bool = JSON) -> None:
    """Versions of the configured model, newest first, with aliases and test accuracy."""
    from dataclasses import asdict

    from cxops.cli.output import emit_json, table
    from cxops.config import load_config
    from cxops.registry.client import Registry

    registry = Registry(load_config())
    versions = registry.versions()
    if json_out:
        emit_json([asdict(v) for v in versions])
        return
    rows = []
    for v in versions:
        m = _metrics(v.tags)
        acc = m.get("test_accuracy")
        rows.append(
            [
                v.version,
                ", ".join(v.aliases),
                f"{acc:.4f}" if acc is not None else "",
                v.run_id[:12],
                v.tags.get("cxops.git_sha", "")[:12],
                v.status,
            ]
        )
    table(f"{registry.name} @ {registry.uri}", ["version", "aliases", "test acc", "run", "git sha", "status"], rows)


@app.command()
def show(
    version: str = typer.Argument(..., help="Version number."),
    json_out: bool = JSON,
) -> None:
    """One version: lineage tags, aliases, metrics."""
    from dataclasses import asdict

    from cxops.cli.output import emit_json, key_values
    from cxops.config import load_config
    from cxops.registry.client import Registry

    registry = Registry(load_config())
    info = registry.version(version)
    aliases = next((v.aliases for v in registry.versions() if v.version == info.version), [])
    data = {**asdict(info), "aliases": aliases, "metrics": _metrics(info.tags)}
    if json_out:
        emit_json(data)
        return
    key_values(
        f"{info.name} v{info.version}",
        {
            "aliases": ", ".join(aliases),
            "run id": info.run_id,
            "status": info.status,
            "source": info.source,
            **{k: v for k, v in info.tags.items() if k != "cxops.metrics"},
            **{f"metric {k}": v for k, v in data["metrics"].items()},
        },
    )
