"""Chameleon leases through Blazar's v1 API: list, create (an instance reservation), wait until ACTIVE, end.

Facts from openstack/blazar (api/v1/leases, manager/service.py, plugins/instances/instance_plugin.py, status.py):
a lease is created with POST /leases {name, start_date ("now" or "YYYY-MM-DD HH:MM", UTC), end_date, reservations,
events}; an instance reservation (`resource_type` virtual:instance) needs amount, vcpus, memory_mb, disk_gb,
affinity (true, false or null) and resource_properties; the answer is {"lease": {...}} with status CREATING, then
PENDING until the start, STARTING, ACTIVE; DELETE /leases/{id} ends it. Errors come back as {"error_code",
"error_message", "error_name"}. Blazar then makes the flavor `reservation:<reservation id>` the nodes boot with.

Whether cxops created the lease is recorded beside Terraform's state (tf/cxops-lease.json, git-ignored), so
`cxops infra destroy` ends only a lease cxops made.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxops.errors import CxopsError
from cxops.waiting import backoff_delays

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cxops.config.schema import Config

RESERVATION_SERVICE = "reservation"
INSTANCE_RESERVATION = "virtual:instance"
STATE_FILE = "cxops-lease.json"
LEASE_DATE = "%Y-%m-%d %H:%M"
# Blazar lease statuses (status.py LeaseStatus): only ACTIVE boots instances
LEASE_NOT_YET = ("PENDING", "STARTING", "CREATING")
LEASE_OVER = ("TERMINATING", "TERMINATED", "DELETING", "ERROR")
ACTIVE_TIMEOUT_S = 300.0  # a lease starting "now" is ACTIVE within a minute on Chameleon; a bound, not a guess


class ServiceDown(CxopsError):
    """The reservation service did not answer (connection refused, 5xx gateway): down, not 'not found'."""


def _call(conn: Connection, method: str, path: str, **kw: Any) -> Any:
    """One request to the catalog's reservation service; never raises on an HTTP status (the caller reads it)."""
    from keystoneauth1 import exceptions as ka

    try:
        return conn.session.request(
            path, method, endpoint_filter={"service_type": RESERVATION_SERVICE}, raise_exc=False, **kw
        )
    except (ka.ConnectFailure, ka.ConnectTimeout) as exc:
        said = f"{type(exc).__name__} on {method} {path}"
        raise ServiceDown(f"the reservation service (Blazar) is down: {said}") from None


def _refusal(resp: Any) -> str:
    """Blazar's error_message (or the raw body) of a refused request, on one line."""
    try:
        body = resp.json()
        said = body.get("error_message") or body.get("message") or json.dumps(body)
    except ValueError:
        said = resp.text
    return " ".join(str(said).split())[:300]


def _down_if_gateway(resp: Any, what: str) -> None:
    if resp.status_code in (502, 503, 504):
        raise ServiceDown(f"the reservation service (Blazar) is down: HTTP {resp.status_code} on {what}")


def list_leases(conn: Connection) -> list[dict[str, Any]]:
    """The project's leases (GET /leases): dicts with id, name, status, start_date, end_date and reservations (id,
    resource_type, status, amount; a flavor reservation's resource_properties holds the flavor as JSON, an instance
    reservation has vcpus, memory_mb, disk_gb)."""
    resp = _call(conn, "GET", "/leases")
    _down_if_gateway(resp, "GET /leases")
    if resp.status_code != 200:
        raise CxopsError(f"the reservation service refused to list leases: HTTP {resp.status_code} {_refusal(resp)}")
    return list(resp.json().get("leases", []))


def get_lease(conn: Connection, lease_id: str) -> dict[str, Any] | None:
    """GET /leases/{id}: the lease, or None when it does not exist (404)."""
    resp = _call(conn, "GET", f"/leases/{lease_id}")
    _down_if_gateway(resp, f"GET /leases/{lease_id}")
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise CxopsError(f"the reservation service refused to show lease {lease_id}: {_refusal(resp)}")
    return dict(resp.json()["lease"])


