"""GPU capacity per flavor: how many instances of each GPU flavor the cloud holds in total, and has free.

Two sources, both measured from the cloud:
- aggregates: hosts grouped in host aggregates with metadata gpu=true, gpu_count=N, gpu_type=T; flavors
  ask for `pci_passthrough:alias = T:n`; running instances on those hosts hold their GPUs.
- Placement: resource providers with GPU inventories (VGPU, PGPU, CUSTOM_*GPU*) and their usages; flavors
  ask for `resources:<CLASS> = n`.
The maths are pure functions of plain data (tested without a cloud); `measure()` gathers the data.
Unlike the seed service: disabled flavors are skipped (a boolean, not a string compare), gpu='False'
aggregates are not GPU aggregates, hosts missing from the hypervisor list are warned about, not a crash,
and every measurement starts from empty lists. Aggregates (and servers' `OS-EXT-SRV-ATTR:host`) name the
nova-compute *service* host, while a hypervisor's name is its node name, often an FQDN (`compute1` vs
`compute1.example.org` with libvirt): hosts are joined on the hypervisor's service host (Nova API
`service.host` of os-hypervisors, openstacksdk `Hypervisor.service_details["host"]`). A flavor whose GPU
request is not a positive integer (`a100:0`, `a100:two`) is skipped with a warning; the rest is reported.
A flavor may ask for several PCI aliases (`pci_passthrough:alias = nvme:1,a100:2`, Nova's comma-separated list):
every alias is read, the flavor is counted by the alias whose name is a GPU aggregate's gpu_type, and a running
server holds, on its host, the GPUs of its flavor's alias of that host's gpu_type.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cxops.errors import CxopsError

if TYPE_CHECKING:
    from openstack.connection import Connection

GPU_CLASSES = ("VGPU", "PGPU")
# a server in these states holds its PCI devices / allocations; DELETED and ERROR (never placed) do not
HOLDING = {
    "ACTIVE",
    "BUILD",
    "SHUTOFF",
    "PAUSED",
    "SUSPENDED",
    "RESCUE",
    "RESIZE",
    "VERIFY_RESIZE",
    "REBOOT",
    "HARD_REBOOT",
    "MIGRATING",
    "SHELVED",
}


@dataclass(frozen=True)
class GpuRequest:
    gpu_type: str
    count: int
    source: str  # "aggregate" (PCI alias) or "placement" (resource class)
    aliases: tuple[tuple[str, int], ...] = ()  # every PCI alias of the flavor (name, count), in spec order


@dataclass
class FlavorCapacity:
    flavor: str
    source: str
    gpu_type: str
    gpus_per_instance: int
    total: int
    available: int
    hosts: list[str] = field(default_factory=list)


def truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def is_gpu_class(rc: str) -> bool:
    return rc in GPU_CLASSES or (rc.startswith("CUSTOM_") and "GPU" in rc)


class BadGpuRequest(CxopsError, ValueError):
    """A flavor's GPU extra spec that is not `<alias>[:<positive integer>]` / a non-negative integer amount (a
    CxopsError: where one flavor is asked about, e.g. `cxops job run --flavor`, it is a one-line error)."""


def _count(text: str, what: str, allow_zero: bool) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or (int(value) == 0 and not allow_zero):
        raise BadGpuRequest(
            f"{what} has count {text!r}; expected a {'non-negative' if allow_zero else 'positive'} integer"
        )
    return int(value)


def pci_aliases(spec: str) -> tuple[tuple[str, int], ...]:
    """Every (alias name, count) of a `pci_passthrough:alias` value, `name[:count][,name[:count]...]` (count 1 when
    omitted). BadGpuRequest for an empty name, a count that is not a positive integer, or a name given twice."""
    out: list[tuple[str, int]] = []
    for part in spec.split(","):
        name, sep, count = part.strip().partition(":")
        name = name.strip()
        if not name:
            raise BadGpuRequest(f"pci_passthrough:alias {spec!r} has an empty alias name; expected name[:count],...")
        if name.lower() in (n.lower() for n, _ in out):
            raise BadGpuRequest(f"pci_passthrough:alias {spec!r} names {name!r} twice")
        out.append((name, _count(count, f"pci_passthrough:alias {spec!r}", allow_zero=False) if sep else 1))
    return tuple(out)


def flavor_gpu_request(extra_specs: dict[str, str], gpu_types: Collection[str] | None = None) -> GpuRequest | None:
    """The GPUs one instance of a flavor asks for, or None. Raises BadGpuRequest for a count that is not a
    positive integer (`pci_passthrough:alias` `a100:0`, `a100:two`) or an amount that is not an integer.

    PCI aliases: with `gpu_types` (the gpu_type of every GPU aggregate, any case), the one alias among them decides
    (`nvme:1,a100:2` with a100 aggregates is 2 x a100); none among them is no GPU request, several is a
    BadGpuRequest. Without `gpu_types`, a single alias decides; with several, the first is reported as
    `gpu_type` and `aliases` holds them all for the caller to choose by name."""
    spec = extra_specs.get("pci_passthrough:alias")
    if spec:
        aliases = pci_aliases(spec)
        if gpu_types is not None:
            offered = {t.lower() for t in gpu_types}
            gpus = [(n, c) for n, c in aliases if n.lower() in offered]
            if len(gpus) > 1:
                raise BadGpuRequest(
                    f"pci_passthrough:alias {spec!r} asks for several GPU types ({', '.join(n for n, _ in gpus)}); "
                    "a GPU aggregate offers one type per host"
                )
            if not gpus:
                return None
            chosen = gpus[0]
        else:
            chosen = aliases[0]
        return GpuRequest(chosen[0], chosen[1], "aggregate", aliases)
    for key, value in extra_specs.items():
        # "resources:VGPU" or a granular group "resources1:CUSTOM_GPU_A100"
        if key.startswith("resources") and ":" in key:
            rc = key.split(":", 1)[1]
            if is_gpu_class(rc) and (n := _count(str(value), key, allow_zero=True)) > 0:
                return GpuRequest(rc, n, "placement")
    return None


def alias_count(extra_specs: dict[str, str], gpu_type: str) -> int:
    """How many devices of PCI alias `gpu_type` (any case) a flavor's `pci_passthrough:alias` asks for; 0 if none
    (or the spec is malformed: such a flavor is warned about where flavors are listed)."""
    spec = extra_specs.get("pci_passthrough:alias")
    if not spec:
        return 0
    try:
        return sum(c for n, c in pci_aliases(spec) if n.lower() == gpu_type.lower())
    except BadGpuRequest:
        return 0


def _request(
    extra_specs: dict[str, str], owner: str, warnings: list[str], gpu_types: Collection[str] | None = None
) -> GpuRequest | None:
    """flavor_gpu_request, with a bad spec turned into a warning naming `owner` (the flavor)."""
    try:
        return flavor_gpu_request(extra_specs, gpu_types)
    except BadGpuRequest as exc:
        warnings.append(f"{owner}: {exc}; skipped")
        return None


@dataclass
class GpuHost:
    name: str
    gpu_type: str
    gpus: int
    used: int = 0
    schedulable: bool = True


def aggregate_hosts(aggregates: list[dict], hypervisors: list[dict], warnings: list[str]) -> dict[str, GpuHost]:
    """GPU hosts from aggregates: {service host: GpuHost}. Hypervisor dicts: name, service_host (the compute
    service's host, which aggregates list; defaults to name), state, status. A service host with several
    hypervisors (nodes) is schedulable if any of them is up and enabled."""
    known: dict[str, dict] = {}
    for h in hypervisors:
        host = h.get("service_host") or h["name"]
        up = h.get("state", "up") == "up" and h.get("status", "enabled") == "enabled"
        if host not in known or up:
            known[host] = h
    hosts: dict[str, GpuHost] = {}
    for agg in aggregates:
        meta = agg.get("metadata") or {}
        if not truthy(meta.get("gpu", "false")):
            continue
        try:
            count = int(meta.get("gpu_count", ""))
            gtype = str(meta["gpu_type"]).strip()
        except (KeyError, ValueError):
            warnings.append(f"aggregate {agg['name']!r} has gpu=true but no valid gpu_count/gpu_type; skipped")
            continue
        for host in agg.get("hosts") or []:
            if host not in known:
                warnings.append(
                    f"aggregate {agg['name']!r} lists host {host!r}, which is no hypervisor's compute "
                    "service host; skipped"
                )
                continue
            if host in hosts and (hosts[host].gpu_type, hosts[host].gpus) != (gtype, count):
                warnings.append(
                    f"host {host!r} is in GPU aggregates that disagree; kept "
                    f"{hosts[host].gpus} x {hosts[host].gpu_type}"
                )
                continue
            hv = known[host]
            up = hv.get("state", "up") == "up" and hv.get("status", "enabled") == "enabled"
            hosts[host] = GpuHost(host, gtype, count, schedulable=up)
    return hosts


def aggregate_capacity(
    flavors: list[dict],
    aggregates: list[dict],
    hypervisors: list[dict],
    servers: list[dict],
    warnings: list[str] | None = None,
) -> list[FlavorCapacity]:
    """flavors: name, disabled, extra_specs. servers: host, status, extra_specs (of the server's flavor)."""
    warnings = [] if warnings is None else warnings
    hosts = aggregate_hosts(aggregates, hypervisors, warnings)
    for s in servers:  # a server holds, on its host, its flavor's alias of the host's GPU type
        host = hosts.get(s.get("host") or "")
        if host is not None and s.get("status") in HOLDING:
            host.used += alias_count(s.get("extra_specs") or {}, host.gpu_type)
    # a flavor is counted by its alias that a GPU aggregate offers (no aggregate at all: its only alias, as 0)
    offered = {h.gpu_type for h in hosts.values()} or None
    out = []
    for f in flavors:
        if f.get("disabled") is True:
            continue
        req = _request(f.get("extra_specs") or {}, f"flavor {f['name']!r}", warnings, offered)
        if req is None or req.source != "aggregate":
            continue
        matching = [h for h in hosts.values() if h.gpu_type.lower() == req.gpu_type.lower()]
        total = sum(h.gpus // req.count for h in matching)
        available = sum(max(0, h.gpus - h.used) // req.count for h in matching if h.schedulable)
        out.append(
            FlavorCapacity(
                f["name"], "aggregate", req.gpu_type, req.count, total, available, sorted(h.name for h in matching)
            )
        )
    return sorted(out, key=lambda c: c.flavor)


def placement_capacity(flavors: list[dict], providers: list[dict]) -> list[FlavorCapacity]:
    """providers: name, inventories {rc: {total, reserved, allocation_ratio, max_unit}}, usages {rc: n}.
    A flavor with a bad GPU spec is skipped here; aggregate_capacity warns about it once."""
    out = []
    for f in flavors:
        req = _request(f.get("extra_specs") or {}, f["name"], [])
        if f.get("disabled") is True or req is None or req.source != "placement":
            continue
        total = available = 0
        names = []
        for p in providers:
            inv = (p.get("inventories") or {}).get(req.gpu_type)
            if not inv or req.count > int(inv.get("max_unit", inv["total"])):
                continue
            capacity = int((inv["total"] - inv.get("reserved", 0)) * float(inv.get("allocation_ratio", 1.0)))
            used = int((p.get("usages") or {}).get(req.gpu_type, 0))
            total += capacity // req.count
            available += max(0, capacity - used) // req.count
            names.append(p["name"])
        out.append(FlavorCapacity(f["name"], "placement", req.gpu_type, req.count, total, available, sorted(names)))
    return sorted(out, key=lambda c: c.flavor)


# -- gathering -------------------------------------------------------------------------------------------


def _forbidden(exc: Exception, what: str) -> None:
    from cxops.errors import CxopsError

    raise CxopsError(
        f"GPU capacity needs admin-level read access to {what} (a cloud entry with the admin or "
        f"reader-on-system role): {exc}"
    ) from exc


def gather(conn: Connection) -> dict[str, Any]:
    """Plain data for the maths above, from Nova and Placement."""
    from openstack import exceptions as os_exc

    try:
        flavors = [
            {"name": f.name, "disabled": bool(f.is_disabled), "extra_specs": dict(f.extra_specs or {})}
            for f in conn.compute.flavors(details=True, is_public=None)
        ]
        aggregates = [
            {"name": a.name, "hosts": list(a.hosts or []), "metadata": dict(a.metadata or {})}
            for a in conn.compute.aggregates()
        ]
        hypervisors = [
            {
                "name": h.name,
                "service_host": (h.service_details or {}).get("host"),
                "state": h.state,
                "status": h.status,
            }
            for h in conn.compute.hypervisors(details=True)
        ]
        servers = []
        for s in conn.compute.servers(details=True, all_projects=True):
            fl = s.flavor or {}
            servers.append(
                {"host": s.compute_host, "status": s.status, "extra_specs": dict(fl.get("extra_specs") or {})}
            )
    except os_exc.ForbiddenException as exc:
        _forbidden(exc, "flavors, aggregates, hypervisors and all projects' servers")
    providers = []
    if conn.has_service("placement"):
        try:
            for rp in conn.placement.get("/resource_providers").json()["resource_providers"]:
                inv = conn.placement.get(f"/resource_providers/{rp['uuid']}/inventories").json()["inventories"]
                gpu_inv = {rc: v for rc, v in inv.items() if is_gpu_class(rc)}
                if not gpu_inv:
                    continue
                usages = conn.placement.get(f"/resource_providers/{rp['uuid']}/usages").json()["usages"]
                providers.append(
                    {"name": rp["name"], "inventories": gpu_inv, "usages": {rc: usages.get(rc, 0) for rc in gpu_inv}}
                )
        except os_exc.ForbiddenException as exc:
            _forbidden(exc, "Placement resource providers")
    return {
        "flavors": flavors,
        "aggregates": aggregates,
        "hypervisors": hypervisors,
        "servers": servers,
        "providers": providers,
    }


def report(data: dict[str, Any], cloud: str) -> dict[str, Any]:
    warnings: list[str] = []
    rows = aggregate_capacity(data["flavors"], data["aggregates"], data["hypervisors"], data["servers"], warnings)
    rows += placement_capacity(data["flavors"], data["providers"])
    return {
        "cloud": cloud,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "flavors": [asdict(r) for r in rows],
        "warnings": warnings,
    }


def measure(conn: Connection) -> dict[str, Any]:
    return report(gather(conn), conn.config.name)
