"""Chameleon leases (P2, issue 23 item 4): `cxops infra preflight`, `apply` and `destroy` against a cloud whose
catalog has a reservation service, with an existing reservation (cloud.lease.reservation_id) or a lease cxops
creates (cloud.lease.create).

The reservation service is tests/openstack/blazar_stand_in.py (its docstring says why no real Blazar runs here and
what stays real); everything else is the local OpenStack. A created lease's reserved flavor and the `reservation`
scheduler hint reaching the real provider and Nova, and destroy ending that lease, are tested in
test_provisioning.py's second apply, so no extra cluster is built: every apply here stops before Terraform creates
anything.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.openstack.blazar_stand_in import LeaseApi, in_catalog, lease
from tests.openstack.labtools import cli, write_config
from tests.openstack.test_provisioning import OPERATOR, project_resources, run, user_project
from tests.tfhelpers import go_tools

pytestmark = pytest.mark.openstack

RID = "5d2f0c1e-7a44-4c1b-9e3d-0f6a2b8c9d10"
NODES = 3  # the repository's cxops.yaml, which write_config starts from
TINY = {"control": "m1.tiny", "worker": "m1.tiny"}


@pytest.fixture(scope="module")
def blazar(openstack_lab):
    from cxops.cloud.connection import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", openstack_lab["clouds_yaml"])
        admin = connect(openstack_lab["admin_cloud"])
    project = admin.identity.find_project(openstack_lab["project"], ignore_missing=False)
    api = LeaseApi(admin, project.id)
    try:
        with in_catalog(admin, api):
            yield api, {f.name: f for f in admin.compute.flavors()}
    finally:
        api.close()


# case: (leases the service holds, cloud.lease.reservation_id, cloud.flavors, words the one error line must hold)
CASES = {
    "no lease on a cloud with leases": (
        lambda f: [],
        None,
        "m1.small",
        ["cloud.lease is unset", f"cxops reserve {NODES} instances", "set cloud.lease.reservation_id"],
    ),
    "a reservation that does not exist": (
        lambda f: [lease(str(uuid.UUID(int=7)), "ACTIVE", 3, f["m1.small"])],
        RID,
        "m1.small",
        [f"cloud.lease.reservation_id {RID} is not a reservation", f"reservations that exist: {uuid.UUID(int=7)}"],
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
    cloud = {"lease": {"reservation_id": rid} if rid else {}, "flavors": {"control": flavor, "worker": flavor}}
    cfg = write_config(tmp_path, cloud=cloud)
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
    cfg = write_config(tmp_path, cloud={"lease": {"reservation_id": RID}})
    res = cli(cfg, "infra", "preflight", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    [check] = [c for c in json.loads(res.stdout)["checks"] if c["check"] == "reservation"]
    assert check["ok"] is True, check
    assert f"{RID} in lease cxops-lease (ACTIVE until 2030-01-01" in check["detail"], check
    assert f"3 x m1.small; nodes boot with flavor reservation:{RID}" in check["detail"], check
    assert api.requests > asked  # the catalog led cxops to the service


def test_an_ended_lease_stops_apply_before_terraform(tmp_path: Path, openstack_lab, conn, blazar):
    """The user's path (`cxops infra apply` from the project root): one line, exit 1, Terraform never ran."""
    api, flavors = blazar
    api.leases = [lease(RID, "TERMINATED", 3, flavors["m1.tiny"])]
    root = user_project(
        tmp_path / "clone",
        openstack_lab,
        lease={"reservation_id": RID},
        flavors={"control": "m1.tiny", "worker": "m1.tiny"},
    )
    res = run(root, go_tools()["terraformrc"], "infra", "apply", "--operator-address", OPERATOR)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"({RID}) is over: TERMINATED" in lines[0], res.stderr
    assert not (root / "tf" / ".terraform").exists() and not (root / "tf" / "terraform.tfstate").exists()
    assert not any(project_resources(conn).values())


# --- a lease cxops creates (cloud.lease.create) ---


def _one_line(res) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip() and not line.startswith("lease: ")]
    assert len(lines) == 1, res.stdout + res.stderr
    return lines[0]