def instance_reservation(lease: dict[str, Any]) -> dict[str, Any]:
    """The lease's (first) instance reservation: virtual:instance or Chameleon's flavor:instance."""
    for r in lease.get("reservations", []):
        if str(r.get("resource_type", "")).endswith(":instance"):
            return dict(r)
    raise CxopsError(f"lease {lease.get('name') or lease.get('id')} holds no instance reservation")


def lease_name(config: Config) -> str:
    """The name of the lease cxops creates: <project>-<suffix>-lease (unique per deployment, as Blazar requires)."""
    from cxops import names

    return names.cloud_resource(config, "lease")


def dates(config: Config, now: datetime.datetime) -> tuple[str, str]:
    """(start_date, end_date) as Blazar reads them: "now" or "YYYY-MM-DD HH:MM" (UTC); the end from `hours` when
    lease.create.end is unset."""
    want = config.cloud.lease.create
    assert want is not None
    if want.end is not None:
        return want.start, want.end
    start = now if want.start == "now" else datetime.datetime.strptime(want.start, LEASE_DATE)
    return want.start, (start + datetime.timedelta(hours=want.hours)).strftime(LEASE_DATE)


def request_body(config: Config, flavor: Any, now: datetime.datetime) -> dict[str, Any]:
    """The POST /leases body: one virtual:instance reservation of `flavor`'s size (an openstacksdk Flavor: vcpus,
    ram in MiB, disk in GiB), one instance per node unless lease.create.instances says more."""
    want = config.cloud.lease.create
    assert want is not None
    start, end = dates(config, now)
    return {
        "name": lease_name(config),
        "start_date": start,
        "end_date": end,
        "reservations": [
            {
                "resource_type": INSTANCE_RESERVATION,
                "amount": want.instances or len(config.cloud.nodes),
                "vcpus": int(flavor.vcpus),
                "memory_mb": int(flavor.ram),
                "disk_gb": int(flavor.disk),
                "affinity": want.affinity,
                "resource_properties": "",
            }
        ],
        "events": [],
    }


def create(conn: Connection, body: dict[str, Any]) -> dict[str, Any]:
    """POST /leases; the created lease. CxopsError with Blazar's own reason when it refuses."""
    resp = _call(conn, "POST", "/leases", json=body)
    _down_if_gateway(resp, "POST /leases")
    if resp.status_code not in (200, 201, 202):
        raise CxopsError(
            f"the reservation service refused lease {body['name']} ({body['reservations'][0]['amount']} instances, "
            f"{body['start_date']} to {body['end_date']}): HTTP {resp.status_code} {_refusal(resp)}"
        )
    return dict(resp.json()["lease"])


def wait_active(conn: Connection, lease_id: str, timeout: float = ACTIVE_TIMEOUT_S) -> dict[str, Any]:
    """Poll the lease (backoff 0.5 s to 10 s) until ACTIVE; returns it. CxopsError when it ends, errs or vanishes,
    or after `timeout` seconds (the message says its last status)."""
    last: dict[str, Any] | None = None
    for delay in backoff_delays(timeout, first=0.5, factor=1.6, cap=10.0):
        last = get_lease(conn, lease_id)
        if last is None:
            raise CxopsError("the lease disappeared while starting")
        status = str(last.get("status", "?")).upper()
        if status == "ACTIVE":
            return last
        if status in LEASE_OVER:
            raise CxopsError(f"the lease went {status} instead of ACTIVE")
        time.sleep(delay)
    said = str((last or {}).get("status", "?"))
    raise CxopsError(f"the lease is still {said} after {timeout:g}s, not ACTIVE")


