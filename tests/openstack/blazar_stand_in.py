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
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_NAME = "blazar-stand-in"


class LeaseApi:
    """GET /v1/leases on 127.0.0.1 (an ephemeral port): answers `leases` to a request carrying a token."""

    def __init__(self) -> None:
        self.leases: list[dict[str, Any]] = []
        self.requests = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests += 1
                if not self.headers.get("X-Auth-Token"):
                    self._send(401, {"error": "no token"})
                elif self.path.rstrip("/") == "/v1/leases":
                    self._send(200, {"leases": api.leases})
                else:
                    self._send(404, {"error": f"no {self.path}"})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
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
