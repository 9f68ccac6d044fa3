"""`cxops k8s`: render and drift-check the GitOps platform ArgoCD syncs (k8s/argocd, k8s/platform)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Render and check what ArgoCD syncs: app-of-apps, platform charts' values, monitoring.", no_args_is_help=True
)


@app.command()
def render(
    check: bool = typer.Option(False, "--check", help="Fail if the committed files differ; write nothing."),
    out: Path = typer.Option(None, "--out", help="Repository root to write under (default: beside cxops.yaml)."),
) -> None:
    """Write k8s/argocd/ and k8s/platform/ from cxops.yaml (docs/platform.md)."""
    from cxops import names
    from cxops.cli.output import ok
    from cxops.config import load_config
    from cxops.k8s import committed
    from cxops.k8s import platform_render as r
    from cxops.paths import project_root

    cfg, root = load_config(), out if out is not None else project_root()
    if check:
        committed.check(root)  # one line for what ArgoCD would refuse, before any diff
        r.check(cfg, root)
        ok(f"{root / r.ARGOCD_DIR} and {root / r.PLATFORM_DIR} are up to date")
        return
    names.gitops_repo_url(cfg)  # one line when ArgoCD would have no repository of the operator's, before writing
    changed = r.write(cfg, root)
    ok(f"rendered {len(r.rendered(cfg))} files under {root}; {len(changed)} changed")
    for path in changed:
        ok(f"wrote {path}")


@app.command("charts")
def charts() -> None:
    """The pinned upstream charts the platform installs."""
    from cxops.cli.output import table
    from cxops.k8s.charts import CHARTS

    table(
        "pinned charts",
        ["component", "chart", "version", "app version", "repository"],
        [[k, c.chart, c.version, c.app_version, c.repo] for k, c in CHARTS.items()],
    )
