"""Fetch the cluster's admin kubeconfig through the jump host and point it at a local SSH tunnel.

The API server listens on the first control-plane node's private address, which only the jump host reaches, so the
kubeconfig's server becomes https://127.0.0.1:<port> (in the certificate's SANs through the inventory's
`supplementary_addresses_in_ssl_keys`) and the user opens the tunnel the command prints. The file holds a client
key: it is written 0600 and never printed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from cxops.cluster.inventory_files import SSH_CONFIG, Inventory
from cxops.errors import CxopsError

# Kubespray writes the admin kubeconfig here on every control-plane node (kubeadm's default).
REMOTE_KUBECONFIG = "/etc/kubernetes/admin.conf"
API_PORT = 6443
SSH_TIMEOUT_S = 60


def tunnel_command(inv: Inventory, local_port: int = API_PORT) -> str:
    """The ssh command that forwards 127.0.0.1:<local_port> to the API server on the first control-plane node."""
    return f"ssh -F {inv.directory / SSH_CONFIG} -N -L {local_port}:127.0.0.1:{API_PORT} {inv.first_control_plane}"


def fetch(inv: Inventory, out: Path, local_port: int = API_PORT) -> Path:
    """Copy the admin kubeconfig from the first control-plane node to `out` (0600), server rewritten to the tunnel.

    Raises CxopsError when SSH fails (naming the host and the jump host) or the file is not a kubeconfig."""
    host = inv.first_control_plane
    argv = [
        "ssh",
        "-F",
        str(inv.directory / SSH_CONFIG),
        "-o",
        "BatchMode=yes",
        host,
        "sudo",
        "-n",
        "cat",
        REMOTE_KUBECONFIG,
    ]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=SSH_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise CxopsError(
            f"host {host} ({inv.address(host)}) did not answer within {SSH_TIMEOUT_S}s through "
            f"jump host {inv.jump_host}"
        ) from exc
    detail = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "no detail"
    if res.returncode == 255:
        raise CxopsError(
            f"host {host} ({inv.address(host)}) did not answer over SSH through jump host {inv.jump_host}: {detail}"
        )
    if res.returncode != 0:
        raise CxopsError(
            f"{host}:{REMOTE_KUBECONFIG} could not be read (is Kubernetes installed? run "
            f"`cxops cluster install`): {detail}"
        )
    try:
        cfg = yaml.safe_load(res.stdout)
        clusters = cfg["clusters"]
        for c in clusters:
            c["cluster"]["server"] = f"https://127.0.0.1:{local_port}"
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise CxopsError(f"{host}:{REMOTE_KUBECONFIG} is not a kubeconfig (no clusters[].cluster.server)") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    os.chmod(out, 0o600)
    return out
