"""Networks that collide (issue 26, class 3): the nodes' network, Kubespray's pod range and its service range.

The pod and service ranges are set in cxops.yaml (kubernetes.pod_cidr, kubernetes.service_cidr), rendered into
the inventory's generated group_vars, and no two of the three networks may overlap; a CIDR that is not a
canonical network address (a bare IP, host bits set, not in normal form) is refused as Terraform's own
validation would refuse it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from helpers import REPO, base_config, cli, make_project, merge
from hypothesis import given, settings
from hypothesis import strategies as st

from cxops.config import parse_config
from cxops.errors import ConfigError


def problems(overrides: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(merge(base_config(), overrides), sort_keys=False), "cxops.yaml")
    return info.value.problems


def accepted(overrides: dict) -> bool:
    try:
        parse_config(yaml.safe_dump(merge(base_config(), overrides), sort_keys=False), "cxops.yaml")
    except ConfigError:
        return False
    return True


def _nodes_in(cidr: str) -> list[dict]:
    hosts = list(ipaddress.ip_network(cidr).hosts())
    return [
        {"name": f"node{i + 1}", "address": str(hosts[10 + i]), "role": "control" if i == 0 else "worker"}
        for i in range(3)
    ]


def test_a_node_network_inside_the_pod_range_is_refused_by_config_check(tmp_path: Path):
    """Kubespray's default pod range is 10.233.64.0/18; a node network inside it was accepted."""
    config = make_project(tmp_path, {"cloud": {"network_cidr": "10.233.70.0/24", "nodes": _nodes_in("10.233.70.0/24")}})
    res = cli(config, "config", "check", timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "cloud.network_cidr 10.233.70.0/24 overlaps kubernetes.pod_cidr 10.233.64.0/18" in res.stderr


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            {"kubernetes": {"pod_cidr": "192.168.0.0/16"}},
            "cloud.network_cidr 192.168.1.0/24 overlaps kubernetes.pod_cidr",
        ),
        (
            {"kubernetes": {"service_cidr": "10.233.64.0/20"}},
            "kubernetes.pod_cidr 10.233.64.0/18 overlaps kubernetes.service_cidr",
        ),
        ({"kubernetes": {"pod_cidr": "10.244.0.7/16"}}, "'10.244.0.7/16' is not a canonical network address"),
        ({"kubernetes": {"service_cidr": "10.96.0.1"}}, "'10.96.0.1' is an address, not a network"),
        ({"cloud": {"network_cidr": "192.168.1.9/24"}}, "'192.168.1.9/24' is not a canonical network address"),
        ({"cloud": {"network_cidr": "192.168.1.0"}}, "'192.168.1.0' is an address, not a network"),
        ({"cloud": {"ssh_allowed_cidrs": ["198.51.100.7/24"]}}, "write 198.51.100.0/24"),
        ({"kubernetes": {"pod_cidr": "10.244.0.0/24"}}, "must be an IPv4 network from /8 to /22"),
    ],
)
def test_colliding_or_non_canonical_networks_are_one_line_naming_them(overrides, needle):
    msgs = problems(overrides)
    assert len(msgs) == 1 and needle in msgs[0], msgs


def test_pod_and_service_ranges_are_rendered_into_the_inventory_group_vars(tmp_path: Path):
    from cxops.cluster import inventory_files as inventory

    cfg = parse_config(
        yaml.safe_dump(
            merge(base_config(), {"kubernetes": {"pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/16"}})
        )
    )
    data = yaml.safe_load(inventory.render_vars(cfg, tmp_path))
    assert data["kube_pods_subnet"] == "10.244.0.0/16" and data["kube_service_addresses"] == "10.96.0.0/16"


def test_no_static_group_vars_override_the_rendered_ranges():
    """group_vars/k8s_cluster outranks group_vars/all in Ansible: a value there would silently win."""
    for path in (REPO / "ansible" / "inventory" / "cxops" / "group_vars").rglob("*.yml"):
        data = yaml.safe_load(path.read_text()) or {}
        assert not {"kube_pods_subnet", "kube_service_addresses"} & set(data), path


octets = st.integers(0, 255)


@st.composite
def networks(draw, low: int, high: int) -> str:
    address = ".".join(str(draw(octets)) for _ in range(4))
    return str(ipaddress.ip_network(f"{address}/{draw(st.integers(low, high))}", strict=False))


@settings(max_examples=120, deadline=None)
@given(pods=networks(8, 22), services=networks(12, 24))
def test_property_ranges_are_accepted_exactly_when_the_three_networks_are_disjoint(pods, services):
    nodes = ipaddress.ip_network(base_config()["cloud"]["network_cidr"])
    p, s = ipaddress.ip_network(pods), ipaddress.ip_network(services)
    disjoint = not (p.overlaps(s) or p.overlaps(nodes) or s.overlaps(nodes))
    assert accepted({"kubernetes": {"pod_cidr": pods, "service_cidr": services}}) == disjoint


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(
        st.builds(
            lambda a, b, c, d, n: f"{a}.{b}.{c}.{d}/{n}",
            octets,
            octets,
            octets,
            octets,
            st.integers(8, 22),
        ),
        st.builds(lambda a, b: f"10.{a}.{b}.0", octets, octets),
        st.text(st.sampled_from("0123456789./ :"), max_size=20),
    )
)
def test_property_a_cidr_is_accepted_only_in_canonical_form(text):
    from cxops.config.schema import ipv4_network

    try:
        canonical = str(ipaddress.IPv4Network(text, strict=True)) == text
    except ValueError:
        canonical = False
    try:
        ipv4_network(text)
    except ValueError as exc:
        assert not canonical and repr(text) in str(exc)
        return
    assert canonical
