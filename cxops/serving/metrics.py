"""Prometheus metrics of the model server (RED per route + model behaviour for canary analysis).

Nothing non-finite is ever observed: one NaN in a histogram's _sum stays there for the life of the process and
turns every later mean into NaN. `process_start_time_seconds` (the standard process collector) lets a window
difference see a restart even when a counter has already climbed past its old value.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cxops_requests", "HTTP requests", ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "cxops_request_seconds",
            "request latency",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter("cxops_predictions", "predicted classes", ["cls"], registry=self.registry)
        self.confidence = Histogram(
            "cxops_prediction_confidence", "top-class probability", buckets=CONFIDENCE_BUCKETS, registry=self.registry
        )
        ProcessCollector(registry=self.registry)
        self.info = Gauge("cxops_model_info", "served model", ["name", "version", "env"], registry=self.registry)
        # Labelled children are looked up once: .labels() per request is a measurable share of a 0.3 ms request.
        self._requests: dict[tuple[str, int], Counter] = {}
        self._latency: dict[tuple[str, int], Histogram] = {}
        self._classes: dict[int, Counter] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency (perf_counter differences: always finite and >= 0)."""
        key = (route, status)
        if key not in self._requests:
            self._requests[key] = self.requests.labels(route, str(status))
            self._latency[key] = self.latency.labels(route, str(status))
        self._requests[key].inc()
        self._latency[key].observe(seconds)

    def count_prediction(self, cls: int, confidence: float) -> None:
        """Count one prediction; a non-finite confidence is a bug upstream (the server refuses such rows with 422),
        and is refused here too rather than poisoning the histogram."""
        if not math.isfinite(confidence):
            raise ValueError(f"confidence {confidence!r} is not finite; not recorded")
        child = self._classes.get(cls)
        if child is None:
            child = self._classes[cls] = self.predictions.labels(str(cls))
        child.inc()
        self.confidence.observe(confidence)
