"""`cxops infra`: provisioning checks before Terraform runs."""

from __future__ import annotations

import typer

app = typer.Typer(help="Provision the cluster: preflight checks, Terraform variables, inventory.", no_args_is_help=True)


@app.command()
def preflight(
    cloud: str = typer.Option(None, "--cloud", help="clouds.yaml entry (default: $OS_CLOUD, then cloud.name)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Check that image, flavors, keypair, external network and quota headroom fit the plan; exit 1 if not."""
    from cxops.cli.output import emit_json, spinner, table
    from cxops.cloud.connection import connect
    from cxops.config import load_config
    from cxops.errors import CxopsError
    from cxops.infra.preflight import run_preflight

    config = load_config()
    conn = connect(cloud)
    with spinner("checking the cloud against the plan"):
        checks = run_preflight(config, conn)
    failed = [c for c in checks if not c.ok]
    if json_out:
        emit_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        rows = [["ok" if c.ok else "FAIL", c.check, c.detail, c.instead] for c in checks]
        table(f"preflight: {conn.config.name}", ["", "check", "found", "would fit instead"], rows)
    if failed:
        raise CxopsError(f"preflight: {len(failed)} problem(s): {', '.join(c.check for c in failed)}")
