"""The operator's provisioning path for real: tf/ with the real OpenStack provider against the local OpenStack.

What runs: the provider built by scripts/install-go-tools (terraform-provider-openstack 3.4.0, the version tf/ pins),
installed by the embedded Terraform's own `init` from a filesystem mirror; `cxops infra …` in a project laid out as
docs/provisioning.md tells a user to: cxops.yaml and clouds.yaml (one entry, an application credential, as a cloud's
dashboard hands it out) in the repository root, tf/ beside them, commands run from the root. The only test-side
setting is TF_CLI_CONFIG_FILE, pointing Terraform at that mirror in place of the public registry (and
CXOPS_TERRAFORM=embedded, docs/architecture.md, so the pinned Terraform runs rather than whatever is on PATH).
No OS_CLIENT_CONFIG_FILE, no OS_CLOUD: the provider must find the clouds.yaml the way cxops hands it over (P1).
After each stage openstacksdk (the test's own connections, not the product's) says what exists in each service.

What the local OpenStack cannot serve, so it is not exercised here:
- Blazar (Chameleon's reservation service): the second apply runs inside a lease cxops creates (cloud.lease.create)
  through tests/openstack/blazar_stand_in.py (its docstring says why no real Blazar runs here), entered in the lab's
  real Keystone catalog, which makes the reserved flavor in the real Nova as Blazar makes it; the preflight reads the
  lease, destroy ends it,
  and every node is created by the real provider with flavor reservation:<id> and the `reservation` scheduler hint
  (Nova accepts the hint; without Blazar's scheduler filter it places nothing);
- the load balancers' data plane: the public entry (tf/modules/gateway) is created by the real provider in the real
  Octavia API (Debian's octavia-api) with the lab's provider driver (scripts/openstack_lab/pylib/cxops_lab_octavia.py:
  Octavia's no-op driver that reports every object ACTIVE, as a provider does once its amphorae are configured); no
  amphora forwards packets and no health monitor probes a NodePort, so the test checks what Octavia records;
- the guests themselves: the lab's hypervisor is a fake driver whose instances run their user data in a sandbox, the
  data volume's attachment is Cinder/Nova bookkeeping (no block device) and ports stay DOWN (no L2 agent), so the
  test checks what the APIs record (flavor, image, key, user data, addresses, attachment), not a booted guest.

The stand-in module (tests/fixtures/tf_stand_in, tests/integration/test_infra_runner.py) is still what exercises an
apply interrupted mid-way and a failing apply: neither can be provoked on demand with the real provider and the
lab (no slow or failing resource to order), and those tests are about the runner, not the cloud.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO
from tfhelpers import go_tools

from tests.openstack.blazar_stand_in import LeaseApi, in_catalog

pytestmark = [pytest.mark.openstack, pytest.mark.timeout(1800)]

PROJECT, SUFFIX = "cxops-e2e", "p1"
OPERATOR = "203.0.113.7"  # a documentation address (RFC 5737): SSH and the API open to it only
NODES = {"node1": ("192.168.1.11", "control"), "node2": ("192.168.1.12", "worker"), "node3": ("192.168.1.13", "worker")}
FLAVORS = {"control": "m1.small", "worker": "m1.tiny"}
RESOLVERS = ["8.8.8.8", "1.1.1.1"]  # cloud.dns_nameservers' default (P3)
NODE_PORTS = {"http": 30080, "https": 30443}  # kubernetes.gateway_node_port, gateway_tls_node_port (defaults)
GATEWAY_VIP = "192.168.1.10"  # the subnet's tenth host: the public entry's load balancer
CXOPS = str(Path(sys.executable).parent / "cxops")
# tf/ files a user's clone has; generated or machine-local files are left out of the copy
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".terraform", "*.tfstate*", "cxops.auto.tfvars.json", "operator.auto.tfvars.json", "cxops.tfplan", "*.lock.hcl"
)


def name(what: str) -> str:
    return f"{PROJECT}-{what}-{SUFFIX}"


@pytest.fixture(scope="module")
def terraformrc() -> str:
    return go_tools()["terraformrc"]


def user_project(root: Path, lab: dict[str, Any], with_clouds_yaml: bool = True, **cloud: Any) -> Path:
    """A clone as the docs leave it: cxops.yaml for the lab, tf/, clouds.yaml (the lab user's entry) at the root;
    `cloud` overrides keys of cxops.yaml's cloud section."""
    root.mkdir(parents=True)
    (root / "home").mkdir()
    shutil.copytree(REPO / "tf", root / "tf", ignore=NOT_IN_A_CLONE)
    cfg = yaml.safe_load((REPO / "cxops.yaml").read_text())
    cfg["project"].update({"name": PROJECT, "suffix": SUFFIX})
    cfg["cloud"].update(
        {
            "name": lab["cloud"],
            "image": lab["image"],
            "key_pair": lab["keypair"],
            "external_network": lab["external_network"],
            "flavors": FLAVORS,
            "nodes": [{"name": n, "address": a, "role": r} for n, (a, r) in NODES.items()],
            "ssh_user": "debian",
            "data_volume_gb": 1,
            **cloud,
        }
    )
    (root / "cxops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if with_clouds_yaml:
        clouds = yaml.safe_load(Path(lab["clouds_yaml"]).read_text())["clouds"]
        (root / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {lab["cloud"]: clouds[lab["cloud"]]}}))
    return root


