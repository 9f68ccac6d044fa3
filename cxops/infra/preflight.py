"""Before Terraform: does everything the plan needs exist in the cloud, and does the plan fit the quotas?

Every check yields a row: what was checked, ok or not, what was found, and what would work instead.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cxops.infra import leases

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cxops.config.schema import Config

# What the cluster plan creates besides the nodes (tf/modules/network, storage, gateway): one floating IP on the entry
# node and one data volume (neither when cxops.yaml names existing ones), one floating IP on the public entry's load
# balancer (always), four security groups (cluster, ssh, api, http).
PLAN_FLOATING_IPS = 1
PLAN_GATEWAY_FLOATING_IPS = 1
PLAN_SECURITY_GROUPS = 4
PLAN_VOLUMES = 1


@dataclass
class Check:
    check: str
    ok: bool
    detail: str
    instead: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Needs:
    instances: int
    cores: int
    ram_mb: int
    volumes: int
    volume_gb: int
    floating_ips: int
    security_groups: int
    uncounted: list[str]  # nodes whose flavor is unknown: their cores and RAM are not in the sums


def _close(name: str, candidates: list[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)


def _suggest(name: str, candidates: list[str], what: str) -> str:
    close = _close(name, candidates)
    if close:
        return f"did you mean {', '.join(close)}?"
    return f"{what} that exist: {', '.join(sorted(candidates)[:8]) or 'none'}"


def node_flavors(config: Config) -> list[tuple[str, str | None]]:
    """(node name, flavor name) for every node of the plan."""
    by_role = {
        "control": config.cloud.flavors.control,
        "worker": config.cloud.flavors.worker,
        "gpu": config.cloud.flavors.gpu,
    }
    return [(n.name, by_role[n.role]) for n in config.cloud.nodes]


def plan_needs(config: Config, flavors: dict[str, Any]) -> Needs:
    cores = ram = 0
    uncounted = []
    for node, fname in node_flavors(config):
        f = flavors.get(fname) if fname else None
        if f is None:
            uncounted.append(node)
        else:
            cores += f.vcpus
            ram += f.ram
    new_volume = config.cloud.data_volume_name is None  # an adopted volume is already counted in the quota
    return Needs(
        instances=len(config.cloud.nodes),
        cores=cores,
        ram_mb=ram,
        volumes=PLAN_VOLUMES if new_volume else 0,
        volume_gb=config.cloud.data_volume_gb if new_volume else 0,
        floating_ips=PLAN_GATEWAY_FLOATING_IPS + (PLAN_FLOATING_IPS if config.cloud.floating_ip is None else 0),
        security_groups=PLAN_SECURITY_GROUPS,
        uncounted=uncounted,
    )


def fitting_flavors(flavors: dict[str, Any], count: int, free_cores: int | None, free_ram: int | None) -> list[str]:
    """Largest enabled flavors of which `count` instances fit the free cores and RAM."""
    fits = [
        f
        for f in flavors.values()
        if not f.is_disabled
        and (free_cores is None or f.vcpus * count <= free_cores)
        and (free_ram is None or f.ram * count <= free_ram)
    ]
    fits.sort(key=lambda f: (f.vcpus, f.ram), reverse=True)
    return [f.name for f in fits[:3]]


def _fewer_nodes(flavors: dict[str, Any], count: int, free_cores: int | None, free_ram: int | None) -> str:
    enabled = [f for f in flavors.values() if not f.is_disabled]
    if not enabled:
        return "no enabled flavor exists"
    small = min(enabled, key=lambda f: (f.vcpus, f.ram))
    fit = min(
        free_cores // small.vcpus if free_cores is not None and small.vcpus else count,
        free_ram // small.ram if free_ram is not None and small.ram else count,
    )
    return f"no flavor fits {count} nodes; at most {fit} x {small.name} fit: free quota or ask for more"


def check_image(conn: Connection, name: str) -> Check:
    imgs = list(conn.image.images())
    match = [i for i in imgs if name in (i.name, i.id)]
    if not match:
        return Check(
            "image",
            False,
            f"image {name!r} not found",
            _suggest(name, [i.name for i in imgs if i.status == "active" and i.name], "images"),
        )
    if match[0].status != "active":
        return Check("image", False, f"image {name!r} is {match[0].status}, not active")
    return Check("image", True, f"{name} ({match[0].id[:8]}, active)")


def check_flavors(config: Config, flavors: dict[str, Any]) -> list[Check]:
    out = []
    wanted: dict[str, list[str]] = {}
    for node, fname in node_flavors(config):
        if fname is None:
            out.append(
                Check(
                    f"flavor for {node}",
                    False,
                    f"node {node} has role gpu but cloud.flavors.gpu is unset",
                    "set cloud.flavors.gpu (see `cxops cloud gpus`)",
                )
            )
            continue
        wanted.setdefault(fname, []).append(node)
    if config.cloud.flavors.gpu:
        wanted.setdefault(config.cloud.flavors.gpu, [])
    if config.training.runner == "openstack-instance":
        wanted.setdefault(config.training.flavor, [])
    for fname, nodes in wanted.items():
        users = f" (nodes {', '.join(nodes)})" if nodes else ""
        f = flavors.get(fname)
        if f is None:
            out.append(
                Check(
                    f"flavor {fname}",
                    False,
                    f"flavor {fname!r} not found{users}",
                    _suggest(fname, [x.name for x in flavors.values() if not x.is_disabled], "flavors"),
                )
            )
        elif f.is_disabled:
            out.append(Check(f"flavor {fname}", False, f"flavor {fname!r} is disabled{users}"))
        else:
            out.append(Check(f"flavor {fname}", True, f"{f.vcpus} vCPU, {f.ram} MB RAM, {f.disk} GB disk{users}"))
    return out


def check_keypair(conn: Connection, name: str) -> Check:
    pairs = [k.name for k in conn.compute.keypairs()]
    if name in pairs:
        return Check("keypair", True, name)
    instead = (
        _suggest(name, pairs, "keypairs") if pairs else "create one: openstack keypair create --public-key FILE NAME"
    )
    return Check("keypair", False, f"keypair {name!r} not found", instead)


def check_external_network(conn: Connection, name: str) -> Check:
    nets = list(conn.network.networks())
    external = [n.name for n in nets if n.is_router_external]
    match = [n for n in nets if name in (n.name, n.id)]
    if not match:
        return Check(
            "external network",
            False,
            f"network {name!r} not found",
            f"external networks (floating IP pools): {', '.join(external) or 'none'}",
        )
    if not match[0].is_router_external:
        return Check(
            "external network",
            False,
            f"network {name!r} is not external: no floating IPs come from it",
            f"external networks: {', '.join(external) or 'none'}",
        )
    return Check("external network", True, f"{name} (floating IP pool)")


def check_quotas(conn: Connection, needs: Needs, flavors: dict[str, Any], config: Config) -> list[Check]:
    from cxops.cloud.probes import quotas

    free = {q["resource"]: q for q in quotas(conn)}
    wanted = {
        "instances": needs.instances,
        "cores": needs.cores,
        "ram_mb": needs.ram_mb,
        "volumes": needs.volumes,
        "volume_gb": needs.volume_gb,
        "floating_ips": needs.floating_ips,
        "security_groups": needs.security_groups,
    }
    out = []
    for res, need in wanted.items():
        q = free.get(res)
        if q is None:
            out.append(Check(f"quota {res}", False, f"the cloud reports no {res} quota (service missing?)"))
            continue
        partial = (
            f" (not counting {', '.join(needs.uncounted)}: unknown flavor)"
            if needs.uncounted and res in ("cores", "ram_mb")
            else ""
        )
        if q["free"] is None or need <= q["free"]:
            left = "unlimited" if q["free"] is None else f"{q['free']} free"
            out.append(
                Check(f"quota {res}", True, f"needs {need}{partial}, {left} (limit {q['limit']}, used {q['used']})")
            )
            continue
        instead = ""
        if res in ("cores", "ram_mb"):
            fits = fitting_flavors(flavors, needs.instances, free["cores"]["free"], free["ram_mb"]["free"])
            instead = (
                f"{needs.instances} nodes fit with flavor {' or '.join(fits)}"
                if fits
                else _fewer_nodes(flavors, needs.instances, free["cores"]["free"], free["ram_mb"]["free"])
            )
        elif res == "instances":
            instead = f"at most {q['free']} nodes fit; drop nodes from cloud.nodes or free instances"
        elif res == "volume_gb":
            instead = f"cloud.data_volume_gb <= {q['free']} fits"
        else:
            instead = f"free {need - q['free']} {res} or ask for a higher quota"
        out.append(
            Check(
                f"quota {res}",
                False,
                f"needs {need}{partial}, only {q['free']} free (limit {q['limit']}, used {q['used']})",
                instead,
            )
        )
    return out


RESERVATION_SERVICE = leases.RESERVATION_SERVICE
LEASE_NOT_YET = leases.LEASE_NOT_YET
LEASE_OVER = leases.LEASE_OVER


def reserved_flavor_name(reservation_id: str) -> str:
    """The flavor Blazar creates for an instance reservation: `reservation:<reservation id>` (KVM@TACC boots a
    lease's instances only with it; openstack/blazar plugins/flavor/flavor_plugin.py, _create_flavor)."""
    return f"reservation:{reservation_id}"


def blazar_leases(conn: Connection) -> list[dict[str, Any]]:
    """The project's leases from Blazar's v1 API (cxops.infra.leases.list_leases)."""
    return leases.list_leases(conn)


def check_reservation(
    conn: Connection,
    config: Config,
    flavors: dict[str, Any] | None = None,
    recorded: dict[str, Any] | None = None,
) -> Check | None:
    """The lease the nodes boot in: ACTIVE, an instance reservation with room for every node, and the flavor
    cxops.yaml names for each role is the one reserved. `recorded` is the lease cxops created earlier
    (cxops.infra.leases.recorded); with cloud.lease.create and none recorded, the request is checked instead (the
    flavor exists and every role's flavor has its size). On a cloud with a reservation service (Chameleon KVM@TACC:
    instances boot only inside an active lease) no lease at all fails too. None when neither applies."""
    flavors = flavors if flavors is not None else {}
    want = config.cloud.lease
    has_blazar = conn.has_service(RESERVATION_SERVICE)
    rid = want.reservation_id or (recorded or {}).get("reservation_id")
    setting = "cloud.lease.reservation_id" if want.reservation_id else "the reservation of the lease cxops created"
    if rid is None and want.create is None:
        if not has_blazar:
            return None
        return Check(
            "reservation",
            False,
            "cloud.lease is unset, but this cloud boots instances only inside an active lease "
            "(it has a reservation service)",
            f"set cloud.lease.create to have cxops reserve {len(config.cloud.nodes)} instances, or reserve them "
            "(`openstack reservation lease create`, docs/chameleon.md) and set cloud.lease.reservation_id to the "
            "reservation's id",
        )
    if not has_blazar:
        said = f"cloud.lease.reservation_id {rid} is set" if want.reservation_id else "cloud.lease.create is set"
        return Check(
            "reservation",
            False,
            f"{said} but the cloud has no reservation (Blazar) service",
            "remove cloud.lease",
        )
    if rid is None:
        return _judge_request(config, flavors)
    found = blazar_leases(conn)
    for lease in found:
        for r in lease.get("reservations", []):
            if r.get("id") == rid:
                return judge_reservation(config, lease, r, flavors, created=recorded is not None)
    ids = [str(r.get("id")) for lease in found for r in lease.get("reservations", [])]
    if recorded is not None and not want.reservation_id:
        return Check(
            "reservation",
            False,
            f"the lease cxops created, {recorded.get('name')} ({recorded.get('lease_id')}), no longer exists",
            "run `cxops infra destroy` (it forgets the lease), then `cxops infra apply` creates a new one",
        )
    return Check(
        "reservation",
        False,
        f"{setting} {rid} is not a reservation of any of the project's leases",
        f"reservations that exist: {', '.join(ids) or 'none'} (`openstack reservation lease show LEASE`)",
    )


def lease_flavor(config: Config) -> str:
    """The flavor whose size a lease cxops creates reserves: lease.create.flavor, else the roles' one flavor."""
    want = config.cloud.lease.create
    assert want is not None
    if want.flavor:
        return want.flavor
    return next(f for _, f in node_flavors(config) if f)


def _size(f: Any) -> tuple[int, int, int]:
    return int(f.vcpus), int(f.ram), int(f.disk)


def _said(size: tuple[int, int, int]) -> str:
    return f"{size[0]} VCPUs, {size[1]} MB RAM, {size[2]} GB disk"


def _wrong_sizes(config: Config, flavors: dict[str, Any], size: tuple[int, int, int]) -> list[str]:
    """'role: flavor' for every role whose flavor is not of `size` (VCPUs, RAM MiB, disk GiB)."""
    role_of = {n.name: n.role for n in config.cloud.nodes}
    return sorted(
        {
            f"{role_of[node]}: {f}"
            for node, f in node_flavors(config)
            if f and (f not in flavors or _size(flavors[f]) != size)
        }
    )


def _same_size(flavors: dict[str, Any], size: tuple[int, int, int]) -> str:
    names = sorted(n for n, f in flavors.items() if not n.startswith("reservation:") and _size(f) == size)
    return f"set every role's flavor to one of that size ({', '.join(names) or 'none exists'})"


def _judge_request(config: Config, flavors: dict[str, Any]) -> Check:
    """cloud.lease.create before the lease exists: the flavor to reserve exists and every role's flavor has its
    size (the nodes boot with reservation:<id>, which has exactly that size)."""
    from datetime import UTC, datetime

    want = config.cloud.lease.create
    assert want is not None
    fname = lease_flavor(config)
    f = flavors.get(fname)
    if f is None:
        return Check(
            "reservation",
            False,
            f"lease.create.flavor {fname!r} not found",
            _suggest(fname, [x.name for x in flavors.values()], "flavors"),
        )
    wrong = _wrong_sizes(config, flavors, _size(f))
    if wrong:
        return Check(
            "reservation",
            False,
            f"cloud.flavors {', '.join(wrong)} is not the size the lease would reserve ({fname}: {_said(_size(f))})",
            _same_size(flavors, _size(f)),
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    start, end = leases.dates(config, now)
    if end <= now.strftime(leases.LEASE_DATE):
        return Check(
            "reservation",
            False,
            f"lease.create.end {end} is already past (now {now:%Y-%m-%d %H:%M} UTC)",
            "set a later end, or unset it to use lease.create.hours",
        )
    amount = want.instances or len(config.cloud.nodes)
    return Check(
        "reservation",
        True,
        f"apply creates lease {leases.lease_name(config)}: {amount} x {fname} ({_said(_size(f))}), {start} to "
        f"{end} UTC; destroy ends it",
    )


def judge_reservation(
    config: Config, lease: dict[str, Any], r: dict[str, Any], flavors: dict[str, Any], created: bool = False
) -> Check:
    """One reservation `r` of `lease` against the plan: ACTIVE, enough instances, the roles' flavors reserved (by
    name for Chameleon's flavor:instance, by size for virtual:instance)."""
    rid, name = r["id"], lease.get("name") or lease.get("id")
    status = str(lease.get("status", "?")).upper()
    when = f"{lease.get('start_date', '?')} to {lease.get('end_date', '?')}"
    if status in LEASE_NOT_YET:
        return Check(
            "reservation", False, f"lease {name} ({rid}) has not started: {status}, {when}", "wait for it to start"
        )
    if status in LEASE_OVER:
        instead = (
            "run `cxops infra destroy` (it forgets the lease cxops created), then apply creates a new one"
            if created
            else "create a new lease and set cloud.lease.reservation_id to its reservation"
        )
        return Check("reservation", False, f"lease {name} ({rid}) is over: {status}, {when}", instead)
    if status != "ACTIVE":
        return Check("reservation", False, f"lease {name} ({rid}) is {status}, not ACTIVE", "wait for ACTIVE")
    nodes = len(config.cloud.nodes)
    amount = int(r.get("amount") or 0)
    if amount < nodes:
        return Check(
            "reservation",
            False,
            f"reservation {rid} holds {amount} instance(s), cloud.nodes has {nodes}",
            f"reserve at least {nodes} instances or drop nodes from cloud.nodes",
        )
    reserved = _reserved_flavor(r)
    role_of = {n.name: n.role for n in config.cloud.nodes}
    if reserved:
        wrong = sorted({f"{role_of[node]}: {f}" for node, f in node_flavors(config) if f != reserved})
        if wrong:
            return Check(
                "reservation",
                False,
                f"cloud.flavors {', '.join(wrong)} is not the flavor reservation {rid} holds",
                f"set every role's flavor to {reserved}",
            )
    elif all(k in r for k in ("vcpus", "memory_mb", "disk_gb")):
        size = (int(r["vcpus"]), int(r["memory_mb"]), int(r["disk_gb"]))
        wrong = _wrong_sizes(config, flavors, size)
        if wrong:
            return Check(
                "reservation",
                False,
                f"cloud.flavors {', '.join(wrong)} is not the size reservation {rid} holds ({_said(size)})",
                _same_size(flavors, size),
            )
        reserved = _said(size)
    return Check(
        "reservation",
        True,
        f"{rid} in lease {name} (ACTIVE until {lease.get('end_date', '?')}), {amount} x {reserved or '?'}; "
        f"nodes boot with flavor {reserved_flavor_name(rid)}",
    )


def _reserved_flavor(r: dict[str, Any]) -> str | None:
    """The name of the flavor a flavor:instance reservation holds: Blazar keeps it as JSON in resource_properties
    (a virtual:instance reservation's resource_properties is a host filter instead: no name)."""
    import json

    props = r.get("resource_properties")
    try:
        found = json.loads(props) if isinstance(props, str) and props else props
    except ValueError:
        return None
    return found.get("name") if isinstance(found, dict) else None


def run_preflight(config: Config, conn: Connection, recorded: dict[str, Any] | None = None) -> list[Check]:
    """Every check of the plan against the cloud; `recorded` is the lease cxops created (cxops.infra.leases)."""
    flavors = {f.name: f for f in conn.compute.flavors(details=True)}
    checks = [check_image(conn, config.cloud.image)]
    checks += check_flavors(config, flavors)
    checks.append(check_keypair(conn, config.cloud.key_pair))
    checks.append(check_external_network(conn, config.cloud.external_network))
    checks += check_quotas(conn, plan_needs(config, flavors), flavors, config)
    reservation = check_reservation(conn, config, flavors, recorded)
    if reservation is not None:
        checks.append(reservation)
    return checks
