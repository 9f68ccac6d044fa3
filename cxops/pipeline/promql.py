"""The window evidence of prom.delta, read from a Prometheus server instead of one server's /metrics.

In the cluster an env is several pods behind a Service: only Prometheus sees all of them. For each window counter
one range query `metric{selector}[range]` at the window's end returns every raw sample of every series (pod); each
series is differenced on its own from its last sample at or before the window's start (prom.counter_increase:
resets handled per series) and only then summed. Summing first and differencing after turns one pod's restart
into "the whole history of the others" (Prometheus docs: "rate then sum, never sum then rate").
"""

from __future__ import annotations

import math

import httpx

from cxops.errors import CxopsError
from cxops.pipeline.prom import WINDOW_SERIES, SeriesKey, Window, aggregate, counter_increase, labels_of


def _query(base: str, expr: str, at: float) -> list[dict]:
    try:
        r = httpx.get(f"{base.rstrip('/')}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10)
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CxopsError(f"Prometheus at {base} unreachable: {type(exc).__name__}: {exc}") from None
    if body.get("status") != "success":
        raise CxopsError(f"Prometheus at {base} rejected {expr!r}: {body.get('error', body)}")
    return body["data"]["result"]


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
