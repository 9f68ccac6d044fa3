"""`cxops serve`: run the model server in the foreground for an env's build or any build directory."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    env: str = typer.Option(None, "--env", help="Serve what git says this env should run, on its port."),
    model_dir: Path = typer.Option(
        None,
        "--model-dir",
        help="A build: .cxops/builds/<model>/<version>/, its context/ (model/ + version.json) or model/.",
    ),
    port: int = typer.Option(None, help="Port (default: the env's port, or 8080)."),
    host: str = typer.Option("127.0.0.1", help="Bind address."),
) -> None:
    """Serve predict / explain / healthz / readyz / version / metrics on 127.0.0.1; print where it listens."""
    import json

    from cxops.cli.output import console
    from cxops.config import ENV_NAMES, load_config
    from cxops.errors import CxopsError, UsageError
    from cxops.serving.__main__ import ListenError
    from cxops.serving.__main__ import serve as run_server
    from cxops.serving.locate import build_context

    cfg = load_config()
    if (env is None) == (model_dir is None):
        raise UsageError("give exactly one of --env ENV or --model-dir DIR")
    if env is not None:
        if env not in ENV_NAMES:
            raise UsageError(f"unknown environment {env!r}; valid: {', '.join(ENV_NAMES)}")
        from cxops.builds import build_dir
        from cxops.gitops.state import desired, gitops_repo
        from cxops.paths import state_dir

        want = desired(cfg, gitops_repo(cfg), env)
        if want.version is None:
            raise CxopsError(f"git says nothing is deployed to {env}")
        model_dir = build_dir(state_dir(cfg), want.name or cfg.model.name, want.version) / "context"
        port = port or cfg.environments.get(env).port
    context = build_context(model_dir)
    lineage = json.loads((context / "version.json").read_text())
    port = port or 8080

    def listening(load_error: str | None) -> None:
        state = f"; not ready: {load_error}" if load_error else ""
        console.print(
            f"serving {lineage.get('name', '?')} version {lineage.get('version', '?')} ({env or 'local'}) from "
            f"{context} on http://{host}:{port} (Ctrl+C stops it){state}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        console.file.flush()

    try:
        run_server(
            context,
            host,
            port,
            env or "local",
            cfg.serving.max_batch,
            on_listening=listening,
            limits=cfg.serving.request_limits(),
            direct_path=cfg.serving.direct_path,
            batching=cfg.batching(env or "local").settings(),
        )
    except ListenError as exc:
        raise CxopsError(str(exc)) from None
