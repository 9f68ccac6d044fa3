import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests import groups
from tests.stages import STAGES, record_report, worker_lines

TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest's own pytest_configure makes the temporary-path factory
def pytest_configure(config: pytest.Config) -> None:
    """On a pytest-xdist worker, temporary directories go under <basetemp>/gwN/ rather than xdist's
    <basetemp>/popen-gwN/: a lab's Unix sockets live under tmp_path (Linux allows 107 bytes for their paths), and
    the six more characters pushed test_lab_up_on_a_busy_port_fails_cleanly's to 110 under `make test`'s workers."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # xdist's workers start with COLUMNS=80 and LINES=24 (seen: unset under plain pytest). A user's shell that is
        # not a terminal has neither, so the commands the tests run must not either: cxops then prints 120 columns,
        # and an 80-column table cut a flavor name the notebook test looks for. The controller's own values win.
        for var in ("COLUMNS", "LINES"):
            controller = workerinput.get(f"env_{var}")
            if controller is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = controller
    if workerinput is not None and config.option.basetemp:
        base = Path(config.option.basetemp)
        if base.name == f"popen-{workerinput['workerid']}":
            config.option.basetemp = str(base.with_name(workerinput["workerid"]))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """On the xdist controller: hand each worker this process's COLUMNS and LINES (see pytest_configure), and whether
    the Go tools are still building, asked once here: every worker must sort its collection alike."""
    for var in ("COLUMNS", "LINES"):
        node.workerinput[f"env_{var}"] = os.environ.get(var)
    node.workerinput["go_tools_building"] = _go_tools_building(node.config)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test leaves os.environ as it found it. A worker runs the tests of many modules one after another, and a
    variable one test exported reached the commands of the next module's tests: MLflow's set_tracking_uri exports
    MLFLOW_TRACKING_URI for child processes, so the walkthrough notebooks ran against the stopped MLflow of the
    object-store test that had run before them on that worker (fresh-clone run of 2026-12-06). Fixtures of wider
    scope are set up before this snapshot, so what they export stays for their tests."""
    before = dict(os.environ)
    yield
    if os.environ == before:
        return
    uri_moved = os.environ.get("MLFLOW_TRACKING_URI") != before.get("MLFLOW_TRACKING_URI")
    os.environ.clear()
    os.environ.update(before)
    mlflow = sys.modules.get("mlflow")
    if uri_moved and mlflow is not None:
        mlflow.set_tracking_uri(before.get("MLFLOW_TRACKING_URI"))  # its process-wide default too (None: unset)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks by folder, so `make test-fast` (docs/testing.md) leaves slow services out without each module having to
    say so: tests/cluster/ runs the cluster install on the host lab (Debian roots, real SSH): `cluster`;
    tests/k8s_api/ starts etcd and an API server (and ArgoCD, MLflow): `integration`.

    Under `--dist loadgroup` (make test), the longest groups of tests/groups.py move to the front of the collection,
    where the scheduler hands them out first (a stable sort: the order within a group is unchanged)."""
    for item in items:
        if (TESTS / "cluster") in item.path.parents:
            item.add_marker(pytest.mark.cluster)
        elif (TESTS / "k8s_api") in item.path.parents:
            item.add_marker(pytest.mark.integration)
        if groups.group_of(item.nodeid) in groups.NEEDS_GO_TOOLS:
            _time_the_call_only(item)
    if config.getoption("dist", "no") == "loadgroup" or config.getoption("loadgroup", False):  # workers: loadgroup
        building = _go_tools_building(config)
        items.sort(key=lambda item: groups.rank(item.nodeid, building))


_BUILDING = pytest.StashKey[bool]()


def _go_tools_building(config: pytest.Config) -> bool:
    """Whether some Go tool was not built yet when the run began (`make test`'s background build on a new machine):
    a worker takes the controller's answer, so a tool finished between two workers' collections changes no order."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "go_tools_building" in workerinput:
        return bool(workerinput["go_tools_building"])
    if _BUILDING not in config.stash:
        argv = [sys.executable, str(TESTS.parent / "scripts" / "install-go-tools"), "--missing"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        config.stash[_BUILDING] = res.returncode != 0 or bool(res.stdout.strip())
    return config.stash[_BUILDING]


def _time_the_call_only(item: pytest.Item) -> None:
    """pytest-timeout bounds only the test's call, not its set-up: a set-up that waits for `make test`'s background
    build of the Go tools (tests/gotools.py, up to about 20 minutes on a new machine) has that wait's own bound, and
    each service these groups start bounds its own start. The test's timeout (its mark, else the ini's) is kept."""
    mark = item.get_closest_marker("timeout")
    seconds = (mark.args[0] if mark.args else mark.kwargs.get("timeout")) if mark else None
    item.add_marker(pytest.mark.timeout(seconds or float(item.config.getini("timeout")), func_only=True), append=False)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup`: the groups of tests/groups.py (the tests sharing a service stay on one worker)."""
    if config.getoption("dist") == "loadgroup":
        return groups.make_scheduler(config, log)
    return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist a worker hands its timed stages to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        worker = session.config.workerinput["workerid"]  # type: ignore[attr-defined]
        workeroutput["stages"] = [(f"{stage} [{worker}]", seconds) for stage, seconds in STAGES]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the xdist controller: collect each worker's stages (see pytest_sessionfinish)."""
    STAGES.extend((stage, seconds) for stage, seconds in getattr(node, "workeroutput", {}).get("stages", []))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """On the xdist controller (reports carry the worker as `node`): the span of each group (tests/stages.py)."""
    node = getattr(report, "node", None)
    if node is not None and report.start:
        group = groups.group_of(report.nodeid) or "-"
        record_report(group, node.gateway.id, report.start, report.stop, report.when == "teardown")
        module = report.nodeid.partition("::")[0]
        if group not in ("-", module):  # a folder's group: its modules too (tests/stages.py)
            record_report(f"  {module}", node.gateway.id, report.start, report.stop, report.when == "teardown")


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per timed set-up stage (tests/stages.py), after pytest's own --durations table; under xdist, one
    line per worker with its longest groups."""
    if STAGES:
        terminalreporter.section("set-up stages")
        for stage, seconds in STAGES:
            terminalreporter.write_line(f"stage {stage}: {seconds:.0f} s")
    lines = worker_lines()
    if lines:
        terminalreporter.section("workers")
        for line in lines:
            terminalreporter.write_line(line)
