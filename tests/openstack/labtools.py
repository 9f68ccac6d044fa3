"""Helpers for the openstack tests: a cxops.yaml pointing at the lab, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, cloud: dict | None = None, **sections: Any) -> Path:
    """A cxops.yaml pointing at the lab (the repo's file with the cloud section replaced)."""
    cfg = yaml.safe_load((REPO / "cxops.yaml").read_text())
    cfg["cloud"].update({"name": "cxops-lab", "image": "cxops-lab-debian12", "key_pair": "cxops-lab-key",
                         "external_network": "public", "flavors": {"control": "m1.small", "worker": "m1.small"}})
    cfg["cloud"].update(cloud or {})
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    path = tmp_path / "cxops.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def cli(config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
    full = {**os.environ, "CXOPS_CONFIG": str(config), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "cxops", *args], cwd=config.parent, env=full,
                          capture_output=True, text=True, timeout=timeout)
