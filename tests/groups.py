"""Which tests share a pytest-xdist worker under `make test` (`-n N --dist loadgroup`, docs/testing.md "`make test`
on workers"), and the scheduler that keeps them together.

A group's tests run on one worker, one after the other in collection order, so the expensive service they share
starts once per run; different groups run side by side on the other workers:

- `openstack` and `openstack-2`: tests/openstack in two halves of about equal time. Each worker that runs one
  starts a local OpenStack of its own (tests/openstack/conftest.py: its own state dir and ports), whose project's
  leak check after every test sees only that worker's tests;
- `hostlab`: tests/cluster, the host lab (one fixed subnet, 10.254.78.0/23: one lab at a time);
- `k8s-api`: tests/k8s_api, the session's etcd + kube-apiserver and its ArgoCD-style sync;
- each module of tests/integration is a group of its own, so its module-scoped services (a lab, a server,
  Prometheus) start once; test_models.py is one group per model project (each has a lab and lifecycle of its own).
  The modules that use the session's embedded lab (tests/integration/conftest.py) share one lab per worker that
  runs any of them; a worker runs its modules in collection order, so the notebooks, which move production, still
  run after the other lab tests on that lab (test_walkthrough_notebooks.py says why).

Everything else (unit, workflows) goes to whichever worker is free, one test at a time.

Groups are known from the node id alone (folder, module, parameter), because pytest-xdist's controller sees only
node ids. pytest-xdist's own `xdist_group` mark does not group under pytest 9: xdist 3.8.0 appends the group to
`item._nodeid`, which pytest 9 no longer reads (its node id comes from `item._id`), so the tests of one group were
seen spread over workers; this module's scheduler is the replacement.
"""

from __future__ import annotations

from typing import Any

# Handed out longest first (the measured set-up and run times in docs/testing.md), so the long groups start at once
# and the short ones fill the other workers around them; everything not listed follows in collection order.
LONGEST_FIRST = (
    "openstack",
    "openstack-2",
    "k8s-api",
    "tests/integration/test_image_build.py",
    "hostlab",
)
FOLDERS = {"tests/openstack": "openstack", "tests/cluster": "hostlab", "tests/k8s_api": "k8s-api"}
# the OpenStack modules of the second half (about 23 min on 2026-12-06 under `make test`'s load, lab up included): the
# notebooks' apply, GPUs, jobs and the lab's object store; the first keeps the provisioning path, the leases,
# preflight, probes and the cluster's object store (about 21 min). `make test` prints each module's span per worker.
OPENSTACK_2 = (
    "tests/openstack/test_walkthrough_notebooks.py",
    "tests/openstack/test_gpus.py",
    "tests/openstack/test_jobs.py",
    "tests/openstack/test_job_store.py",
    "tests/openstack/test_object_store.py",
    "tests/openstack/test_train_runner.py",
)
# modules whose module-scoped fixture is parametrized by project, each parameter a lab and lifecycle of its own
SPLIT_BY_PARAM = ("tests/integration/test_models.py",)
# modules run after the rest of their group: they need tools `make test`'s background build makes late (ArgoCD, its
# last; the API server, which the OpenStack half's object-store test waited 19 minutes for on a new machine), so the
# group's other modules run while they build; each has services of its own (any order is valid)
LAST_IN_GROUP = ("tests/k8s_api/test_argocd_controller.py", "tests/openstack/test_object_store_cluster.py")
# groups that need the Go tools the background build makes after the provider (the API server's, BuildKit's): while
# it runs (a new machine), they go out after every group that needs none, which run meanwhile instead of a worker
# waiting (the OpenStack halves stay first: the provider is built first, in about a minute)
WAIT_FOR_GO_TOOLS = (
    "k8s-api",
    "hostlab",
    "tests/integration/test_image_build.py",
    "tests/integration/test_build_initial_as_wired.py",
)
# groups whose tests run the Go tools (tests/gotools.py): their first test may wait for the background build in its
# set-up, which pytest-timeout then leaves to the wait's own bound (tests/conftest.py)
NEEDS_GO_TOOLS = (
    "openstack",
    "openstack-2",
    "k8s-api",
    "hostlab",
    "tests/integration/test_image_build.py",
    "tests/integration/test_build_initial_as_wired.py",
    "tests/integration/test_go_tools.py",
)


def group_of(nodeid: str) -> str | None:
    """The group of the test NODEID ("tests/…/test_x.py::test_y[param]"), or None when any worker may run it."""
    path, _, name = nodeid.partition("::")
    folder = path.rsplit("/", 1)[0]
    if path in OPENSTACK_2:
        return "openstack-2"
    if folder in FOLDERS:
        return FOLDERS[folder]
    if folder != "tests/integration":
        return None
    if path in SPLIT_BY_PARAM and name.endswith("]") and "[" in name:
        return f"{path}[{name[name.index('[') + 1 : -1]}]"
    return path


def rank(nodeid: str, tools_building: bool = False) -> tuple[bool, int, bool]:
    """Sort key of a test in the collection: the LONGEST_FIRST groups in that order, then the rest; within a group
    the LAST_IN_GROUP modules last (a stable sort keeps the rest in collection order). With `tools_building` (some
    Go tool not built yet when the run starts) the WAIT_FOR_GO_TOOLS groups go after all of that."""
    group = group_of(nodeid)
    first = LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
    return tools_building and group in WAIT_FOR_GO_TOOLS, first, nodeid.partition("::")[0] in LAST_IN_GROUP


def make_scheduler(config: Any, log: Any) -> Any:
    """pytest-xdist's load-scope scheduler with `group_of` as the scope: one work unit per group, one per test of
    no group. Units go out in collection order (`--no-loadscope-reorder`), which `rank` has sorted."""
    from xdist.scheduler import LoadScopeScheduling

    class ServiceGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    return ServiceGroupScheduling(config, log)
