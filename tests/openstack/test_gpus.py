"""GPU capacity measured on a scenario built in the local OpenStack, with the expected numbers by hand.

Lab hosts: lab-gpu1, lab-gpu2 and lab-gpu3 carry 2 fake PCI GPUs each (alias V100); lab-gpu3's hypervisor is
named lab-gpu3.lab.example.org (an FQDN, as libvirt names them) while aggregates and servers name its compute
service host lab-gpu3; lab-vgpu1 reports 4 VGPU to Placement; lab-cpu1 has none.
Scenario: aggregate gpu-v100 (gpu=True, gpu_count=2, gpu_type=V100) = lab-gpu1 + lab-gpu2 + lab-gpu3; aggregate
cpu-only (gpu='False', gpu_count=4, gpu_type=V100) = lab-cpu1, which must NOT count; one running
g1.v100.medium (1 GPU), one running g1.vgpu (1 VGPU), one plain m1.tiny. Two flavors whose alias count is not a
positive integer (a100:0, a100:two) are skipped with a warning, and the rest is still reported.
By hand:
  g1.v100.medium (V100:1): total 2+2+2 = 6; used 1 on one host -> available 1+2+2 = 5
  g1.v100.large  (V100:1): 6 / 5 (same GPUs)
  g1.2v100.large (V100:2): total 1+1+1 = 3; the host with 1 free fits none -> available 0+1+1 = 2
  g1.vgpu        (VGPU=1): total 4; used 1 -> available 3
  g1.2vgpu       (VGPU=2): total 4//2 = 2; free 3 -> available 3//2 = 1
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.openstack.labtools import SCENARIO_KEY, cli, free_port, leaks, start_process, write_config

pytestmark = pytest.mark.openstack

FLAVORS = {  # name: (ram, extra specs)
    "g1.v100.medium": (1024, {"pci_passthrough:alias": "V100:1"}),
    "g1.v100.large": (2048, {"pci_passthrough:alias": "V100:1"}),
    "g1.2v100.large": (2048, {"pci_passthrough:alias": "V100:2"}),
    "g1.vgpu": (1024, {"resources:VGPU": "1"}),
    "g1.2vgpu": (1024, {"resources:VGPU": "2"}),
}
BAD_FLAVORS = {"g1.a100.zero": "a100:0", "g1.a100.two": "a100:two"}  # pci_passthrough:alias counts
FQDN_HOST = ("lab-gpu3", "lab-gpu3.lab.example.org")  # (compute service host, hypervisor name)
EXPECTED = {
    "g1.v100.medium": ("aggregate", "V100", 1, 6, 5),
    "g1.v100.large": ("aggregate", "V100", 1, 6, 5),
    "g1.2v100.large": ("aggregate", "V100", 2, 3, 2),
    "g1.vgpu": ("placement", "VGPU", 1, 4, 3),
    "g1.2vgpu": ("placement", "VGPU", 2, 2, 1),
}


@pytest.fixture(scope="module")
def gpu_scenario(openstack_lab):
    admin = _connect(openstack_lab, openstack_lab["admin_cloud"])
    user = _connect(openstack_lab, openstack_lab["cloud"])
    made = {"flavors": [], "aggregates": [], "servers": []}
    try:
        for name, (ram, specs) in FLAVORS.items():
            f = admin.compute.create_flavor(name=name, vcpus=2, ram=ram, disk=10, is_public=True)
            admin.compute.create_flavor_extra_specs(f, specs)
            made["flavors"].append(f)
        for name, alias in BAD_FLAVORS.items():
            f = admin.compute.create_flavor(name=name, vcpus=2, ram=1024, disk=10, is_public=True)
            made["flavors"].append(f)
            # Nova validates extra specs from microversion 2.86 on; clouds keep specs written before (2.85)
            r = admin.compute.post(
                f"/flavors/{f.id}/os-extra_specs",
                microversion="2.85",
                json={"extra_specs": {"pci_passthrough:alias": alias}},
            )
            assert r.status_code == 200, r.text
        for name, meta, hosts in (
            ("gpu-v100", {"gpu": "True", "gpu_count": "2", "gpu_type": "V100"}, ["lab-gpu1", "lab-gpu2", FQDN_HOST[0]]),
            ("cpu-only", {"gpu": "False", "gpu_count": "4", "gpu_type": "V100"}, ["lab-cpu1"]),
        ):
            agg = admin.compute.create_aggregate(name=name)
            made["aggregates"].append(agg)
            admin.compute.set_aggregate_metadata(agg, meta)
            for h in hosts:
                admin.compute.add_host_to_aggregate(agg, h)
        image = user.image.find_image(openstack_lab["image"])
        net = user.network.find_network(openstack_lab["network"])
        for name, flavor in (("gpu-a", "g1.v100.medium"), ("vgpu-a", "g1.vgpu"), ("plain-a", "m1.tiny")):
            s = user.compute.create_server(
                name=name,
                flavor_id=user.compute.find_flavor(flavor).id,
                image_id=image.id,
                networks=[{"uuid": net.id}],
                metadata={SCENARIO_KEY: "gpus"},
            )
            made["servers"].append(s)
        for s in made["servers"]:
            user.compute.wait_for_server(s, status="ACTIVE", failures=["ERROR"], wait=120)
        yield made
    finally:
        for s in made["servers"]:
            user.compute.delete_server(s, ignore_missing=True)
        for s in made["servers"]:
            user.compute.wait_for_delete(s, wait=120)
        for agg in made["aggregates"]:
            for h in admin.compute.get_aggregate(agg).hosts or []:
                admin.compute.remove_host_from_aggregate(agg, h)
            admin.compute.delete_aggregate(agg)
        for f in made["flavors"]:
            admin.compute.delete_flavor(f)
    project = admin.identity.find_project(openstack_lab["project"])
    left = leaks(admin, project.id, include_scenarios=True)
    assert not any(left.values()), f"GPU scenario leaked: {left}"


def _connect(lab, cloud):
    import os

    os.environ["OS_CLIENT_CONFIG_FILE"] = lab["clouds_yaml"]
    from cxops.cloud.connection import connect

    return connect(cloud)


def _rows(report):
    return {
        f["flavor"]: (f["source"], f["gpu_type"], f["gpus_per_instance"], f["total"], f["available"])
        for f in report["flavors"]
    }


def test_capacity_matches_the_hand_count(lab_env, gpu_scenario, openstack_lab, tmp_path):
    res = cli(write_config(tmp_path), "cloud", "gpus", "--cloud", openstack_lab["admin_cloud"], "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert _rows(report) == EXPECTED
    by_name = {f["flavor"]: f for f in report["flavors"]}
    # not lab-cpu1 (gpu='False'); lab-gpu3 joined on its service host, though its hypervisor is an FQDN
    assert by_name["g1.v100.medium"]["hosts"] == ["lab-gpu1", "lab-gpu2", "lab-gpu3"]
    for name, alias in BAD_FLAVORS.items():
        count = alias.split(":")[1]
        assert (
            f"flavor {name!r}: pci_passthrough:alias {alias!r} has count {count!r}; expected a positive integer;"
            " skipped"
        ) in report["warnings"]
    assert not any("lab-gpu3" in w for w in report["warnings"]), report["warnings"]
    assert by_name["g1.vgpu"]["hosts"] == ["lab-vgpu1"]
    table = cli(write_config(tmp_path), "cloud", "gpus", "--cloud", openstack_lab["admin_cloud"])
    assert table.returncode == 0 and "g1.2v100.large" in table.stdout


def test_the_fqdn_host_is_real(gpu_scenario, openstack_lab):
    """The scenario is what it claims: Nova names lab-gpu3's hypervisor by FQDN, its service by the short name."""
    admin = _connect(openstack_lab, openstack_lab["admin_cloud"])
    hvs = {h.name: h for h in admin.compute.hypervisors(details=True)}
    service, node = FQDN_HOST
    assert node in hvs and service not in hvs
    assert hvs[node].service_details["host"] == service


