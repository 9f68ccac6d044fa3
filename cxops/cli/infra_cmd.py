"""`cxops infra`: preflight, Terraform variables, plan/apply/output/destroy of tf/, the Ansible inventory."""

from __future__ import annotations

import typer

from cxops.cli.options import JSON

app = typer.Typer(help="Provision the cluster: preflight checks, Terraform variables, inventory.", no_args_is_help=True)

CLOUD = typer.Option(None, "--cloud", help="clouds.yaml entry (default: $OS_CLOUD, then cloud.name).")
CHDIR = typer.Option(None, "--chdir", help="Terraform module directory (default: tf/ beside cxops.yaml).")
OPERATOR = typer.Option(
    None,
    "--operator-address",
    help="Your public IPv4 address: SSH and the Kubernetes API are opened to it only (default: "
    "$CXOPS_OPERATOR_ADDRESS, cloud.operator_address, the route to the cloud, else a prompt).",
)
NO_PREFLIGHT = typer.Option(
    False, "--no-preflight", help="Skip the cloud preflight (modules that create nothing in OpenStack, tests)."
)


@app.command()
def preflight(
    cloud: str = CLOUD,
    json_out: bool = JSON,
) -> None:
    """Check that image, flavors, keypair, external network and quota headroom fit the plan; exit 1 if not."""
    from cxops.cli.output import emit_json, table
    from cxops.config import load_config

    config = load_config()
    conn, checks = _run_preflight(config, cloud)
    name = conn.config.name
    failed = [c for c in checks if not c.ok]
    if json_out:
        emit_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        rows = [["ok" if c.ok else "FAIL", c.check, c.detail, c.instead] for c in checks]
        table(f"preflight: {name}", ["", "check", "found", "would fit instead"], rows)
    _raise_failed(checks)


def _run_preflight(config, cloud: str | None, workdir=None):  # -> (connection, checks)
    from cxops.cli.output import spinner
    from cxops.cloud.connection import connect
    from cxops.infra import leases
    from cxops.infra.preflight import run_preflight
    from cxops.infra.tfvars import TF_DIR
    from cxops.paths import project_root

    workdir = workdir or project_root() / TF_DIR  # where apply records a lease it created (none: no record)
    conn = connect(cloud)
    with spinner("checking the cloud against the plan"):
        return conn, run_preflight(config, conn, leases.recorded(workdir))


def _raise_failed(checks) -> None:
    from cxops.errors import CxopsError

    failed = [c for c in checks if not c.ok]
    if failed:
        # one line that names each bad value and what would do instead (the table above holds the same)
        said = "; ".join(f"{c.check}: {c.detail}" + (f" ({c.instead})" if c.instead else "") for c in failed)
        raise CxopsError(f"preflight: {len(failed)} problem(s): {said}")


def _operator(config, cloud: str | None, flag: str | None, quiet: bool):  # -> cxops.infra.operator.Operator
    """Whose address SSH and the API are opened to (cxops.infra.operator says the order); prints where it came from."""
    from cxops.infra import operator

    def endpoint() -> str | None:
        try:
            from cxops.cloud.connection import openstack_config, resolve_cloud_name

            return openstack_config().get_one(resolve_cloud_name(cloud)).config.get("auth", {}).get("auth_url")
        except Exception:  # no usable clouds.yaml entry: the route cannot be asked, fall through
            return None

    def ask() -> str:
        return typer.prompt("Your public IPv4 address (SSH and the Kubernetes API will be open to it only)")

    tty = typer.get_text_stream("stdin").isatty()
    found = operator.resolve(flag, config.cloud.operator_address, endpoint, ask if tty else None)
    if not quiet and found.source.startswith("the route"):  # a guess: say what it was
        typer.echo(found.note, err=True)
    return found


