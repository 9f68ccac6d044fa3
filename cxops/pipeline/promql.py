"""The same window snapshots as prom.scrape, read from a Prometheus server instead of a server's /metrics.

In the cluster an env is several pods behind a Service: only Prometheus sees all of them. Counters are read with
instant queries at the window's start and end (sums over the env's pods), so prom.delta applies unchanged.
"""

from __future__ import annotations

import httpx

from cxops.errors import CxopsError
from cxops.pipeline.prom import Snapshot


def _query(base: str, expr: str, at: float) -> list[dict]:
    try:
        r = httpx.get(f"{base.rstrip('/')}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10)
        body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise CxopsError(f"Prometheus at {base} unreachable: {type(exc).__name__}: {exc}") from None
    if body.get("status") != "success":
        raise CxopsError(f"Prometheus at {base} rejected {expr!r}: {body.get('error', body)}")
    return body["data"]["result"]


def prometheus_snapshot(base: str, selector: str, at: float) -> Snapshot:
    def by(label: str, metric: str, extra: str = "") -> dict[str, float]:
        expr = f"sum by ({label}) ({metric}{{{selector}{extra}}})"
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in _query(base, expr, at)}

    def total(metric: str) -> float:
        result = _query(base, f"sum({metric}{{{selector}}})", at)
        return float(result[0]["value"][1]) if result else 0.0

    route = ',route="/predict"'
    return Snapshot(
        requests=by("status", "cxops_requests_total", route),
        latency_buckets={float(k): v for k, v in by("le", "cxops_request_seconds_bucket", route).items()},
        classes=by("cls", "cxops_predictions_total"),
        confidence_sum=total("cxops_prediction_confidence_sum"),
        confidence_count=total("cxops_prediction_confidence_count"),
    )
