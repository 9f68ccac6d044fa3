"""The cloud perimeter: the security group rules tf/ creates, and whose address SSH and the Kubernetes API open to.

No OpenStack provider can run here (tests/unit/test_tf_module.py says why), so the rules are not applied: they are
parsed from tf/ with python-hcl2, each rule's sources resolved from the variables Terraform would get (the rendered
cxops.auto.tfvars.json, the operator's file, tf/main.tf's wiring), and checked. The operator's address is detected
for real: the kernel's route (a UDP socket connected to the endpoint, no packet sent) and the CLI run in a
subprocess with no terminal and no way to learn the address, which must stop before Terraform with one line.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, base_config, merge
from tfhelpers import TF

from cxops.config import load_config
from cxops.errors import ConfigError, CxopsError
from cxops.infra import operator, tfvars
from tests.unit.test_tf_module import blocks, resources_all

NETWORK = TF / "modules" / "network"
WORLD_OK_PORTS = {80, 443}


def _var_values(extra_operator: list[str]) -> dict[str, list[str]]:
    """The module's cidr inputs as tf/main.tf computes them from the root variables."""
    root = tfvars.variables(load_config(REPO / "cxops.yaml"))
    root["operator_cidrs"] = extra_operator
    wiring = blocks(TF, "module")["network"]
    out = {}
    for name in ("ssh_allowed_cidrs", "api_allowed_cidrs"):
        expr = wiring[name]
        used = re.findall(r"var\.(\w+)", expr)
        assert used, f"{name} = {expr}: not from root variables"
        out[name] = [c for v in used for c in root[v]]
    out["network_cidr"] = [root["network_cidr"]]
    return out


def _rules(values: dict[str, list[str]]) -> list[tuple[str, int | None, int | None, str]]:
    """(rule, port_min, port_max, source cidr) of every ingress rule with an address source, for_each expanded."""
    out = []
    for _, rtype, name, body in resources_all():
        if rtype != "openstack_networking_secgroup_rule_v2":
            continue
        assert body.get("ethertype") == "IPv4", f"{name}: only IPv4 rules (no ::/0 path)"
        if "remote_group_id" in body:
            assert "remote_ip_prefix" not in body
            continue
        each = body["for_each"]
        var = re.search(r"var\.(\w+)", each) or re.search(r"local\.(\w+)", each)
        assert var, f"{name}: unknown source {each}"
        if var.group(1) == "node_port_rules":  # the gateway's NodePorts, from var.network_cidr (the load balancer)
            assert body["remote_ip_prefix"] == "${var.network_cidr}", name
            root = tfvars.variables(load_config(REPO / "cxops.yaml"))
            out += [(name, p, p, values["network_cidr"][0]) for p in root["gateway_node_ports"].values()]
            continue
        for cidr in values[var.group(1)]:
            out.append((name, body.get("port_range_min"), body.get("port_range_max"), cidr))
    return out


@pytest.mark.parametrize("operator_cidrs", [[], ["203.0.113.7/32"]])
def test_no_rule_opens_anything_to_the_world(operator_cidrs: list[str]):
    """The nodes take nothing from the world: the gateway's NodePorts are open to the private subnet only (the
    public entry's load balancer sits there), SSH and the API to the operator."""
    rules = _rules(_var_values(operator_cidrs))
    http = {(lo, hi, cidr) for name, lo, hi, cidr in rules if name == "http"}
    assert http == {(30080, 30080, "192.168.1.0/24"), (30443, 30443, "192.168.1.0/24")}
    for name, lo, hi, cidr in rules:
        assert ipaddress.ip_network(cidr).prefixlen > 0, f"rule {name} opens {lo}-{hi} to {cidr}"


def test_the_world_reaches_only_the_load_balancers_80_and_443():
    """What is open to http_allowed_cidrs (the world by default) is the load balancer's listeners, TCP 80 and 443."""
    gateway = TF / "modules" / "gateway"
    listener = blocks(gateway, "resource")["openstack_lb_listener_v2"]["this"]
    assert listener["allowed_cidrs"] == "${var.http_allowed_cidrs}" and listener["protocol"] == "TCP"
    ports = blocks(gateway, "locals")["listeners"]
    assert set(ports.values()) == WORLD_OK_PORTS
    assert blocks(TF, "module")["gateway"]["http_allowed_cidrs"] == "${var.http_allowed_cidrs}"


def test_ssh_and_api_are_open_only_to_the_operator_by_default():
    rules = _rules(_var_values(["203.0.113.7/32"]))
    for name in ("ssh", "api"):
        assert {r[3] for r in rules if r[0] == name} == {"203.0.113.7/32"}, name
    assert not [r for r in _rules(_var_values([])) if r[0] in ("ssh", "api")], "open to somebody with no operator"


