"""Canary analysis reading a real Prometheus (Debian's prometheus) that scrapes the lab's env servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_port
from prometheus_server import prometheus as prometheus_server
from prometheus_server import scrape_job

from cxops.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus(cfg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("prometheus")
    jobs = [
        scrape_job(env, [f"127.0.0.1:{cfg.environments.get(env).port}"]) for env in ("staging", "canary", "production")
    ]
    with prometheus_server(root, jobs) as url:
        yield url


@pytest.fixture(scope="module")
def canary_and_production(cfg) -> str:
    from cxops.gates.reports import gate_tag
    from cxops.pipeline.local import step_function
    from cxops.registry.client import Registry
    from cxops.release.rollout import deploy

    run_id = step_function("train")(cfg).run_id
    assert step_function("evaluate")(cfg, run_id).passed
    version = step_function("register")(cfg, run_id).version
    step_function("build")(cfg, version)
    # The GitOps remote's hook admits a version only where its gates let it in: record the staging and canary
    # verdicts the earlier steps would have left (their own tests run them), then place the version directly.
    registry = Registry(cfg)
    for gate in ("staging", "canary"):
        registry.set_version_tag(version, gate_tag(gate), "passed")
    for env in ("production", "canary"):
        deploy(cfg, env, version, "prometheus test setup", registry=registry)
    return version


def prom_cfg(cfg, url: str):
    canary = cfg.gates.canary.model_copy(
        update={"prometheus_url": url, "prometheus_selector": 'job="{env}"', "prometheus_scrape_seconds": 1.0}
    )
    return cfg.model_copy(update={"gates": cfg.gates.model_copy(update={"canary": canary})})


def test_window_counts_from_prometheus_are_exact(cfg, prometheus: str, canary_and_production: str):
    from cxops.gates.load import run_load
    from cxops.gates.promql import prometheus_window

    url = f"http://127.0.0.1:{cfg.environments.production.port}/predict"
    wait_until(
        lambda: (
            httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="production"}'}).json()["data"]["result"][
                0
            ]["value"][1]
            == "1"
        ),
        timeout=30,
        what="production scraped",
    )
    time.sleep(2)
    start = time.time()
    body = json.dumps({"inputs": [[0.0] * 64]}).encode()
    stats = run_load([(url, body)] * 137, 4)
    assert stats.errors == 0
    time.sleep(2.5)  # two scrapes later
    d = prometheus_window(prometheus, 'job="production"', start, time.time(), lookback=3)
    assert d.requests.get("200") == 137 and d.samples == 137
    assert sum(d.classes.values()) == 137 and d.confidence_count == 137


def test_canary_gate_on_prometheus_passes_for_the_same_model(cfg, prometheus: str, canary_and_production: str):
    from cxops.pipeline.steps import analyze

    result = analyze.run(prom_cfg(cfg, prometheus), "canary")
    report = json.loads(Path(result.report).read_text())
    assert report["metrics_source"] == f"prometheus {prometheus}"
    assert result.passed, result.reasons
    assert report["compare"]["agreement"] == 1.0 and report["compare"]["distribution_distance"] == 0.0
    assert report["sides"]["canary"]["mean_confidence"] > 0.5


def test_unreachable_prometheus_is_a_clear_error(cfg, canary_and_production: str):
    from cxops.errors import CxopsError
    from cxops.pipeline.steps import analyze

    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CxopsError, match=f"Prometheus at {dead} unreachable"):
        analyze.run(prom_cfg(cfg, dead), "canary")


def test_a_selector_that_matches_nothing_is_inconclusive_not_passed(
    cfg, prometheus: str, canary_and_production, lab: Path, tmp_path: Path
):
    """Class 2: no series is no evidence. In-process: the outcome and a reason naming source and selector; through
    the CLI: exit code 4; the canary is neither promoted nor rolled back."""
    import yaml
    from helpers import cli

    from cxops.gitops.state import desired, gitops_repo
    from cxops.pipeline.steps import analyze

    wrong = 'job="{env}-typo"'
    c = prom_cfg(cfg, prometheus)
    c = c.model_copy(
        update={
            "gates": c.gates.model_copy(
                update={"canary": c.gates.canary.model_copy(update={"prometheus_selector": wrong})}
            )
        }
    )
    before = desired(cfg, gitops_repo(cfg), "canary").version
    result = analyze.run(c, "canary")
    assert result.outcome == "inconclusive" and result.passed is False
    assert any(f'Prometheus {prometheus} selector {{job="canary-typo"}}' in r for r in result.reasons), result.reasons
    assert "fewer than the minimum 50" in result.reasons[0]
    report = json.loads(Path(result.report).read_text())
    assert report["outcome"] == "inconclusive" and report["samples"] == {"canary": 0, "production": 0}
    assert report["compare"]["confidence_ratio"] is None  # not 0.000: not computed
    assert "NaN" not in Path(result.report).read_text()
    assert desired(cfg, gitops_repo(cfg), "canary").version == before  # not rolled back either
    from cxops.errors import GateFailed
    from cxops.pipeline.steps import promote

    with pytest.raises(GateFailed, match=r"has not passed the canary gate \(inconclusive\)"):
        promote.run(cfg, "canary", "production")  # never promoted

    data = yaml.safe_load(lab.read_text())
    data["gates"]["canary"].update(
        {"prometheus_url": prometheus, "prometheus_selector": wrong, "prometheus_scrape_seconds": 1.0}
    )
    other = lab.parent / "cxops-wrong-selector.yaml"
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    res = cli(other, "step", "analyze", "canary")
    assert res.returncode == 4, res.stderr
    assert "canary gate inconclusive (not promoted)" in res.stderr


def test_selectors_that_pick_the_same_series_for_both_sides_are_flagged(cfg, prometheus: str, canary_and_production):
    """Class 4 at run time: a selector that matches every env compares production with itself."""
    from cxops.pipeline.steps import analyze

    c = prom_cfg(cfg, prometheus)
    c = c.model_copy(
        update={
            "gates": c.gates.model_copy(
                update={
                    "canary": c.gates.canary.model_copy(
                        update={"prometheus_selector": 'job=~"{env}|canary|production"'}
                    )
                }
            )
        }
    )
    result = analyze.run(c, "canary")
    assert result.outcome == "inconclusive" and not result.passed
    assert "selected for both canary" in result.reasons[0], result.reasons
