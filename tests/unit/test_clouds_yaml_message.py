"""`cxops infra preflight` with no clouds.yaml anywhere names every place openstacksdk looked, in its order, and
where the file should go (issue 31, item 9). The real CLI in its own process, in a project, with a HOME that has no
clouds.yaml and none of the OpenStack variables set: what a new user's shell has. No cloud is contacted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from helpers import free_port, make_project


def test_preflight_without_clouds_yaml_says_where_it_looked_and_where_to_put_it(tmp_path: Path):
    config = make_project(tmp_path / "team")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "XDG_")) and k != "CXOPS_CONFIG"}
    env["HOME"] = str(home)
    assert not Path("/etc/openstack/clouds.yaml").exists()  # the machine's own: the message would name it found
    res = subprocess.run(
        [sys.executable, "-m", "cxops", "infra", "preflight"],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    line = lines[0]
    places = [
        "$OS_CLIENT_CONFIG_FILE (unset)",
        f"{config.parent}/clouds.yaml",
        f"{home}/.config/openstack/clouds.yaml",
        "/etc/openstack/clouds.yaml",
    ]
    positions = [line.find(p) for p in places]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), line
    assert f"as {home}/.config/openstack/clouds.yaml" in line and "OS_CLIENT_CONFIG_FILE to its path" in line


def test_a_command_below_the_project_root_reads_the_project_s_clouds_yaml(tmp_path: Path):
    """Where notebook 01 says the file may go (the project root, git-ignored), read by a command started in
    notebooks/ as a kernel is: the cloud entry is found (its identity endpoint is down: a free loopback port)."""
    config = make_project(tmp_path / "team")
    auth = {"auth_url": f"http://127.0.0.1:{free_port()}/v3", "username": "u", "password": "p", "project_name": "p"}
    auth |= {"user_domain_name": "Default", "project_domain_name": "Default"}
    (config.parent / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"team": {"auth": auth}}}))
    notebooks = config.parent / "notebooks"
    notebooks.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "XDG_")) and k != "CXOPS_CONFIG"}
    res = subprocess.run(
        [sys.executable, "-m", "cxops", "cloud", "ping", "--cloud", "team"],
        cwd=notebooks,
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1 and "cloud 'team': cannot reach the identity endpoint (down?)" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
