"""Prometheus metrics of the model server (RED per route + model behaviour for canary analysis).

The per-request series are plain Python numbers, turned into metric families only when /metrics is scraped (a
custom collector, as prometheus_client documents for "proxies and other collectors"): prometheus_client's own
Counter and Histogram take a lock and validate on every increment, which cost more than scoring a small model.
Every update happens on the server's event loop thread, the scrape too, so nothing needs a lock. The exposition
(names, labels, `_total`/`_bucket`/`_sum`/`_count` suffixes, cumulative `le` buckets) is prometheus_client's.

Nothing non-finite is ever observed: one NaN in a histogram's _sum stays there for the life of the process and
turns every later mean into NaN. `process_start_time_seconds` (the standard process collector) lets a window
difference see a restart even when a counter has already climbed past its old value.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from cxops.serving.buckets import CONFIDENCE_BUCKETS, LATENCY_BUCKETS


class Buckets:
    """One histogram series: per-bucket counts (not cumulative; the last is +Inf) and the sum of observations."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count `value` in the first bucket whose upper bound `le` is >= it (Prometheus' bucket rule)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs ending with +Inf, as HistogramMetricFamily takes them."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += n
            out.append((floatToGoString(bound), float(total)))
        return out


class ServerMetrics(Collector):
    """The server's registry: `cxops_requests_total{route,status}`, `cxops_request_seconds{route,status}`
    (histogram, seconds), `cxops_predictions_total{cls}`, `cxops_prediction_confidence` (histogram of the
    top-class probability), `cxops_model_info{name,version,env}` and the standard process metrics.
    A request's count is its latency series' count: one update per request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency: dict[tuple[str, int], Buckets] = {}
        self.predictions: dict[int | str, int] = {}
        self.confidence = Buckets(CONFIDENCE_BUCKETS)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)
        self.info = Gauge("cxops_model_info", "served model", ["name", "version", "env"], registry=self.registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency (perf_counter differences: always finite and >= 0)."""
        series = self.latency.get((route, status))
        if series is None:
            series = self.latency[(route, status)] = Buckets(LATENCY_BUCKETS)
        series.observe(seconds)

    def count_predictions(self, classes: list[int | str], confidences: list[float]) -> None:
        """Count one prediction per row (class label, top-class probability); a non-finite confidence is a bug
        upstream (the server refuses such rows with 422), and is refused here too, before anything is counted,
        rather than poisoning the histogram."""
        if not math.isfinite(sum(confidences)):
            bad = next(c for c in confidences if not math.isfinite(c))
            raise ValueError(f"confidence {bad!r} is not finite; not recorded")
        predictions, observe = self.predictions, self.confidence.observe
        for cls, confidence in zip(classes, confidences, strict=True):
            predictions[cls] = predictions.get(cls, 0) + 1
            observe(confidence)

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the numbers at scrape time."""
        requests = CounterMetricFamily("cxops_requests", "HTTP requests", labels=["route", "status"])
        latency = HistogramMetricFamily("cxops_request_seconds", "request latency", labels=["route", "status"])
        for (route, status), series in list(self.latency.items()):
            requests.add_metric([route, str(status)], series.count)
            latency.add_metric([route, str(status)], series.cumulative(), series.sum)
        predictions = CounterMetricFamily("cxops_predictions", "predicted classes", labels=["cls"])
        for cls, n in list(self.predictions.items()):
            predictions.add_metric([str(cls)], n)
        confidence = HistogramMetricFamily("cxops_prediction_confidence", "top-class probability")
        confidence.add_metric([], self.confidence.cumulative(), self.confidence.sum)
        yield from (requests, latency, predictions, confidence)
