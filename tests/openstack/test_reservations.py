"""Chameleon leases (P2): `cxops infra preflight` and `apply` against a cloud whose catalog has a reservation service.

The reservation service is tests/openstack/blazar_stand_in.py (its docstring says why no real Blazar runs here and
what stays real); everything else is the local OpenStack. The reserved flavor and the `reservation` scheduler hint
reaching the real provider and Nova are tested in test_provisioning.py's second apply, so no extra cluster is built.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.openstack.blazar_stand_in import LeaseApi, in_catalog, lease
from tests.openstack.labtools import cli, write_config

pytestmark = pytest.mark.openstack

RID = "5d2f0c1e-7a44-4c1b-9e3d-0f6a2b8c9d10"
NODES = 3  # the repository's cxops.yaml, which write_config starts from


@pytest.fixture(scope="module")
def blazar(openstack_lab):
    from cxops.cloud.connection import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", openstack_lab["clouds_yaml"])
        admin = connect(openstack_lab["admin_cloud"])
    api = LeaseApi()
    try:
        with in_catalog(admin, api):
            yield api, {f.name: f for f in admin.compute.flavors()}
    finally:
        api.close()


# case: (leases the service holds, cloud.reservation_id, cloud.flavors, words the one error line must hold)
CASES = {
    "no reservation_id on a cloud with leases": (
        lambda f: [],
        None,
        "m1.small",
        ["cloud.reservation_id is unset", f"reserve {NODES} instances", "set cloud.reservation_id"],
    ),
    "a reservation that does not exist": (
        lambda f: [lease(str(uuid.UUID(int=7)), "ACTIVE", 3, f["m1.small"])],
        RID,
        "m1.small",
        [f"cloud.reservation_id {RID} is not a reservation", f"reservations that exist: {uuid.UUID(int=7)}"],
    ),
    "a lease not yet started": (
        lambda f: [lease(RID, "PENDING", 3, f["m1.small"])],
        RID,
        "m1.small",
        [f"({RID}) has not started: PENDING", "wait for it to start"],
    ),
    "a lease already ended": (
        lambda f: [lease(RID, "TERMINATED", 3, f["m1.small"], ends="2026-02-01T00:00:00.000000")],
        RID,
        "m1.small",
        [f"({RID}) is over: TERMINATED", "2026-02-01", "create a new lease"],
    ),
    "fewer instances than nodes": (
        lambda f: [lease(RID, "ACTIVE", 2, f["m1.small"])],
        RID,
        "m1.small",
        [f"reservation {RID} holds 2 instance(s), cloud.nodes has {NODES}", f"reserve at least {NODES}"],
    ),
    "a flavor that is not the reservation's": (
        lambda f: [lease(RID, "ACTIVE", 3, f["m1.tiny"])],
        RID,
        "m1.small",
        ["cloud.flavors control: m1.small, worker: m1.small is not the flavor", "set every role's flavor to m1.tiny"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_lease_that_cannot_boot_the_cluster_fails_the_preflight(lab_env, tmp_path: Path, blazar, case: str):
    api, flavors = blazar
    leases, rid, flavor, words = CASES[case]
    api.leases = leases(flavors)
    cfg = write_config(tmp_path, cloud={"reservation_id": rid, "flavors": {"control": flavor, "worker": flavor}})
    res = cli(cfg, "infra", "preflight")
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: preflight: 1 problem(s): reservation: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "FAIL" in res.stdout and "reservation" in res.stdout  # the table says it too


def test_an_active_lease_with_room_for_every_node_passes(lab_env, tmp_path: Path, blazar):
    api, flavors = blazar
    api.leases = [
        lease(str(uuid.UUID(int=9)), "TERMINATED", 3, flavors["m1.small"]),
        lease(RID, "ACTIVE", 3, flavors["m1.small"]),
    ]
    asked = api.requests
    cfg = write_config(tmp_path, cloud={"reservation_id": RID})
    res = cli(cfg, "infra", "preflight", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    [check] = [c for c in json.loads(res.stdout)["checks"] if c["check"] == "reservation"]
    assert check["ok"] is True, check
    assert f"{RID} in lease cxops-lease (ACTIVE until 2030-01-01" in check["detail"], check
    assert f"3 x m1.small; nodes boot with flavor reservation:{RID}" in check["detail"], check
    assert api.requests > asked  # the catalog led cxops to the service


def test_an_ended_lease_stops_apply_before_terraform(tmp_path: Path, openstack_lab, conn, blazar):
    """The user's path (`cxops infra apply` from the project root): one line, exit 1, Terraform never ran."""
    from tests.openstack.test_provisioning import OPERATOR, project_resources, run, user_project
    from tests.tfhelpers import go_tools

    api, flavors = blazar
    api.leases = [lease(RID, "TERMINATED", 3, flavors["m1.tiny"])]
    root = user_project(
        tmp_path / "clone", openstack_lab, reservation_id=RID, flavors={"control": "m1.tiny", "worker": "m1.tiny"}
    )
    res = run(root, go_tools()["terraformrc"], "infra", "apply", "--operator-address", OPERATOR)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"({RID}) is over: TERMINATED" in lines[0], res.stderr
    assert not (root / "tf" / ".terraform").exists() and not (root / "tf" / "terraform.tfstate").exists()
    assert not any(project_resources(conn).values())