def test_a_lease_to_create_is_checked_by_the_preflight_and_nothing_is_created(lab_env, tmp_path: Path, blazar):
    api, _ = blazar
    api.leases = []
    cfg = write_config(tmp_path, cloud={"lease": {"create": {"hours": 6}}, "flavors": TINY})
    res = cli(cfg, "infra", "preflight", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    [check] = [c for c in json.loads(res.stdout)["checks"] if c["check"] == "reservation"]
    assert check["ok"] is True, check
    assert "apply creates lease cxops-demo-lease-proj01: " in check["detail"], check  # <project>-lease-<suffix>
    assert "3 x m1.tiny (1 VCPUs, 512 MB RAM, 1 GB disk), now to " in check["detail"], check
    assert api.leases == [] and api.created == []  # a preflight creates nothing


# case: (cloud overrides, exit code, words the one error line must hold)
CREATE_CASES = {
    "a flavor that does not exist": (
        {"lease": {"create": {"flavor": "m1.tinny"}}, "flavors": TINY},
        1,
        ["lease.create.flavor 'm1.tinny' not found", "did you mean m1.tiny"],
    ),
    "roles' flavors not the size reserved": (
        {"lease": {"create": {"flavor": "m1.tiny"}}, "flavors": {"control": "m1.small", "worker": "m1.small"}},
        1,
        ["cloud.flavors control: m1.small, worker: m1.small is not the size the lease would reserve (m1.tiny: 1 VCPUs"],
    ),
    "fewer instances than nodes": (
        {"lease": {"create": {"instances": 2}}, "flavors": TINY},
        2,
        ["lease.create.instances 2 is fewer than the 3 nodes in cloud.nodes", "reserve at least 3"],
    ),
    "an end already past": (
        {"lease": {"create": {"end": "2026-01-01 00:00"}}, "flavors": TINY},
        1,
        ["lease.create.end 2026-01-01 00:00 is already past", "set a later end"],
    ),
    "an existing reservation and a lease to create": (
        {"lease": {"reservation_id": RID, "create": {}}, "flavors": TINY},
        2,
        ["set either reservation_id (an existing reservation) or create (cxops makes one), not both"],
    ),
}


@pytest.mark.parametrize("case", list(CREATE_CASES))
def test_a_lease_that_cannot_be_created_fails_before_asking_blazar(lab_env, tmp_path: Path, blazar, case: str):
    api, _ = blazar
    api.leases, api.created = [], []
    cloud, code, words = CREATE_CASES[case]
    res = cli(write_config(tmp_path, cloud=cloud), "infra", "preflight")
    assert res.returncode == code, res.stdout + res.stderr
    line = _one_line(res)
    for w in words:
        assert w in line, (w, line)
    assert api.created == []


@pytest.fixture
def clone(tmp_path: Path, openstack_lab, conn, blazar):
    """A user's project (test_provisioning.user_project) asking cxops to create a 2 h lease of 3 x m1.tiny."""
    api, _ = blazar
    api.leases, api.created, api.deleted = [], [], []
    api.capacity, api.fail_start, api.start_polls = 100, False, 2
    root = user_project(tmp_path / "clone", openstack_lab, lease={"create": {"hours": 2}}, flavors=TINY)
    yield root
    api.capacity, api.fail_start = 100, False
    assert not any(project_resources(conn).values())  # Terraform created nothing


def _nothing_left(root: Path, api, admin) -> None:
    assert api.leases == [], api.leases
    assert not (root / "tf" / "cxops-lease.json").exists()
    assert not (root / "tf" / "terraform.tfstate").exists()
    assert not [f.name for f in admin.compute.flavors(is_public=None) if f.name.startswith("reservation:")]


def test_a_lease_blazar_refuses_stops_apply_with_its_reason(clone: Path, blazar, admin_conn):
    api, _ = blazar
    api.capacity = 2  # the cloud can still reserve 2 instances: Blazar finds too few hosts
    res = run(clone, go_tools()["terraformrc"], "infra", "apply", "--operator-address", OPERATOR)
    assert res.returncode == 1, res.stdout + res.stderr
    line = _one_line(res)
    assert "the reservation service refused lease cxops-e2e-lease-p1 (3 instances, now to " in line, line
    assert "HTTP 500 Not enough hosts available" in line, line
    assert len(api.created) == 0
    _nothing_left(clone, api, admin_conn)


def test_a_created_lease_that_fails_to_start_is_ended_again(clone: Path, blazar, admin_conn):
    """Blazar accepted the lease (POST checked as Blazar checks it) but its start went ERROR: cxops ends it."""
    api, _ = blazar
    api.fail_start = True
    res = run(clone, go_tools()["terraformrc"], "infra", "apply", "--operator-address", OPERATOR)
    assert res.returncode == 1, res.stdout + res.stderr
    line = _one_line(res)
    assert line.startswith("error: lease cxops-e2e-lease-p1 ("), line
    assert "cannot boot the cluster: the lease went ERROR instead of ACTIVE" in line, line
    assert line.endswith("ended it again, nothing else was created"), line
    [body] = api.created
    assert body["reservations"] == [
        {
            "resource_type": "virtual:instance",
            "amount": 3,
            "vcpus": 1,
            "memory_mb": 512,
            "disk_gb": 1,
            "affinity": None,
            "resource_properties": "",
        }
    ]
    assert body["start_date"] == "now" and len(api.deleted) == 1
    _nothing_left(clone, api, admin_conn)


def test_a_created_lease_already_ended_stops_apply_and_destroy_forgets_it(clone: Path, blazar, admin_conn):
    """The lease cxops created earlier is over (Blazar ended it): apply says so in one line; destroy ends and
    forgets only that lease, never another one of the project."""
    api, flavors = blazar
    theirs = lease(str(uuid.UUID(int=11)), "ACTIVE", 3, flavors["m1.tiny"], name="someone-elses")
    ours = lease(RID, "TERMINATED", 3, flavors["m1.tiny"], name="cxops-e2e-lease-p1", ends="2026-02-01T00:00:00")
    api.leases = [theirs, ours]
    record = {"lease_id": ours["id"], "reservation_id": RID, "name": ours["name"], "cloud": "cxops-lab"}
    (clone / "tf" / "cxops-lease.json").write_text(json.dumps({**record, "created_by": "cxops"}))
    terraformrc = go_tools()["terraformrc"]
    res = run(clone, terraformrc, "infra", "apply", "--operator-address", OPERATOR)
    assert res.returncode == 1, res.stdout + res.stderr
    line = _one_line(res)
    assert f"lease cxops-e2e-lease-p1 ({RID}) is over: TERMINATED" in line, line
    assert "run `cxops infra destroy` (it forgets the lease cxops created)" in line, line
    assert api.created == [] and api.leases == [theirs, ours]

    res = run(clone, terraformrc, "infra", "destroy", "--yes")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"lease: cxops-e2e-lease-p1 ({ours['id']}) ended" in res.stdout, res.stdout
    assert api.deleted == [ours["id"]] and api.leases == [theirs]
    assert not (clone / "tf" / "cxops-lease.json").exists()
