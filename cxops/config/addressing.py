"""The private network's address plan: gateway, DHCP pool, the rules every node's fixed address must follow, and
the rule for the operator's own address. Configuration rules, so the schema checks them; cxops/infra uses them too.

The same plan is written into tf/modules/network (gateway = first host, DHCP pool = upper half of the subnet), so a
fixed address that passes here cannot collide with the router, a DHCP port or another node in Neutron.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cxops.config.schema import Cloud


def gateway(cidr: str) -> ipaddress.IPv4Address:
    """The subnet's gateway (the router's interface): the first host address, Neutron's default."""
    return next(_v4(cidr).hosts())


def _v4(cidr: str) -> ipaddress.IPv4Network:
    """The subnet as IPv4 (the schema accepts only IPv4 CIDRs for the private network)."""
    return ipaddress.IPv4Network(cidr)


def dhcp_pool(cidr: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last address of the DHCP allocation pool: the upper half of the subnet, broadcast excluded."""
    net = _v4(cidr)
    upper = list(net.subnets(prefixlen_diff=1))[1]
    return upper.network_address, upper.broadcast_address - 1


def fixed_range(cidr: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last address a node may take: after the gateway, below the DHCP pool."""
    return gateway(cidr) + 1, dhcp_pool(cidr)[0] - 1


def check_nodes(cloud: Cloud) -> None:
    """Raise ValueError naming the first bad node and what would be valid; returns None when the plan is sound."""
    nodes = cloud.nodes
    if not nodes:
        raise ValueError("nodes is empty: list at least one node with role: control")
    names = Counter(n.name for n in nodes)
    if dup := [k for k, c in names.items() if c > 1]:
        raise ValueError(f"node names must be unique, got {', '.join(dup)} more than once")
    addresses = Counter(n.address for n in nodes)
    if dup := [k for k, c in addresses.items() if c > 1]:
        users = [n.name for n in nodes if n.address in dup]
        raise ValueError(f"nodes {', '.join(users)} share address {dup[0]}: every node needs its own")
    net = _v4(cloud.network_cidr)
    first, last = fixed_range(cloud.network_cidr)
    valid = f"use {first}-{last}"
    for n in nodes:
        ip = ipaddress.ip_address(n.address)
        if not isinstance(ip, ipaddress.IPv4Address) or ip not in net:
            raise ValueError(f"node {n.name} address {n.address} is outside network_cidr {net} ({valid})")
        if ip == net.network_address or ip == net.broadcast_address:
            raise ValueError(
                f"node {n.name} address {n.address} is the network or broadcast address of {net} ({valid})"
            )
        if ip == gateway(cloud.network_cidr):
            raise ValueError(f"node {n.name} address {n.address} is the subnet's gateway (the router) ({valid})")
        if ip > last:
            lo, hi = dhcp_pool(cloud.network_cidr)
            raise ValueError(f"node {n.name} address {n.address} is in the DHCP pool {lo}-{hi} ({valid})")
    controls = [n.name for n in nodes if n.role == "control"]
    if not controls:
        raise ValueError("at least one node must have role: control")
    if len(controls) % 2 == 0:  # the control nodes are the etcd members: an even count adds no fault tolerance
        raise ValueError(
            f"the control nodes ({', '.join(controls)}) also run etcd, whose quorum needs an odd count: "
            f"use {len(controls) - 1} or {len(controls) + 1}"
        )
    if cloud.flavors.gpu is None and (gpu := [n.name for n in nodes if n.role == "gpu"]):
        raise ValueError(
            f"node(s) {', '.join(gpu)} have role gpu but cloud.flavors.gpu is unset "
            "(set it to a GPU flavor; `cxops cloud gpus` lists them)"
        )


def check_address(value: str) -> ipaddress.IPv4Address:
    """The address as IPv4Address; ValueError when it is not one host that could reach the cloud (IPv6, loopback,
    link-local, multicast, unspecified: the security group rules are IPv4 and a host is a /32)."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (give your public IPv4 address, e.g. 203.0.113.7)") from None
    if ip.version != 4:
        raise ValueError(f"{value!r} is IPv6; the security group rules are IPv4 (give your public IPv4 address)")
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise ValueError(f"{value!r} cannot be the address the cloud sees you from (give your public IPv4 address)")
    return ip
