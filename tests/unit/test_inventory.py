"""Terraform outputs → Ansible inventory (Kubespray's groups) and ssh config, from recorded `terraform output -json`
(tests/fixtures/tf_outputs.json: the stand-in module's outputs for the repository's cxops.yaml, with cloud-like ids).

The ssh config is read back by the real OpenSSH client (`ssh -G`, which resolves a host without connecting).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from tfhelpers import cxops, project

from cxops import generated
from cxops.config import load_config
from cxops.errors import CxopsError
from cxops.infra import inventory, outputs

RECORDED = REPO / "tests" / "fixtures" / "tf_outputs.json"
GOLDEN = REPO / "tests" / "fixtures" / "inventory" / "hosts.yaml"


def recorded() -> dict:
    return json.loads(RECORDED.read_text())


def test_inventory_for_the_repository_config_has_not_drifted():
    """The inventory the repository's cxops.yaml gets from the recorded outputs equals the reviewed golden file."""
    text = inventory.hosts_text(outputs.parse(recorded()))
    assert not generated.drift({GOLDEN: text}), "\n".join(generated.drift({GOLDEN: text}))


def test_kubespray_groups_and_contract_fields():
    inv = yaml.safe_load(inventory.hosts_text(outputs.parse(recorded())))["all"]
    assert inv["hosts"]["node1"] == {
        "ansible_host": "192.168.1.11",
        "ip": "192.168.1.11",
        "access_ip": "192.168.1.11",
        "data_volume_id": "0e7c5b1a-3f4d-4e2b-9a8c-6d5f4e3b2a10",
        "node_labels": {"cxops.io/data-volume": "true"},
    }
    assert "data_volume_id" not in inv["hosts"]["node2"]
    groups = inv["children"]
    assert list(groups["kube_control_plane"]["hosts"]) == ["node1"]
    assert list(groups["etcd"]["hosts"]) == ["node1"]
    assert list(groups["kube_node"]["hosts"]) == ["node1", "node2", "node3"]
    assert groups["gpu"] == {}
    assert set(groups["k8s_cluster"]["children"]) == {"kube_control_plane", "kube_node"}
    assert inv["vars"] == {
        "ansible_user": "cc",
        "ansible_ssh_common_args": "-F {{ inventory_dir }}/ssh_config",
        "supplementary_addresses_in_ssl_keys": ["127.0.0.1", "localhost", "203.0.113.10"],
    }


def test_the_node_with_the_data_volume_runs_workloads():
    """P5: the data volume is attached to the entry node (a control node). Kubespray taints a control node that is
    not in kube_node NoSchedule, so every PVC landed on a worker's root disk and the volume held nothing. The entry
    node is a kube_node now, labelled for the stateful workloads."""
    inv = yaml.safe_load(inventory.hosts_text(outputs.parse(recorded())))["all"]
    holder = [name for name, v in inv["hosts"].items() if "data_volume_id" in v]
    assert holder == ["node1"]
    assert "node1" in inv["children"]["kube_node"]["hosts"]
    assert inv["hosts"]["node1"]["node_labels"] == {inventory.DATA_LABEL: "true"}
    assert all("node_labels" not in inv["hosts"][n] for n in ("node2", "node3"))


def test_the_platforms_volumes_can_only_be_placed_on_the_node_with_the_data_volume():
    """P5, the other half: a schedulable data node is not enough, the scheduler could still put PostgreSQL,
    SeaweedFS, the registry or Prometheus on a worker's root disk. Their claims (as rendered into k8s/platform) name
    a StorageClass whose allowedTopologies admit only nodes carrying the label the inventory gives the data node."""
    platform = REPO / "k8s" / "platform"
    classes = [
        d
        for d in yaml.safe_load_all((platform / "namespaces" / "objects.yaml").read_text())
        if d["kind"] == "StorageClass"
    ]
    [data_class] = classes
    assert data_class["volumeBindingMode"] == "WaitForFirstConsumer"  # placement decided with the pod, not before
    [term] = data_class["allowedTopologies"]
    inv = yaml.safe_load(inventory.hosts_text(outputs.parse(recorded())))["all"]
    labelled = {k for n, v in inv["hosts"].items() for k, val in v.get("node_labels", {}).items() if val == "true"}
    assert term["matchLabelExpressions"] == [{"key": inventory.DATA_LABEL, "values": ["true"]}]
    assert labelled == {inventory.DATA_LABEL}
    name = data_class["metadata"]["name"]
    postgres = next(yaml.safe_load_all((platform / "postgres" / "objects.yaml").read_text()))
    assert postgres["spec"]["storage"]["storageClass"] == name
    assert (
        yaml.safe_load((platform / "object-store" / "values.yaml").read_text())["allInOne"]["data"]["storageClass"]
        == name
    )
    assert yaml.safe_load((platform / "registry" / "values.yaml").read_text())["persistence"]["storageClass"] == name
    prometheus = yaml.safe_load((platform / "monitoring" / "values.yaml").read_text())["prometheus"]["prometheusSpec"]
    assert prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == name


