"""Cluster install pieces that need no hosts: inventory and ssh_config reading, stage parsing, the recap parser, the
group_vars file rendered from cxops.yaml, and the UI list."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cxops import names
from cxops.cluster import install_checks as preflight
from cxops.cluster import inventory_files as inventory
from cxops.cluster import layout, runner, urls
from cxops.cluster_secrets import catalogue
from cxops.config.schema import Config
from cxops.errors import CxopsError
from tests.helpers import base_config

SSH_CONFIG = """\
Host bastion
  HostName 203.0.113.10
  User cc

Host node1
  HostName 192.168.1.11
  ProxyJump bastion

Host node2
  HostName 192.168.1.12
  ProxyJump bastion

Host *
  StrictHostKeyChecking accept-new
"""


def _hosts(**groups: list[str]) -> dict:
    hosts = {
        n: {"ansible_host": n, "ip": f"192.168.1.{11 + i}", "access_ip": f"192.168.1.{11 + i}"}
        for i, n in enumerate(["node1", "node2"])
    }
    children = {g: {"hosts": {h: None for h in members}} for g, members in groups.items()}
    children["k8s_cluster"] = {"children": {"kube_control_plane": None, "kube_node": None}}
    return {"all": {"hosts": hosts, "vars": {"ansible_user": "cc"}, "children": children}}


def _write(tmp_path: Path, data: dict) -> Path:
    (tmp_path / "hosts.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "ssh_config").write_text(SSH_CONFIG)
    return tmp_path


def test_inventory_groups_addresses_and_jump_host(tmp_path: Path) -> None:
    inv = inventory.load(
        _write(
            tmp_path, _hosts(kube_control_plane=["node1"], etcd=["node1"], kube_node=["node1", "node2"], gpu=["node2"])
        )
    )
    assert inv.first_control_plane == "node1"
    assert inv.groups["k8s_cluster"] == ["node1", "node2"]
    assert inv.groups["gpu"] == ["node2"]
    assert inv.address("node2") == "192.168.1.12"
    assert inv.jump_host == "bastion (203.0.113.10)"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["all"]["children"].pop("etcd"), "group etcd has no hosts"),
        (lambda d: d["all"].update(hosts={}), "no hosts under all.hosts"),
        (lambda d: d["all"]["children"]["kube_node"]["hosts"].update(node7=None), "missing from all.hosts: node7"),
        (lambda d: d["all"]["hosts"]["node2"].update(ansible_host="10.9.9.9"), "reached as '10.9.9.9', which no Host"),
    ],
)
def test_inventory_errors_name_the_problem(tmp_path: Path, mutate, message: str) -> None:
    data = _hosts(kube_control_plane=["node1"], etcd=["node1"], kube_node=["node1", "node2"])
    mutate(data)
    with pytest.raises(CxopsError, match=message):
        inventory.load(_write(tmp_path, data))


def test_wildcard_host_entries_count(tmp_path: Path) -> None:
    data = _hosts(kube_control_plane=["node1"], etcd=["node1"], kube_node=["node1", "node2"])
    data["all"]["hosts"]["node2"]["ansible_host"] = "192.168.1.12"
    _write(tmp_path, data)
    (tmp_path / "ssh_config").write_text(SSH_CONFIG + "\nHost 192.168.1.*\n  ProxyJump bastion\n")
    assert inventory.load(tmp_path).groups["kube_node"] == ["node1", "node2"]


def test_missing_inventory_says_which_command_writes_it(tmp_path: Path) -> None:
    with pytest.raises(CxopsError, match=r"no inventory: .*hosts.yaml does not exist; run `cxops infra inventory`"):
        inventory.load(tmp_path)


def test_stages_parse_in_install_order() -> None:
    assert layout.parse_stages([]) == ["all"]
    assert layout.parse_stages(["bootstrap,prepare"]) == ["prepare", "bootstrap"]
    assert layout.parse_stages(["kubernetes", "bootstrap"]) == ["kubernetes", "bootstrap"]
    with pytest.raises(CxopsError, match="unknown stage 'kubespray'"):
        layout.parse_stages(["kubespray"])
    with pytest.raises(CxopsError, match="give it alone"):
        layout.parse_stages(["all,prepare"])


def test_kubespray_missing_names_the_one_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(
        CxopsError,
        match=r"Kubespray tree missing at .*: run `git submodule update --init "
        r"ansible/kubespray`$",
    ):
        preflight.check_kubespray(tmp_path)


def test_root_application_missing_names_the_render_command(tmp_path: Path) -> None:
    with pytest.raises(CxopsError, match=r"run `cxops k8s render`"):
        preflight.check_root_application(tmp_path)


def test_recap_parser_reads_the_last_recap() -> None:
    text = """PLAY RECAP *****
