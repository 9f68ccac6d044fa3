"""Render the services' config files from templates/ into the state dir."""

from __future__ import annotations

from string import Template

from openstack_lab.layout import HERE, PORTS, REGION, SERVICE_USERS, Layout

KEYSTONE = f"http://127.0.0.1:{PORTS['keystone']}"

# (template, destination under etc/)
FILES = [
    ("keystone.conf", "keystone/keystone.conf"),
    ("keystone-uwsgi.ini", "keystone/uwsgi.ini"),
    ("placement.conf", "placement/placement.conf"),
    ("placement-uwsgi.ini", "placement/uwsgi.ini"),
    ("glance-api.conf", "glance/glance-api.conf"),
    ("neutron.conf", "neutron/neutron.conf"),
    ("ml2_conf.ini", "neutron/ml2_conf.ini"),
    ("cinder.conf", "cinder/cinder.conf"),
    ("nova.conf", "nova/nova.conf"),
    ("octavia.conf", "octavia/octavia.conf"),
    ("octavia-uwsgi.ini", "octavia/uwsgi.ini"),
    ("swift.conf", "swift/swift.conf"),
    ("swift-proxy.conf", "swift/proxy-server.conf"),
    ("swift-account.conf", "swift/account-server.conf"),
    ("swift-container.conf", "swift/container-server.conf"),
    ("swift-object.conf", "swift/object-server.conf"),
]


def _service_auth(layout: Layout, user: str) -> str:
    return "\n".join(
        [
            f"auth_url = {KEYSTONE}",
            "auth_type = password",
            "project_domain_name = Default",
            "user_domain_name = Default",
            "project_name = service",
            f"username = {user}",
            f"password = {layout.secrets[user]}",
            f"region_name = {REGION}",
        ]
    )


def variables(layout: Layout) -> dict[str, str]:
    v = {
        "STATE": str(layout.state),
        "ETC": str(layout.etc),
        "DB_URL": layout.db_url(),
        "TRANSPORT_URL": layout.transport_url(),
        "KEYSTONE_URL": KEYSTONE,
        "SWIFT_HASH": layout.secrets["swift_hash"],
    }
    v.update({f"PORT_{name.upper()}": str(port) for name, port in PORTS.items()})
    for user in SERVICE_USERS:
        auth = _service_auth(layout, user)
        v[f"SERVICE_AUTH_{user}"] = auth
        v[f"AUTHTOKEN_{user}"] = f"www_authenticate_uri = {KEYSTONE}\n{auth}"
    return v


def render_all(layout: Layout) -> None:
    v = variables(layout)
    for template, dest in FILES:
        target = layout.etc / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        text = Template((HERE / "templates" / template).read_text()).substitute(v)
        target.write_text(text)
        target.chmod(0o600)  # holds service passwords
    compute = (HERE / "templates" / "nova-compute.conf").read_text()
    from openstack_lab.layout import COMPUTE_HOSTS

    for host in COMPUTE_HOSTS:
        (layout.etc / "nova" / f"compute-{host}.conf").write_text(Template(compute).substitute(HOST=host))
    for d in (
        "lock/nova",
        "lock/neutron",
        "lock/cinder",
        "lock/glance",
        "lock/octavia",
        "swift/devices/d1",
        "nova/instances",
        "neutron",
        "cinder",
        "glance/images",
        "glance/staging",
        "glance/tasks",
        "glance/cache",
        "keystone",
    ):
        (layout.state / d).mkdir(parents=True, exist_ok=True)
