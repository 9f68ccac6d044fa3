"""Terraform outputs → the Ansible inventory (Kubespray's groups) and an ssh config through the bastion.

Both files are generated and git-ignored (they hold addresses). The contract with the cluster-install playbooks:
- hosts.yaml: `all.hosts.<node>` with `ansible_host`, `ip`, `access_ip` (the fixed private address); groups
  `kube_control_plane` and `etcd` (control nodes), `kube_node` (worker and gpu nodes, and the entry node: it holds
  the data volume, so it must run the stateful workloads; without kube_node Kubespray taints a control node
  NoSchedule), `gpu`, `k8s_cluster` (children kube_control_plane and kube_node); `all.vars.ansible_user` and
  `ansible_ssh_common_args` pointing at ssh_config; `all.vars.supplementary_addresses_in_ssl_keys` (Kubespray: extra
  API-certificate SANs) = the SSH tunnel's end and the floating IP, so the API the security group opens on the
  floating IP is usable; host vars `data_volume_id` (Cinder UUID) and `node_labels` {DATA_LABEL: "true"} (Kubespray's
  per-node labels) on the entry node, which has the data volume attached; `all.vars.cxops_gateway_address` = the
  public entry's load balancer's private address (when tf/ made one): node_prep resolves the registry's name to it.
- ssh_config: `Host bastion` = the floating IP; each node `Host <name> <address>` via `ProxyJump bastion`; the user's
  key; `StrictHostKeyChecking accept-new` with a known_hosts file of the project's own, where every host key is filed
  under its instance id (`HostKeyAlias`): a node rebuilt by destroy + apply reuses its address but is a new instance,
  so its new key is accepted as new instead of refused as changed (an address-keyed entry would be stale).
Group names are Kubespray's (inventory/sample/inventory.ini).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cxops import generated, names

if TYPE_CHECKING:
    from cxops.config.schema import Config
    from cxops.infra.outputs import Cluster

INVENTORY_DIR = "ansible/inventory/cxops"
HOSTS_FILE = "hosts.yaml"
SSH_CONFIG_FILE = "ssh_config"
KNOWN_HOSTS_FILE = "known_hosts"
COMMAND = "cxops infra inventory"
SOURCE = "Terraform outputs of tf/"
DATA_LABEL = names.DATA_VOLUME_LABEL  # node label of the node whose /var/lib/cxops-data is the data volume
# The API certificate's extra names besides the floating IP: the SSH tunnel's local end (`cxops cluster kubeconfig`).
TUNNEL_SANS = ("127.0.0.1", "localhost")


def identity_file(cfg: Config) -> str:
    """The private key for the nodes: cloud.ssh_identity_file, else ~/.ssh/<key_pair>."""
    return cfg.cloud.ssh_identity_file or f"~/.ssh/{cfg.cloud.key_pair}"


def _group(names: list[str]) -> dict[str, Any]:
    return {"hosts": {n: None for n in names}} if names else {}


def hosts(cluster: Cluster) -> dict[str, Any]:
    """The inventory as data (YAML inventory plugin layout)."""
    control = [n.name for n in cluster.by_role("control")]
    workers = [n.name for n in cluster.nodes if n.role in ("worker", "gpu") or n.name == cluster.entry_node]
    host_vars: dict[str, Any] = {}
    for n in cluster.nodes:
        host_vars[n.name] = {"ansible_host": n.address, "ip": n.address, "access_ip": n.address}
        if n.name == cluster.entry_node:
            host_vars[n.name]["data_volume_id"] = cluster.data_volume_id
            host_vars[n.name]["node_labels"] = {DATA_LABEL: "true"}
    cluster_vars: dict[str, Any] = {
        "ansible_user": cluster.ssh_user,
        "ansible_ssh_common_args": "-F {{ inventory_dir }}/ssh_config",
        "supplementary_addresses_in_ssl_keys": [*TUNNEL_SANS, cluster.floating_ip],
    }
    if cluster.gateway_address:
        cluster_vars["cxops_gateway_address"] = cluster.gateway_address
    return {
        "all": {
            "hosts": host_vars,
            "children": {
                "kube_control_plane": _group(control),
                "etcd": _group(control),
                "kube_node": _group(workers),
                "gpu": _group([n.name for n in cluster.by_role("gpu")]),
                "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
            },
            "vars": cluster_vars,
        }
    }


def hosts_text(cluster: Cluster) -> str:
    body = yaml.safe_dump(hosts(cluster), sort_keys=False, default_flow_style=False)
    return generated.header(COMMAND, SOURCE) + body.replace(": null\n", ":\n")


def ssh_config_text(cfg: Config, cluster: Cluster, inventory_dir: Path) -> str:
    """OpenSSH client config: the bastion, then every node through it (also matched by its address, which is what
    Ansible connects to)."""
    common = [
        f"  User {cluster.ssh_user}",
        f"  IdentityFile {identity_file(cfg)}",
        "  IdentitiesOnly yes",
        "  StrictHostKeyChecking accept-new",
        f"  UserKnownHostsFile {inventory_dir.resolve() / KNOWN_HOSTS_FILE}",
    ]
    entry = next(n for n in cluster.nodes if n.name == cluster.entry_node)
    lines = [
        generated.header(COMMAND, SOURCE).rstrip("\n"),
        "",
        "Host bastion",
        f"  HostName {cluster.floating_ip}",
        f"  HostKeyAlias {entry.id}",  # the entry node's key, whichever address reaches it
        *common,
    ]
    for n in cluster.nodes:
        lines += [
            "",
            f"Host {n.name} {n.address}",
            f"  HostName {n.address}",
            f"  HostKeyAlias {n.id}",
            "  ProxyJump bastion",
            *common,
        ]
    return "\n".join(lines) + "\n"


def files(cfg: Config, cluster: Cluster, inventory_dir: Path) -> dict[Path, str]:
    """{path: text} of the inventory and the ssh config."""
    return {
        inventory_dir / HOSTS_FILE: hosts_text(cluster),
        inventory_dir / SSH_CONFIG_FILE: ssh_config_text(cfg, cluster, inventory_dir),
    }