node1 : ok=1 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0
PLAY [x] ****
TASK [node_prep : Install the node packages] ****
PLAY RECAP *********************************************************************
node1                      : ok=17   changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
node9                      : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""
    recap = {r.host: r for r in runner.parse_recap(text)}
    assert recap["node1"].ok == 17 and recap["node1"].changed == 0 and recap["node1"].skipped == 2
    assert recap["node9"].unreachable == 1
    assert (
        runner.task_name("TASK [node_prep : Install the node packages] ****") == "node_prep : Install the node packages"
    )


def test_group_vars_carry_config_values_not_literals(tmp_path: Path) -> None:
    raw = base_config()
    raw["serving"]["image_registry"] = "registry.example.internal:5000/team"
    raw["kubernetes"]["argocd_namespace"] = "gitops"
    cfg = Config.model_validate(raw)
    text = inventory.render_vars(cfg, tmp_path)
    assert text.startswith("# generated by cxops")
    data = yaml.safe_load(text)
    assert data["cxops_registry_host"] == "registry.example.internal:5000"
    assert data["cxops_argocd_namespace"] == "gitops"
    assert data["cxops_argocd_operator_account"] == names.argocd_operator_account(cfg)
    assert data["cxops_argocd_deploy_role"] == names.ARGOCD_DEPLOY_ROLE
    assert data["cxops_root_application_file"] == str(tmp_path / "k8s/argocd/root-application.yaml")
    assert [s["name"] for s in data["cxops_cluster_secrets"]] == [s.name for s in catalogue(cfg)]
    assert {s["generate"] for s in data["cxops_cluster_secrets"]} == {"random", "argocd", "user"}


def test_urls_use_the_configured_namespaces() -> None:
    raw = base_config()
    raw["kubernetes"]["platform_namespace"] = "ml-platform"
    rows = {u.name: u for u in urls.uis(Config.model_validate(raw))}
    assert rows["MLflow"].port_forward == "kubectl -n ml-platform port-forward svc/mlflow 5000:5000"
    assert rows["ArgoCD"].local == "http://127.0.0.1:8080"
    assert "cxops cluster credentials argocd" in rows["ArgoCD"].login  # tells how to read it, never prints it


def test_every_bootstrap_task_that_handles_a_credential_hides_its_output() -> None:
    """A task whose arguments read or send a password or token runs with no_log, so no value reaches a log."""
    import yaml as _yaml

    from tests.helpers import REPO

    tasks_dir = REPO / "ansible" / "roles" / "gitops_bootstrap" / "tasks"
    checked = 0
    for path in sorted(tasks_dir.glob("*.yml")):
        stack = list(_yaml.safe_load(path.read_text()) or [])
        while stack:
            task = stack.pop()
            if "block" in task:
                stack += task["block"]
                continue
            body = {k: v for k, v in task.items() if k not in ("name", "no_log", "when", "loop_control", "tags")}
            text = _yaml.safe_dump(body)
            if any(w in text for w in ("password", ".token", "stringData", "--from-env-file", "secret-init")):
                checked += 1
                assert task.get("no_log") is True, f"{path.name}: {task.get('name')} may print a credential"
    assert checked >= 6
