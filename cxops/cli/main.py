"""Root of the CLI. Sub-apps import only Typer at module level so `cxops --help` starts fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from cxops import __version__
from cxops.cli import (
    cloud_cmd,
    cluster_cmd,
    config_cmd,
    gitops_cmd,
    infra_cmd,
    init_model_cmd,
    job_cmd,
    k8s_cmd,
    lab_cmd,
    models_cmd,
    pipeline_cmd,
    serve_cmd,
    status_cmd,
    step_cmd,
    workflows_cmd,
)
from cxops.errors import CxopsError, ExitCode

app = typer.Typer(
    name="cxops",
    help="Continuous-X MLOps on OpenStack: train, evaluate, register, build and promote models with evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(lab_cmd.app, name="lab")
app.add_typer(step_cmd.app, name="step")
app.add_typer(models_cmd.app, name="models")
app.add_typer(pipeline_cmd.app, name="pipeline")
app.command("status")(status_cmd.status)
app.command("serve")(serve_cmd.serve)
app.command("init-model")(init_model_cmd.init_model)
app.add_typer(cloud_cmd.app, name="cloud")
app.add_typer(infra_cmd.app, name="infra")
app.add_typer(job_cmd.app, name="job")
app.add_typer(workflows_cmd.app, name="workflows")
app.add_typer(k8s_cmd.app, name="k8s")
app.add_typer(cluster_cmd.app, name="cluster")
app.add_typer(gitops_cmd.app, name="gitops")
app.command("reconcile")(gitops_cmd.reconcile)
app.command("promote")(step_cmd.promote)  # the convenient spelling of the same step (same code path, same push)
app.command("rollback")(step_cmd.rollback)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cxops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        help="Path to cxops.yaml (default: $CXOPS_CONFIG, else the nearest cxops.yaml here or in a parent folder).",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """cxops: one config, one pipeline, embedded on one machine or on Argo + ArgoCD."""
    if config is not None:
        os.environ["CXOPS_CONFIG"] = str(config)


def main() -> None:
    try:
        app()
    except CxopsError as exc:
        from cxops.cli.output import err_console

        for line in str(exc).splitlines() or [type(exc).__name__]:
            err_console.print(f"[red]error:[/red] {line}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug, not bad input: still one line unless asked for the traceback
        from cxops.settings import settings

        if settings().debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with CXOPS_DEBUG=1 for the traceback)", file=sys.stderr
        )
        sys.exit(ExitCode.INTERNAL)
