"""`cxops workflows`: render, drift-check and submit the Argo WorkflowTemplates derived from the pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Render, check and submit the Argo WorkflowTemplates derived from the pipeline.", no_args_is_help=True
)

OUT_DIR = "workflows"


def _out_dir(out: Path | None) -> Path:
    from cxops.paths import project_root

    return out if out is not None else project_root() / OUT_DIR


@app.command()
def render(
    check: bool = typer.Option(False, "--check", help="Fail if the committed files differ; write nothing."),
    out: Path = typer.Option(None, "--out", help="Directory to write (default: workflows/ beside cxops.yaml)."),
) -> None:
    """Write workflows/*.yaml from the pipeline definition and cxops.yaml."""
    from cxops.cli.output import ok
    from cxops.cluster_config import check_render
    from cxops.config import load_config
    from cxops.workflows import render as r

    cfg, out_dir = load_config(), _out_dir(out)
    check_render(cfg)  # lab values (no GitOps remote, loopback URLs, the project's own image org) never reach a cluster
    if check:
        r.check(cfg, out_dir)
        ok(f"{out_dir} is up to date")
        return
    for path in r.write(cfg, out_dir):
        ok(f"wrote {path}")


@app.command()
def submit(
    name: str = typer.Argument(..., help="WorkflowTemplate name, e.g. train-model (see `cxops workflows list`)."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE, repeatable."),
) -> None:
    """Submit a WorkflowTemplate through the Argo Server API (token from $ARGO_TOKEN)."""
    from cxops.cli.output import ok
    from cxops.config import load_config
    from cxops.workflows.argo import ArgoServer, parse_params

    params = parse_params(param)
    server = ArgoServer(load_config())
    ok(f"submitted {server.submit(name, params)} from {name}")


@app.command("list")
def list_templates(
    remote: bool = typer.Option(False, "--remote", help="List what the Argo Server has instead of the rendered."),
) -> None:
    """The templates and the parameters each takes."""
    from cxops.cli.output import table
    from cxops.config import load_config

    cfg = load_config()
    if remote:
        from cxops.workflows.argo import ArgoServer

        table("workflow templates on the server", ["name"], [[n] for n in ArgoServer(cfg).templates()])
        return
    from cxops.workflows.templates import all_manifests

    rows = []
    for m in all_manifests(cfg):
        params = [f"{p.name}={p.value}" if p.value is not None else p.name for p in (m.arguments or [])]
        rows.append([type(m).__name__, m.name, " ".join(params)])
    table("rendered workflows", ["kind", "name", "parameters (NAME=default)"], rows)


@app.command("wait-synced")
def wait_synced(
    application: str = typer.Argument(..., help="ArgoCD Application name."),
    server: str = typer.Option(..., "--server", help="ArgoCD API URL."),
    revision: str = typer.Option("", "--revision", help="Git commit the app must be synced to (empty: any)."),
    image: str = typer.Option("", "--image", help="Image the app must run (empty: any)."),
    timeout: float = typer.Option(600, "--timeout", min=1, help="Seconds before giving up."),
) -> None:
    """Wait (bounded) until an ArgoCD Application is Synced+Healthy at a revision and image ($ARGOCD_AUTH_TOKEN)."""
    from cxops.cli.output import ok
    from cxops.workflows.argocd_wait import wait_synced as wait

    state = wait(server, application, revision=revision, image=image, timeout=timeout)
    ok(f"{application}: {state.describe()}")


@app.command()
def outcome(
    workflow: str = typer.Option(..., "--workflow"),
    status: str = typer.Option(..., "--status"),
    duration: str = typer.Option("", "--duration"),
    failures: str = typer.Option("", "--failures", help="Argo's {{workflow.failures}} JSON (gate exit codes)."),
    outputs_dir: Path = typer.Option(None, "--outputs-dir"),
) -> None:
    """Exit handler: record a workflow's outcome (passed, failed, inconclusive, error) as one JSON line."""
    import json

    from cxops.workflows.outcome import record

    typer.echo(json.dumps(record(workflow, status, duration, outputs_dir, failures)))