def test_the_api_certificate_names_the_floating_ip_the_security_group_opens():
    """P6: 6443 is open on the floating IP (to the operator), so the certificate must name it; group_vars may not
    set the same variable (they would override the inventory's)."""
    inv = yaml.safe_load(inventory.hosts_text(outputs.parse(recorded())))["all"]
    sans = inv["vars"]["supplementary_addresses_in_ssl_keys"]
    assert "203.0.113.10" in sans and "127.0.0.1" in sans  # the floating IP, and the tunnel of `cluster kubeconfig`
    for f in (REPO / "ansible" / "inventory" / "cxops" / "group_vars").rglob("*.yml"):
        assert "supplementary_addresses_in_ssl_keys" not in (yaml.safe_load(f.read_text()) or {}), f


def test_gpu_nodes_are_workers_too_and_single_node_clusters_schedule_on_control():
    raw = recorded()
    raw["nodes"]["value"]["node3"]["role"] = "gpu"
    groups = yaml.safe_load(inventory.hosts_text(outputs.parse(raw)))["all"]["children"]
    assert list(groups["gpu"]["hosts"]) == ["node3"]
    assert list(groups["kube_node"]["hosts"]) == ["node1", "node2", "node3"]
    single = recorded()
    single["nodes"]["value"] = {"node1": single["nodes"]["value"]["node1"]}
    groups = yaml.safe_load(inventory.hosts_text(outputs.parse(single)))["all"]["children"]
    assert list(groups["kube_node"]["hosts"]) == ["node1"]  # Kubespray needs a kube_node


def test_ssh_config_resolves_through_the_bastion(tmp_path: Path):
    cfg = load_config(REPO / "cxops.yaml")
    path = tmp_path / "ssh_config"
    path.write_text(inventory.ssh_config_text(cfg, outputs.parse(recorded()), tmp_path))
    assert path.read_text().startswith("# generated by cxops")

    def resolved(host: str) -> dict[str, str]:
        res = subprocess.run(["ssh", "-G", "-F", str(path), host], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        return dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)

    bastion = resolved("bastion")
    assert bastion["hostname"] == "203.0.113.10" and "proxyjump" not in bastion
    for host in ("node2", "192.168.1.12"):  # by name (a user) and by address (what Ansible connects to)
        node = resolved(host)
        assert node["hostname"] == "192.168.1.12"
        assert node["proxyjump"] == "bastion"
        assert node["user"] == "cc"
        assert node["stricthostkeychecking"] == "accept-new"
        assert node["userknownhostsfile"] == str(tmp_path.resolve() / "known_hosts")
        assert node["identityfile"].endswith("/.ssh/id_rsa_chameleon")


def _ssh_resolved(path: Path, host: str) -> dict[str, str]:
    res = subprocess.run(["ssh", "-G", "-F", str(path), host], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)


