"""Seed the local OpenStack (run by lab.py with Debian's Python and openstacksdk; idempotent).

Stage `identity`: service project/role/users, the catalog, the tester's project and user.
Stage `cloud`: flavors, an image, networks and a router, quotas, a keypair, the tester's application
credential, and clouds.yaml.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from datetime import UTC, datetime

import openstack
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from openstack_lab.layout import (
    ADMIN_CLOUD_NAME,
    CLOUD_NAME,
    CLOUD_PROJECT,
    CLOUD_USER,
    COMPUTE_HOSTS,
    PORTS,
    REGION,
    SERVICE_USERS,
    Layout,
    hypervisor_name,
)

AUTH_URL = f"http://127.0.0.1:{PORTS['keystone']}/v3"
CATALOG = {
    # service name: (type, url)
    "nova": ("compute", f"http://127.0.0.1:{PORTS['nova']}/v2.1"),
    "placement": ("placement", f"http://127.0.0.1:{PORTS['placement']}"),
    "neutron": ("network", f"http://127.0.0.1:{PORTS['neutron']}"),
    "glance": ("image", f"http://127.0.0.1:{PORTS['glance']}"),
    "cinderv3": ("volumev3", f"http://127.0.0.1:{PORTS['cinder']}/v3/%(project_id)s"),
    "cinder": ("block-storage", f"http://127.0.0.1:{PORTS['cinder']}/v3/%(project_id)s"),
    "octavia": ("load-balancer", f"http://127.0.0.1:{PORTS['octavia']}"),
    "swift": ("object-store", f"http://127.0.0.1:{PORTS['swift']}/v1/AUTH_%(project_id)s"),
}
FLAVORS = {  # name: (vcpus, ram MB, disk GB)
    "m1.tiny": (1, 512, 1),
    "m1.small": (1, 2048, 20),
    "m1.medium": (2, 4096, 40),
    "m1.large": (4, 8192, 80),
}
IMAGE = "cxops-lab-debian12"
KEYPAIR = "cxops-lab-key"
QUOTAS = {"instances": 20, "cores": 64, "ram": 131072}
NET_QUOTAS = {"floatingip": 10, "security_group": 20, "port": 100, "network": 10, "router": 5}
VOLUME_QUOTAS = {"volumes": 20, "gigabytes": 1000}


def log(msg: str) -> None:
    print(msg, flush=True)


def admin(layout: Layout) -> openstack.connection.Connection:
    return openstack.connect(
        auth_url=AUTH_URL,
        username="admin",
        password=layout.secrets["admin"],
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        identity_api_version="3",
    )


def tester(layout: Layout) -> openstack.connection.Connection:
    return openstack.connect(
        auth_url=AUTH_URL,
        username=CLOUD_USER,
        password=layout.secrets["tester"],
        project_name=CLOUD_PROJECT,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        identity_api_version="3",
    )


def ensure_role(conn, name):
    return conn.identity.find_role(name) or conn.identity.create_role(name=name)


def ensure_project(conn, name, description):
    return conn.identity.find_project(name, domain_id="default") or conn.identity.create_project(
        name=name, domain_id="default", description=description
    )


def ensure_user(conn, name, password, project):
    user = conn.identity.find_user(name, domain_id="default")
    if user is None:
        return conn.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
    return conn.identity.update_user(user, password=password)


def identity(layout: Layout) -> None:
    conn = admin(layout)
    service_project = ensure_project(conn, "service", "OpenStack services")
    admin_role, service_role = ensure_role(conn, "admin"), ensure_role(conn, "service")
    member = ensure_role(conn, "member")
    for name in SERVICE_USERS:
        user = ensure_user(conn, name, layout.secrets[name], service_project)
        conn.identity.assign_project_role_to_user(service_project, user, admin_role)
        # Cinder accepts a delegated (application credential) token only with a service token of this role
        conn.identity.assign_project_role_to_user(service_project, user, service_role)
    existing = {s.name: s for s in conn.identity.services()}
    endpoints = list(conn.identity.endpoints())
    for name, (stype, url) in CATALOG.items():
        svc = existing.get(name) or conn.identity.create_service(name=name, type=stype, enabled=True)
        have = {e.interface for e in endpoints if e.service_id == svc.id}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                conn.identity.create_endpoint(service_id=svc.id, interface=interface, url=url, region_id=REGION)
    project = ensure_project(conn, CLOUD_PROJECT, "cxops tests")
    user = ensure_user(conn, CLOUD_USER, layout.secrets["tester"], project)
    conn.identity.assign_project_role_to_user(project, user, member)
    # Octavia's policy lets a project's members use load balancers only with this role (Chameleon grants it)
    conn.identity.assign_project_role_to_user(project, user, ensure_role(conn, "load-balancer_member"))
    log(f"catalog of {len(CATALOG) + 1} services; project {CLOUD_PROJECT}, user {CLOUD_USER}")


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.2
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(delay)
        delay = min(delay * 1.6, 2.0)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def fresh_computes(conn, since: float) -> set[str]:
    hosts = set()
    for svc in conn.compute.services(binary="nova-compute"):
        stamp = (
            svc.updated_at and datetime.fromisoformat(svc.updated_at.replace("Z", "")).replace(tzinfo=UTC).timestamp()
        )
        if svc.state == "up" and svc.status == "enabled" and stamp and stamp >= since:
            hosts.add(svc.host)
    return hosts


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return (
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        + " cxops-lab"
    )


def cloud(layout: Layout) -> None:
    conn = admin(layout)
    project = conn.identity.find_project(CLOUD_PROJECT, domain_id="default")
    # compute hosts register themselves; the scheduler maps them into cell1 every 2 s
    nodes = {hypervisor_name(h) for h in COMPUTE_HOSTS}
    wait(lambda: {h.name for h in conn.compute.hypervisors()} >= nodes, 180, f"hypervisors {sorted(nodes)}")
    # after a restart the old records are still there: wait for a heartbeat of *this* start (the scheduler's
    # ComputeFilter drops hosts whose last report is stale, and the first report carries the resources)
    since = float(os.environ.get("CXOPS_LAB_UP_SINCE") or 0)
    wait(lambda: fresh_computes(conn, since) >= set(COMPUTE_HOSTS), 180, "every nova-compute to report")
    for name, (vcpus, ram, disk) in FLAVORS.items():
        if conn.compute.find_flavor(name) is None:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
    if conn.image.find_image(IMAGE) is None:
        conn.image.create_image(
            name=IMAGE,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            data=io.BytesIO(b"\0" * (1 << 20)),
            os_distro="debian",
            os_version="12",
        )
    net = conn.network
    public = net.find_network("public")
    if public is None:
        public = net.create_network(
            name="public",
            is_router_external=True,
            is_shared=False,
            provider_network_type="flat",
            provider_physical_network="public",
        )
    if not list(net.subnets(network_id=public.id)):
        net.create_subnet(
            network_id=public.id,
            name="public-subnet",
            ip_version=4,
            cidr="203.0.113.0/24",
            gateway_ip="203.0.113.1",
            is_dhcp_enabled=False,
            allocation_pools=[{"start": "203.0.113.10", "end": "203.0.113.250"}],
        )
    private = net.find_network("cxops-net", project_id=project.id)
    if private is None:
        private = net.create_network(name="cxops-net", project_id=project.id)
    subnet = net.find_subnet("cxops-subnet", project_id=project.id)
    if subnet is None:
        subnet = net.create_subnet(
            network_id=private.id, name="cxops-subnet", ip_version=4, cidr="10.42.0.0/24", project_id=project.id
        )
    router = net.find_router("cxops-router", project_id=project.id)
    if router is None:
        router = net.create_router(
            name="cxops-router", project_id=project.id, external_gateway_info={"network_id": public.id}
        )
        net.add_interface_to_router(router, subnet_id=subnet.id)
    conn.set_compute_quotas(project.id, **QUOTAS)
    conn.set_network_quotas(project.id, **NET_QUOTAS)
    conn.set_volume_quotas(project.id, **VOLUME_QUOTAS)
    if not list(conn.block_storage.types()) or conn.block_storage.find_type("lab") is None:
        conn.block_storage.create_type(name="lab", extra_specs={"volume_backend_name": "fake"})

    user_conn = tester(layout)
    if user_conn.compute.find_keypair(KEYPAIR) is None:
        user_conn.compute.create_keypair(name=KEYPAIR, public_key=public_key())
    user_id = user_conn.current_user_id
    for cred in user_conn.identity.application_credentials(user=user_id):
        if cred.name == "cxops-tests":
            user_conn.identity.delete_application_credential(user_id, cred.id)
    cred = user_conn.identity.create_application_credential(
        user=user_id, name="cxops-tests", description="cxops test suite (local lab)"
    )
    write_clouds_yaml(layout, cred.id, cred.secret)
    log(
        f"{len(FLAVORS)} flavors, image {IMAGE}, networks public + cxops-net, keypair {KEYPAIR}, "
        f"{len(COMPUTE_HOSTS)} hypervisors, application credential cxops-tests"
    )


def write_clouds_yaml(layout: Layout, cred_id: str, cred_secret: str) -> None:
    common = {"region_name": REGION, "interface": "public", "identity_api_version": 3}
    doc = {
        "clouds": {
            CLOUD_NAME: {
                "auth_type": "v3applicationcredential",
                "auth": {
                    "auth_url": AUTH_URL,
                    "application_credential_id": cred_id,
                    "application_credential_secret": cred_secret,
                },
                **common,
            },
            f"{CLOUD_NAME}-password": {
                "auth_type": "password",
                "auth": {
                    "auth_url": AUTH_URL,
                    "username": CLOUD_USER,
                    "password": layout.secrets["tester"],
                    "project_name": CLOUD_PROJECT,
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                **common,
            },
            ADMIN_CLOUD_NAME: {
                "auth_type": "password",
                "auth": {
                    "auth_url": AUTH_URL,
                    "username": "admin",
                    "password": layout.secrets["admin"],
                    "project_name": "admin",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                **common,
            },
        }
    }
    path = layout.clouds_yaml
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    (layout.state / "lab.json").write_text(
        json.dumps(
            {
                "cloud": CLOUD_NAME,
                "admin_cloud": ADMIN_CLOUD_NAME,
                "project": CLOUD_PROJECT,
                "image": IMAGE,
                "keypair": KEYPAIR,
                "network": "cxops-net",
                "external_network": "public",
                "flavors": sorted(FLAVORS),
                "compute_hosts": COMPUTE_HOSTS,
            },
            indent=1,
        )
    )


def main(stage: str) -> None:
    layout = Layout.from_env()
    layout.load_secrets()
    {"identity": identity, "cloud": cloud}[stage](layout)


if __name__ == "__main__":
    main(sys.argv[1])
