"""The local OpenStack for the `openstack` tests: started once per session by scripts/openstack-lab.

The session fixture installs (apt, skipped when present) and starts the lab, and stops it at the end
unless CXOPS_LAB_KEEP=1 (handy when iterating locally). If the lab cannot start, every test using it
fails with the script's output: a missing cloud is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
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
STATE = Path(os.environ.get("CXOPS_OPENSTACK_LAB_DIR") or REPO / ".cxops" / "openstack-lab")


def _lab(cmd: str, timeout: float) -> subprocess.CompletedProcess:
    started = time.monotonic()
    with timed(f"openstack-lab {cmd}"):
        res = subprocess.run([str(LAB), cmd], capture_output=True, text=True, timeout=timeout, cwd=REPO)
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
def admin_conn(openstack_lab, lab_env):
    from cxops.cloud.connection import connect

    return connect(openstack_lab["admin_cloud"])


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

    admin = request.getfixturevalue("admin_conn")
    project = admin.identity.find_project(request.getfixturevalue("openstack_lab")["project"])
    seeded = _SEEDED.setdefault(project.id, network_objects(admin, project.id))
    yield

    def left() -> dict[str, list[str]]:
        return {**leaks(admin, project.id), "network": sorted(network_objects(admin, project.id) - seeded)}

    # deletes are asynchronous in OpenStack: give them a bounded moment to finish before judging
    with contextlib.suppress(CxopsError):
        wait_until(lambda: not any(left().values()), timeout=60, what="the project to be empty")
    remaining = left()
    assert not any(remaining.values()), f"leaked cloud resources: {remaining}"
