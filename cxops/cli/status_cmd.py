"""`cxops status`: registry alias vs git vs live, per environment."""

from __future__ import annotations

import typer

from cxops.cli.options import JSON


def status(
    json_out: bool = JSON,
    check: bool = typer.Option(False, "--check", help="Exit 1 if any environment disagrees."),
) -> None:
    """Per environment: registry alias, git desired model and version, live /version; flags any disagreement
    (live serving another model or build digest than git names is one).

    Also shows the GitOps commit and author that last moved each environment."""
    from cxops.cli.output import emit_json
    from cxops.config import load_config
    from cxops.errors import CxopsError
    from cxops.release.status import env_statuses

    rows = env_statuses(load_config())
    if json_out:
        emit_json([r.as_dict() for r in rows])
    else:
        print_status(rows)
    bad = [r for r in rows if not r.agree]
    if check and bad:
        raise CxopsError("disagreement: " + "; ".join(f"{r.env}: {r.problem}" for r in bad))


def print_status(rows) -> None:
    from collections import Counter

    from rich.table import Table

    from cxops.cli.output import console

    models = Counter(r.model for r in rows if r.model)
    main = models.most_common(1)[0][0] if models else None
    t = Table(title="environments: registry alias · git · live", title_justify="left", header_style="bold")
    for col in ("env", "alias", "git", "live", "previous", "state", "moved by (commit, author)", "url"):
        t.add_column(col)
    for r in rows:
        state = "[green]✔ in sync[/green]" if r.agree else f"[red]✘ {r.problem}[/red]"
        # the version numbers alone, unless a model other than the others' is involved: then its name too
        git = f"{r.model} {r.git}" if r.git and r.model and r.model != main else (r.git or "-")
        live = f"{r.live_model} {r.live}" if r.live and r.live_model and r.live_model != main else (r.live or "-")
        live += "" if r.ready or not r.live else " (not ready)"
        moved = f"{r.commit[:12]} {r.author}" if r.commit else "-"
        t.add_row(r.env, r.alias or "-", git, live, r.previous or "-", state, moved, r.url)
    console.print(t)
