"""Where the local OpenStack keeps its state, which ports it uses, and what it runs."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's OpenStack runs on Debian's Python, not the project venv's

# CXOPS_LAB_PORT_OFFSET moves every port (e.g. when something else holds 5000, or for a second lab beside the first);
# a state dir keeps the offset it was set up with (Layout.check_port_offset), since its catalog stores the URLs.
PORT_OFFSET = int(os.environ.get("CXOPS_LAB_PORT_OFFSET") or 0)
BASE_PORTS = {
    "keystone": 5000,
    "placement": 8778,
    "nova": 8774,
    "neutron": 9696,
    "glance": 9292,
    "cinder": 8776,
    "octavia": 9876,
    "swift": 8090,
    "swift_object": 6200,
    "swift_container": 6201,
    "swift_account": 6202,
    "postgres": 5433,
    "rabbit": 5672,
    "rabbit_dist": 25672,
    "epmd": 4369,
}
PORTS = {name: port + PORT_OFFSET for name, port in BASE_PORTS.items()}

APT_PACKAGES = [
    "postgresql",
    "rabbitmq-server",
    "uwsgi-plugin-python3",
    "python3-psycopg2",
    "python3-openstackclient",
    "keystone",
    "placement-api",
    "glance-api",
    "neutron-server",
    "neutron-common",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "python3-nova",
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
    "octavia-api",
    # Swift with s3api (in swift-proxy) and s3token; authtoken comes from keystonemiddleware
    "swift-proxy",
    "swift-account",
    "swift-container",
    "swift-object",
    "python3-keystonemiddleware",
    # the sandbox that runs instances' user-data, and `cloud-init schema` for the project's tests
    "debootstrap",
    "cloud-init",
]

SERVICE_USERS = ["nova", "neutron", "glance", "cinder", "placement", "octavia", "swift"]
DATABASES = ["keystone", "placement", "nova_api", "nova", "nova_cell0", "neutron", "glance", "cinder", "octavia"]

# One nova-compute process per lab host. GPU hosts carry fake PCI GPUs (alias V100) or Placement VGPUs,
# so GPU capacity can be measured on a scenario built in the cloud. lab-gpu3's hypervisor is named by an FQDN
# while its compute service host is the short name, as libvirt hosts often are on real clouds.
COMPUTE_HOSTS = {
    "lab-cpu1": {},
    "lab-gpu1": {"CXOPS_LAB_PCI_GPUS": "2"},
    "lab-gpu2": {"CXOPS_LAB_PCI_GPUS": "2"},
    "lab-gpu3": {"CXOPS_LAB_PCI_GPUS": "2", "CXOPS_LAB_NODENAME": "lab-gpu3.lab.example.org"},
    "lab-vgpu1": {"CXOPS_LAB_VGPUS": "4"},
}


def hypervisor_name(host: str) -> str:
    """The hypervisor (compute node) name a lab host reports: its CXOPS_LAB_NODENAME, else the host name."""
    return COMPUTE_HOSTS[host].get("CXOPS_LAB_NODENAME", host)


CLOUD_USER = "cxops-tester"
CLOUD_PROJECT = "cxops"
CLOUD_NAME = "cxops-lab"  # application credential of the tester, as Chameleon users authenticate
ADMIN_CLOUD_NAME = "cxops-lab-admin"
REGION = "RegionOne"


def new_secret() -> str:
    """A random password safe on any command line and in a URL: hex only, so never a leading "-".

    (token_urlsafe's alphabet has "-": one state dir in 64 got an admin password keystone-manage read as an option.)
    """
    return secrets.token_hex(18)


# The sandbox root every lab's instances run their user data in (debootstrap's suite, variant and extra packages). It is
# only ever an overlay's lower layer, so one copy per machine serves every lab: it is built once into the user's
# cache, under a name keyed by this recipe, and reused while the recipe is unchanged.
ROOTFS_RECIPE = ("bookworm", "minbase", "python3,ca-certificates")


def shared_rootfs() -> Path:
    """${XDG_CACHE_HOME:-~/.cache}/cxops/openstack-lab/rootfs-<first 12 hex of the recipe's sha256>."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256("\n".join(ROOTFS_RECIPE).encode()).hexdigest()[:12]
    return cache / "cxops" / "openstack-lab" / f"rootfs-{key}"


@dataclass
class Layout:
    state: Path
    rootfs: Path
    secrets: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Layout:
        state = Path(os.environ.get("CXOPS_OPENSTACK_LAB_DIR") or REPO / ".cxops" / "openstack-lab").resolve()
        rootfs = Path(os.environ.get("CXOPS_LAB_ROOTFS") or shared_rootfs()).resolve()
        return cls(state=state, rootfs=rootfs)

    @property
    def etc(self) -> Path:
        return self.state / "etc"

    @property
    def log(self) -> Path:
        return self.state / "log"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def pgdata(self) -> Path:
        return self.state / "pgdata"

    @property
    def rabbit(self) -> Path:
        return self.state / "rabbit"

    @property
    def sandboxes(self) -> Path:
        return self.state / "sandboxes"

    @property
    def swift(self) -> Path:
        return self.state / "swift"

    @property
    def clouds_yaml(self) -> Path:
        return self.state / "clouds.yaml"

    @property
    def pylib(self) -> Path:
        return HERE / "pylib"

    def load_secrets(self) -> dict[str, str]:
        """Random passwords, made once per state dir and kept there (0600), never printed."""
        path = self.state / "secrets.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        wanted = ["admin", "rabbit", "tester", "swift_hash", *SERVICE_USERS]
        if any(k not in data for k in wanted):
            for k in wanted:
                data.setdefault(k, new_secret())
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data, indent=1))
            path.chmod(0o600)
        self.secrets = data
        return data

    def check_port_offset(self) -> None:
        """The state dir keeps the port offset it was set up with (Keystone's catalog, Nova's cell mapping and
        Swift's rings hold the ports): a different CXOPS_LAB_PORT_OFFSET raises CxopsError in one line."""
        from cxops.errors import CxopsError

        path = self.state / "port-offset"
        if not path.exists():
            path.write_text(f"{PORT_OFFSET}\n")
            return
        made = int(path.read_text().strip() or 0)
        if made != PORT_OFFSET:
            raise CxopsError(
                f"the lab in {self.state} was set up with CXOPS_LAB_PORT_OFFSET={made}, not {PORT_OFFSET} (its "
                f"catalog holds those ports): set it back to {made}, or give a fresh CXOPS_OPENSTACK_LAB_DIR"
            )

    def db_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{PORTS['postgres']}"

    def transport_url(self) -> str:
        return f"rabbit://lab:{self.secrets['rabbit']}@127.0.0.1:{PORTS['rabbit']}/"