def _preflight_step(config, cloud: str | None, skip: bool, workdir, made: list | None = None):
    """The preflight as a callable for provision.prepare (None when skipped): failures stop before Terraform.

    With `made` (apply), a lease cloud.lease.create asks for and none recorded is created once every check passes,
    and its record appended to `made` (cxops.infra.leases.create_for_apply)."""
    if skip:
        return None

    def run() -> None:
        from cxops.cli.output import spinner, table
        from cxops.infra import leases

        conn, checks = _run_preflight(config, cloud, workdir)
        bad = [c for c in checks if not c.ok]
        if bad:
            table(
                f"preflight: {conn.config.name}",
                ["", "check", "found", "would fit instead"],
                [["FAIL", c.check, c.detail, c.instead] for c in bad],
            )
        _raise_failed(checks)
        if made is not None and config.cloud.lease.create is not None and leases.recorded(workdir) is None:
            flavors = {f.name: f for f in conn.compute.flavors(details=True)}
            with spinner(f"creating lease {leases.lease_name(config)} and waiting until it is ACTIVE"):
                entry = leases.create_for_apply(conn, config, workdir, flavors)
            made.append((conn, entry))
            typer.echo(f"lease: created {entry['name']}, reservation {entry['reservation_id']} (ACTIVE)", err=True)

    return run


@app.command()
def render(
    check: bool = typer.Option(False, "--check", help="Exit 1 with a diff if the file is out of date; write nothing."),
    chdir: str = CHDIR,
) -> None:
    """Write tf/cxops.auto.tfvars.json (the Terraform variables) from cxops.yaml; never holds secrets."""
    from cxops.cli.output import ok
    from cxops.config import load_config
    from cxops.infra import provision, tfvars
    from cxops.paths import project_root

    config = load_config()
    workdir = provision.module_dir(project_root(), chdir)
    if check:
        tfvars.check(config, workdir)
        ok(f"{workdir / tfvars.TFVARS_FILE} is up to date")
        return
    changed = tfvars.write(config, workdir)
    ok(f"{'wrote' if changed else 'unchanged:'} {workdir / tfvars.TFVARS_FILE}")


@app.command()
def plan(
    cloud: str = CLOUD,
    chdir: str = CHDIR,
    no_preflight: bool = NO_PREFLIGHT,
    operator_address: str = OPERATOR,
    check: bool = typer.Option(False, "--check", help="Exit 1 when anything would change (drift or new config)."),
    json_out: bool = JSON,
) -> None:
    """Render the variables, preflight, `terraform init` and `plan` (saved to tf/cxops.tfplan); show the changes."""
    from cxops.cli.output import emit_json, table
    from cxops.cli.terraform_progress import Progress
    from cxops.config import load_config
    from cxops.errors import CxopsError
    from cxops.infra import provision
    from cxops.paths import project_root

    config = load_config()
    workdir = provision.module_dir(project_root(), chdir)
    tf = provision.prepare(
        config,
        workdir,
        preflight=_preflight_step(config, cloud, no_preflight, workdir),
        command="cxops infra plan",
        operator=lambda: _operator(config, cloud, operator_address, quiet=json_out),
    )
    with Progress(f"terraform plan ({tf.engine.description})", quiet=json_out) as progress:
        report = provision.plan(tf, progress)
    if json_out:
        emit_json(report.to_dict())
    else:
        if report.changes:
            table("planned changes", ["action", "resource"], [[c["action"], c["address"]] for c in report.changes])
        if report.drift:
            table(
                "changed outside Terraform", ["action", "resource"], [[c["action"], c["address"]] for c in report.drift]
            )
        typer.echo(f"plan: {report.line()}" + (f" (saved to {report.plan_file})" if report.pending else ""))
    if check and report.pending:
        raise CxopsError(f"infrastructure differs from the configuration: {report.line()}")


