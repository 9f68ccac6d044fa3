"""Issue 3 on the real lab: the whole lifecycle, then every fault; each ends in a consistent `cxops status`."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from helpers import cli

from cxops.waiting import wait_until

pytestmark = pytest.mark.integration


def status_check(config: Path) -> None:
    res = cli(config, "status", "--check")
    assert res.returncode == 0, f"status disagrees:\n{res.stdout}\n{res.stderr}"


def status(config: Path) -> dict[str, dict]:
    res = cli(config, "status", "--json")
    assert res.returncode == 0, res.stderr
    return {row["env"]: row for row in json.loads(res.stdout)}


def remote_head(cfg) -> str:
    from cxops.gitops.bare_remote import bare_path
    from cxops.gitops.repo import git
    from cxops.paths import state_dir

    return git(f"--git-dir={bare_path(state_dir(cfg))}", "rev-parse", cfg.gitops.branch)


def new_version(cfg, build: bool = True) -> str:
    from cxops.pipeline.local import step_function

    run_id = step_function("train")(cfg).run_id
    assert step_function("evaluate")(cfg, run_id).passed
    version = step_function("register")(cfg, run_id).version
    if build:
        step_function("build")(cfg, version)
    return version


@pytest.fixture(scope="module")
def two_releases(lab: Path) -> tuple[str, str]:
    """Run the whole pipeline twice through the CLI, as `make demo` twice would."""
    versions = []
    for _ in range(2):
        res = cli(lab, "pipeline", "run", "--json", timeout=600)
        assert res.returncode == 0, res.stderr + res.stdout
        summary = json.loads(res.stdout)
        assert summary["succeeded"] and summary["registered_to_production_seconds"] > 0
        versions.append(summary["version"])
    return versions[0], versions[1]


def test_pipeline_reaches_production_and_status_agrees(lab: Path, two_releases):
    first, second = two_releases
    rows = status(lab)
    for env in ("staging", "canary", "production"):
        assert rows[env]["alias"] == rows[env]["git"] == rows[env]["live"] == second
    assert rows["production"]["previous"] == first
    status_check(lab)


def test_canary_p95_is_measured_not_a_bucket_edge(lab: Path, cfg, two_releases):
    """Issue 31, item 11: the canary analyses of the two real runs report p95 latencies from the servers' histograms.
    With buckets coarser than the served latencies every p95 was 0.95 x the lowest bucket edge (0.475 ms) whatever
    was served; the two sides (production takes most of the split, the canary the rest) and the two runs must give
    p95s that differ, none of them 0.95 x the lowest edge (all requests in the lowest bucket)."""
    from cxops.paths import state_dir
    from cxops.serving.metrics import LATENCY_BUCKETS

    first, second = two_releases
    p95s = []
    for version in (first, second):
        reports = sorted((state_dir(cfg) / "reports").glob(f"canary-v{version}-*.json"))
        assert reports, f"no canary report of v{version}"
        sides = json.loads(reports[-1].read_text())["sides"]
        p95s += [side["p95_ms"] for side in sides.values() if side["samples"]]
    assert len(p95s) >= 3 and all(p is not None and p > 0 for p in p95s), p95s
    assert len(set(p95s)) > 1, f"every canary analysis reports the same p95: {p95s}"
    for p in p95s:
        assert p != round(0.95 * LATENCY_BUCKETS[0] * 1000, 3), p95s
        assert p != 0.475, p95s  # the old artefact: 0.95 x the old lowest edge (0.5 ms)


class SteadyClient:
    """Clients sending one /predict after another to `url` until stopped, each recording every outcome: a
    keep-alive client (reuses its connection across the swap: the "server disconnected" case) and one opening a
    new connection per request."""

    def __init__(self, url: str, row: list[float]) -> None:
        self.url, self.body = url, {"inputs": [row]}
        self.stop = threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.run, args=(keep,)) for keep in (True, False)]

    def run(self, keep_alive: bool) -> None:
        import httpx

        limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self.stop.is_set():
                try:
                    r = client.post(f"{self.url}/predict", json=self.body)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
                else:
                    self.versions.append(str(r.json()["version"]))

    def __enter__(self) -> SteadyClient:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def test_production_promotion_under_steady_load_loses_no_request(lab: Path, cfg, two_releases):
    """Production moves to another version and back while clients keep sending: every request is answered 200 by
    the old or the new version (the new server is ready before the old one stops taking traffic)."""
    from cxops.release.live import env_url

    first, second = two_releases
    golden = lab.parent / ".cxops" / "builds" / cfg.model.name / first / "context" / "golden.json"
    row = json.loads(golden.read_text())["inputs"][0]
    for old, new in ((second, first), (first, second)):
        with SteadyClient(env_url(cfg, "production"), row) as client:
            wait_until(lambda c=client: len(c.versions) >= 20, timeout=60, what="the steady clients to get going")
            res = cli(lab, "step", "promote", "canary", "production", new, "--json")
            assert res.returncode == 0, res.stderr
            seen = len(client.versions)
            wait_until(lambda c=client, n=seen: len(c.versions) >= n + 20, timeout=60, what="requests after it")
        assert client.failures == [], f"{len(client.failures)} failed requests, first: {client.failures[:3]}"
        assert set(client.versions) <= {old, new}, set(client.versions)
        assert client.versions[-1] == new and old in client.versions
        assert status(lab)["production"]["live"] == new
    status_check(lab)


def test_traffic_split_in_git_follows_the_canary(lab: Path, cfg, two_releases):
    import yaml

    from cxops.gitops.bare_remote import bare_path
    from cxops.gitops.repo import git
    from cxops.names import traffic_dir
    from cxops.paths import state_dir

    text = git(f"--git-dir={bare_path(state_dir(cfg))}", "show", f"main:{traffic_dir(cfg)}/httproute.yaml")
    refs = yaml.safe_load(text)["spec"]["rules"][0]["backendRefs"]
    assert [r["weight"] for r in refs] == [100 - cfg.environments.canary.weight, cfg.environments.canary.weight]


class RemoteAndCanaryWatch:
    """Polls, in one loop, the lab remote's branch head and the canary's /version (as a client would see it), and
    keeps each change in the order seen: ("head", sha) and ("canary", "v<version> ready" | other)."""

    def __init__(self, cfg) -> None:
        self.cfg, self.events, self.stop = cfg, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from cxops.release.live import live

        last: dict[str, str] = {}
        while not self.stop.is_set():
            now = live(self.cfg, "canary", timeout=1.0)
            seen = {"head": remote_head(self.cfg), "canary": f"v{now.version} {'ready' if now.ready else 'not ready'}"}
            for kind in ("head", "canary"):
                if last.get(kind) != seen[kind]:
                    self.events.append((kind, seen[kind]))
                    last[kind] = seen[kind]
            time.sleep(0.01)

    def __enter__(self) -> RemoteAndCanaryWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def at(cfg, commit: str, path: str) -> str:
    from cxops.gitops.bare_remote import bare_path
    from cxops.gitops.repo import git
    from cxops.paths import state_dir

    return git(f"--git-dir={bare_path(state_dir(cfg))}", "show", f"{commit}:{path}")


def canary_weight_at(cfg, commit: str) -> int:
    from cxops.gitops.traffic import backend_weights
    from cxops.names import traffic_dir

    return backend_weights(cfg, at(cfg, commit, f"{traffic_dir(cfg)}/httproute.yaml"))["canary"]


def test_canary_weight_moves_only_once_the_canary_serves(lab: Path, cfg, two_releases):
    """Audit K6: the router and the canary's overlay are applied independently, so the canary's share must be
    committed only after the canary serves. In every commit of the lab remote where the canary's weight becomes
    non-zero, the canary overlay is unchanged from (so was deployed by) an earlier commit; and during a real
    `cxops step deploy canary`, the canary was seen serving the new version, ready, before that commit appeared."""
    from cxops.gitops.bare_remote import bare_path
    from cxops.gitops.repo import git
    from cxops.gitops.state import overlay_path
    from cxops.paths import state_dir

    canary_env = f"{overlay_path(cfg, 'canary')}/model.env"
    was = status(lab)["canary"]["live"]
    target = next(v for v in two_releases if v != was)
    start = remote_head(cfg)
    with RemoteAndCanaryWatch(cfg) as watch:
        wait_until(lambda: len(watch.events) >= 2, timeout=30, what="the watch to see the remote and the canary")
        res = cli(lab, "step", "deploy", "canary", target, "--reason", "K6 test")
        assert res.returncode == 0, res.stderr
        time.sleep(0.5)
    assert canary_weight_at(cfg, remote_head(cfg)) == cfg.environments.canary.weight
    # every commit in the remote's history where the weight goes from 0 to something (the pipeline runs' and ours)
    log = git(f"--git-dir={bare_path(state_dir(cfg))}", "rev-list", "--reverse", "--first-parent", cfg.gitops.branch)
    commits = log.split()
    opened = [c for p, c in itertools.pairwise(commits) if canary_weight_at(cfg, c) and not canary_weight_at(cfg, p)]
    assert opened, "the canary never got a weight"
    for commit in opened:
        parent = f"{commit}^"
        assert at(cfg, commit, canary_env) == at(cfg, parent, canary_env), (
            f"commit {commit[:12]} gives the canary its weight in the same commit that changes its overlay"
        )
        assert "MODEL_VERSION=\n" not in at(cfg, parent, canary_env), f"{commit[:12]}: weight on an empty canary"
    # our deploy: the weight's commit is the last one, and the canary served the target before it was pushed
    ours = [c for c in opened if c not in git(f"--git-dir={bare_path(state_dir(cfg))}", "rev-list", start).split()]
    assert len(ours) == 1, f"one commit should give the canary its weight, saw {len(ours)}"
    heads = [v for k, v in watch.events if k == "head"]
    assert ours[0] in heads, f"the watch never saw {ours[0][:12]}: {watch.events}"
    weight_seen = watch.events.index(("head", ours[0]))
    serving_seen = (
        watch.events.index(("canary", f"v{target} ready")) if ("canary", f"v{target} ready") in watch.events else None
    )
    assert serving_seen is not None and serving_seen < weight_seen, (
        f"the canary was not seen serving v{target} before its weight was pushed: {watch.events}"
    )
    res = cli(lab, "step", "deploy", "canary", was, "--reason", "K6 test: back")
    assert res.returncode == 0, res.stderr
    status_check(lab)


def test_a_reconcile_racing_a_deploy_back_keeps_the_previous_version(lab: Path, cfg, two_releases):
    """The lab's controller runs `cxops reconcile` as soon as live serves a new commit, while the deploy that made
    the commit is still on its way to moving the alias. A deploy back to `<env>-previous` then looked, to that
    reconcile, like a rollback by hand push: it cleared `<env>-previous`, so the environment lost its way back (seen
    as a flaky test_canary_killed_during_analysis_rolls_back). The deploy's commit now says what it is (its
    Cxops-Previous trailer). The race is made deterministic here: the deploy's two halves (commit, then alias) are
    run with a reconcile in between, as the controller can run it."""
    from cxops.gitops.state import desired, gitops_repo
    from cxops.registry.client import Registry
    from cxops.release.reconcile import reconcile
    from cxops.release.rollout import _set_desired, move_alias, wait_serving

    first, second = two_releases
    registry = Registry(cfg)
    assert status(lab)["staging"]["alias"] == second
    back_to = desired(cfg, gitops_repo(cfg), "staging")  # staging's overlay as it is now: `second`
    res = cli(lab, "step", "deploy", "staging", first, "--reason", "race test: away")
    assert res.returncode == 0, res.stderr
    assert registry.alias_version("staging-previous").version == second
    # `cxops step deploy staging <second>`, with a reconcile between its commit and its alias move
    commit = _set_desired(cfg, gitops_repo(cfg), back_to, "race test: back", "keep")
    wait_serving(cfg, "staging", back_to, commit)
    reconcile(cfg, ("staging",))
    move_alias(registry, "staging", second, commit=commit)
    previous = registry.alias_version("staging-previous")
    assert registry.alias_version("staging").version == second
    assert previous is not None and previous.version == first, "the deploy back lost staging's previous version"
    status_check(lab)


def test_promote_a_version_that_never_passed_staging(lab: Path, cfg, two_releases):
    version = new_version(cfg)
    head = remote_head(cfg)
    res = cli(lab, "step", "promote", "staging", "canary", version)
    assert res.returncode == 3 and "has not passed the staging gate" in res.stderr
    assert remote_head(cfg) == head, "a refused promotion must not commit"
    status_check(lab)


def test_deploy_unknown_version(lab: Path, cfg, two_releases):
    head = remote_head(cfg)
    res = cli(lab, "step", "deploy", "staging", "98765")
    assert res.returncode == 1 and "does not exist" in res.stderr
    assert remote_head(cfg) == head
    bad_env = cli(lab, "step", "deploy", "prod", "1")
    assert bad_env.returncode == 2 and "'prod' is not allowed" in bad_env.stderr


def test_corrupted_build_is_not_deployed(lab: Path, cfg, two_releases):
    from cxops.paths import state_dir

    version = new_version(cfg)
    model_file = state_dir(cfg) / "builds" / cfg.model.name / version / "context" / "model" / "model.skops"
    model_file.write_bytes(b"\x00corrupt")
    before = status(lab)["staging"]["git"]
    res = cli(lab, "step", "deploy", "staging", version, timeout=180)
    assert res.returncode == 1 and "not ready" in res.stderr and "git restored" in res.stderr
    wait_until(lambda: status(lab)["staging"]["live"] == before, timeout=60, what="staging back on the old version")
    assert status(lab)["staging"]["git"] == before
    status_check(lab)


def test_a_canary_that_never_serves_gets_no_weight_and_both_commits_are_undone(lab: Path, cfg, two_releases):
    """Audit K6, the failure path: a canary build that never becomes ready is deployed with weight 0 and never
    gets its share; the revert puts the overlay back and gives the old canary its weight again only afterwards."""
    from cxops.gitops.bare_remote import bare_path
    from cxops.gitops.repo import git
    from cxops.gitops.state import overlay_path
    from cxops.paths import state_dir
    from cxops.registry.client import Registry

    version = new_version(cfg)
    # the staging gate's verdict, as `cxops step test-staging` records it, so the remote lets it into the canary
    Registry(cfg).set_version_tag(version, "cxops.gate.staging", "passed")
    model_file = state_dir(cfg) / "builds" / cfg.model.name / version / "context" / "model" / "model.skops"
    model_file.write_bytes(b"\x00corrupt")
    before, start = status(lab)["canary"]["git"], remote_head(cfg)
    assert canary_weight_at(cfg, start) == cfg.environments.canary.weight
    res = cli(lab, "step", "deploy", "canary", version, timeout=180)
    assert res.returncode == 1 and "not ready" in res.stderr and "git restored" in res.stderr, res.stderr
    canary_env = f"{overlay_path(cfg, 'canary')}/model.env"
    log = git(f"--git-dir={bare_path(state_dir(cfg))}", "rev-list", "--reverse", f"{start}..{cfg.gitops.branch}")
    weights = [(f"MODEL_VERSION={version}\n" in at(cfg, c, canary_env), canary_weight_at(cfg, c)) for c in log.split()]
    assert weights == [(True, 0), (False, 0), (False, cfg.environments.canary.weight)], weights
    assert status(lab)["canary"]["git"] == before
    wait_until(lambda: status(lab)["canary"]["live"] == before, timeout=60, what="canary back on the old version")
    status_check(lab)


def test_canary_killed_during_analysis_rolls_back(lab: Path, cfg, two_releases, monkeypatch):
    from cxops.lab.controller import server_process
    from cxops.paths import state_dir
    from cxops.pipeline.local import step_function
    from cxops.pipeline.steps import analyze

    first, _second = two_releases
    before = status(lab)["canary"]
    assert before["previous"] == first, before
    # the canary dies just as the window's second tick of traffic goes out (3 ticks in the tests' cxops.yaml):
    # killed from inside the analysis, so under any load it is killed during it. (A kill timed from outside came
    # too early or too late; one right after the first tick left the lab's controller a second to restart the
    # canary before the next requests, which then all succeeded.)
    real_run_load, ticks = analyze.run_load, []

    def kill_then_run_load(*args, **kwargs):
        ticks.append(len(ticks) + 1)
        if ticks[-1] == 2:
            pid = server_process(state_dir(cfg), "canary").pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        return real_run_load(*args, **kwargs)

    monkeypatch.setattr(analyze, "run_load", kill_then_run_load)
    result = step_function("analyze")(cfg, "canary")
    assert len(ticks) >= 3, f"the window had {len(ticks)} tick(s): the kill was not during the analysis"
    assert result.passed is False and any("error rate" in r for r in result.reasons), result
    assert "rolled back" in result.action, result
    rows = status(lab)
    assert rows["canary"]["alias"] == first and rows["canary"]["git"] == first, (result, rows["canary"])
    wait_until(lambda: status(lab)["canary"]["live"] == first, timeout=60, what="canary live on the old version")
    status_check(lab)


def test_rollback_then_no_previous(lab: Path, two_releases):
    """After the canary's own rollback (the test above) the canary serves `first` again: a production rollback
    leaves it alone (tests/integration/test_production_rollback.py: one that serves the rolled-back version)."""
    first, _second = two_releases
    res = cli(lab, "step", "rollback", "production", "--json")
    assert res.returncode == 0, res.stderr
    rows = status(lab)
    assert rows["production"]["alias"] == rows["production"]["git"] == rows["production"]["live"] == first
    status_check(lab)
    again = cli(lab, "step", "rollback", "production")
    assert again.returncode == 1 and "no previous version for production" in again.stderr
    status_check(lab)


def test_mlflow_stopped_mid_pipeline_stops_cleanly(lab: Path, cfg, two_releases, monkeypatch):
    from cxops.pipeline import local
    from cxops.registry.mlflow_server import MlflowLab

    monkeypatch.setenv("CXOPS_MLFLOW_TIMEOUT", "3")  # cxops.settings: the bound on reaching MLflow
    monkeypatch.setenv("MLFLOW_TRACKING_URI", MlflowLab.from_config(cfg).url)
    heads: dict[str, str] = {}

    def on_start(step) -> None:
        if step.id == "promote-canary":  # staging is tested; MLflow dies before canary moves
            heads["before"] = remote_head(cfg)
            MlflowLab.from_config(cfg).down()

    started = time.monotonic()
    run = local.run_pipeline(cfg, on_start=on_start)
    try:
        assert time.monotonic() - started < 300
        assert run.stopped_at == "promote-canary"
        assert MlflowLab.from_config(cfg).url in run.reason and "MLflow" in run.reason
        assert remote_head(cfg) == heads["before"], "no half-promotion: canary's git must not move"
    finally:
        up = cli(lab, "lab", "up")
        assert up.returncode == 0, up.stderr
    status_check(lab)
