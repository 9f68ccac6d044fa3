"""Every PromQL expression of the platform's dashboards and alerts, against a real model server and a real Prometheus.

The model server runs on a real build (as in test_serving.py) and its real /metrics gives the metric names it
exports; Debian's Prometheus scrapes it as the production env (the `namespace` label the ServiceMonitor would add)
and must accept every expression; each expression may use only names the server exports, the Argo Workflows
controller exports (argo-workflows docs/metrics.md, v3.6 and later: `workflowtemplate_triggered_total`,
`total_count`, with Prometheus's `argo_workflows_` prefix), or Prometheus itself makes (`up`, `ALERTS`).
Dashboards are also checked as files: valid JSON and a unique uid each.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import REPO, model_server
from prometheus_client.parser import text_string_to_metric_families
from prometheus_server import prometheus as prometheus_server
from prometheus_server import scrape_job

from cxops.waiting import wait_until

pytestmark = pytest.mark.integration
DASHBOARDS = REPO / "k8s" / "platform" / "monitoring-config" / "dashboards"
ARGO_CONTROLLER = {"argo_workflows_workflowtemplate_triggered_total", "argo_workflows_total_count"}
PROMETHEUS_OWN = {"up", "ALERTS"}
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords, label names in
    matchers or grouping clauses."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    found = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        name, call = m.group(1), m.group(2)
        if not call and name not in KEYWORDS:
            found.add(name)
    return found


def all_expressions() -> dict[str, str]:
    """Where → expression, for every dashboard target and every alert rule."""
    from cxops.config import load_config
    from cxops.k8s.rules import rule_spec

    out = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for t in panel.get("targets", []):
                out[f"{path.name}: {panel['title']} {t['refId']}"] = t["expr"]
    for group in rule_spec(load_config(REPO / "cxops.yaml"))["groups"]:
        for rule in group["rules"]:
            out[f"rule {rule['alert']} ({rule['labels']['env']})"] = rule["expr"]
    return out


def test_the_name_extractor_finds_names_and_only_names():
    expr = (
        'sum by (le) (rate(cxops_request_seconds_bucket{namespace="a",route="/predict"}[5m])) / on (ns) '
        "group_left (version) max by (namespace, version) (cxops_model_info) or vector(0) > bogus_metric"
    )
    assert metric_names(expr) == {"cxops_request_seconds_bucket", "cxops_model_info", "bogus_metric"}


def test_dashboards_are_valid_json_with_unique_uids():
    uids = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        assert board["uid"] == path.stem and board["panels"], path.name
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"]), f"{path.name}: duplicate panel id"
        uids.append(board["uid"])
    assert len(uids) == len(set(uids)) >= 5
    assert {"cxops-serving", "cxops-canary", "cxops-pipeline", "cxops-operator", "cxops-team"} <= set(uids)


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    """A real server on a real build (the metric names come from the server code, whatever the model)."""
    with model_server(built, "--env", "production") as (url, _):
        golden = json.loads((built / "golden.json").read_text())
        for _ in range(5):
            assert httpx.post(f"{url}/predict", json={"inputs": golden["inputs"]}).status_code == 200
        assert httpx.post(f"{url}/predict", json={"inputs": [[1, 2]]}).status_code == 422  # an error series too
        yield url


@pytest.fixture(scope="module")
def exported(server: str) -> set[str]:
    """Sample names on the server's real /metrics (counters with _total, histograms with _bucket/_sum/_count)."""
    text = httpx.get(f"{server}/metrics").text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(scope="module")
