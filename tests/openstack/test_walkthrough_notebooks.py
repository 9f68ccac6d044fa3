"""The walkthrough notebooks that run against the local OpenStack (scripts/openstack-lab, this directory's session
fixture), executed as a user's Jupyter would (nbclient, the pinned ipykernel), in order in one project, each from the
project's notebooks/ folder with the kernel started there (where front ends start it).

01 (credentials → ping → preflight) and 08 (GPU capacity, an ephemeral job on a GPU flavor) run every cell but the
one that needs cxops inside a real cloud image. 02, 03 and 11 run in one test against the same cloud with the
project's own tf/ and the real OpenStack provider (terraform-provider-openstack 3.4.0, built by
scripts/install-go-tools and installed by Terraform's own `init` from a filesystem mirror, as in
test_provisioning.py; TF_CLI_CONFIG_FILE pointing at that mirror is the only test-side setting): render, preflight,
init, plan, apply, outputs, inventory and destroy create and delete real networks, servers and a volume. One test,
because the cluster 02 builds lives until 11 destroys it and every openstack test must leave the project empty;
the data volume 11 keeps is then deleted the way docs/provisioning.md says. The cluster install and kubeconfig
need real hosts with systemd: tagged, skipped and listed.

The GPU scenario (a flavor asking for one V100 and an aggregate declaring two on lab-gpu1) is what a cloud
operator sets up; the fixture makes it with the admin credential and removes it afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_runner import execute, notebook, output_text, project_copy, ready_for_the_cluster

from tests.openstack.labtools import write_config
from tests.openstack.test_provisioning import NOT_IN_A_CLONE
from tests.tfhelpers import go_tools, tf_env

pytestmark = pytest.mark.openstack

REPO = Path(__file__).resolve().parents[2]
GPU_FLAVOR = "g1.v100.walkthrough"


@pytest.fixture(scope="module")
def project(tmp_path_factory, openstack_lab) -> Path:
    root = tmp_path_factory.mktemp("walkthrough")
    config = write_config(root, training={"flavor": GPU_FLAVOR})
    shutil.copytree(REPO / "k8s", root / "k8s")
    shutil.copytree(REPO / "tf", root / "tf", ignore=NOT_IN_A_CLONE)
    ready_for_the_cluster(root)  # docs/cluster.md steps 4-5, before notebook 03's render check
    return config


@pytest.fixture(scope="module")
def gpu_flavor(openstack_lab):
    from cxops.cloud.connection import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", openstack_lab["clouds_yaml"])
        admin = connect(openstack_lab["admin_cloud"])
    flavor = admin.compute.create_flavor(name=GPU_FLAVOR, vcpus=1, ram=512, disk=1, is_public=True)
    aggregate = None
    try:
        admin.compute.create_flavor_extra_specs(flavor, {"pci_passthrough:alias": "V100:1"})
        aggregate = admin.compute.create_aggregate(name="gpu-walkthrough")
        admin.compute.set_aggregate_metadata(aggregate, {"gpu": "True", "gpu_count": "2", "gpu_type": "V100"})
        admin.compute.add_host_to_aggregate(aggregate, "lab-gpu1")
        yield GPU_FLAVOR
    finally:
        if aggregate is not None:
            admin.compute.remove_host_from_aggregate(aggregate, "lab-gpu1")
            admin.compute.delete_aggregate(aggregate)
        admin.compute.delete_flavor(flavor)


@pytest.fixture
def env(project, lab_env, monkeypatch):
    """What a user's shell has: the cloud (lab_env), the project's config, Terraform's CLI config for the tests."""
    monkeypatch.setenv("CXOPS_CONFIG", str(project))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", go_tools()["terraformrc"])  # the mirror: the public registry's stand-in
    monkeypatch.setenv("CXOPS_TERRAFORM", "embedded")
    # the lab's identity endpoint is on loopback, so the operator's address cannot come from its route: name one
    # (a documentation address, RFC 5737), as a user behind NAT would
    monkeypatch.setenv("CXOPS_OPERATOR_ADDRESS", tf_env()["CXOPS_OPERATOR_ADDRESS"])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return project


def test_01_credentials_ping_preflight(env):
    nb, skipped = execute(project_copy(env.parent) / notebook("01").name)
    assert skipped == []
    out = output_text(nb)
    assert "cxops-lab-debian12" in out and "m1.small" in out and "public" in out, out
    assert "preflight" in out.lower()


def test_02_provision_03_install_prerequisites_11_teardown(env, conn):
    root = env.parent
    nb, skipped = execute(project_copy(root) / notebook("02").name)
    assert skipped == []
    assert (root / "tf" / "cxops.auto.tfvars.json").is_file()
    outputs = json.loads((root / "tf" / "terraform.tfstate").read_text())["outputs"]
    servers = {s.name: s for s in conn.compute.servers()}
    for node, n in outputs["nodes"]["value"].items():  # the real provider built them: Nova has each one
        assert servers[n["instance"]].id == n["id"] and servers[n["instance"]].status == "ACTIVE", node
    [fip] = [f for f in conn.network.ips() if f.floating_ip_address == outputs["floating_ip"]["value"]]
    assert fip.fixed_ip_address == outputs["nodes"]["value"]["node1"]["address"]
    assert "no changes: the infrastructure matches the configuration" in output_text(nb)  # plan --check
    hosts = (root / "ansible" / "inventory" / "cxops" / "hosts.yaml").read_text()
    assert "kube_control_plane" in hosts and "node1" in hosts and outputs["floating_ip"]["value"] in hosts

    nb, skipped = execute(project_copy(root) / notebook("03").name)
    assert [s.split(": ", 1)[1] for s in skipped] == ['run("cluster install")', 'run("cluster kubeconfig")']
    assert "argo" in output_text(nb).lower()

    volume_id = outputs["data_volume_id"]["value"]
    nb, skipped = execute(project_copy(root) / notebook("11").name)
    assert skipped == []
    state = json.loads((root / "tf" / "terraform.tfstate").read_text())
    left = {r.get("module", "") + "." + r["type"] for r in state["resources"]}
    assert left == {"module.storage.openstack_blockstorage_volume_v3"}, left  # only the data volume is kept
    assert "destroyed" in output_text(nb).lower(), output_text(nb)
    assert list(conn.compute.servers()) == []
    volume = conn.block_storage.get_volume(volume_id)
    assert (volume.status, volume.attachments) == ("available", [])

    # deleting the data on purpose, as docs/provisioning.md says: forget it in the state, then delete the volume
    res = subprocess.run(
        [sys.executable, "-m", "cxops.infra.tf_embedded", "-chdir=tf", "state", "rm", "module.storage"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, wait=120)


def test_08_gpu_capacity_and_an_ephemeral_job(env, gpu_flavor, conn, openstack_lab, monkeypatch):
    monkeypatch.setenv("CXOPS_GPU_CLOUD", openstack_lab["admin_cloud"])  # the operator's read-only view
    nb, skipped = execute(project_copy(env.parent) / notebook("08").name)
    assert [s.split(": ", 1)[1] for s in skipped] == ['run("step train")']
    out = output_text(nb)
    assert gpu_flavor in out and "V100" in out, out
    assert "gpu-check" in out and "SUCCEEDED" in out.upper(), out
    assert list(conn.compute.servers()) == []  # the job's server was deleted
