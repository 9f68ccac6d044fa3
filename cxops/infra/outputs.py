"""Terraform outputs of tf/ → a checked description of the cluster (what the inventory and the summary need).

Accepts either `terraform output -json` as printed ({name: {"value": ..., "type": ..., "sensitive": ...}}) or plain
{name: value}. Anything missing or malformed is a one-line CxopsError naming the output and what was expected.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxops.errors import CxopsError

REQUIRED = ("nodes", "entry_node", "floating_ip", "data_volume_id", "ssh_user")
ROLES = ("control", "worker", "gpu")


@dataclass(frozen=True)
class NodeOut:
    """One provisioned node: hostname, instance name and id, fixed private address, role."""

    name: str
    instance: str
    id: str
    address: str
    role: str


@dataclass(frozen=True)
class Cluster:
    """What Terraform built: nodes in hostname order, the entry node (bastion), its floating IP, the data volume."""

    nodes: tuple[NodeOut, ...]
    entry_node: str
    floating_ip: str
    data_volume_id: str
    data_volume_created: bool | None
    ssh_user: str
    # the public entry's load balancer (tf/modules/gateway): private address, public floating IP; None from a state
    # without one
    gateway_address: str | None = None
    gateway_ip: str | None = None

    def by_role(self, *roles: str) -> list[NodeOut]:
        return [n for n in self.nodes if n.role in roles]


def _bad(name: str, problem: str) -> CxopsError:
    return CxopsError(f"terraform output `{name}` {problem} (is the state from tf/? rerun `cxops infra apply`)")


def _ip(name: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except (ValueError, TypeError):
        raise _bad(name, f"is not an IP address: {value!r}") from None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, f"must be a non-empty string, got {value!r}")
    return value


def unwrap(raw: dict[str, Any]) -> dict[str, Any]:
    """{name: value} from either output form."""
    return {k: (v["value"] if isinstance(v, dict) and "value" in v and "type" in v else v) for k, v in raw.items()}


def parse(raw: dict[str, Any]) -> Cluster:
    """Check the outputs and build the Cluster; raises CxopsError naming the first bad or missing output."""
    if not isinstance(raw, dict):
        raise CxopsError(f"terraform outputs must be a JSON object, got {type(raw).__name__}")
    values = unwrap(raw)
    if not values:
        raise CxopsError("no Terraform outputs: nothing is provisioned yet (run `cxops infra apply` first)")
    missing = [k for k in REQUIRED if values.get(k) is None]
    if missing:
        raise _bad(missing[0], "is missing" + (f" (also: {', '.join(missing[1:])})" if missing[1:] else ""))
    nodes_raw = values["nodes"]
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        raise _bad("nodes", f"must be a non-empty map of hostname to node, got {nodes_raw!r}")
    nodes = []
    for name in sorted(nodes_raw):
        n = nodes_raw[name]
        if not isinstance(n, dict):
            raise _bad(f"nodes.{name}", f"must be an object, got {n!r}")
        for key in ("instance", "id", "address", "role"):
            if n.get(key) is None:
                raise _bad(f"nodes.{name}.{key}", "is missing")
        if n["role"] not in ROLES:
            raise _bad(f"nodes.{name}.role", f"must be one of {', '.join(ROLES)}, got {n['role']!r}")
        nodes.append(
            NodeOut(
                name,
                _text(f"nodes.{name}.instance", n["instance"]),
                _text(f"nodes.{name}.id", n["id"]),
                _ip(f"nodes.{name}.address", n["address"]),
                n["role"],
            )
        )
    addresses = [n.address for n in nodes]
    if len(set(addresses)) != len(addresses):
        raise _bad("nodes", f"gives two nodes one address: {addresses}")
    entry = _text("entry_node", values["entry_node"])
    if entry not in nodes_raw or nodes_raw[entry]["role"] != "control":
        raise _bad("entry_node", f"must name a control node of `nodes`, got {entry!r}")
    created = values.get("data_volume_created")
    return Cluster(
        tuple(nodes),
        entry,
        _ip("floating_ip", values["floating_ip"]),
        _text("data_volume_id", values["data_volume_id"]),
        created if isinstance(created, bool) else None,
        _text("ssh_user", values["ssh_user"]),
        *(_ip(k, values[k]) if values.get(k) is not None else None for k in ("gateway_address", "gateway_ip")),
    )


def load_file(path: Path) -> Cluster:
    """Parse recorded `terraform output -json` from a file."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise CxopsError(f"outputs file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise CxopsError(f"outputs file {path} is not JSON: {exc}") from None
    return parse(raw)