def run(root: Path, terraformrc: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`cxops ARGS` from the project root with a user's environment (nothing of the test process leaks in)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
        "TF_CLI_CONFIG_FILE": terraformrc,  # the filesystem mirror: the public registry's stand-in
        "CXOPS_TERRAFORM": "embedded",
    }
    started = time.monotonic()
    res = subprocess.run([CXOPS, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(f"cxops {' '.join(args)}: exit {res.returncode} in {time.monotonic() - started:.0f}s\n")
    return res


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


def project_resources(conn) -> dict[str, list[str]]:
    """Everything of this project in each service, by the names tf/ gives (the volume listed separately)."""
    prefix, tail = f"{PROJECT}-", f"-{SUFFIX}"
    mine = lambda n: bool(n) and n.startswith(prefix) and n.endswith(tail)  # noqa: E731
    return {
        "networks": [n.name for n in conn.network.networks() if mine(n.name)],
        "subnets": [s.name for s in conn.network.subnets() if mine(s.name)],
        "routers": [r.name for r in conn.network.routers() if mine(r.name)],
        "security_groups": [g.name for g in conn.network.security_groups() if mine(g.name)],
        "ports": [p.name for p in conn.network.ports() if mine(p.name)],
        "floating_ips": [f.floating_ip_address for f in conn.network.ips() if mine(f.description)],
        "servers": [s.name for s in conn.compute.servers() if mine(s.name)],
        "load_balancers": [lb.name for lb in conn.load_balancer.load_balancers() if mine(lb.name)],
        "volumes": [v.name for v in conn.block_storage.volumes() if mine(v.name)],
    }


def ingress(conn, group_id: str) -> set[tuple]:
    return {
        (r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix, r.remote_group_id)
        for r in conn.network.security_group_rules(security_group_id=group_id, direction="ingress")
    }


def check_cluster(conn, admin, lab: dict[str, Any], flavor: str | None = None) -> dict[str, Any]:
    """Assert what every service holds for a built cluster (every node of `flavor` when given, else FLAVORS by role);
    returns ids (servers by node, volume, floating IP)."""
    net = conn.network.find_network(name("net"), ignore_missing=False)
    [subnet] = list(conn.network.subnets(network_id=net.id))
    assert (subnet.name, subnet.cidr, subnet.gateway_ip, subnet.is_dhcp_enabled) == (
        name("subnet"),
        "192.168.1.0/24",
        "192.168.1.1",
        True,
    )
    assert subnet.dns_nameservers == RESOLVERS  # P3
    assert subnet.allocation_pools == [{"start": "192.168.1.128", "end": "192.168.1.254"}]

    router = conn.network.find_router(name("router"), ignore_missing=False)
    external = conn.network.find_network(lab["external_network"], ignore_missing=False)
    assert router.external_gateway_info["network_id"] == external.id
    [interface] = list(conn.network.ports(device_id=router.id, device_owner="network:router_interface"))
    assert interface.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "192.168.1.1"}]

    groups = {
        g: conn.network.find_security_group(name(g), ignore_missing=False) for g in ("cluster", "ssh", "api", "http")
    }
    operator = f"{OPERATOR}/32"
    assert ingress(conn, groups["cluster"].id) == {(None, None, None, None, groups["cluster"].id)}
    assert ingress(conn, groups["ssh"].id) == {("tcp", 22, 22, operator, None)}
    assert ingress(conn, groups["api"].id) == {("tcp", 6443, 6443, operator, None)}
    # the gateway's NodePorts on every node, to the private subnet only: the load balancer's side (K4)
    assert ingress(conn, groups["http"].id) == {
        ("tcp", 30080, 30080, "192.168.1.0/24", None),
        ("tcp", 30443, 30443, "192.168.1.0/24", None),
    }

    image = conn.image.find_image(lab["image"], ignore_missing=False)
    servers: dict[str, str] = {}
    for node, (address, role) in NODES.items():
        port = conn.network.find_port(name(node), ignore_missing=False)
        assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": address}]
        expected_groups = {groups["cluster"].id, groups["http"].id}  # http: the NodePorts, on every node
        expected_groups |= {groups["api"].id} if role == "control" else set()
        if node == "node1":
            expected_groups |= {groups["ssh"].id}
        assert set(port.security_group_ids) == expected_groups, node
        server = admin.compute.get_server(port.device_id)  # admin: user data is shown to admins only
        assert (server.name, server.status) == (name(node), "ACTIVE")
        assert server.flavor["original_name"] == (flavor or FLAVORS[role])
        assert (server.image.id, server.key_name) == (image.id, lab["keypair"])
        assert server.metadata == {"cxops_project": f"{PROJECT}-{SUFFIX}", "cxops_role": role}
        user_data = yaml.safe_load(base64.b64decode(server.user_data))
        assert (user_data["hostname"], user_data["write_files"][0]["path"]) == (node, "/etc/hosts")
        assert "192.168.1.13 node3" in user_data["write_files"][0]["content"]
        keypair = conn.compute.find_keypair(lab["keypair"], ignore_missing=False)
        assert user_data["ssh_authorized_keys"] == [keypair.public_key.strip()]
        servers[node] = server.id

    [fip] = [f for f in conn.network.ips() if f.description == name("entry")]
    entry_port = conn.network.find_port(name("node1"), ignore_missing=False)
    assert (fip.port_id, fip.fixed_ip_address) == (entry_port.id, "192.168.1.11")
    assert fip.floating_network_id == external.id

    volume = conn.block_storage.find_volume(name("data"), ignore_missing=False)
    assert (volume.size, volume.status) == (1, "in-use")
    assert [a["server_id"] for a in volume.attachments] == [servers["node1"]]
    gateway_ip = check_gateway(conn, subnet.id, external.id)
    return {"servers": servers, "volume": volume.id, "floating_ip": fip.floating_ip_address, "gateway_ip": gateway_ip}