@app.command()
def apply(
    cloud: str = CLOUD,
    chdir: str = CHDIR,
    no_preflight: bool = NO_PREFLIGHT,
    operator_address: str = OPERATOR,
    json_out: bool = JSON,
) -> None:
    """Render, preflight, plan, and apply exactly that plan; then show nodes, addresses, volume and URLs.

    Ctrl-C stops Terraform gracefully (operations in flight finish, the state is saved); run apply again to resume."""
    from cxops.cli.output import emit_json
    from cxops.cli.terraform_progress import Progress
    from cxops.config import load_config
    from cxops.errors import CxopsError
    from cxops.infra import leases, outputs, provision
    from cxops.paths import project_root

    config = load_config()
    workdir = provision.module_dir(project_root(), chdir)
    made: list = []  # the lease this apply created, if any: ended again when apply stops before Terraform
    try:
        tf = provision.prepare(
            config,
            workdir,
            preflight=_preflight_step(config, cloud, no_preflight, workdir, made),
            command="cxops infra apply",
            operator=lambda: _operator(config, cloud, operator_address, quiet=json_out),
        )
    except (CxopsError, typer.Abort, KeyboardInterrupt) as exc:
        if not made:
            raise
        said = leases.undo(made[0][0], workdir, made[0][1])
        raise CxopsError(f"{exc or type(exc).__name__}; the lease this apply created: {said}") from None
    try:
        with Progress(f"terraform apply ({tf.engine.description})", quiet=json_out) as progress:
            report, values = provision.apply(tf, progress)
    except CxopsError as exc:
        if not made:
            raise
        entry = made[0][1]
        raise CxopsError(
            f"{exc}; lease {entry['name']} (created by this apply) is kept for the next apply, `cxops infra destroy` "
            "ends it"
        ) from None
    if json_out:
        emit_json({"plan": report.to_dict(), "outputs": values})
        return
    typer.echo(f"apply: {report.line()}")
    _summary(config, outputs.parse(values), values)


@app.command()
def output(
    chdir: str = CHDIR,
    json_out: bool = JSON,
) -> None:
    """Show what Terraform built (its outputs), checked: nodes, addresses, volume, the URLs to open."""
    from cxops.cli.output import emit_json
    from cxops.config import load_config
    from cxops.infra import outputs, provision
    from cxops.infra.terraform import Terraform
    from cxops.paths import project_root

    config = load_config()
    values = Terraform(provision.module_dir(project_root(), chdir)).output()
    cluster = outputs.parse(values)
    if json_out:
        emit_json(values)
        return
    _summary(config, cluster, values)


@app.command()
def destroy(
    cloud: str = CLOUD,
    chdir: str = CHDIR,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = JSON,
) -> None:
    """Destroy the cluster (instances, ports, network, security groups, floating IP) but keep the data volume.

    The data volume (module.storage) is protected (prevent_destroy) and survives; the next apply reattaches it."""
    from cxops import names
    from cxops.cli.output import emit_json
    from cxops.cli.terraform_progress import Progress
    from cxops.config import load_config
    from cxops.errors import UsageError
    from cxops.infra import provision, tfvars
    from cxops.paths import project_root

    config = load_config()
    workdir = provision.module_dir(project_root(), chdir)
    if not yes:
        if not typer.get_text_stream("stdin").isatty():
            raise UsageError("destroy needs confirmation: pass --yes (stdin is not a terminal)")
        instances = ", ".join(names.cloud_resource(config, n.name) for n in config.cloud.nodes)
        typer.confirm(f"Destroy {instances} and their network (state in {workdir}; the data volume stays)?", abort=True)
    tfvars.write(config, workdir)
    tf = provision.terraform(config, workdir, "cxops infra destroy")
    tf.init()
    with Progress(f"terraform destroy ({tf.engine.description})", quiet=json_out) as progress:
        report = provision.destroy(tf, progress)
    lease = _end_created_lease(workdir, cloud)
    if json_out:
        emit_json({**report.to_dict(), "lease": lease})
        return
    kept = f"; kept {', '.join(report.kept)} ({len(report.remaining)} in state)" if report.kept else ""
    typer.echo(f"destroy: {report.destroyed} destroyed{kept}")
    if lease:
        typer.echo(f"lease: {lease['name']} ({lease['lease_id']}) {lease['outcome']}")


def _end_created_lease(workdir, cloud: str | None):  # -> the record with its outcome, or None
    """After destroy: end the lease cxops created (recorded in tf/cxops-lease.json), never one it did not."""
    from cxops.cloud.connection import connect
    from cxops.infra import leases

    entry = leases.recorded(workdir)
    if entry is None:
        return None
    conn = connect(cloud or entry.get("cloud"))
    gone = leases.end(conn, str(entry["lease_id"]))
    leases.forget(workdir)
    return {**entry, "outcome": "ended" if gone else "was already gone"}


