"""The operator's own address: the only source SSH and the Kubernetes API are open to by default.

Resolution order (first that gives one wins): `--operator-address`, `CXOPS_OPERATOR_ADDRESS`,
`cloud.operator_address` in cxops.yaml, the source address of this machine's route to the cloud's identity endpoint
(asked of the kernel with an unconnected UDP socket: nothing is sent), else a prompt when stdin is a terminal. The
result goes to `tf/operator.auto.tfvars.json` (git-ignored: a personal address is nobody else's business), which
Terraform reads after cxops.auto.tfvars.json; each `cxops infra plan|apply` rewrites it, so the rules follow whoever
provisions. Other networks go in cloud.ssh_allowed_cidrs / api_allowed_cidrs.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cxops import generated
from cxops.config.addressing import check_address
from cxops.errors import CxopsError
from cxops.settings import settings

ENV_VAR = "CXOPS_OPERATOR_ADDRESS"
TFVARS_FILE = "operator.auto.tfvars.json"  # sorts after cxops.auto.tfvars.json; holds only operator_cidrs
VARIABLE = "operator_cidrs"
# Networks a machine reaches the internet from only through NAT (RFC 1918 private, RFC 6598 shared/CGNAT)
BEHIND_NAT = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))


def route_source(endpoint_url: str, port: int | None = None) -> ipaddress.IPv4Address | None:
    """Source address the kernel picks for a packet to the endpoint's host (no packet is sent: connect() on a UDP
    socket only selects the route); None when the host does not resolve to IPv4 or there is no route."""
    parts = urlsplit(endpoint_url if "://" in endpoint_url else f"//{endpoint_url}")
    host = parts.hostname
    if not host:
        return None
    try:
        infos = socket.getaddrinfo(host, port or parts.port or 443, socket.AF_INET, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        return None
    for *_, addr in infos:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect(addr)
            except OSError:
                continue
            return ipaddress.IPv4Address(s.getsockname()[0])
    return None


@dataclass(frozen=True)
class Operator:
    """The resolved address and where it came from (flag, env, config, route, prompt)."""

    address: ipaddress.IPv4Address
    source: str

    @property
    def cidr(self) -> str:
        """The /32 network the security group rules name."""
        return f"{self.address}/32"

    @property
    def note(self) -> str:
        """A line for the user; warns when the address is private (behind NAT the cloud sees another one)."""
        line = f"SSH and the Kubernetes API open to {self.cidr} (from {self.source})"
        if any(self.address in net for net in BEHIND_NAT):
            line += "; it is a private address: behind NAT the cloud sees another one (pass --operator-address)"
        return line


def resolve(
    flag: str | None,
    configured: str | None,
    endpoint_url: Callable[[], str | None],
    ask: Callable[[], str] | None,
) -> Operator:
    """The operator's address by the module's order. `endpoint_url` is called only when needed (it may need
    clouds.yaml); `ask` is None when no terminal can answer. Raises CxopsError naming every way to give it."""
    for value, source in (
        (flag, "--operator-address"),
        (settings().operator_address, ENV_VAR),
        (configured, "cxops.yaml"),
    ):
        if value:
            try:
                return Operator(check_address(value.strip()), source)
            except ValueError as exc:
                raise CxopsError(f"{source}: {exc}") from None
    url = endpoint_url()
    if url:
        found = route_source(url)
        if found is not None:
            try:
                return Operator(check_address(str(found)), f"the route to {urlsplit(url).hostname}")
            except ValueError:
                pass  # loopback or similar: this route says nothing about the address the cloud sees
    if ask is not None:
        answer = ask()
        try:
            return Operator(check_address(answer.strip()), "your answer")
        except ValueError as exc:
            raise CxopsError(str(exc)) from None
    raise CxopsError(
        f"cannot tell your address: pass --operator-address, set {ENV_VAR} or cloud.operator_address "
        "(SSH and the Kubernetes API are open only to it)"
    )


def tfvars_text(operator: Operator | None) -> str:
    """The git-ignored variables file: operator_cidrs only (empty = nobody but cloud.*_allowed_cidrs)."""
    marker = " ".join(line.lstrip("# ").strip() for line in generated.header("cxops infra plan|apply").splitlines())
    return json.dumps({"//": marker, VARIABLE: [operator.cidr] if operator else []}, indent=2) + "\n"


def write(workdir: Path, operator: Operator | None) -> Path:
    """Write tf/operator.auto.tfvars.json atomically; returns its path."""
    path = workdir / TFVARS_FILE
    generated.write_atomic(path, tfvars_text(operator))
    return path