def prometheus(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from cxops import names
    from cxops.config import load_config

    namespace = names.env_namespace(load_config(REPO / "cxops.yaml"), "production")
    root = tmp_path_factory.mktemp("prometheus")
    job = scrape_job("model-server", [server.removeprefix("http://")], {"namespace": namespace})
    with prometheus_server(root, [job]) as url:
        wait_until(
            lambda: _query(url, f'cxops_model_info{{namespace="{namespace}"}}'),
            timeout=30,
            what="Prometheus's first scrape of the model server",
        )
        yield url


def _query(base: str, expr: str) -> list:
    body = httpx.get(f"{base}/api/v1/query", params={"query": expr, "time": f"{time.time():.3f}"}, timeout=10).json()
    assert body["status"] == "success", f"{expr!r}: {body.get('error')}"
    return body["data"]["result"]


def test_every_expression_uses_only_exported_metric_names(exported: set[str]):
    assert {
        "cxops_requests_total",
        "cxops_request_seconds_bucket",
        "cxops_predictions_total",
        "cxops_prediction_confidence_sum",
        "cxops_model_info",
    } <= exported
    allowed = exported | ARGO_CONTROLLER | PROMETHEUS_OWN
    exprs = all_expressions()
    assert len(exprs) >= 25
    for where, expr in exprs.items():
        unknown = metric_names(expr) - allowed
        assert not unknown, f"{where}: {sorted(unknown)} is exported by nothing scraped"


def test_prometheus_accepts_every_expression(prometheus: str):
    for where, expr in all_expressions().items():
        try:
            _query(prometheus, expr)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None


def test_serving_expressions_select_the_servers_series(prometheus: str, server: str, built: Path):
    """Not only parsed: the gate's selectors match what the server exports (a typo in a label would give nothing),
    and the error ratio counts the failed /predict requests."""
    from cxops.config import load_config
    from cxops.gates import promql
    from cxops.k8s.rules import selector

    sel = selector(load_config(REPO / "cxops.yaml"), "production")
    golden = json.loads((built / "golden.json").read_text())
    for _ in range(6):  # 3 good and 1 bad request per second, over a few scrapes
        for _ in range(3):
            httpx.post(f"{server}/predict", json={"inputs": golden["inputs"][:1]})
        httpx.post(f"{server}/predict", json={"inputs": [[1, 2]]})
        time.sleep(0.5)

    def ratio() -> float | None:
        result = _query(prometheus, promql.error_ratio(sel, "1m"))
        value = float(result[0]["value"][1]) if result else None
        return value if value and value == value else None  # NaN before two scrapes saw the traffic

    value = wait_until(ratio, timeout=30, what="an error ratio over two scrapes")
    assert 0.1 < value < 0.5, value
    assert _query(prometheus, promql.requests_by_status(sel))
    assert _query(prometheus, promql.latency_buckets(sel))
    assert _query(prometheus, promql.class_share(sel, "1m"))
    assert float(_query(prometheus, promql.p95_seconds(sel, "1m"))[0]["value"][1]) > 0


def test_the_gates_prometheus_window_equals_the_servers_own_counts(prometheus: str, server: str):
    """The gate's range queries (promql.prometheus_window), over a window that starts before the server's first
    request, read exactly what the server's /metrics says, once Prometheus has scraped it after the last request."""
    from cxops.config import load_config
    from cxops.gates import metrics_window as prom
    from cxops.gates import promql
    from cxops.k8s.rules import selector

    sel = selector(load_config(REPO / "cxops.yaml"), "production")
    direct = prom.scrape(server)
    assert direct is not None
    totals = prom.delta(direct, prom.Snapshot())  # against an empty snapshot: every series counts from 0
    direct_requests = {k: v for k, v in totals.requests.items() if v}
    assert sum(direct_requests.values()) > 0
    start = time.time() - 600  # before the server existed: every series counts from 0

    def same() -> prom.Window | None:
        w = promql.prometheus_window(prometheus, sel, start, time.time(), lookback=15)
        return w if {k: v for k, v in w.requests.items() if v} == direct_requests else None

    window = wait_until(same, timeout=30, what="Prometheus to scrape the server's last counts")
    assert window.classes == totals.classes and window.confidence_count == totals.confidence_count
