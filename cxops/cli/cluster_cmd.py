"""`cxops cluster`: install Kubernetes + the GitOps bootstrap with Ansible, fetch a kubeconfig, list the UIs, show one
credential on a terminal."""

from __future__ import annotations

from pathlib import Path

import typer

from cxops.cli.options import JSON

app = typer.Typer(
    help="Install the cluster with Ansible + Kubespray, fetch its kubeconfig, show its UIs (docs/cluster.md).",
    no_args_is_help=True,
)

_INVENTORY_HELP = "Inventory directory with hosts.yaml and ssh_config (default: ansible/inventory/cxops)."


def _inventory_dir(inventory: Path | None) -> Path:
    from cxops.cluster import layout
    from cxops.paths import project_root

    return inventory.resolve() if inventory is not None else layout.default_inventory(project_root())


def _split(values: list[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


@app.command()
def install(
    stage: list[str] = typer.Option(
        ["all"],
        "--stage",
        "-s",
        help="all (site.yml), or prepare | kubernetes | bootstrap (comma list or repeated; run in install order).",
    ),
    tags: list[str] = typer.Option([], "--tags", "-t", help="Only tasks with these tags (comma list, repeatable)."),
    skip_tags: list[str] = typer.Option([], "--skip-tags", help="Skip tasks with these tags (comma list, repeatable)."),
    limit: str = typer.Option(None, "--limit", "-l", help="Only these hosts or groups (Ansible pattern)."),
    inventory: Path = typer.Option(None, "--inventory", "-i", help=_INVENTORY_HELP),
) -> None:
    """Run the install (prepare → Kubernetes → GitOps bootstrap) with progress and a per-host summary.

    Safe to re-run: every stage is idempotent, secrets keep their values, a second run reports changed=0."""
    import os
    import time

    from cxops.cli.output import console, err_console, ok, table
    from cxops.cluster import install_checks as preflight
    from cxops.cluster import inventory_files as inv_mod
    from cxops.cluster import layout, runner
    from cxops.cluster_secrets import catalogue
    from cxops.config import load_config
    from cxops.errors import CxopsError
    from cxops.paths import project_root, state_dir

    cfg, root = load_config(), project_root()
    inv_dir, tags, skip = _inventory_dir(inventory), _split(tags), _split(skip_tags)
    stages = layout.parse_stages(stage)
    inv = preflight.check(root, inv_dir, stages, skip, cfg)
    label = "+".join(stages)
    vars_file = inv_mod.write_vars(cfg, root, inv_dir)
    log = state_dir(cfg) / "cluster" / f"install-{label}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    console.print(f"stage {label}: {len(inv.hosts)} host(s), jump host {inv.jump_host}; vars {vars_file}; log {log}")

    tasks = 0

    def progress(line: str) -> None:
        nonlocal tasks
        name = runner.task_name(line)
        if name is not None:
            tasks += 1
            if err_console.is_terminal:
                status.update(f"[{tasks}] {name}")
            else:
                err_console.print(f"[{tasks}] {name}", soft_wrap=True)

    with err_console.status("starting ansible-playbook") as status:
        result = runner.run(
            layout.ansible_dir(root), inv, stages, log, tags=tags, skip_tags=skip, limit=limit, on_line=progress
        )
    table(
        f"stage {label}: {result.seconds:.0f}s",
        ["host", "ok", "changed", "failed", "unreachable", "skipped"],
        [(r.host, r.ok, r.changed, r.failed, r.unreachable, r.skipped) for r in result.recap],
    )
    if result.returncode != 0:
        raise CxopsError(runner.failure_message(result, inv))
    ok(f"stage {label} done: {result.changed} change(s)")
    if layout.NEEDS_ROOT_APPLICATION.intersection(stages):
        for s in (s for s in catalogue(cfg) if s.generate == "user"):
            console.print(
                f"[yellow]![/yellow] you supply Secret {s.namespace}/{s.name} ({', '.join(s.keys)}): "
                f"{s.purpose} (docs/cluster.md)"
            )


@app.command()
def kubeconfig(
    out: Path = typer.Option(None, "--out", "-o", help="Where to write it (default: .cxops/cluster/kubeconfig)."),
    local_port: int = typer.Option(6443, "--local-port", help="Local end of the SSH tunnel to the API server."),
    inventory: Path = typer.Option(None, "--inventory", "-i", help=_INVENTORY_HELP),
) -> None:
    """Fetch the admin kubeconfig through the jump host (written 0600, never printed) and print the tunnel command."""
    from cxops.cli.output import console, ok
    from cxops.cluster import inventory_files as inv_mod
    from cxops.cluster import kubeconfig as kc
    from cxops.config import load_config
    from cxops.paths import state_dir

    inv = inv_mod.load(_inventory_dir(inventory))
    path = kc.fetch(inv, out or state_dir(load_config()) / "cluster" / "kubeconfig", local_port)
    ok(f"wrote {path} (server https://127.0.0.1:{local_port})")
    console.print(f"open the tunnel:  {kc.tunnel_command(inv, local_port)}")
    console.print(f"then:             export KUBECONFIG={path}; kubectl get nodes")


@app.command()
def credentials(
    service: str = typer.Argument(..., help="argocd, mlflow, grafana, s3 or postgres."),
) -> None:
    """Show one service's login (user and password) from its Kubernetes Secret, on a terminal only.

    Refuses when stdout is not a terminal (a pipe, a file, a log) and says the kubectl line to use instead. Reads
    with kubectl and the kubeconfig of `cxops cluster kubeconfig` (or $KUBECONFIG); the API tunnel must be open."""
    import sys

    from cxops.cluster import credentials as creds
    from cxops.cluster.kubectl import default_kubeconfig
    from cxops.config import load_config
    from cxops.paths import state_dir

    cfg = load_config()
    login = creds.find(cfg, service)
    creds.require_terminal(login, sys.stdout.isatty())
    user, password = creds.read(login, default_kubeconfig(state_dir(cfg)))
    typer.echo(f"{service} user:     {user}\n{service} password: {password}")


@app.command()
def urls(json_out: bool = JSON) -> None:
    """Where each UI is: in-cluster URL, the port-forward that reaches it, and how to log in (no secret printed)."""
    from cxops.cli.output import emit_json, table
    from cxops.cluster.urls import uis
    from cxops.config import load_config

    rows = uis(load_config())
    if json_out:
        emit_json(
            [
                {
                    "name": u.name,
                    "in_cluster": u.in_cluster,
                    "port_forward": u.port_forward,
                    "local": u.local,
                    "login": u.login,
                }
                for u in rows
            ]
        )
        return
    table(
        "cluster UIs (run the port-forward, then open the local URL)",
        ["UI", "port-forward", "local URL", "login"],
        [(u.name, u.port_forward, u.local, u.login) for u in rows],
    )
