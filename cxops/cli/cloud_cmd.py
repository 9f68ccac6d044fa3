"""`cxops cloud`: read-only probes of the OpenStack cloud, and GPU capacity."""

from __future__ import annotations

import typer

from cxops.cli.options import JSON

app = typer.Typer(
    help="Probe the OpenStack cloud: ping, images, flavors, networks, quotas, servers, GPU capacity.",
    no_args_is_help=True,
)
gpus_app = typer.Typer(help="GPU capacity per flavor (total / available); `serve` for a read-only HTTP API.")
app.add_typer(gpus_app, name="gpus")

CLOUD = typer.Option(None, "--cloud", help="clouds.yaml entry (default: $OS_CLOUD, then cxops.yaml cloud.name).")
GPU_CLOUD = typer.Option(
    None,
    "--cloud",
    help="clouds.yaml entry with admin-level read (default: $CXOPS_GPU_CLOUD, then $OS_CLOUD, then cloud.name).",
)


def _show(title: str, rows: list[dict], columns: list[str], json_out: bool) -> None:
    from cxops.cli.output import emit_json, table

    if json_out:
        emit_json(rows)
        return

    def cell(v):
        if isinstance(v, list):
            return ", ".join(map(str, v))
        if isinstance(v, dict):
            return ", ".join(f"{k}={val}" for k, val in v.items())
        return v

    table(title, columns, [[cell(r.get(c)) for c in columns] for r in rows])


def _conn(cloud: str | None):
    from cxops.cli.output import spinner
    from cxops.cloud.connection import connect

    with spinner("authenticating"):
        return connect(cloud)


@app.command()
def ping(cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """Authenticate; show the project, roles and the services in the catalog."""
    from cxops.cli.output import emit_json, key_values
    from cxops.cloud import probes

    info = probes.ping(_conn(cloud))
    if json_out:
        emit_json(info)
    else:
        key_values(f"cloud {info['cloud']}", {k: ", ".join(v) if isinstance(v, list) else v for k, v in info.items()})


@app.command()
def images(cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """Images visible to the project."""
    from cxops.cloud import probes

    _show("images", probes.images(_conn(cloud)), ["name", "status", "visibility", "size_mb", "id"], json_out)


@app.command()
def flavors(cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """Flavors with their size and extra specs (GPU aliases, resource requests)."""
    from cxops.cloud import probes

    cols = ["name", "vcpus", "ram_mb", "disk_gb", "public", "disabled", "extra_specs"]
    _show("flavors", probes.flavors(_conn(cloud)), cols, json_out)


@app.command()
def networks(cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """Networks; `external` ones are floating IP pools."""
    from cxops.cloud import probes

    cols = ["name", "external", "shared", "status", "subnets", "id"]
    _show("networks", probes.networks(_conn(cloud)), cols, json_out)


@app.command()
def quotas(cloud: str = CLOUD, json_out: bool = JSON) -> None:
    """Quota limit, use and headroom per resource (-1 = unlimited)."""
    from cxops.cloud import probes

    _show("quotas", probes.quotas(_conn(cloud)), ["resource", "limit", "used", "free"], json_out)


@app.command()
def servers(
    cloud: str = CLOUD,
    json_out: bool = JSON,
    all_projects: bool = typer.Option(False, "--all-projects", help="Every project's servers (admin)."),
) -> None:
    """Servers of the project."""
    from cxops.cloud import probes

    cols = ["name", "status", "flavor", "addresses", "id"]
    _show("servers", probes.servers(_conn(cloud), all_projects=all_projects), cols, json_out)


@gpus_app.callback(invoke_without_command=True)
def gpus(
    ctx: typer.Context,
    cloud: str = GPU_CLOUD,
    json_out: bool = JSON,
    max_age: float = typer.Option(
        0, "--max-age", help="Use the cached result if younger than this many seconds (0 = always measure)."
    ),
) -> None:
    """GPU flavors: total and available, from host aggregates + PCI aliases and from Placement."""
    if ctx.invoked_subcommand is not None:
        return
    from cxops.cloud.gpu_cache import GpuCache
    from cxops.settings import settings

    cache = GpuCache.for_cloud(cloud or settings().gpu_cloud)
    report = cache.get(max_age=max_age)
    _show_gpus(report, json_out)


def _show_gpus(report: dict, json_out: bool) -> None:
    from cxops.cli.output import console, emit_json, table

    if json_out:
        emit_json(report)
        return
    rows = [
        [f["flavor"], f["source"], f["gpu_type"], f["gpus_per_instance"], f["total"], f["available"]]
        for f in report["flavors"]
    ]
    table(
        f"GPU flavors ({report['cloud']}, measured {report['measured_at']})",
        ["flavor", "source", "gpu type", "gpus/instance", "total", "available"],
        rows,
    )
    for w in report.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)


@gpus_app.command("serve")
def gpus_serve(
    cloud: str = GPU_CLOUD,
    port: int = typer.Option(8089, "--port", min=1024, max=65535, help="Port on 127.0.0.1."),
    refresh: float = typer.Option(150, "--refresh", min=5, help="Seconds between background measurements."),
) -> None:
    """Serve GPU capacity read-only over HTTP on 127.0.0.1 (OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    from cxops.cloud.gpu_api import create_app
    from cxops.cloud.gpu_cache import GpuCache
    from cxops.settings import settings

    app_ = create_app(GpuCache.for_cloud(cloud or settings().gpu_cloud), refresh_seconds=refresh)
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="info")


@app.command("s3-credentials")
def s3_credentials(
    cloud: str = CLOUD,
    check: bool = typer.Option(False, "--check", help="Only test the stored credentials against the S3 API."),
    to_cluster: bool = typer.Option(
        False,
        "--to-cluster",
        help="Also create the artifacts bucket if absent and put them into the cluster's S3 Secrets "
        "(platform.object_store: external; kubectl with the kubeconfig of `cxops cluster kubeconfig`).",
    ),
) -> None:
    """EC2 credentials for the cloud's S3 API (Swift s3api): reuse or create them through Keystone, keep them in
    <lab.state_dir>/s3-credentials.json (git-ignored, 0600; never printed), and test them with a bucket listing.
    With --to-cluster, the cluster's MLflow and workflow pods get them too (docs/platform.md)."""
    from cxops.cli.output import ok
    from cxops.cloud import s3
    from cxops.cluster import s3_secret
    from cxops.config import load_config

    cfg = load_config()
    if to_cluster:
        s3_secret.check_store(cfg)  # before any credential is made
    path = s3.credentials_path(cfg)
    if check:
        creds = s3.load(path)
    else:
        creds, created = s3.ensure(_conn(cloud))
        s3.save(creds, path)
        how = "created" if created else "reused"
        ok(f"{how} EC2 credentials of project {creds.project_id} on cloud {creds.cloud}; stored in {path} (0600)")
    buckets = s3.check(creds)
    ok(f"the S3 API at {creds.endpoint_url} accepts them ({buckets} buckets)")
    if to_cluster:
        from cxops.cluster.kubectl import default_kubeconfig
        from cxops.paths import state_dir

        created, applied = s3_secret.to_cluster(cfg, creds, default_kubeconfig(state_dir(cfg)))
        bucket = cfg.platform.artifacts_bucket
        ok(f"bucket {bucket} {'created' if created else 'exists'}; applied Secret {', '.join(applied)}")
