"""The generated inventory (hosts.yaml, ssh_config from `cxops infra inventory`) and the group_vars file cxops writes.

hosts.yaml is Kubespray's YAML inventory: `all.hosts.<node>` with `ansible_host`, `ip`, `access_ip`; groups
`kube_control_plane`, `etcd`, `kube_node`, `gpu` and `k8s_cluster` under `all.children`. ssh_config has
`Host bastion` (the floating IP) and one `Host <node>` / `HostName <private ip>` / `ProxyJump bastion` per node.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from cxops import generated, names
from cxops.cluster.repository import credentials_file
from cxops.cluster_config import gitops_remote
from cxops.cluster_secrets import catalogue
from cxops.config.schema import Config
from cxops.errors import CxopsError

HOSTS_FILE = "hosts.yaml"
SSH_CONFIG = "ssh_config"
VARS_FILE = Path("group_vars") / "all" / "cxops.yml"
REQUIRED_GROUPS = ("kube_control_plane", "etcd", "kube_node")
JUMP_HOST = "bastion"


@dataclass(frozen=True)
class Inventory:
    """What the install needs from the generated files: hosts by group, addresses, and the jump host."""

    directory: Path
    hosts: dict[str, dict[str, Any]]
    groups: dict[str, list[str]]
    ssh: dict[str, dict[str, str]]

    @property
    def first_control_plane(self) -> str:
        return self.groups["kube_control_plane"][0]

    def address(self, host: str) -> str:
        """Where SSH reaches `host`: ssh_config's HostName, else the inventory's ansible_host, else the name."""
        entry = self.ssh.get(host) or self.ssh.get(str(self.hosts.get(host, {}).get("ansible_host", "")), {})
        return entry.get("hostname") or str(self.hosts.get(host, {}).get("ansible_host", host))

    @property
    def jump_host(self) -> str:
        """`bastion (<floating ip>)`, or a note that ssh_config names none."""
        entry = self.ssh.get(JUMP_HOST)
        return f"{JUMP_HOST} ({entry.get('hostname', '?')})" if entry else "no jump host in ssh_config"


def _group_members(children: dict[str, Any], group: str, seen: frozenset[str] = frozenset()) -> list[str]:
    node = children.get(group) or {}
    members = list((node.get("hosts") or {}).keys())
    for child in node.get("children") or {}:
        if child not in seen:
            members += [h for h in _group_members(children, child, seen | {group}) if h not in members]
    return members


def host_patterns(text: str) -> list[str]:
    """Every pattern of every `Host` line (wildcards included, negations dropped)."""
    out = []
    for raw in text.splitlines():
        parts = raw.split("#", 1)[0].replace("=", " ", 1).split()
        if parts and parts[0].lower() == "host":
            out += [p for p in parts[1:] if not p.startswith("!") and p != "*"]
    return out


def parse_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """`Host` blocks of an OpenSSH client config as {alias: {option (lower case): value}}; wildcards skipped."""
    hosts: dict[str, dict[str, str]] = {}
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.replace("=", " ", 1).partition(" ")
        key, value = key.lower(), value.strip()
        if key == "host":
            current = [a for a in value.split() if not any(c in a for c in "*?!")]
            for alias in current:
                hosts.setdefault(alias, {})
        else:
            for alias in current:
                hosts[alias].setdefault(key, value)
    return hosts


def load(directory: Path) -> Inventory:
    """Read and check the generated inventory. Raises CxopsError naming the missing file or group and the fix."""
    hosts_file, ssh_file = directory / HOSTS_FILE, directory / SSH_CONFIG
    for f in (hosts_file, ssh_file):
        if not f.is_file():
            raise CxopsError(f"no inventory: {f} does not exist; run `cxops infra inventory` after `cxops infra apply`")
    try:
        data = yaml.safe_load(hosts_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CxopsError(f"{hosts_file}: not valid YAML ({exc}); regenerate it with `cxops infra inventory`") from exc
    root = data.get("all") if isinstance(data, dict) else None
    if not isinstance(root, dict) or not isinstance(root.get("hosts"), dict) or not root["hosts"]:
        raise CxopsError(f"{hosts_file}: no hosts under all.hosts; regenerate it with `cxops infra inventory`")
    children = root.get("children") or {}
    groups = {g: _group_members(children, g) for g in (*REQUIRED_GROUPS, "gpu", "k8s_cluster")}
    for g in REQUIRED_GROUPS:
        if not groups[g]:
            raise CxopsError(f"{hosts_file}: group {g} has no hosts; Kubespray needs at least one")
    unknown = sorted({h for g in groups.values() for h in g} - set(root["hosts"]))
    if unknown:
        raise CxopsError(f"{hosts_file}: groups name hosts missing from all.hosts: {', '.join(unknown)}")
    hosts = {k: v or {} for k, v in root["hosts"].items()}
    ssh_text = ssh_file.read_text()
    patterns = host_patterns(ssh_text)
    for name, hv in hosts.items():
        target = str(hv.get("ansible_host", name))
        if not any(fnmatch(target, p) for p in patterns):
            raise CxopsError(
                f"{hosts_file}: host {name} is reached as {target!r}, which no Host entry of {ssh_file} "
                f"matches, so SSH would not go through the jump host; regenerate both with "
                f"`cxops infra inventory`"
            )
    return Inventory(directory, hosts, groups, parse_ssh_config(ssh_text))


def render_vars(cfg: Config, project_root: Path) -> str:
    """The group_vars file (`group_vars/all/cxops.yml`) carrying cxops.yaml's values into Ansible, `cxops_` prefixed,
    and the two Kubespray variables cxops.yaml sets (kube_pods_subnet, kube_service_addresses: kubernetes.pod_cidr
    and service_cidr, checked there not to overlap cloud.network_cidr or each other)."""
    data = {
        "kube_pods_subnet": cfg.kubernetes.pod_cidr,
        "kube_service_addresses": cfg.kubernetes.service_cidr,
        "cxops_project": cfg.project.name,
        "cxops_registry_host": names.registry_host(cfg),
        "cxops_argocd_namespace": names.argocd_namespace(cfg),
        "cxops_argocd_project": names.argocd_project(cfg),
        "cxops_argocd_operator_account": names.argocd_operator_account(cfg),
        "cxops_argocd_operator_secret": names.argocd_operator_secret(cfg),
        "cxops_argocd_deploy_role": names.ARGOCD_DEPLOY_ROLE,
        "cxops_root_application_name": names.argocd_root_app(cfg),
        "cxops_root_application_file": str(project_root / names.root_application_file()),
        "cxops_cluster_secrets": [{**asdict(s), "keys": list(s.keys)} for s in catalogue(cfg)],
        # ArgoCD's repository Secret: the URL and the path of the credential file on the controller (never its value)
        "cxops_gitops_repository_secret": names.argocd_repository_secret(cfg),
        "cxops_gitops_repo_url": gitops_remote(cfg) or "",
        "cxops_gitops_credentials_file": str(credentials_file(cfg, project_root) or ""),
    }
    return generated.header("cxops cluster install") + "---\n" + yaml.safe_dump(data, sort_keys=False)


def write_vars(cfg: Config, project_root: Path, directory: Path) -> Path:
    """Write the group_vars file into the inventory directory; returns its path."""
    path = directory / VARS_FILE
    generated.write_atomic(path, render_vars(cfg, project_root))
    return path
