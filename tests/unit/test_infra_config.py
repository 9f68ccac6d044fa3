"""Bad provisioning input in cxops.yaml: each gives one clear line naming the value and what would be valid, a
non-zero exit, and nothing run (no tfvars written, Terraform never started)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tfhelpers import cxops, project

from cxops.config import addressing
from cxops.config.schema import Cloud

NODES = [
    {"name": "node1", "address": "192.168.1.11", "role": "control"},
    {"name": "node2", "address": "192.168.1.12", "role": "worker"},
]

BAD = {
    "no nodes": ({"nodes": []}, "nodes is empty"),
    "no control node": (
        {"nodes": [{"name": "n1", "address": "192.168.1.11", "role": "worker"}]},
        "at least one node must have role: control",
    ),
    "two nodes, one address": (
        {"nodes": [NODES[0], {**NODES[1], "address": "192.168.1.11"}]},
        "nodes node1, node2 share address 192.168.1.11",
    ),
    "outside the subnet": (
        {"nodes": [NODES[0], {**NODES[1], "address": "10.0.0.12"}]},
        "address 10.0.0.12 is outside network_cidr 192.168.1.0/24 (use 192.168.1.2-192.168.1.127)",
    ),
    "on the gateway": (
        {"nodes": [{**NODES[0], "address": "192.168.1.1"}]},
        "address 192.168.1.1 is the subnet's gateway",
    ),
    "on the broadcast": (
        {"nodes": [{**NODES[0], "address": "192.168.1.255"}]},
        "192.168.1.255 is the network or broadcast address",
    ),
    "on the network address": (
        {"nodes": [{**NODES[0], "address": "192.168.1.0"}]},
        "192.168.1.0 is the network or broadcast address",
    ),
    "in the DHCP pool": (
        {"nodes": [{**NODES[0], "address": "192.168.1.200"}]},
        "is in the DHCP pool 192.168.1.128-192.168.1.254",
    ),
    "gpu node without a gpu flavor": (
        {"nodes": [NODES[0], {"name": "g1", "address": "192.168.1.20", "role": "gpu"}]},
        "node(s) g1 have role gpu but cloud.flavors.gpu is unset",
    ),
    "volume size 0": ({"data_volume_gb": 0}, "cloud.data_volume_gb: Input should be greater than or equal to 1, got 0"),
    "reservation id not a UUID": ({"lease": {"reservation_id": "my-lease"}}, "must be a reservation UUID"),
    "lease to create with a bad start": (
        {"lease": {"create": {"start": "tomorrow"}}},
        'cloud.lease.create.start: must be "now" or a UTC time YYYY-MM-DD HH:MM like 2026-12-07 09:00, got',
    ),
    "lease to create ending before its start": (
        {"lease": {"create": {"start": "2027-01-02 09:00", "end": "2027-01-01 09:00"}}},
        "end '2027-01-01 09:00' must be later than start '2027-01-02 09:00'",
    ),
    "lease to create for roles of two flavors": (
        {"lease": {"create": {}}, "flavors": {"control": "m1.small", "worker": "m1.large"}},
        "lease.create.flavor is unset and cloud.flavors differ by role (control: m1.small, worker: m1.large)",
    ),
    "even number of control nodes": (
        {"nodes": [NODES[0], {**NODES[1], "role": "control"}]},
        "quorum needs an odd count: use 1 or 3",
    ),
    "bad ssh CIDR": ({"ssh_allowed_cidrs": ["10.0.0.5/24"]}, "'10.0.0.5/24' is not a canonical network address"),
    "IPv6 api CIDR": ({"api_allowed_cidrs": ["2001:db8::/32"]}, "'2001:db8::/32' is not an IPv4 network"),
    "ssh user with a space": ({"ssh_user": "c c"}, "must be a Linux user name"),
    "hostname not a DNS label": ({"nodes": [{**NODES[0], "name": "Node_1"}]}, "must be a DNS label"),
    "floating ip not an address": ({"floating_ip": "public"}, "cloud.floating_ip"),
    "resolver not an address": ({"dns_nameservers": ["dns.google"]}, "must hold IPv4 addresses like 8.8.8.8"),
    "network too small": (
        {"network_cidr": "192.168.1.0/30", "nodes": [{**NODES[0], "address": "192.168.1.2"}]},
        "must be an IPv4 network from /16 to /28",
    ),
}


def run_main(monkeypatch, capsys, config: Path, *args: str) -> tuple[int, str]:
    """The real CLI entry point in this process (fast: no interpreter start per case); (exit code, stderr)."""
    from cxops.cli.main import main

    monkeypatch.setenv("CXOPS_CONFIG", str(config))
    monkeypatch.setattr("sys.argv", ["cxops", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("case", list(BAD))
def test_bad_cloud_config_is_one_line_and_runs_nothing(tmp_path: Path, monkeypatch, capsys, case: str):
    override, expected = BAD[case]
    config = project(tmp_path, override)
    for args in (["infra", "render"], ["infra", "plan", "--chdir", str(tmp_path / "stand-in"), "--no-preflight"]):
        code, err = run_main(monkeypatch, capsys, config, *args)
        assert code == 2, (args, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert expected in lines[0], lines[0]
        assert re.match(r"error: \S*cxops\.yaml:\d+ cloud", lines[0]), lines[0]  # file:line key.path (loader)
    assert not (tmp_path / "stand-in" / "cxops.auto.tfvars.json").exists()  # nothing rendered
    assert not (tmp_path / "stand-in" / ".terraform").exists()  # Terraform never ran


def test_bad_config_through_the_real_command(tmp_path: Path):
    """One case end to end in its own process: exit code and message as a user sees them."""
    override, expected = BAD["two nodes, one address"]
    config = project(tmp_path, override)
    res = cxops(config, "infra", "apply", "--chdir", "stand-in", "--no-preflight")
    assert res.returncode == 2 and expected in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "stand-in" / ".terraform").exists()


def test_no_clouds_yaml_or_unknown_cloud_stops_before_terraform(tmp_path: Path):
    config = project(tmp_path, {"name": "no-such-cloud"})
    empty = tmp_path / "clouds.yaml"
    empty.write_text("clouds: {}\n")
    res = cxops(config, "infra", "apply", "--chdir", "stand-in", env={"OS_CLIENT_CONFIG_FILE": str(empty)})
    assert res.returncode == 1
    assert "cloud 'no-such-cloud' is not in clouds.yaml" in res.stderr
    assert not (tmp_path / "stand-in" / ".terraform").exists()
    assert not (tmp_path / "stand-in" / "terraform.tfstate").exists()


def test_fixed_range_leaves_gateway_and_pool_free():
    assert str(addressing.gateway("10.1.0.0/16")) == "10.1.0.1"
    assert [str(a) for a in addressing.dhcp_pool("10.1.0.0/16")] == ["10.1.128.0", "10.1.255.254"]
    assert [str(a) for a in addressing.fixed_range("192.168.1.0/28")] == ["192.168.1.2", "192.168.1.7"]


def test_defaults_are_documented_and_closed_where_it_matters():
    fields = Cloud.model_fields
    for name in (
        "ssh_user",
        "ssh_allowed_cidrs",
        "api_allowed_cidrs",
        "http_allowed_cidrs",
        "floating_ip",
        "data_volume_name",
        "ssh_identity_file",
    ):
        assert fields[name].description, name
    assert fields["ssh_user"].default == "cc"  # Chameleon's images
    assert fields["api_allowed_cidrs"].default == []  # the API only through the bastion until opened on purpose
