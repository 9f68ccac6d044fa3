"""scripts/install-go-tools: the pins it builds agree with tf/, and the lock file stays out of git.

The build itself and the cache are exercised by tests/integration/test_go_tools.py (it needs Go and the module
proxy); here only what can be read from the repository.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from types import ModuleType

import hcl2
import yaml
from helpers import REPO

SCRIPT = REPO / "scripts" / "install-go-tools"


def script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("install_go_tools", str(SCRIPT))
    spec = importlib.util.spec_from_loader("install_go_tools", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["install_go_tools"] = module  # dataclasses resolve annotations through sys.modules
    loader.exec_module(module)
    return module


def test_provider_build_pin_is_the_version_tf_requires():
    tools = {t.name: t for t in script().TOOLS}
    provider = tools["terraform-provider-openstack"]
    for versions in [REPO / "tf" / "versions.tf", *sorted((REPO / "tf" / "modules").glob("*/versions.tf"))]:
        with versions.open() as f:
            [block] = hcl2.load(f)["terraform"]
        providers = block["required_providers"]
        pin = (providers[0] if isinstance(providers, list) else providers)["openstack"]["version"]
        assert pin.strip('"') == provider.version.removeprefix("v"), versions
    assert provider.provider == ("registry.terraform.io", "terraform-provider-openstack", "openstack")


def test_every_tool_is_pinned_to_an_exact_release():
    for tool in script().TOOLS:
        assert tool.version.startswith("v") and tool.version.count(".") == 2, tool
        assert "latest" not in tool.version and "-" not in tool.version, tool  # no query, no pseudo-version


def test_lock_file_is_never_committed():
    tracked = subprocess.run(["git", "ls-files", "tf/.terraform.lock.hcl"], cwd=REPO, capture_output=True, text=True)
    assert tracked.stdout == ""
    ignored = subprocess.run(["git", "check-ignore", "-q", "tf/.terraform.lock.hcl"], cwd=REPO)
    assert ignored.returncode == 0


def test_kubernetes_tools_are_the_version_kubespray_installs():
    inventory = REPO / "ansible" / "inventory" / "cxops" / "group_vars" / "k8s_cluster" / "k8s-cluster.yml"
    kube = "v" + yaml.safe_load(inventory.read_text())["kube_version"]
    tools = {t.name: t for t in script().TOOLS}
    for name in ("kube-apiserver", "kubectl"):
        assert tools[name].version == kube, name
        assert f"gitVersion={kube}" in tools[name].fill(" ".join(tools[name].ldflags)), name
    # the staging modules k8s.io/api etc. are published as v0.<minor>.<patch> of the same release
    assert tools["kube-apiserver"].fill(tools["kube-apiserver"].local_replaces or "") == "v0" + kube[2:]


def test_the_background_order_names_every_tool_once():
    module = script()
    assert sorted(module.NEEDED_FIRST) == sorted(tool.name for tool in module.TOOLS)


def test_the_mirror_config_names_every_provider_whatever_a_call_built(tmp_path, monkeypatch):
    """A call for other tools (a test's `--cached --only etcd` on a new machine, before any provider was laid out)
    writes the same CLI configuration as the provider's own call, and needs no mirror directory yet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    module = script()
    root, config = module.mirror([])
    assert root == tmp_path / "cxops" / "terraform-mirror" and root.is_dir()
    text = config.read_text()
    assert 'include = ["registry.terraform.io/terraform-provider-openstack/openstack"]' in text, text
    assert f"path    = {json.dumps(str(root))}" in text


def test_missing_names_what_is_not_built_and_waits_for_nothing(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    res = subprocess.run([str(SCRIPT), "--missing"], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [tool.name for tool in script().TOOLS]
