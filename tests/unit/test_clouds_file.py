"""Which clouds.yaml the Terraform provider is given (cxops.cloud.clouds_file): the one openstacksdk resolved.

openstacksdk decides its search list when it is imported (it includes the current directory), so every case runs
in its own interpreter with the project directory as its working directory and a home of its own, like a user's
shell in the repository root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLOUDS = "clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n    region_name: RegionOne\n"
PROBE = """
import json, sys
from cxops.cloud.clouds_file import provider_env
from cxops.errors import CxopsError
try:
    print(json.dumps(provider_env(sys.argv[1])))
except CxopsError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
"""


def probe(cwd: Path, cloud: str, **env: str) -> subprocess.CompletedProcess:
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    # A user's shell has neither OpenStack nor cxops variables (an in-process CLI test's --config sets CXOPS_CONFIG).
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CXOPS_"))}
    full.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), **env})
    return subprocess.run(
        [sys.executable, "-c", PROBE, cloud], cwd=cwd, env=full, capture_output=True, text=True, timeout=60
    )


def test_a_clouds_yaml_in_the_repository_root_is_handed_over_by_absolute_path(tmp_path: Path):
    """P1: the provider runs in tf/, where a relative or cwd-based search would miss this file."""
    (tmp_path / "clouds.yaml").write_text(CLOUDS)
    (tmp_path / "secure.yaml").write_text("clouds:\n  lab:\n    auth:\n      password: x\n")
    res = probe(tmp_path, "lab")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "OS_CLIENT_CONFIG_FILE": str(tmp_path.resolve() / "clouds.yaml"),
        "OS_CLIENT_SECURE_FILE": str(tmp_path.resolve() / "secure.yaml"),
    }


def test_the_users_own_config_directory_is_found_too(tmp_path: Path):
    config_dir = tmp_path / "home" / ".config" / "openstack"
    config_dir.mkdir(parents=True)
    (config_dir / "clouds.yaml").write_text(CLOUDS)
    res = probe(tmp_path, "lab")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"OS_CLIENT_CONFIG_FILE": str(config_dir.resolve() / "clouds.yaml")}


def test_no_clouds_yaml_names_where_it_looked(tmp_path: Path):
    res = probe(tmp_path, "chameleon")
    assert res.returncode == 1
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("cloud 'chameleon': no clouds.yaml found (looked in ")
    assert str(tmp_path) in line and "~/.config/openstack" in line and "/etc/openstack" in line


def test_a_clouds_yaml_without_the_cloud_names_the_file_and_what_it_has(tmp_path: Path):
    (tmp_path / "clouds.yaml").write_text(CLOUDS)
    res = probe(tmp_path, "chameleon")
    assert res.returncode == 1
    [line] = res.stderr.strip().splitlines()
    assert line == (
        f"cloud 'chameleon' is not in {tmp_path.resolve() / 'clouds.yaml'} (clouds there: lab); add it, or set "
        "cloud.name in cxops.yaml to one of them"
    )


def test_os_client_config_file_naming_a_missing_file(tmp_path: Path):
    (tmp_path / "clouds.yaml").write_text(CLOUDS)  # openstacksdk would quietly fall back to this one
    res = probe(tmp_path, "lab", OS_CLIENT_CONFIG_FILE=str(tmp_path / "nope.yaml"))
    assert res.returncode == 1
    expected = f"OS_CLIENT_CONFIG_FILE={tmp_path / 'nope.yaml'}: no such file; point it at your clouds.yaml or unset it"
    assert res.stderr.strip() == expected


def test_below_the_project_root_the_provider_gets_the_file_the_preflight_reads(tmp_path: Path):
    """A command run in notebooks/ (a kernel's folder) reads the project's clouds.yaml (cxops.cloud.connection);
    the provider must be handed that same file, not fail to find one."""
    from helpers import REPO

    (tmp_path / "cxops.yaml").write_text((REPO / "cxops.yaml").read_text())
    (tmp_path / "clouds.yaml").write_text(CLOUDS)
    below = tmp_path / "notebooks"
    below.mkdir()
    res = probe(below, "lab")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["OS_CLIENT_CONFIG_FILE"] == str(tmp_path.resolve() / "clouds.yaml")
