"""`cxops cloud ping|images|flavors|networks|quotas|servers` against the local OpenStack."""

from __future__ import annotations

import json

import pytest

from tests.openstack.labtools import cli, write_config

pytestmark = pytest.mark.openstack


def _json(config, *args, env=None):
    res = cli(config, "cloud", *args, "--json", env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_ping_with_application_credential(lab_env, tmp_path):
    cfg = write_config(tmp_path)
    info = _json(cfg, "ping")
    assert info["cloud"] == "cxops-lab"
    assert info["auth_type"] == "v3applicationcredential"
    assert {"compute", "network", "image", "identity", "placement"} <= set(info["services"])
    assert "member" in info["roles"]


def test_cloud_option_beats_os_cloud(lab_env, tmp_path):
    cfg = write_config(tmp_path)
    info = _json(cfg, "ping", "--cloud", "cxops-lab-password")
    assert info["auth_type"] == "password"


def test_unknown_cloud_is_a_one_line_error(lab_env, tmp_path):
    res = cli(write_config(tmp_path), "cloud", "ping", "--cloud", "nope")
    assert res.returncode == 1
    assert "error: cloud 'nope' is not in clouds.yaml" in res.stderr
    assert "cxops-lab" in res.stderr  # names what would be valid


def test_images_flavors_networks(lab_env, openstack_lab, tmp_path):
    cfg = write_config(tmp_path)
    assert openstack_lab["image"] in [i["name"] for i in _json(cfg, "images")]
    flavors = {f["name"]: f for f in _json(cfg, "flavors")}
    assert flavors["m1.small"]["vcpus"] == 1 and flavors["m1.small"]["ram_mb"] == 2048
    nets = {n["name"]: n for n in _json(cfg, "networks")}
    assert nets["public"]["external"] is True
    assert nets["cxops-net"]["external"] is False and nets["cxops-net"]["subnets"] == ["10.42.0.0/24"]


def test_quotas_and_servers(lab_env, conn, tmp_path, openstack_lab):
    cfg = write_config(tmp_path)
    quotas = {q["resource"]: q for q in _json(cfg, "quotas")}
    for res in ("instances", "cores", "ram_mb", "volumes", "volume_gb", "floating_ips", "security_groups"):
        assert res in quotas
    before = quotas["instances"]["used"]
    server = conn.compute.create_server(
        name="probe-server",
        flavor_id=conn.compute.find_flavor("m1.tiny").id,
        image_id=conn.image.find_image(openstack_lab["image"]).id,
        networks=[{"uuid": conn.network.find_network("cxops-net").id}],
    )
    try:
        conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
        rows = _json(cfg, "servers")
        assert [(r["name"], r["status"], r["flavor"]) for r in rows] == [("probe-server", "ACTIVE", "m1.tiny")]
        assert rows[0]["addresses"][0].startswith("10.42.0.")
        assert {q["resource"]: q for q in _json(cfg, "quotas")}["instances"]["used"] == before + 1
    finally:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)


def test_tables_render(lab_env, tmp_path):
    res = cli(write_config(tmp_path), "cloud", "flavors")
    assert res.returncode == 0, res.stderr
    assert "m1.medium" in res.stdout and "vcpus" in res.stdout
