"""Read-only probes of a cloud, returned as plain rows (lists of dicts) for tables and --json."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cxops.errors import CxopsError

if TYPE_CHECKING:
    from openstack.connection import Connection

Row = dict[str, Any]


def ping(conn: Connection) -> Row:
    """Authenticate and report who we are and which services the catalog offers."""
    conn.authorize()
    started = time.monotonic()
    conn.compute.get("/")  # one authenticated round trip to Nova: the cloud answers, not just Keystone
    compute_ms = round((time.monotonic() - started) * 1000)
    access = conn.session.auth.get_access(conn.session)  # type: ignore[union-attr]  # authorize() set it
    catalog = sorted({entry["type"] for entry in access.service_catalog.catalog})
    return {
        "cloud": conn.config.name,
        "auth_url": conn.config.auth.get("auth_url"),
        "auth_type": conn.config.config.get("auth_type", "password"),
        "region": conn.config.region_name,
        "project_id": conn.current_project_id,
        "user_id": conn.current_user_id,
        "roles": sorted(access.role_names),
        "services": catalog,
        "compute_api_ms": compute_ms,
    }


def images(conn: Connection) -> list[Row]:
    return [
        {
            "name": i.name,
            "id": i.id,
            "status": i.status,
            "visibility": i.visibility,
            "size_mb": round((i.size or 0) / 2**20, 1),
            "os_distro": i.properties.get("os_distro") if i.properties else None,
        }
        for i in sorted(conn.image.images(), key=lambda i: i.name or "")
    ]


def flavors(conn: Connection) -> list[Row]:
    rows = []
    for f in sorted(conn.compute.flavors(details=True), key=lambda f: (f.vcpus, f.ram, f.name)):
        rows.append(
            {
                "name": f.name,
                "id": f.id,
                "vcpus": f.vcpus,
                "ram_mb": f.ram,
                "disk_gb": f.disk,
                "public": f.is_public,
                "disabled": f.is_disabled,
                "extra_specs": dict(f.extra_specs or {}),
            }
        )
    return rows


def networks(conn: Connection) -> list[Row]:
    subnets = {s.id: s for s in conn.network.subnets()}
    rows = []
    for n in sorted(conn.network.networks(), key=lambda n: n.name or ""):
        cidrs = [subnets[s].cidr for s in n.subnet_ids if s in subnets]
        rows.append(
            {
                "name": n.name,
                "id": n.id,
                "external": bool(n.is_router_external),
                "shared": n.is_shared,
                "status": n.status,
                "subnets": cidrs,
            }
        )
    return rows


def _quota(name: str, limit: int | None, used: int | None) -> Row:
    limit = -1 if limit is None else int(limit)
    used = int(used or 0)
    return {"resource": name, "limit": limit, "used": used, "free": None if limit < 0 else max(0, limit - used)}


def quotas(conn: Connection) -> list[Row]:
    """Limit, use and headroom per resource (limit -1 = unlimited, free None = no ceiling)."""
    project = conn.current_project_id
    if project is None:
        raise CxopsError("the credentials are not scoped to a project; quotas need a project-scoped token")
    lim = conn.compute.get_limits().absolute
    rows = [
        _quota("instances", lim.instances, lim.instances_used),
        _quota("cores", lim.total_cores, lim.total_cores_used),
        _quota("ram_mb", lim.total_ram, lim.total_ram_used),
        _quota("keypairs", lim.keypairs, len(list(conn.compute.keypairs()))),
    ]
    net = conn.network.get_quota(project, details=True)
    for attr, name in (
        ("floating_ips", "floating_ips"),
        ("security_groups", "security_groups"),
        ("security_group_rules", "security_group_rules"),
        ("networks", "networks"),
        ("ports", "ports"),
        ("routers", "routers"),
    ):
        detail = getattr(net, attr) or {}
        rows.append(_quota(name, detail.get("limit"), detail.get("used")))
    if conn.has_service("block-storage") or conn.has_service("volumev3"):
        vol = conn.block_storage.get_quota_set(project, usage=True)
        usage = vol.usage or {}
        rows.append(_quota("volumes", vol.volumes, usage.get("volumes")))
        rows.append(_quota("volume_gb", vol.gigabytes, usage.get("gigabytes")))
    return rows


def servers(conn: Connection, all_projects: bool = False) -> list[Row]:
    rows = []
    for s in sorted(conn.compute.servers(details=True, all_projects=all_projects), key=lambda s: s.name or ""):
        addresses = [a["addr"] for nets in (s.addresses or {}).values() for a in nets]
        flavor = s.flavor or {}
        rows.append(
            {
                "name": s.name,
                "id": s.id,
                "status": s.status,
                "flavor": flavor.get("original_name") or flavor.get("name") or flavor.get("id"),
                "addresses": addresses,
                "created": s.created_at,
            }
        )
    return rows