def check_gateway(conn, subnet_id: str, external_id: str) -> str:
    """Assert the public entry in Octavia and Neutron: the load balancer on its VIP port, listeners TCP 80/443 open to
    http_allowed_cidrs, PROXY pools with every node's NodePort as a member, a TCP health monitor per pool, and a
    floating IP of its own on the VIP; returns that floating IP."""
    lb_api = conn.load_balancer
    vip = conn.network.find_port(name("gateway-vip"), ignore_missing=False)
    assert vip.fixed_ips == [{"subnet_id": subnet_id, "ip_address": GATEWAY_VIP}]
    [lb] = [b for b in lb_api.load_balancers() if b.name == name("gateway")]
    assert (lb.vip_address, lb.vip_port_id, lb.vip_subnet_id) == (GATEWAY_VIP, vip.id, subnet_id)
    assert (lb.provisioning_status, lb.provider) == ("ACTIVE", "lab")
    listeners = {li.name: li for li in lb_api.listeners() if li.load_balancers == [{"id": lb.id}]}
    assert {n: (li.protocol, li.protocol_port, li.allowed_cidrs) for n, li in listeners.items()} == {
        name("gateway-http"): ("TCP", 80, ["0.0.0.0/0"]),
        name("gateway-https"): ("TCP", 443, ["0.0.0.0/0"]),
    }
    every_node = {address for address, _ in NODES.values()}
    for key, node_port in NODE_PORTS.items():
        listener = listeners[name(f"gateway-{key}")]
        pool = lb_api.get_pool(listener.default_pool_id)
        assert pool.name == name(f"gateway-{key}")
        assert (pool.protocol, pool.lb_algorithm, pool.provisioning_status) == ("PROXY", "ROUND_ROBIN", "ACTIVE")
        assert pool.listeners == [{"id": listener.id}] and listener.default_pool_id == pool.id
        members = {(m.address, m.protocol_port, m.subnet_id, m.provisioning_status) for m in lb_api.members(pool)}
        assert members == {(a, node_port, subnet_id, "ACTIVE") for a in every_node}, key
        monitor = lb_api.get_health_monitor(pool.health_monitor_id)
        assert (monitor.type, monitor.delay, monitor.timeout, monitor.max_retries) == ("TCP", 5, 3, 2)
        assert monitor.pools == [{"id": pool.id}]
    [fip] = [f for f in conn.network.ips() if f.description == name("gateway")]
    assert (fip.port_id, fip.fixed_ip_address, fip.floating_network_id) == (vip.id, GATEWAY_VIP, external_id)
    return fip.floating_ip_address