def test_host_keys_of_a_rebuilt_cluster_are_new_not_changed(tmp_path: Path):
    """P4: destroy + apply gives new instances (new host keys) on the same addresses (and an adopted floating IP).
    OpenSSH files a key under HostKeyAlias when set, else under the host name; under `accept-new` a known name with
    another key is refused. Real OpenSSH (`ssh -G`, `ssh-keygen -F`) says under which name each host's key is looked
    up: after the rebuild no name of the old cluster may be looked up again."""
    cfg = load_config(REPO / "cxops.yaml")
    before = outputs.parse(recorded())
    rebuilt_raw = recorded()
    for n, node in enumerate(rebuilt_raw["nodes"]["value"].values()):
        node["id"] = f"00000000-0000-4000-8000-00000000000{n}"
    after = outputs.parse(rebuilt_raw)
    old, new = tmp_path / "old", tmp_path / "new"
    for d, cluster in ((old, before), (new, after)):
        d.mkdir()
        (d / "ssh_config").write_text(inventory.ssh_config_text(cfg, cluster, tmp_path))
    known = tmp_path / "known_hosts"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmDqZqGq3y1N9rZ5Lq0m3bq0WzjvBqv0bq6cXlQw5xY"
    hosts = ("bastion", "node1", "192.168.1.11", "node2", "192.168.1.12")
    lookup = {h: _ssh_resolved(old / "ssh_config", h) for h in hosts}
    names = {r.get("hostkeyalias") or r["hostname"] for r in lookup.values()}
    known.write_text("".join(f"{name} {key}\n" for name in names))  # what accept-new filed for the old cluster
    for host in hosts:
        resolved = _ssh_resolved(new / "ssh_config", host)
        name = resolved.get("hostkeyalias") or resolved["hostname"]
        found = subprocess.run(["ssh-keygen", "-F", name, "-f", str(known)], capture_output=True, text=True)
        assert found.returncode != 0, f"{host}: the rebuilt node's key would be checked against {name}'s old key"
    # and the same node reached by name or by address (Ansible) shares one entry: its instance id
    resolved = [_ssh_resolved(new / "ssh_config", h)["hostkeyalias"] for h in ("node1", "192.168.1.11", "bastion")]
    assert set(resolved) == {after.nodes[0].id}


BAD_OUTPUTS = {
    "nothing applied": (lambda d: d.clear(), "no Terraform outputs: nothing is provisioned yet"),
    "floating_ip missing": (lambda d: d.pop("floating_ip"), "terraform output `floating_ip` is missing"),
    "data_volume_id missing": (lambda d: d.pop("data_volume_id"), "`data_volume_id` is missing"),
    "node without address": (lambda d: d["nodes"]["value"]["node2"].pop("address"), "`nodes.node2.address` is missing"),
    "address not an IP": (
        lambda d: d["nodes"]["value"]["node2"].update(address="node2.local"),
        "`nodes.node2.address` is not an IP address: 'node2.local'",
    ),
    "unknown role": (
        lambda d: d["nodes"]["value"]["node2"].update(role="master"),
        "`nodes.node2.role` must be one of control, worker, gpu, got 'master'",
    ),
    "entry node not control": (
        lambda d: d["entry_node"].update(value="node2"),
        "`entry_node` must name a control node of `nodes`, got 'node2'",
    ),
    "nodes not a map": (lambda d: d["nodes"].update(value=[]), "`nodes` must be a non-empty map"),
    "two nodes one address": (
        lambda d: d["nodes"]["value"]["node3"].update(address="192.168.1.12"),
        "`nodes` gives two nodes one address",
    ),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_outputs_are_one_clear_error(case: str):
    change, message = BAD_OUTPUTS[case]
    raw = copy.deepcopy(recorded())
    change(raw)
    with pytest.raises(CxopsError) as info:
        outputs.parse(raw)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_inventory_command_writes_checks_and_refuses_bad_files(tmp_path: Path):
    config = project(tmp_path)
    shutil.copy(RECORDED, tmp_path / "outputs.json")
    res = cxops(config, "infra", "inventory", "--outputs", "outputs.json")
    assert res.returncode == 0, res.stderr
    hosts = tmp_path / "ansible" / "inventory" / "cxops" / "hosts.yaml"
    assert hosts.read_text() == GOLDEN.read_text()
    assert (hosts.parent / "ssh_config").is_file()
    assert cxops(config, "infra", "inventory", "--outputs", "outputs.json", "--check").returncode == 0
    hosts.write_text(hosts.read_text().replace("192.168.1.12", "192.168.1.99"))  # a hand edit
    res = cxops(config, "infra", "inventory", "--outputs", "outputs.json", "--check")
    assert (
        res.returncode == 1
        and "run `cxops infra inventory`" in res.stderr
        and "-      ansible_host: 192.168.1.99" in res.stderr
    ), res.stderr
    (tmp_path / "broken.json").write_text('{"nodes": ')
    res = cxops(config, "infra", "inventory", "--outputs", "broken.json")
    assert res.returncode == 1 and res.stderr.startswith("error: outputs file broken.json is not JSON"), res.stderr
    partial = recorded()
    partial.pop("ssh_user")
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    res = cxops(config, "infra", "inventory", "--outputs", "partial.json")
    assert res.returncode == 1 and "terraform output `ssh_user` is missing" in res.stderr, res.stderr
    assert hosts.read_text() != GOLDEN.read_text()  # a failed run leaves the previous files alone