def test_intra_cluster_traffic_only_from_the_cluster_group():
    rule = next(
        b for _, t, n, b in resources_all() if t == "openstack_networking_secgroup_rule_v2" and n == "cluster_internal"
    )
    assert "remote_ip_prefix" not in rule
    assert rule["remote_group_id"] == rule["security_group_id"] == "${openstack_networking_secgroup_v2.cluster.id}"


@pytest.mark.parametrize("field", ["ssh_allowed_cidrs", "api_allowed_cidrs"])
def test_config_refuses_the_whole_internet_for_ssh_and_api(tmp_path: Path, field: str):
    path = tmp_path / "cxops.yaml"
    path.write_text(yaml.safe_dump(merge(base_config(), {"cloud": {field: ["0.0.0.0/0"]}})))
    with pytest.raises(ConfigError, match=f"cloud.{field}.*whole internet"):
        load_config(path)


# --- the operator's address ---


def test_route_source_asks_the_kernel_and_sends_nothing():
    found = operator.route_source("https://127.0.0.1:5000/v3")
    assert found == ipaddress.IPv4Address("127.0.0.1")
    assert operator.route_source("https://no-such-host.invalid/v3") is None


def test_resolution_order_flag_env_config(monkeypatch: pytest.MonkeyPatch):
    asked = []
    monkeypatch.setenv(operator.ENV_VAR, "198.51.100.2")
    got = operator.resolve("203.0.113.7", "192.0.2.10", lambda: asked.append("route") or None, None)
    assert (str(got.address), got.source) == ("203.0.113.7", "--operator-address")
    got = operator.resolve(None, "192.0.2.10", lambda: None, None)
    assert (str(got.address), got.source) == ("198.51.100.2", operator.ENV_VAR)
    monkeypatch.delenv(operator.ENV_VAR)
    got = operator.resolve(None, "192.0.2.10", lambda: None, None)
    assert (str(got.address), got.source) == ("192.0.2.10", "cxops.yaml")
    assert asked == []  # the route is not even looked up when an address is given


def test_a_loopback_route_says_nothing_so_it_asks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(operator.ENV_VAR, raising=False)
    got = operator.resolve(None, None, lambda: "https://127.0.0.1:5000/v3", lambda: " 203.0.113.9 ")
    assert (got.cidr, got.source) == ("203.0.113.9/32", "your answer")
    with pytest.raises(CxopsError, match="--operator-address"):
        operator.resolve(None, None, lambda: "https://127.0.0.1:5000/v3", None)


@pytest.mark.parametrize("bad", ["::1", "127.0.0.1", "0.0.0.0", "203.0.113.0/24", "not-an-ip", "169.254.1.1"])
def test_bad_addresses_are_refused(bad: str):
    with pytest.raises(ValueError):
        operator.check_address(bad)


def test_a_private_address_comes_with_a_warning():
    note = operator.Operator(ipaddress.IPv4Address("10.1.2.3"), "the route to x").note
    assert "NAT" in note and "10.1.2.3/32" in note


def test_operator_file_is_written_and_git_ignored(tmp_path: Path):
    path = operator.write(tmp_path, operator.Operator(ipaddress.IPv4Address("203.0.113.7"), "test"))
    data = json.loads(path.read_text())
    assert data[operator.VARIABLE] == ["203.0.113.7/32"]
    assert operator.VARIABLE in blocks(TF, "variable")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(TF / operator.TFVARS_FILE)], cwd=REPO, timeout=30)
    assert ignored.returncode == 0, "tf/operator.auto.tfvars.json would be committed"
    assert sorted([tfvars.TFVARS_FILE, operator.TFVARS_FILE]) == [tfvars.TFVARS_FILE, operator.TFVARS_FILE]  # read last


def test_cli_without_a_way_to_learn_the_address_stops_before_terraform(tmp_path: Path):
    project = tmp_path / "p"
    (project / "tf").mkdir(parents=True)
    (project / "tf" / "variables.tf").write_text((TF / "variables.tf").read_text())  # a module to point at
    cfg = tmp_path / "p" / "cxops.yaml"
    cfg.write_text(yaml.safe_dump(base_config()))
    env = {k: v for k, v in os.environ.items() if k not in (operator.ENV_VAR, "OS_CLOUD")}
    env.update({"CXOPS_CONFIG": str(cfg), "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml"), "HOME": str(tmp_path)})
    proc = subprocess.run(
        [sys.executable, "-m", "cxops", "infra", "plan", "--no-preflight", "--chdir", str(project / "tf")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=project,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--operator-address" in lines[0], proc.stderr
    assert not (project / "tf" / ".terraform").exists(), "Terraform ran before it knew whose address to open"
    assert not (project / "tf" / operator.TFVARS_FILE).exists()
