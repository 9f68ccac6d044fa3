"""A stand-in for Blazar's lease API (GET /v1/leases), entered in the local OpenStack's real Keystone catalog.

Why a stand-in: no real Blazar runs in scripts/openstack-lab. Debian bookworm packages only its client
(python3-blazarclient 3.5.0), no blazar-manager or blazar-api. The PyPI package blazar 18.0.0 installs in a
virtual environment of its own, but its database migrations do not run on the lab's PostgreSQL: revision
75a74e4539cb reflects the `leases` table through a second connection while the first one's transactional DDL is
still open (it does pass when upgraded in two steps), and revision 02e2f2186d98 runs SQL that quotes a string
literal with double quotes ("physical:host"), which PostgreSQL reads as a column name. Blazar is written against
MySQL; the lab would need a MariaDB server for it alone, plus the blazar-nova scheduler filter in Debian's Nova.

What stays real: Keystone serves the catalog entry (service type `reservation`), so cxops finds the service the
way it finds it on Chameleon and authenticates with the lab's token; Nova holds the reserved flavor the way Blazar
leaves it at reservation time (plugins/flavor: flavor id = reservation id, name `reservation:<id>`, private, with
access for the lease's project). The lease bodies follow Blazar's v1 API: a lease has id, name, status,
start_date, end_date and reservations; a flavor reservation (`flavor:instance`) has amount, status and
resource_properties, the reserved flavor as JSON.

Creating and ending leases (POST /v1/leases, GET and DELETE /v1/leases/{id}) follows openstack/blazar's v1 API and
its checks, re-stated here (no Blazar code is copied): the lease needs name, start_date and end_date ("now" or
"YYYY-MM-DD HH:MM", UTC; the start not in the past, the end after the start; a name not already taken: 409); each
reservation needs resource_type; an instance reservation (`virtual:instance`) needs vcpus, memory_mb, disk_gb,
amount (an integer >= 1), affinity (a boolean or null) and resource_properties; errors come back as
{"error_code", "error_message", "error_name"}. A created lease is CREATING at first, then PENDING until its start
(a start "now": STARTING, then ACTIVE at a later GET, as Blazar's start event runs apart from the API); at creation
the stand-in makes the reserved flavor in the real Nova the way Blazar's instance plugin does (id = reservation id,
name reservation:<id>, the requested size, private to the project) and deletes it when the lease is deleted. What it
cannot do is Blazar's placement of hosts: `capacity` says how many instances the cloud can still reserve.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_NAME = "blazar-stand-in"


LEASE_DATE = "%Y-%m-%d %H:%M"
INSTANCE_FIELDS = ("vcpus", "memory_mb", "disk_gb", "amount", "affinity", "resource_properties")


class Refused(Exception):
    """A request Blazar would refuse: HTTP code, error_name, message."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message