def test_member_credentials_get_a_clear_error(lab_env, gpu_scenario, tmp_path):
    res = cli(write_config(tmp_path), "cloud", "gpus")
    assert res.returncode == 1
    assert res.stderr.startswith("error: GPU capacity needs admin-level read access")


def test_cached_mode(lab_env, gpu_scenario, openstack_lab, tmp_path):
    cfg = write_config(tmp_path)
    args = ("cloud", "gpus", "--cloud", openstack_lab["admin_cloud"], "--json")
    first = json.loads(cli(cfg, *args).stdout)
    cached = json.loads(cli(cfg, *args, "--max-age", "600").stdout)
    assert cached["measured_at"] == first["measured_at"] and cached["age_seconds"] > 0
    assert _rows(cached) == EXPECTED
    assert (tmp_path / ".cxops" / "gpus" / f"{openstack_lab['admin_cloud']}.json").exists()


def test_serve_read_only_api(lab_env, gpu_scenario, openstack_lab, tmp_path):
    port = free_port()
    proc = start_process(
        write_config(tmp_path),
        "cloud",
        "gpus",
        "serve",
        "--cloud",
        openstack_lab["admin_cloud"],
        "--port",
        str(port),
        "--refresh",
        "5",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        from cxops.waiting import wait_until

        wait_until(
            lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, timeout=60, what="gpus serve /health"
        )
        rows = httpx.get(f"{base}/v1/gpus/flavors").json()
        assert {
            r["flavor"]: (r["source"], r["gpu_type"], r["gpus_per_instance"], r["total"], r["available"]) for r in rows
        } == EXPECTED
        one = httpx.get(f"{base}/v1/gpus/flavors/g1.2v100.large").json()
        assert [(r["total"], r["available"]) for r in one] == [(3, 2)]
        missing = httpx.get(f"{base}/v1/gpus/flavors/m1.tiny")
        assert missing.status_code == 404 and "g1.vgpu" in missing.json()["detail"]
        assert httpx.post(f"{base}/v1/gpus").status_code == 405  # read-only
        spec = httpx.get(f"{base}/openapi.json").json()
        assert set(spec["paths"]) == {"/health", "/v1/gpus", "/v1/gpus/flavors", "/v1/gpus/flavors/{name}"}
        first = httpx.get(f"{base}/v1/gpus").json()["measured_at"]
        time.sleep(6.5)  # one background refresh later the measurement is newer, the numbers the same
        again = httpx.get(f"{base}/v1/gpus").json()
        assert again["measured_at"] >= first
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