def end(conn: Connection, lease_id: str) -> bool:
    """DELETE /leases/{id}: True when ended now, False when it was already gone (404)."""
    resp = _call(conn, "DELETE", f"/leases/{lease_id}")
    _down_if_gateway(resp, f"DELETE /leases/{lease_id}")
    if resp.status_code == 404:
        return False
    if resp.status_code not in (200, 202, 204):
        raise CxopsError(f"the reservation service refused to end lease {lease_id}: {_refusal(resp)}")
    return True


# --- the record of a lease cxops created (beside Terraform's state, git-ignored) ---


def recorded(workdir: Path) -> dict[str, Any] | None:
    """The lease cxops created for this module directory: {lease_id, reservation_id, name, cloud}, or None."""
    path = workdir / STATE_FILE
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text()))


def record(workdir: Path, lease: dict[str, Any], cloud: str) -> dict[str, Any]:
    """Remember that cxops created `lease` (written before waiting for it, so an interrupted apply still knows)."""
    entry = {
        "lease_id": lease["id"],
        "reservation_id": instance_reservation(lease)["id"],
        "name": lease.get("name"),
        "cloud": cloud,
        "created_by": "cxops",
    }
    path = workdir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry, indent=2) + "\n")
    tmp.replace(path)
    return entry


def forget(workdir: Path) -> None:
    """Drop the record (the lease is ended or gone)."""
    (workdir / STATE_FILE).unlink(missing_ok=True)


def effective_reservation(config: Config, workdir: Path) -> str | None:
    """The reservation every node boots in: cloud.lease.reservation_id, else the one of the lease cxops created."""
    if config.cloud.lease.reservation_id is not None:
        return config.cloud.lease.reservation_id
    if config.cloud.lease.create is None:
        return None
    found = recorded(workdir)
    return str(found["reservation_id"]) if found else None


def create_for_apply(conn: Connection, config: Config, workdir: Path, flavors: dict[str, Any]) -> dict[str, Any]:
    """Create the lease cloud.lease.create asks for, record it, wait until it is ACTIVE and judge it against the plan
    (cxops.infra.preflight.judge_reservation); returns the record. A lease that does not become usable is ended
    again and forgotten (CxopsError says so), except one that starts later: kept, recorded, and the error says when
    to apply again."""
    from cxops.infra.preflight import judge_reservation, lease_flavor

    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    body = request_body(config, flavors[lease_flavor(config)], now)
    lease = create(conn, body)
    entry = record(workdir, lease, conn.config.name)
    name = f"{lease.get('name')} ({lease['id']})"
    try:
        if body["start_date"] != "now":
            seen = get_lease(conn, lease["id"]) or lease
            if str(seen.get("status", "")).upper() in LEASE_NOT_YET:
                raise LeaseLater(
                    f"created lease {name}; it starts {body['start_date']} UTC and is kept (recorded in "
                    f"{workdir / STATE_FILE}): run `cxops infra apply` again once it has started, or "
                    "`cxops infra destroy` to end it"
                )
        active = wait_active(conn, lease["id"])
        check = judge_reservation(config, active, instance_reservation(active), flavors, created=True)
        if not check.ok:
            raise CxopsError(f"reservation: {check.detail} ({check.instead})")
    except LeaseLater:
        raise
    except (CxopsError, KeyboardInterrupt) as exc:
        said = undo(conn, workdir, entry)
        raise CxopsError(f"lease {name} cannot boot the cluster: {exc}; {said}") from None
    return entry


class LeaseLater(CxopsError):
    """The lease cxops created starts later: kept and recorded, apply again once it has started."""


def undo(conn: Connection, workdir: Path, entry: dict[str, Any]) -> str:
    """End a lease this run created and forget it; returns what happened, for the error line."""
    try:
        gone = end(conn, str(entry["lease_id"]))
    except CxopsError as exc:
        return f"ending it failed ({exc}): it stays recorded in {workdir / STATE_FILE}; `cxops infra destroy` ends it"
    forget(workdir)
    return "ended it again, nothing else was created" if gone else "it was already gone, nothing else was created"
