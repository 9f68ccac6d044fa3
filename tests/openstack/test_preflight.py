"""`cxops infra preflight` passing and failing against the local OpenStack."""

from __future__ import annotations

import json

import pytest

from tests.openstack.labtools import cli, write_config

pytestmark = pytest.mark.openstack


def _preflight(cfg):
    res = cli(cfg, "infra", "preflight", "--json")
    return res.returncode, json.loads(res.stdout), res.stderr


def _failed(report):
    return {c["check"]: c for c in report["checks"] if not c["ok"]}


def test_preflight_passes_on_a_plan_that_fits(lab_env, tmp_path):
    rc, report, err = _preflight(write_config(tmp_path))
    assert rc == 0, (report, err)
    assert report["ok"] is True
    names = {c["check"] for c in report["checks"]}
    assert {
        "image",
        "flavor m1.small",
        "keypair",
        "external network",
        "quota instances",
        "quota cores",
        "quota ram_mb",
        "quota volumes",
        "quota floating_ips",
        "quota security_groups",
    } <= names


def test_missing_image_unknown_flavor_and_keypair(lab_env, tmp_path):
    cfg = write_config(
        tmp_path,
        cloud={
            "image": "cxops-lab-debian11",
            "key_pair": "nobody",
            "flavors": {"control": "m1.smal", "worker": "m1.small"},
        },
    )
    rc, report, err = _preflight(cfg)
    assert rc == 1
    assert "preflight: 3 problem(s)" in err
    failed = _failed(report)
    assert failed["image"]["detail"] == "image 'cxops-lab-debian11' not found"
    assert "cxops-lab-debian12" in failed["image"]["instead"]
    assert "m1.small" in failed["flavor m1.smal"]["instead"]
    assert "cxops-lab-key" in failed["keypair"]["instead"]


def test_external_network_must_be_external(lab_env, tmp_path):
    rc, report, _ = _preflight(write_config(tmp_path, cloud={"external_network": "cxops-net"}))
    assert rc == 1
    assert "public" in _failed(report)["external network"]["instead"]


def test_quota_exceeded_after_lowering_it(lab_env, admin_conn, openstack_lab, tmp_path):
    project = admin_conn.identity.find_project(openstack_lab["project"])
    before = admin_conn.get_compute_quotas(project.id)
    # 3 x m1.small = 3 cores, 6144 MB; leave room for 2 cores only
    admin_conn.set_compute_quotas(project.id, cores=2)
    try:
        rc, report, _err = _preflight(write_config(tmp_path))
    finally:
        admin_conn.set_compute_quotas(project.id, cores=before["cores"])
    assert rc == 1, report
    failed = _failed(report)
    assert set(failed) == {"quota cores"}
    assert failed["quota cores"]["detail"] == "needs 3, only 2 free (limit 2, used 0)"
    assert failed["quota cores"]["instead"] == (
        "no flavor fits 3 nodes; at most 2 x m1.tiny fit: free quota or ask for more"
    )


def test_volume_quota_suggests_a_size_that_fits(lab_env, tmp_path):
    rc, report, _ = _preflight(write_config(tmp_path, cloud={"data_volume_gb": 5000}))
    assert rc == 1
    assert _failed(report)["quota volume_gb"]["instead"] == "cloud.data_volume_gb <= 1000 fits"


def test_reservation_without_blazar_fails(lab_env, tmp_path):
    rc, report, _ = _preflight(
        write_config(tmp_path, cloud={"lease": {"reservation_id": "3f1c0d9e-5b7a-4c2e-9d1f-0a1b2c3d4e5f"}})
    )
    assert rc == 1
    assert "no reservation (Blazar) service" in _failed(report)["reservation"]["detail"]


def test_table_output_names_the_problem(lab_env, tmp_path):
    res = cli(write_config(tmp_path, cloud={"image": "nope"}), "infra", "preflight")
    assert res.returncode == 1
    assert "FAIL" in res.stdout and "image 'nope' not found" in res.stdout
    assert res.stderr.startswith("error: preflight: 1 problem(s): image")
