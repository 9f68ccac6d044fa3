"""The local OpenStack for the `openstack` tests: started once per session by scripts/openstack-lab.

The session fixture installs (apt, skipped when present) and starts the lab, and stops it at the end
unless CXOPS_LAB_KEEP=1 (handy when iterating locally). If the lab cannot start, every test using it
fails with the script's output: a missing cloud is a failure, never a skip.

Under `make test` the OpenStack tests are two groups (tests/groups.py), so two workers may each need a lab: each
pytest-xdist worker gets a lab of its own (`lab_slot`), the first (and a plain pytest) the default one, worker gwK
a state dir `.cxops/openstack-lab-K` with every port moved by K * 1000 (CXOPS_LAB_PORT_OFFSET, which
scripts/openstack-lab reads). The labs share nothing but the Debian packages, whose install is serialized by a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.openstack.labtools import leaks, network_objects
from tests.stages import timed

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "openstack-lab"
PORT_STEP = 1000  # labs moved by multiples of this share no port (tests/unit/test_openstack_lab_layout.py)


def lab_slot() -> int:
    """0 for a plain pytest and for pytest-xdist's worker gw0; K for worker gwK."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


SLOT = lab_slot()
_DEFAULT_STATE = Path(os.environ.get("CXOPS_OPENSTACK_LAB_DIR") or REPO / ".cxops" / "openstack-lab")
STATE = _DEFAULT_STATE if SLOT == 0 else _DEFAULT_STATE.with_name(f"{_DEFAULT_STATE.name}-{SLOT}")
LAB_ENV = {
    **os.environ,
    "CXOPS_OPENSTACK_LAB_DIR": str(STATE),
    "CXOPS_LAB_PORT_OFFSET": str(int(os.environ.get("CXOPS_LAB_PORT_OFFSET") or 0) + SLOT * PORT_STEP),
}


def _lab(cmd: str, timeout: float) -> subprocess.CompletedProcess:
    started = time.monotonic()
    with timed(f"openstack-lab {cmd}"):
        if cmd == "install":  # apt: one worker at a time (dpkg's lock would refuse the second)
            lock = REPO / ".cxops" / "openstack-lab.install.lock"
            lock.parent.mkdir(parents=True, exist_ok=True)
            with open(lock, "w") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
                res = subprocess.run([str(LAB), cmd], capture_output=True, text=True, timeout=timeout, cwd=REPO)
        else:
            res = subprocess.run(
                [str(LAB), cmd], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=LAB_ENV
            )
    sys.stderr.write(f"\nopenstack-lab {cmd}: exit {res.returncode} in {time.monotonic() - started:.0f}s\n")
    return res


@pytest.fixture(scope="session")
def openstack_lab() -> dict[str, Any]:
    for cmd, timeout in (("install", 900), ("up", 600)):
        res = _lab(cmd, timeout)
        if res.returncode != 0:
            if cmd == "up":
                _lab("down", 120)  # leave nothing half-started behind
            pytest.fail(
                f"scripts/openstack-lab {cmd} failed (exit {res.returncode}):\n{res.stdout[-3000:]}"
                f"\n{res.stderr[-3000:]}",
                pytrace=False,
            )
    info = json.loads((STATE / "lab.json").read_text())
    info["clouds_yaml"] = str(STATE / "clouds.yaml")
    yield info
    if os.environ.get("CXOPS_LAB_KEEP") != "1":
        _lab("down", 120)


@pytest.fixture
def lab_env(openstack_lab, monkeypatch) -> dict[str, str]:
    env = {"OS_CLIENT_CONFIG_FILE": openstack_lab["clouds_yaml"], "OS_CLOUD": openstack_lab["cloud"]}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def conn(lab_env):
    from cxops.cloud.connection import connect

    return connect()


@pytest.fixture
def password_conn(lab_env):
    """An openstacksdk connection as the lab user logging in with a password (clouds.yaml entry cxops-lab-password):
    Keystone lets only a primary login manage EC2 credentials."""
    from cxops.cloud.connection import connect

    return connect("cxops-lab-password")


@pytest.fixture
def admin_conn(openstack_lab, lab_env):
    from cxops.cloud.connection import connect

    return connect(openstack_lab["admin_cloud"])


@pytest.fixture(scope="session")
def _leak_watch(openstack_lab):
    """The admin connection and test project the leak check uses, made once per session: one token for every
    test's check, so each service validates it once (a new token per test cost every service a validation, about
    1.6 s each under `make test`'s load, 2026-12-06); openstacksdk logs in again when it expires."""
    from cxops.cloud.connection import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OS_CLIENT_CONFIG_FILE", openstack_lab["clouds_yaml"])
        admin = connect(openstack_lab["admin_cloud"])
    return admin, admin.identity.find_project(openstack_lab["project"])


_SEEDED: dict[str, set[str]] = {}  # project id -> the networks, routers, groups the lab seeds (taken once)


@pytest.fixture(autouse=True)
def _assert_no_leaks(request):
    """After every openstack test: nothing of the test project's may be left behind (servers, volumes, ports,
    floating IPs; and no network, subnet, router or security group beyond those the lab seeded)."""
    if request.node.get_closest_marker("openstack") is None:
        yield
        return
    from cxops.errors import CxopsError
    from cxops.waiting import wait_until

    admin, project = request.getfixturevalue("_leak_watch")
    seeded = _SEEDED.setdefault(project.id, network_objects(admin, project.id))
    yield

    def left() -> dict[str, list[str]]:
        return {**leaks(admin, project.id), "network": sorted(network_objects(admin, project.id) - seeded)}

    # deletes are asynchronous in OpenStack: give them a bounded moment to finish before judging
    with contextlib.suppress(CxopsError):
        wait_until(lambda: not any(left().values()), timeout=60, what="the project to be empty")
    remaining = left()
    assert not any(remaining.values()), f"leaked cloud resources: {remaining}"
