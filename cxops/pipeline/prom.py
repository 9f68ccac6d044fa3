"""Read a server's /metrics and compute window deltas: request counts, latency quantiles, class shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Snapshot:
    requests: dict[str, float] = field(default_factory=dict)  # status -> count (route /predict)
    latency_buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count (/predict)
    classes: dict[str, float] = field(default_factory=dict)
    confidence_sum: float = 0.0
    confidence_count: float = 0.0


def scrape(url: str, timeout: float = 3.0) -> Snapshot | None:
    try:
        text = httpx.get(f"{url}/metrics", timeout=timeout).text
    except httpx.HTTPError:
        return None
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if s.name == "cxops_requests_total" and labels.get("route") == "/predict":
                snap.requests[labels["status"]] = s.value
            elif s.name == "cxops_request_seconds_bucket" and labels.get("route") == "/predict":
                le = float(labels["le"])  # summed over status, as `sum by (le)` does in PromQL
                snap.latency_buckets[le] = snap.latency_buckets.get(le, 0.0) + s.value
            elif s.name == "cxops_predictions_total":
                snap.classes[labels["cls"]] = s.value
            elif s.name == "cxops_prediction_confidence_sum":
                snap.confidence_sum = s.value
            elif s.name == "cxops_prediction_confidence_count":
                snap.confidence_count = s.value
    return snap


def _sub(a: dict, b: dict) -> dict:
    """Counter deltas; a counter that went down was reset (server restarted), so its new value is the delta."""
    out = {}
    for k in set(a) | set(b):
        after, before = a.get(k, 0.0), b.get(k, 0.0)
        out[k] = after - before if after >= before else after
    return out


def delta(after: Snapshot, before: Snapshot) -> Snapshot:
    sums = _sub({"s": after.confidence_sum, "c": after.confidence_count},
                {"s": before.confidence_sum, "c": before.confidence_count})
    return Snapshot(
        requests=_sub(after.requests, before.requests),
        latency_buckets=_sub(after.latency_buckets, before.latency_buckets),
        classes=_sub(after.classes, before.classes),
        confidence_sum=sums["s"],
        confidence_count=sums["c"],
    )


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus-style: linear interpolation inside the bucket holding rank q·total (seconds)."""
    edges = sorted(buckets)
    if not edges or buckets[edges[-1]] <= 0:
        return math.nan
    total = buckets[edges[-1]]
    rank = q * total
    prev_edge, prev_count = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if math.isinf(edge):
                return prev_edge
            span = count - prev_count
            return prev_edge + (edge - prev_edge) * ((rank - prev_count) / span if span else 0.0)
        prev_edge, prev_count = edge, count
    return edges[-1]


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return 1.0
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in set(p) | set(q))
