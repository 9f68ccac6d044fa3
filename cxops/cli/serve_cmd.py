"""`cxops serve`: run the model server in the foreground for an env's build or any build directory."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    env: str = typer.Option(None, "--env", help="Serve what git says this env should run, on its port."),
    model_dir: Path = typer.Option(None, "--model-dir", help="A build directory (model/ + version.json)."),
    port: int = typer.Option(None, help="Port (default: the env's port, or 8080)."),
    host: str = typer.Option("127.0.0.1", help="Bind address."),
) -> None:
    """Serve predict / explain / healthz / readyz / version / metrics on 127.0.0.1."""
    from cxops.config import ENV_NAMES, load_config
    from cxops.errors import CxopsError, UsageError
    from cxops.serving.__main__ import serve as run_server

    cfg = load_config()
    if (env is None) == (model_dir is None):
        raise UsageError("give exactly one of --env ENV or --model-dir DIR")
    if env is not None:
        if env not in ENV_NAMES:
            raise UsageError(f"unknown environment {env!r}; valid: {', '.join(ENV_NAMES)}")
        from cxops.gitops.state import desired, gitops_repo
        from cxops.paths import state_dir
        from cxops.pipeline.build import builds_dir

        version = desired(cfg, gitops_repo(cfg), env).version
        if version is None:
            raise CxopsError(f"git says nothing is deployed to {env}")
        model_dir = builds_dir(state_dir(cfg)) / version / "context"
        port = port or cfg.environments.get(env).port
    if not (model_dir / "version.json").is_file():
        raise CxopsError(f"{model_dir} is not a build directory (no version.json); see `cxops step build`")
    run_server(model_dir, host, port or 8080, env or "local", cfg.serving.max_batch)
