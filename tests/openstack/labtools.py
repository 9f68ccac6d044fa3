"""Helpers for the openstack tests: a cxops.yaml pointing at the lab, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from helpers import REPO, cli, free_port  # noqa: F401  (re-exported: the openstack tests use the shared ones)


def write_config(tmp_path: Path, cloud: dict | None = None, **sections: Any) -> Path:
    """A cxops.yaml pointing at the lab (the repo's file with the cloud section replaced)."""
    cfg = yaml.safe_load((REPO / "cxops.yaml").read_text())
    cfg["cloud"].update(
        {
            "name": "cxops-lab",
            "image": "cxops-lab-debian12",
            "key_pair": "cxops-lab-key",
            "external_network": "public",
            "flavors": {"control": "m1.small", "worker": "m1.small"},
        }
    )
    cfg["cloud"].update(cloud or {})
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    path = tmp_path / "cxops.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def start_process(config: Path, *args: str) -> subprocess.Popen:
    full = {**os.environ, "CXOPS_CONFIG": str(config)}
    return subprocess.Popen(
        [sys.executable, "-m", "cxops", *args],
        cwd=config.parent,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


SCENARIO_KEY = "cxops-test-scenario"  # servers of a module-scoped scenario; that fixture checks its own cleanup


def network_objects(admin, project_id: str) -> set[str]:
    """Networks, subnets, routers and security groups of the test project, as "kind name (id)"."""
    net = admin.network
    found = [
        *(("network", x) for x in net.networks(project_id=project_id)),
        *(("subnet", x) for x in net.subnets(project_id=project_id)),
        *(("router", x) for x in net.routers(project_id=project_id)),
        *(("security group", x) for x in net.security_groups(project_id=project_id)),
    ]
    return {f"{kind} {x.name} ({x.id})" for kind, x in found}


def leaks(admin, project_id: str, include_scenarios: bool = False) -> dict[str, list[str]]:
    """Servers, volumes, instance ports, floating IPs and load balancers left in the test project."""
    servers = [
        s
        for s in admin.compute.servers(all_projects=True, project_id=project_id)
        if include_scenarios or SCENARIO_KEY not in (s.metadata or {})
    ]
    scenario_ids = {s.id for s in admin.compute.servers(all_projects=True, project_id=project_id)} - {
        s.id for s in servers
    }
    return {
        "servers": [f"{s.name} ({s.status})" for s in servers],
        "volumes": [
            f"{v.name} ({v.status})" for v in admin.block_storage.volumes(all_projects=True, project_id=project_id)
        ],
        "ports": [
            f"{p.id} ({p.device_owner})"
            for p in admin.network.ports(project_id=project_id)
            if not (p.device_owner or "").startswith("network:") and p.device_id not in scenario_ids
        ],
        "floating_ips": [f.floating_ip_address for f in admin.network.ips(project_id=project_id)],
        "load_balancers": [
            f"{lb.name} ({lb.provisioning_status})" for lb in admin.load_balancer.load_balancers(project_id=project_id)
        ],
    }
