"""`cxops status`: registry alias vs git vs live, per environment."""

from __future__ import annotations

import typer


def status(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    check: bool = typer.Option(False, "--check", help="Exit 1 if any environment disagrees."),
) -> None:
    """Per environment: registry alias, git desired version, live /version; flags any disagreement.

    Also shows the GitOps commit and author that last moved each environment."""
    from cxops.cli.output import emit_json
    from cxops.config import load_config
    from cxops.errors import CxopsError
    from cxops.pipeline.status import env_statuses

    rows = env_statuses(load_config())
    if json_out:
        emit_json([r.as_dict() for r in rows])
    else:
        print_status(rows)
    bad = [r for r in rows if not r.agree]
    if check and bad:
        raise CxopsError("disagreement: " + "; ".join(f"{r.env}: {r.problem}" for r in bad))


def print_status(rows) -> None:
    from rich.table import Table

    from cxops.cli.output import console

    t = Table(title="environments: registry alias · git · live", title_justify="left", header_style="bold")
    for col in ("env", "alias", "git", "live", "previous", "state", "moved by (commit, author)", "url"):
        t.add_column(col)
    for r in rows:
        state = "[green]✔ in sync[/green]" if r.agree else f"[red]✘ {r.problem}[/red]"
        live = (r.live or "-") + ("" if r.ready or not r.live else " (not ready)")
        moved = f"{r.commit[:12]} {r.author}" if r.commit else "-"
        t.add_row(r.env, r.alias or "-", r.git or "-", live, r.previous or "-", state, moved, r.url)
    console.print(t)
