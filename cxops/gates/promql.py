"""The window evidence of prom.delta, read from a Prometheus server instead of one server's /metrics.

In the cluster an env is several pods behind a Service: only Prometheus sees all of them. For each window counter
one range query `metric{selector}[range]` at the window's end returns every raw sample of every series (pod); each
series is differenced on its own from its last sample at or before the window's start (prom.counter_increase:
resets handled per series) and only then summed. Summing first and differencing after turns one pod's restart
into "the whole history of the others" (Prometheus docs: "rate then sum, never sum then rate").

The PromQL lives here once: the gate's window range queries and the rate forms the platform's
alerts and dashboards render (`error_ratio`, `p95_seconds`, ...) are built from the same series selectors, so an
alert and the gate always look at the same samples. A `selector` is label matchers without braces, e.g.
`namespace="cxops-canary"` (`gates.canary.prometheus_selector` filled in).
"""

from __future__ import annotations

import math

import httpx

from cxops.errors import CxopsError
from cxops.gates.metrics_window import WINDOW_SERIES, SeriesKey, Window, aggregate, counter_increase, labels_of
from cxops.http_client import client


def _query(base: str, expr: str, at: float) -> list[dict]:
    try:
        r = client().get(f"{base.rstrip('/')}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10)
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CxopsError(f"Prometheus at {base} unreachable: {type(exc).__name__}: {exc}") from None
    if body.get("status") != "success":
        raise CxopsError(f"Prometheus at {base} rejected {expr!r}: {body.get('error', body)}")
    return body["data"]["result"]


# The model server's series (cxops/serving/metrics.py); only /predict counts towards the gate.
REQUESTS = "cxops_requests_total"
LATENCY_BUCKET = "cxops_request_seconds_bucket"
PREDICTIONS = "cxops_predictions_total"
CONFIDENCE_SUM = "cxops_prediction_confidence_sum"
CONFIDENCE_COUNT = "cxops_prediction_confidence_count"
PREDICT_ROUTE = 'route="/predict"'
ERROR_STATUS = 'status!~"2.."'


def series(metric: str, selector: str, *extra: str) -> str:
    """`metric{selector,extra...}`: one env's series of a metric."""
    return f"{metric}{{{','.join(m for m in (selector, *extra) if m)}}}"


def requests_by_status(selector: str) -> str:
    """Instant: /predict requests so far by HTTP status (the gate's counts at a window edge)."""
    return f"sum by (status) ({series(REQUESTS, selector, PREDICT_ROUTE)})"


def latency_buckets(selector: str) -> str:
    """Instant: cumulative /predict latency histogram by `le` (seconds), summed over pods and statuses."""
    return f"sum by (le) ({series(LATENCY_BUCKET, selector, PREDICT_ROUTE)})"


def predictions_by_class(selector: str) -> str:
    """Instant: predictions so far by predicted class `cls`."""
    return f"sum by (cls) ({series(PREDICTIONS, selector)})"


def total(metric: str, selector: str) -> str:
    """Instant: one env's counter summed over its pods."""
    return f"sum({series(metric, selector)})"


def request_rate(selector: str, window: str) -> str:
    """Rate: /predict requests per second over `window` (a PromQL duration such as 5m)."""
    return f"sum(rate({series(REQUESTS, selector, PREDICT_ROUTE)}[{window}]))"


def error_ratio(selector: str, window: str) -> str:
    """Rate: share of /predict requests answered with a non-2xx status (the gate's error rate)."""
    errors = f"sum(rate({series(REQUESTS, selector, PREDICT_ROUTE, ERROR_STATUS)}[{window}]))"
    return f"({errors} or vector(0)) / {request_rate(selector, window)}"


def p95_seconds(selector: str, window: str) -> str:
    """Rate: 95th percentile /predict latency in seconds (histogram_quantile over the same buckets as the gate)."""
    return f"histogram_quantile(0.95, sum by (le) (rate({series(LATENCY_BUCKET, selector, PREDICT_ROUTE)}[{window}])))"


def mean_confidence(selector: str, window: str) -> str:
    """Rate: mean top-class probability of the predictions made in `window`."""
    return (
        f"sum(rate({series(CONFIDENCE_SUM, selector)}[{window}]))"
        f" / sum(rate({series(CONFIDENCE_COUNT, selector)}[{window}]))"
    )


def class_share(selector: str, window: str) -> str:
    """Rate: share of each predicted class `cls` among the predictions made in `window`."""
    by_class = f"sum by (cls) (rate({series(PREDICTIONS, selector)}[{window}]))"
    return f"{by_class} / scalar(sum(rate({series(PREDICTIONS, selector)}[{window}])))"


def distribution_distance(selector_a: str, selector_b: str, window: str) -> str:
    """Rate: total variation distance between two envs' predicted-class shares (prom.total_variation in PromQL);
    a class only one side predicted counts with its full share."""
    a, b = class_share(selector_a, window), class_share(selector_b, window)
    return f"0.5 * sum(abs(({a} - {b}) or {a} or -({b})))"


def series_increase(samples: list[tuple[float, float]], start: float) -> float:
    """Increase of one series over (start, end]: samples are (unix time, value) oldest first and end at the window's
    end. The base is the last sample at or before `start`; a series with none began inside the window and counts
    from 0 (a new pod)."""
    before = [v for t, v in samples if t <= start]
    inside = [v for t, v in samples if t > start]
    return counter_increase([before[-1] if before else 0.0, *inside])


def prometheus_window(base: str, selector: str, start: float, end: float, lookback: float) -> Window:
    """Window evidence for the series `selector` picks, between unix times start and end; `lookback` seconds
    before start are read too so each series has a sample at or before the start (two scrape intervals do)."""
    span = max(1, math.ceil(end - start + lookback))
    increases: list[tuple[SeriesKey, float]] = []
    for name in WINDOW_SERIES:
        for r in _query(base, f"{name}{{{selector}}}[{span}s]", end):
            labels = {k: v for k, v in r["metric"].items() if k != "__name__"}
            samples = [(float(t), float(v)) for t, v in r.get("values", [])]
            increases.append(((name, labels_of(labels)), series_increase(samples, start)))
    return aggregate(increases)