def only_the_volume_is_left(conn) -> None:
    left = project_resources(conn)
    assert left == {**{key: [] for key in left}, "volumes": [name("data")]}, left
    volume = conn.block_storage.find_volume(name("data"), ignore_missing=False)
    assert (volume.status, volume.attachments) == ("available", [])


def test_preflight_plan_apply_inventory_apply_in_a_lease_destroy(
    tmp_path: Path, openstack_lab, conn, admin_conn, terraformrc
):
    root = user_project(tmp_path / "clone", openstack_lab)
    assert not any(project_resources(conn).values())

    res = ok(run(root, terraformrc, "infra", "preflight"))
    assert "FAIL" not in res.stdout and "quota floating_ips" in res.stdout

    res = ok(run(root, terraformrc, "infra", "plan", "--operator-address", OPERATOR))
    assert "plan: 35 to add, 0 to change, 0 to destroy" in res.stdout, res.stdout
    assert not any(project_resources(conn).values())  # a plan creates nothing

    res = ok(run(root, terraformrc, "infra", "apply", "--operator-address", OPERATOR))
    assert "apply: 35 to add, 0 to change, 0 to destroy" in res.stdout, res.stdout
    first = check_cluster(conn, admin_conn, openstack_lab)
    assert first["floating_ip"] in res.stdout and "(created here, protected)" in res.stdout

    outputs = json.loads(ok(run(root, terraformrc, "infra", "output", "--json")).stdout)
    assert {n: v["id"] for n, v in outputs["nodes"].items()} == first["servers"]
    assert {n: v["address"] for n, v in outputs["nodes"].items()} == {n: a for n, (a, _) in NODES.items()}
    assert (outputs["floating_ip"], outputs["data_volume_id"]) == (first["floating_ip"], first["volume"])
    assert (outputs["gateway_ip"], outputs["gateway_address"]) == (first["gateway_ip"], GATEWAY_VIP)

    ok(run(root, terraformrc, "infra", "inventory"))
    inventory = root / "ansible" / "inventory" / "cxops"
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())["all"]
    assert hosts["hosts"]["node1"]["data_volume_id"] == first["volume"]
    assert first["floating_ip"] in hosts["vars"]["supplementary_addresses_in_ssl_keys"]  # P6
    assert hosts["vars"]["cxops_gateway_address"] == GATEWAY_VIP  # the nodes pull the registry through the entry
    assert list(hosts["children"]["kube_node"]["hosts"]) == ["node1", "node2", "node3"]  # P5
    ssh_config = (inventory / "ssh_config").read_text()
    assert f"HostName {first['floating_ip']}" in ssh_config
    assert all(f"HostKeyAlias {sid}" in ssh_config for sid in first["servers"].values())  # P4

    res = ok(run(root, terraformrc, "infra", "plan", "--check", "--json", "--operator-address", OPERATOR))
    again = json.loads(res.stdout)
    assert (again["pending"], again["add"], again["change"], again["destroy"]) == (False, 0, 0, 0), again
    assert again["drift"] == []  # what the provider reads back after creating was recorded by apply's refresh

    # The same cluster moved into a Chameleon lease cxops creates (P2, cloud.lease.create): the cloud now has a
    # reservation service (tests/openstack/blazar_stand_in.py says what is a stand-in); apply creates a lease of
    # 3 x m1.tiny, waits until it is ACTIVE, and replaces every node, which must boot with the flavor
    # reservation:<id> Blazar made for it and the `reservation` scheduler hint, the data volume attached to the new
    # entry node; the network, the load balancer and the volume stay. Destroy then ends the lease and keeps the
    # volume. (Before 2026-12-06 a destroy and a whole second cluster came between: about 3 minutes more.)
    cfg = yaml.safe_load((root / "cxops.yaml").read_text())
    cfg["cloud"].update(lease={"create": {"hours": 2}}, flavors={"control": "m1.tiny", "worker": "m1.tiny"})
    (root / "cxops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    project = admin_conn.identity.find_project(openstack_lab["project"], ignore_missing=False)
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(contextlib.closing(LeaseApi(admin_conn, project.id)))
        stack.enter_context(in_catalog(admin_conn, api))
        res = ok(run(root, terraformrc, "infra", "apply", "--operator-address", OPERATOR))
        # the three servers and the volume's attachment replaced; nothing else changes
        assert "apply: 4 to add, 0 to change, 4 to destroy" in res.stdout, res.stdout
        [made] = api.leases
        reservation = made["reservations"][0]["id"]
        assert made["status"] == "ACTIVE" and made["name"] == name("lease"), made
        assert f"lease: created {name('lease')}, reservation {reservation} (ACTIVE)" in res.stderr, res.stderr
        recorded = json.loads((root / "tf" / "cxops-lease.json").read_text())
        assert (recorded["lease_id"], recorded["reservation_id"]) == (made["id"], reservation)
        ignored = subprocess.run(["git", "check-ignore", "-q", "tf/cxops-lease.json"], cwd=REPO, timeout=30)
        assert ignored.returncode == 0  # infra state, never for git
        second = check_cluster(conn, admin_conn, openstack_lab, flavor=f"reservation:{reservation}")
        state = json.loads((root / "tf" / "terraform.tfstate").read_text())
        hints = [
            i["attributes"]["scheduler_hints"]
            for r in state["resources"]
            if r["type"] == "openstack_compute_instance_v2"
            for i in r["instances"]
        ]
        assert hints == [[{**hints[0][0], "additional_properties": {"reservation": reservation}}]] * len(NODES)
        assert second["volume"] == first["volume"]  # the same data, attached to the new entry node
        assert not set(second["servers"].values()) & set(first["servers"].values())
        ok(run(root, terraformrc, "infra", "inventory"))
        ssh_config = (inventory / "ssh_config").read_text()
        assert all(f"HostKeyAlias {sid}" in ssh_config for sid in second["servers"].values())
        assert not any(sid in ssh_config for sid in first["servers"].values())

        res = ok(run(root, terraformrc, "infra", "destroy", "--yes"))
        assert "destroy: 34 destroyed; kept module.storage (1 in state)" in res.stdout, res.stdout
        assert f"lease: {name('lease')} ({made['id']}) ended" in res.stdout, res.stdout
        assert api.leases == [] and api.deleted == [made["id"]]
        assert not (root / "tf" / "cxops-lease.json").exists()
        assert admin_conn.compute.find_flavor(reservation) is None  # Blazar's flavor went with the lease
        only_the_volume_is_left(conn)
    # Deleting the data on purpose, as docs/provisioning.md says: forget it in the state, then delete the volume.
    state_rm = subprocess.run(
        [sys.executable, "-m", "cxops.infra.tf_embedded", "-chdir=tf", "state", "rm", "module.storage"],
        cwd=root,
        env={**os.environ, "TF_CLI_CONFIG_FILE": terraformrc},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert state_rm.returncode == 0, state_rm.stderr
    volume = conn.block_storage.get_volume(first["volume"])  # before the delete: it may be gone at once
    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, wait=120)
    assert not any(project_resources(conn).values())


CLOUDS_YAML_NOT_FOUND = {
    # no clouds.yaml anywhere: before the fix, Terraform's provider said so after init, naming no place
    "nowhere, no preflight": (None, ["--no-preflight"]),
    # only in tf/: the provider (cwd tf/) would find it, openstacksdk (cwd = root) would not; before the fix the
    # preflight said "searched: no clouds.yaml found", and without the preflight the whole cluster was created
    "tf/ only": ("tf", []),
    "tf/ only, no preflight": ("tf", ["--no-preflight"]),
}


@pytest.mark.parametrize("case", list(CLOUDS_YAML_NOT_FOUND))
def test_a_clouds_yaml_the_provider_would_not_find_stops_before_anything_runs(
    tmp_path: Path, openstack_lab, conn, terraformrc, case: str
):
    """A clouds.yaml cxops cannot hand to the provider: one line naming where it looked, exit 1, Terraform never
    started, nothing in the cloud."""
    where, extra = CLOUDS_YAML_NOT_FOUND[case]
    root = user_project(tmp_path / "clone", openstack_lab, with_clouds_yaml=False)
    if where:
        clouds = yaml.safe_load(Path(openstack_lab["clouds_yaml"]).read_text())["clouds"]
        lab_entry = {openstack_lab["cloud"]: clouds[openstack_lab["cloud"]]}
        (root / where / "clouds.yaml").write_text(yaml.safe_dump({"clouds": lab_entry}))
    res = run(root, terraformrc, "infra", "apply", "--operator-address", OPERATOR, *extra)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert f"cloud '{openstack_lab['cloud']}': no clouds.yaml found (looked in {root}, " in lines[0], lines[0]
    assert "~/.config/openstack" in lines[0] and "/etc/openstack" in lines[0]
    assert not (root / "tf" / ".terraform").exists() and not (root / "tf" / "terraform.tfstate").exists()
    assert not any(project_resources(conn).values())
