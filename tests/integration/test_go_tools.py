"""scripts/install-go-tools for real (Go and the Go module proxy), and tf/ judged by the real provider it builds.

The first run on a machine builds the provider (about a minute on 2 cores, docs/testing.md); every later run, and
these tests, reuse the cache. `terraform init` + `validate` here is the user's path minus the cloud: the embedded
Terraform installs the provider from the filesystem mirror (the registry's stand-in) and checks tf/ against the
provider's real schema: argument names and types, required blocks, references between resources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from tfhelpers import GO_TOOLS, TF, go_tools, terraform, tf_env

pytestmark = pytest.mark.integration


def test_the_cached_build_is_reused_and_answers_with_its_pin():
    paths = go_tools()  # builds when the cache lacks it (a fresh machine), else reuses it
    argv = [str(GO_TOOLS), "--only", "terraform-provider-openstack"]  # the other rows may still be building
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    tool = paths["tools"]["terraform-provider-openstack"]
    assert res.stdout.splitlines() == [f"terraform-provider-openstack {tool['version']}: cached ({tool['binary']})"]
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


PROVIDER = "terraform-provider-openstack"


def _go_env(name: str) -> str:
    return subprocess.run(["go", "env", name], capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GO_TOOLS), *args], capture_output=True, text=True, timeout=900, env=env)


def _wait_gone(pid: int, timeout: float = 120) -> None:
    """Until the background process PID has exited (bounded, backoff)."""
    deadline, delay = time.monotonic() + timeout, 0.2
    while Path(f"/proc/{pid}").exists() and "(Z)" not in _state(pid):
        assert time.monotonic() < deadline, f"background build {pid} still running after {timeout} s"
        time.sleep(delay)
        delay = min(delay * 2, 5)


def _state(pid: int) -> str:
    try:
        return "(" + Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] + ")"
    except (FileNotFoundError, IndexError):
        return "(Z)"


def test_a_background_build_is_waited_for_never_built_twice(tmp_path: Path):
    """`make test`'s way: the build starts in the background; a caller asking for the tool waits for it (its lock),
    a second background start leaves it alone, and with nothing building a missing tool is one line at once. A cache
    of its own, so the build really runs; Go's own build cache stays the machine's (it would move with
    XDG_CACHE_HOME), which makes the build seconds."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "GOCACHE": _go_env("GOCACHE")}
    started = time.monotonic()
    res = _script(env, "--cached", "--only", PROVIDER)
    assert res.returncode == 1 and time.monotonic() - started < 30, res.stderr
    assert res.stderr.strip().splitlines() == [
        "install-go-tools: not built yet: terraform-provider-openstack v3.4.0; run scripts/install-go-tools"
    ]

    log = tmp_path / "build.log"
    res = _script(env, "--background", str(log), "--only", PROVIDER)
    assert res.returncode == 0, res.stderr
    assert f"building {PROVIDER} in the background (pid " in res.stdout, res.stdout
    pid = int(res.stdout.split("(pid ", 1)[1].split(",", 1)[0])
    again = _script(env, "--background", str(tmp_path / "second.log"), "--only", PROVIDER)
    assert "nothing to build in the background" in again.stdout and not (tmp_path / "second.log").exists()

    res = _script(env, "--cached", "--json", "--only", PROVIDER)
    assert res.returncode == 0, res.stderr
    assert f"{PROVIDER} v3.4.0: waiting for the build in progress…" in res.stderr  # it did wait, not build
    binary = Path(json.loads(res.stdout)["tools"][PROVIDER]["binary"])
    assert binary.is_relative_to(tmp_path / "cache" / "cxops" / "go-tools") and binary.stat().st_size > 10**7
    _wait_gone(pid)
    text = log.read_text()
    assert text.count(f"{PROVIDER} v3.4.0: built in ") == 1 and "background build: 1 of 1 tools in " in text, text
    # the next run, everything cached: that build's lines are gone, not printed again by `make test`
    res = _script(env, "--background", str(log), "--only", PROVIDER)
    assert res.returncode == 0 and "nothing to build" in res.stdout and not log.exists(), res.stdout


def test_a_failed_background_build_is_named_by_the_callers_waiting(tmp_path: Path):
    """A build that fails in the background (here the module proxy refuses: GOPROXY=off and an empty module cache)
    leaves its reason; a test waiting for the tool gets that one line, not a silent "not built"."""
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "GOCACHE": _go_env("GOCACHE"),
        "GOPROXY": "off",
        "GOMODCACHE": str(tmp_path / "modcache"),
    }
    res = _script(env, "--background", str(tmp_path / "build.log"), "--only", "kustomize")
    assert res.returncode == 0, res.stderr
    pid = int(res.stdout.split("(pid ", 1)[1].split(",", 1)[0])
    res = _script(env, "--cached", "--only", "kustomize")
    _wait_gone(pid)
    assert res.returncode == 1
    [line] = res.stderr.strip().splitlines()[-1:]
    assert line.startswith("install-go-tools: not built yet: kustomize v5.8.1 (its build failed: kustomize: "), line
    assert "GOPROXY=off" in line, line
    assert "FAILED" in (tmp_path / "build.log").read_text()