class LeaseApi:
    """Blazar's lease API on 127.0.0.1 (an ephemeral port) for requests carrying a token: GET /v1/leases, POST
    /v1/leases, GET and DELETE /v1/leases/{id}. With `admin` and `project_id`, a created instance reservation gets
    its reserved flavor in Nova; `capacity` = instances that can still be reserved; `start_polls` = GETs of a
    STARTING lease before it is ACTIVE; `fail_start` makes the start event fail (the lease goes ERROR)."""

    def __init__(self, admin: Any = None, project_id: str | None = None) -> None:
        self.leases: list[dict[str, Any]] = []
        self.requests = 0
        self.created: list[dict[str, Any]] = []  # POST bodies accepted
        self.deleted: list[str] = []  # lease ids deleted
        self.capacity = 100
        self.start_polls = 2
        self.fail_start = False
        self.admin, self.project_id = admin, project_id
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve(lambda: api._get(self.path))

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                self._serve(lambda: api._post(self.path, raw))

            def do_DELETE(self) -> None:
                self._serve(lambda: api._delete(self.path))

            def _serve(self, answer) -> None:
                api.requests += 1
                if not self.headers.get("X-Auth-Token"):
                    self._send(401, {"error": "no token"})
                    return
                try:
                    with api._lock:
                        code, body = answer()
                except Refused as r:
                    code, body = r.code, {"error_code": r.code, "error_message": r.message, "error_name": r.name}
                self._send(code, body)

            def _send(self, code: int, body: dict[str, Any] | None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the API ---

    def _find(self, path: str) -> dict[str, Any]:
        lease_id = path.rstrip("/").rsplit("/", 1)[-1]
        for found in self.leases:
            if found["id"] == lease_id:
                return found
        raise Refused(404, "NOT_FOUND", f"Object with {{'lease_id': '{lease_id}'}} not found")

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        if path.rstrip("/") == "/v1/leases":
            return 200, {"leases": self.leases}
        if path.startswith("/v1/leases/"):
            found = self._find(path)
            self._advance(found)
            return 200, {"lease": found}
        raise Refused(404, "NOT_FOUND", f"no {path}")

    def _advance(self, found: dict[str, Any]) -> None:
        """The start event, as Blazar's manager runs it apart from the API: STARTING → ACTIVE (or ERROR)."""
        if found["status"] != "STARTING":
            return
        self._polls[found["id"]] = self._polls.get(found["id"], 0) + 1
        if self._polls[found["id"]] >= self.start_polls:
            found["status"] = "ERROR" if self.fail_start else "ACTIVE"
            for r in found["reservations"]:
                r["status"] = "error" if self.fail_start else "active"

    def _delete(self, path: str) -> tuple[int, None]:
        if not path.startswith("/v1/leases/"):
            raise Refused(404, "NOT_FOUND", f"no {path}")
        found = self._find(path)
        self.leases.remove(found)
        self.deleted.append(found["id"])
        for r in found["reservations"]:
            if self.admin is not None and r.get("flavor_id"):
                flavor = self.admin.compute.find_flavor(r["flavor_id"])
                if flavor is not None:
                    self.admin.compute.delete_flavor(flavor)
        return 204, None

    def _post(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if path.rstrip("/") != "/v1/leases":
            raise Refused(404, "NOT_FOUND", f"no {path}")
        try:
            body = json.loads(raw)
        except ValueError:
            raise Refused(400, "MALFORMED_REQUEST_BODY", "Malformed message body") from None
        if not isinstance(body, dict):
            raise Refused(400, "MALFORMED_REQUEST_BODY", "Malformed message body")
        missing = [k for k in ("name", "start_date", "end_date") if k not in body]
        if missing:
            raise Refused(400, "MISSING_PARAMETER", f"Missing parameter {', '.join(missing)}")
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, second=0, microsecond=0)
        start, end = (_date(body[k], now) for k in ("start_date", "end_date"))
        if start < now:
            raise Refused(400, "INVALID_INPUT", "Start date must be later than current date")
        if end <= start:
            raise Refused(400, "INVALID_INPUT", "End date must be later than start date.")
        if any(found["name"] == body["name"] for found in self.leases):
            raise Refused(409, "LEASE_NAME_ALREADY_EXISTS", f"The lease with name: {body['name']} already exists")
        reservations = body.get("reservations", [])
        for r in reservations:
            _check_reservation(r)
        wanted = sum(int(r["amount"]) for r in reservations)
        if wanted > self.capacity:
            raise Refused(500, "NOT_ENOUGH_HOSTS_AVAILABLE", "Not enough hosts available")
        lease_id = str(uuid.uuid4())
        started = body["start_date"] == "now"
        made = {
            "id": lease_id,
            "name": body["name"],
            "status": "STARTING" if started else "PENDING",
            "start_date": start.isoformat(timespec="microseconds"),
            "end_date": end.isoformat(timespec="microseconds"),
            "project_id": self.project_id,
            "trust_id": uuid.uuid4().hex,
            "reservations": [self._reserve(lease_id, r) for r in reservations],
            "events": [],
        }
        self.leases.append(made)
        self.created.append(body)
        return 201, {"lease": made}

    def _reserve(self, lease_id: str, r: dict[str, Any]) -> dict[str, Any]:
        rid = str(uuid.uuid4())
        out = {
            "id": rid,
            "lease_id": lease_id,
            "resource_id": str(uuid.uuid4()),
            "resource_type": r["resource_type"],
            "status": "pending",
            "missing_resources": False,
            "resources_changed": False,
            "vcpus": int(r["vcpus"]),
            "memory_mb": int(r["memory_mb"]),
            "disk_gb": int(r["disk_gb"]),
            "amount": int(r["amount"]),
            "affinity": r["affinity"],
            "resource_properties": r["resource_properties"],
            "flavor_id": rid,
            "server_group_id": None,
            "aggregate_id": 1,
        }
        if self.admin is not None:
            flavor = self.admin.compute.create_flavor(
                id=rid,
                name=f"reservation:{rid}",
                vcpus=out["vcpus"],
                ram=out["memory_mb"],
                disk=out["disk_gb"],
                is_public=False,
            )
            self.admin.compute.flavor_add_tenant_access(flavor, self.project_id)
            # see reserved_flavor below: no CUSTOM_RESERVATION_<ID> resource, which only Blazar's manager can back
            self.admin.compute.create_flavor_extra_specs(flavor, {"aggregate_instance_extra_specs:reservation": rid})
        return out


def _date(value: Any, now: datetime.datetime) -> datetime.datetime:
    if value == "now":
        return now
    try:
        return datetime.datetime.strptime(str(value), LEASE_DATE)
    except ValueError:
        raise Refused(400, "INVALID_DATE", f"Invalid date format: {value} is not of format {LEASE_DATE}") from None


def _check_reservation(r: Any) -> None:
    """An instance reservation as Blazar's API and instance plugin check it."""
    if not isinstance(r, dict) or "resource_type" not in r:
        raise Refused(400, "MISSING_PARAMETER", "Missing parameter resource_type")
    if r["resource_type"] != "virtual:instance":
        raise Refused(400, "UNSUPPORTED_RESOURCE_TYPE", f"The {r['resource_type']} resource type is not supported")
    missing = sorted(set(INSTANCE_FIELDS) - set(r))
    if missing:
        raise Refused(400, "MISSING_PARAMETER", f"Missing parameter {','.join(missing)}")
    amount = r["amount"]
    if isinstance(amount, bool) or not str(amount).lstrip("-").isdigit() or int(amount) < 1:
        raise Refused(400, "MALFORMED_PARAMETER", f"Malformed parameter amount must be >= 1, got {amount!r}")
    if r["affinity"] not in (None, True, False, "true", "false", "True", "False"):
        raise Refused(400, "MALFORMED_PARAMETER", "Malformed parameter affinity (must be a bool value or None)")
    for k in ("vcpus", "memory_mb", "disk_gb"):
        if isinstance(r[k], bool) or not str(r[k]).isdigit():
            raise Refused(400, "MALFORMED_PARAMETER", f"Malformed parameter {k}")


def lease(
    rid: str, status: str, amount: int, flavor: Any, name: str = "cxops-lease", ends: str = "2030-01-01T00:00:00.000000"
) -> dict[str, Any]:
    """One lease holding one flavor reservation `rid` of `amount` instances of `flavor` (an openstacksdk Flavor)."""
    props = {"name": flavor.name, "vcpus": flavor.vcpus, "ram": flavor.ram, "disk": flavor.disk, "extra_specs": {}}
    return {
        "id": f"lease-of-{rid}",
        "name": name,
        "status": status,
        "start_date": "2026-01-01T00:00:00.000000",
        "end_date": ends,
        "reservations": [
            {
                "id": rid,
                "resource_type": "flavor:instance",
                "status": {"ACTIVE": "active", "PENDING": "pending"}.get(status, "deleted"),
                "amount": amount,
                "flavor_id": rid,
                "resource_properties": json.dumps(props),
            }
        ],
    }


@contextlib.contextmanager
def in_catalog(admin, api: LeaseApi) -> Iterator[None]:
    """The stand-in as the cloud's `reservation` service in Keystone's catalog, removed again on the way out."""
    svc = admin.identity.create_service(name=SERVICE_NAME, type="reservation", enabled=True)
    try:
        for interface in ("public", "internal", "admin"):
            admin.identity.create_endpoint(service_id=svc.id, interface=interface, url=api.url, region_id="RegionOne")
        yield
    finally:
        for e in list(admin.identity.endpoints(service_id=svc.id)):
            admin.identity.delete_endpoint(e)
        admin.identity.delete_service(svc)


@contextlib.contextmanager
def reserved_flavor(admin, project_id: str, rid: str, source) -> Iterator[Any]:
    """The flavor Blazar makes for reservation `rid` of flavor `source`: private, id = rid, reservation:<rid>."""
    flavor = admin.compute.create_flavor(
        id=rid, name=f"reservation:{rid}", vcpus=source.vcpus, ram=source.ram, disk=source.disk, is_public=False
    )
    try:
        admin.compute.flavor_add_tenant_access(flavor, project_id)
        # Blazar also sets resources:CUSTOM_RESERVATION_<ID>=1, which needs the reservation's Placement inventory
        # that only Blazar's manager creates: left out, so the lab's scheduler can place the instances
        admin.compute.create_flavor_extra_specs(flavor, {"aggregate_instance_extra_specs:reservation": rid})
        yield flavor
    finally:
        admin.compute.delete_flavor(flavor)
