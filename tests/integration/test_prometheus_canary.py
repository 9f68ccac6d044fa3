"""Canary analysis reading a real Prometheus (Debian's prometheus) that scrapes the lab's env servers."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_port, serving_process

from cxops.waiting import wait_until

pytestmark = pytest.mark.integration
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def prometheus(cfg, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus is not installed; `make test` installs it (apt-get install prometheus)")
    root = tmp_path_factory.mktemp("prometheus")
    jobs = "".join(
        f"  - job_name: {env}\n    static_configs: [{{targets: ['127.0.0.1:{cfg.environments.get(env).port}']}}]\n"
        for env in ("staging", "canary", "production"))  # fmt: skip
    config = f"global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n{jobs}"
    (root / "prometheus.yml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [PROMETHEUS, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    with serving_process(argv, f"{url}/-/ready"):
        yield url


@pytest.fixture(scope="module")
def canary_and_production(cfg) -> str:
    from cxops.pipeline.deploy import deploy
    from cxops.pipeline.local import step_function

    run_id = step_function("train")(cfg).run_id
    assert step_function("evaluate")(cfg, run_id).passed
    version = step_function("register")(cfg, run_id).version
    step_function("build")(cfg, version)
    for env in ("production", "canary"):
        deploy(cfg, env, version, "prometheus test setup")
    return version


def prom_cfg(cfg, url: str):
    canary = cfg.gates.canary.model_copy(update={
        "prometheus_url": url, "prometheus_selector": 'job="{env}"', "prometheus_scrape_seconds": 1.0})
    return cfg.model_copy(update={"gates": cfg.gates.model_copy(update={"canary": canary})})


def test_window_counts_from_prometheus_are_exact(cfg, prometheus: str, canary_and_production: str):
    from cxops.pipeline.load import run_load
    from cxops.pipeline.prom import delta
    from cxops.pipeline.promql import prometheus_snapshot

    url = f"http://127.0.0.1:{cfg.environments.production.port}/predict"
    wait_until(lambda: httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="production"}'})
               .json()["data"]["result"][0]["value"][1] == "1", timeout=30, what="production scraped")  # fmt: skip
    time.sleep(2)
    before = prometheus_snapshot(prometheus, 'job="production"', time.time())
    body = json.dumps({"inputs": [[0.0] * 64]}).encode()
    stats = run_load([(url, body)] * 137, 4)
    assert stats.errors == 0
    time.sleep(2.5)  # two scrapes later
    d = delta(prometheus_snapshot(prometheus, 'job="production"', time.time()), before)
    assert d.requests.get("200") == 137
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
