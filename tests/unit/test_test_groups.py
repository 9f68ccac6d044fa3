"""tests/groups.py: the order `make test` hands the groups out in, and which groups wait for the Go tools."""

from __future__ import annotations

import subprocess
import sys

import groups
from helpers import REPO


def test_the_module_needing_argocd_runs_last_in_its_group():
    """ArgoCD ends the background build (scripts/install-go-tools NEEDED_FIRST), so its module ends tests/k8s_api."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:randomly",
            "--dist",
            "loadgroup",
            "tests/k8s_api",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ids = [line for line in res.stdout.splitlines() if line.startswith("tests/k8s_api/")]
    assert ids, res.stdout + res.stderr
    modules = [nodeid.partition("::")[0] for nodeid in ids]
    last = [i for i, module in enumerate(modules) if module in groups.LAST_IN_GROUP]
    assert last and last == list(range(len(ids) - len(last), len(ids))), modules
    assert len(set(modules)) > 2  # the other modules stay before it


def test_groups_that_run_go_tools_are_named():
    for nodeid in (
        "tests/openstack/test_provisioning.py::test_x",
        "tests/k8s_api/test_argocd_sync.py::test_x",
        "tests/cluster/test_gitops_bootstrap.py::test_x",
        "tests/integration/test_image_build.py::test_x",
    ):
        assert groups.group_of(nodeid) in groups.NEEDS_GO_TOOLS, nodeid
    assert groups.group_of("tests/integration/test_serving.py::test_x") not in groups.NEEDS_GO_TOOLS


def test_while_the_go_tools_build_the_groups_waiting_for_them_go_last():
    """On a new machine the groups needing the API server's or BuildKit's tools go after the groups that need none,
    which run meanwhile; the OpenStack halves stay first (they need only the provider, built first)."""
    ids = [
        "tests/k8s_api/test_argocd_sync.py::test_x",
        "tests/integration/test_image_build.py::test_x",
        "tests/openstack/test_provisioning.py::test_x",
        "tests/integration/test_serving.py::test_x",
        "tests/unit/test_cli.py::test_x",
    ]
    warm = sorted(ids, key=groups.rank)
    assert warm[:3] == [ids[2], ids[0], ids[1]]
    cold = sorted(ids, key=lambda nodeid: groups.rank(nodeid, True))
    assert cold[0] == ids[2] and set(cold[-2:]) == {ids[0], ids[1]}
    assert cold.index(ids[3]) < cold.index(ids[0])
