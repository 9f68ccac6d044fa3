"""scripts/install-go-tools for real (Go and the Go module proxy), and tf/ judged by the real provider it builds.

The first run on a machine builds the provider (about a minute on 2 cores, docs/testing.md); every later run, and
these tests, reuse the cache. `terraform init` + `validate` here is the user's path minus the cloud: the embedded
Terraform installs the provider from the filesystem mirror (the registry's stand-in) and checks tf/ against the
provider's real schema: argument names and types, required blocks, references between resources.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tfhelpers import GO_TOOLS, TF, go_tools, terraform, tf_env

pytestmark = pytest.mark.integration


def test_the_cached_build_is_reused_and_answers_with_its_pin():
    paths = go_tools()  # builds when the cache lacks it (a fresh machine), else reuses it
    res = subprocess.run([str(GO_TOOLS)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    tool = paths["tools"]["terraform-provider-openstack"]
    # one line per tool, every one cached (the script's later rows are the Kubernetes tools)
    lines = res.stdout.splitlines()
    assert f"terraform-provider-openstack {tool['version']}: cached ({tool['binary']})" in lines, res.stdout
    assert lines and all(": cached (" in line for line in lines), res.stdout
    binary = Path(tool["binary"])
    assert binary.parts[-4:-2] == ("terraform-provider-openstack", "v3.4.0")  # keyed by tool and version
    assert not binary.is_relative_to(Path(__file__).resolve().parents[2])  # outside the work tree
    info = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, timeout=60).stdout
    assert "\tmod\tgithub.com/terraform-provider-openstack/terraform-provider-openstack/v3\tv3.4.0\t" in info
    mirrored = (
        Path(paths["terraform_mirror"])
        / "registry.terraform.io/terraform-provider-openstack/openstack/3.4.0/linux_amd64"
        / "terraform-provider-openstack_v3.4.0"
    )
    assert mirrored.read_bytes() == binary.read_bytes()


def test_tf_passes_init_and_validate_with_the_real_provider(tmp_path: Path):
    rc = go_tools()["terraformrc"]
    work = tmp_path / "tf"
    shutil.copytree(TF, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.lock.hcl", "*.tfplan"))
    env = tf_env(TF_CLI_CONFIG_FILE=rc)
    res = terraform(work, "init", "-input=false", "-no-color", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Installed terraform-provider-openstack/openstack v3.4.0" in res.stdout
    lock = (work / ".terraform.lock.hcl").read_text()
    assert 'version     = "3.4.0"' in lock and 'constraints = "3.4.0"' in lock  # pinned exactly, in every module
    res = terraform(work, "validate", "-no-color", env=env)
    assert res.returncode == 0 and "The configuration is valid" in res.stdout, res.stdout + res.stderr
    # the provider really judges: an argument it does not have is refused by name
    main = work / "modules" / "network" / "main.tf"
    main.write_text(main.read_text().replace("enable_dhcp = true", "enable_dhcp = true\n  dns_servers = []", 1))
    res = terraform(work, "validate", "-no-color", env=env)
    assert res.returncode == 1 and 'An argument named "dns_servers" is not expected here' in res.stdout + res.stderr