@app.command()
def inventory(
    chdir: str = CHDIR,
    from_file: str = typer.Option(
        None, "--outputs", help="Read recorded `terraform output -json` from this file instead of the state."
    ),
    check: bool = typer.Option(False, "--check", help="Exit 1 with a diff if the files are out of date."),
) -> None:
    """Write ansible/inventory/cxops/hosts.yaml (Kubespray groups) and ssh_config (ProxyJump via the bastion)."""
    from pathlib import Path

    from cxops import generated
    from cxops.cli.output import ok
    from cxops.config import load_config
    from cxops.infra import inventory as inv
    from cxops.infra import outputs, provision
    from cxops.infra.terraform import Terraform
    from cxops.paths import project_root

    config = load_config()
    root = project_root()
    if from_file:
        cluster = outputs.load_file(Path(from_file))
    else:
        cluster = outputs.parse(Terraform(provision.module_dir(root, chdir)).output())
    files = inv.files(config, cluster, root / inv.INVENTORY_DIR)
    if check:
        generated.check(files, inv.COMMAND)
        ok(f"{root / inv.INVENTORY_DIR} is up to date")
        return
    generated.write_all(files)
    ok(f"wrote {', '.join(str(p.relative_to(root)) for p in files)} ({len(cluster.nodes)} nodes)")


def _summary(config, cluster, values) -> None:
    from cxops.cli.output import key_values, table
    from cxops.infra.inventory import INVENTORY_DIR

    table(
        "nodes",
        ["node", "role", "address", "instance"],
        [[n.name, n.role, n.address, n.instance] for n in cluster.nodes],
    )
    fip = cluster.floating_ip
    how = {True: " (created here, protected)", False: " (adopted)", None: ""}[cluster.data_volume_created]
    entry = next(n for n in cluster.nodes if n.name == cluster.entry_node)
    tunnel = f"ssh -F {INVENTORY_DIR}/ssh_config -L 6443:{entry.address}:6443 bastion, then https://127.0.0.1:6443"
    api = f"https://{fip}:6443" if config.cloud.api_allowed_cidrs else tunnel
    key_values(
        "cluster",
        {
            "bastion (floating IP)": fip,
            "ssh": f"ssh -F {INVENTORY_DIR}/ssh_config {cluster.entry_node}   (after `cxops infra inventory`)",
            "data volume": f"{cluster.data_volume_id}{how}",
            "Kubernetes API": api,
            "platform entry": f"http://{cluster.gateway_ip or fip}/"
            + ("   (load balancer: every node's gateway NodePorts)" if cluster.gateway_ip else ""),
        },
    )


@app.command()
def cost(
    hours: str = typer.Option(
        None,
        "--hours",
        metavar="HOURS",
        help="Length of the lease in hours, a number above 0 (default: costs.lease_hours in cxops.yaml).",
    ),
    json_out: bool = JSON,
) -> None:
    """Estimate the cluster's cost before `apply`: nodes x flavor x hours → service units (SU) and currency, for
    one lease and per hour (rates: costs.su_per_hour, costs.rates_per_hour; docs/chameleon.md). Reads cxops.yaml
    only; reaches no cloud."""
    from cxops.cli.output import emit_json, table
    from cxops.config import load_config
    from cxops.infra import costs

    config = load_config()
    est = costs.estimate(config, costs.parse_hours(hours, config))
    if json_out:
        emit_json(est.to_dict())
        return
    cur = est.currency
    rows = [
        [r.role, f"{len(r.nodes)} ({', '.join(r.nodes)})", r.flavor, f"{r.hours:g}", f"{r.su_per_hour:g}", *figures]
        for r in est.rows
        for figures in [(f"{r.su:.2f}", f"{r.rate_per_hour:.2f}", f"{r.cost:.2f}")]
    ]
    nodes = sum(len(r.nodes) for r in est.rows)
    rows.append(["total", str(nodes), "", f"{est.hours:g}", "", f"{est.su:.2f}", "", f"{est.cost:.2f}"])
    columns = ["role", "nodes", "flavor", "hours", "SU per node-hour", "SU", f"{cur} per node-hour", cur]
    table(f"cost of one lease of {est.hours:g} h ({est.hours / 24:.3g} days)", columns, rows)
    typer.echo(
        f"lease: {est.su:.2f} SU, {est.cost:.2f} {cur}; while it exists the cluster draws {est.su_per_hour:.4g} SU "
        f"and {est.cost_per_hour:.2f} {cur} per hour (charged for the lease's whole time, used or not)"
    )
