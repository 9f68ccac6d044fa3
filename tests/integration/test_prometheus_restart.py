"""Counters across pods with a restart mid-window, on real Prometheus series (issue 13, class 3).

Two real model-server processes serve one build as two "pods" of one env; a real Prometheus (Debian's) scrapes both
every second. One pod has a long history; the other restarts in the middle of the window. The window must hold the
60 requests sent in it, not the survivor's history.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
SELECTOR = 'job="pods"'


@pytest.fixture(scope="module")
def build_dir(lab: Path, cfg) -> Path:
    from cxops.pipeline.local import step_function

    run_id = step_function("train")(cfg).run_id
    assert step_function("evaluate")(cfg, run_id).passed
    version = step_function("register")(cfg, run_id).version
    return Path(step_function("build")(cfg, version).path)


class Pod:
    """One model-server process on a fixed port, restartable (same port, new process, counters from 0)."""

    def __init__(self, build: Path) -> None:
        self.build, self.port = build, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(self.build), "--port", str(self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: httpx.get(f"{self.url}/readyz").status_code == 200, timeout=60, what=f"{self.url}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture(scope="module")
def pods(build_dir: Path) -> Iterator[tuple[Pod, Pod]]:
    a, b = Pod(build_dir), Pod(build_dir)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def prometheus(pods, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("prometheus-pods")
    with prometheus_server(root, [scrape_job("pods", [f"127.0.0.1:{p.port}" for p in pods])]) as url:
        yield url


def _sum_requests(prom: str, at: float) -> float:
    from cxops.gates.promql import _query

    result = _query(prom, f'sum(cxops_requests_total{{{SELECTOR},route="/predict"}})', at)
    return float(result[0]["value"][1]) if result else 0.0


def _send(pod: Pod, n: int) -> None:
    from cxops.gates.load import run_load

    body = json.dumps({"inputs": [[0.0] * 64]}).encode()
    assert run_load([(f"{pod.url}/predict", body)] * n, 4).errors == 0


def test_a_pod_restart_mid_window_counts_only_the_windows_requests(pods, prometheus: str):
    from cxops.gates.metrics_window import counter_increase, histogram_quantile
    from cxops.gates.promql import prometheus_window

    a, b = pods
    _send(a, 3000)  # the survivor's history
    _send(b, 100)
    wait_until(lambda: _sum_requests(prometheus, time.time()) == 3100, timeout=30, what="history scraped")
    time.sleep(1.5)
    start = time.time()
    _send(a, 30)
    _send(b, 15)
    time.sleep(2.5)  # scraped before the restart
    b.stop()
    b.start()  # same port, new process: its counters start from 0
    time.sleep(2.5)
    _send(b, 15)
    time.sleep(3)  # two scrapes later
    end = time.time()

    w = prometheus_window(prometheus, SELECTOR, start, end, lookback=3)
    assert w.samples == 60 and w.requests == {"200": 60}
    assert w.latency_buckets[float("inf")] == 60 and w.confidence_count == 60 and sum(w.classes.values()) == 60
    assert histogram_quantile(0.95, w.latency_buckets) < 0.5  # from the window's 60 requests
    instances = {dict(labels).get("instance") for _, labels in w.series}
    assert instances == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
    # summing across pods first, then differencing, is what the issue saw: the survivor's history as the window
    naive = counter_increase([_sum_requests(prometheus, start), _sum_requests(prometheus, end)])
    assert naive == 3045


def test_the_scrape_path_sees_a_restart_by_its_start_time(build_dir: Path):
    from cxops.gates.metrics_window import delta, scrape

    pod = Pod(build_dir)
    try:
        pod.start()
        _send(pod, 3)
        before = scrape(pod.url)
        pod.stop()
        pod.start()
        _send(pod, 10)  # climbs past the old value: only the start time tells a restart
        after = scrape(pod.url)
        assert after.started != before.started
        assert delta(after, before).samples == 10
    finally:
        pod.stop()
