"""The walkthrough notebooks that run against the local OpenStack (scripts/openstack-lab, this directory's session
fixture), executed as a user's Jupyter would (nbclient, the pinned ipykernel), in order in one project, each from the
project's notebooks/ folder with the kernel started there (where front ends start it).

01 (credentials → ping → preflight) and 08 (GPU capacity, an ephemeral job on a GPU flavor) run every cell but the
one that needs cxops inside a real cloud image. 02, 03 and 11 run against the same cloud with one stand-in: no
OpenStack provider binary can be had here, so the project's tf/ is tests/fixtures/tf_stand_in (built-in
`terraform_data` resources shaped like tf/, with tf/variables.tf copied in, as tests/integration/test_infra_runner.py
uses it): render, preflight (real, against the cloud), init, plan, apply, outputs, inventory and destroy all run for
real on it. The cluster install and kubeconfig need real hosts with systemd: tagged, skipped and listed.

The GPU scenario (a flavor asking for one V100 and an aggregate declaring two on lab-gpu1) is what a cloud
operator sets up; the fixture makes it with the admin credential and removes it afterwards.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from notebook_runner import execute, notebook, output_text, project_copy

from tests.openstack.labtools import write_config
from tests.tfhelpers import tf_env

pytestmark = pytest.mark.openstack

REPO = Path(__file__).resolve().parents[2]
GPU_FLAVOR = "g1.v100.walkthrough"


@pytest.fixture(scope="module")
def project(tmp_path_factory, openstack_lab) -> Path:
    root = tmp_path_factory.mktemp("walkthrough")
    config = write_config(root, training={"flavor": GPU_FLAVOR})
    shutil.copytree(REPO / "k8s", root / "k8s")
    shutil.copytree(REPO / "tests" / "fixtures" / "tf_stand_in", root / "tf")
    shutil.copy(REPO / "tf" / "variables.tf", root / "tf" / "variables.tf")
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
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(REPO / "tests" / "fixtures" / "terraformrc"))
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


def test_02_provision_then_03_install_prerequisites(env):
    nb, skipped = execute(project_copy(env.parent) / notebook("02").name)
    assert skipped == []
    assert (env.parent / "tf" / "cxops.auto.tfvars.json").is_file()
    assert (env.parent / "tf" / "terraform.tfstate").is_file()
    hosts = (env.parent / "ansible" / "inventory" / "cxops" / "hosts.yaml").read_text()
    assert "kube_control_plane" in hosts and "node1" in hosts
    nb, skipped = execute(project_copy(env.parent) / notebook("03").name)
    assert [s.split(": ", 1)[1] for s in skipped] == ['run("cluster install")', 'run("cluster kubeconfig")']
    assert "argo" in output_text(nb).lower()


def test_08_gpu_capacity_and_an_ephemeral_job(env, gpu_flavor, conn, openstack_lab, monkeypatch):
    monkeypatch.setenv("CXOPS_GPU_CLOUD", openstack_lab["admin_cloud"])  # the operator's read-only view
    nb, skipped = execute(project_copy(env.parent) / notebook("08").name)
    assert [s.split(": ", 1)[1] for s in skipped] == ['run("step train")']
    out = output_text(nb)
    assert gpu_flavor in out and "V100" in out, out
    assert "gpu-check" in out and "SUCCEEDED" in out.upper(), out
    assert list(conn.compute.servers()) == []  # the job's server was deleted


def test_11_teardown(env):
    nb, skipped = execute(project_copy(env.parent) / notebook("11").name)
    assert skipped == []
    state = json.loads((env.parent / "tf" / "terraform.tfstate").read_text())
    left = {r.get("module", "") + "." + r["type"] for r in state["resources"]}
    assert left == {"module.storage.terraform_data"}, left  # only the data volume is kept
    assert "Destroy complete" in output_text(nb) or "destroyed" in output_text(nb).lower(), output_text(nb)
