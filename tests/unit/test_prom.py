"""The arithmetic the canary gate rests on: histogram quantiles, distribution distance, percentiles."""

from __future__ import annotations

import itertools
import math

from cxops.gates.load import percentile
from cxops.gates.metrics_window import histogram_quantile, total_variation


def test_histogram_quantile_interpolates_inside_the_bucket():
    # 100 observations: 50 in (0, 0.01], 40 in (0.01, 0.02], 10 in (0.02, 0.1]
    buckets = {0.01: 50, 0.02: 90, 0.1: 100, math.inf: 100}
    assert math.isclose(histogram_quantile(0.5, buckets), 0.01)
    assert math.isclose(histogram_quantile(0.7, buckets), 0.015)
    assert math.isclose(histogram_quantile(0.95, buckets), 0.06)


def test_histogram_quantile_empty_is_nan():
    assert math.isnan(histogram_quantile(0.95, {0.1: 0, math.inf: 0}))


def test_total_variation():
    assert total_variation({"a": 5, "b": 5}, {"a": 1, "b": 1}) == 0
    assert total_variation({"a": 1}, {"b": 1}) == 1
    assert math.isclose(total_variation({"a": 3, "b": 1}, {"a": 1, "b": 1}), 0.25)


def test_percentile():
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert math.isclose(percentile([0, 10], 0.95), 9.5)


def test_latency_buckets_resolve_the_served_latencies():
    """Issue 31, item 11: a server answers in tens to hundreds of µs. Observed into the server's own histogram, the
    p95 computed from the buckets must be within a bucket's width of the true p95 (the old buckets, lowest 0.5 ms,
    gave 0.475 ms whatever was served), for fast and slow loads alike, and distinguish them."""
    import numpy as np

    from cxops.config.schema import StagingGate
    from cxops.serving.metrics import LATENCY_BUCKETS, Buckets

    assert tuple(sorted(LATENCY_BUCKETS)) == LATENCY_BUCKETS and LATENCY_BUCKETS[0] <= 50e-6
    assert max(b / a for a, b in itertools.pairwise(LATENCY_BUCKETS)) < 1.3  # log-spaced, fine
    assert LATENCY_BUCKETS[-1] >= 10 * StagingGate().max_p95_ms / 1000  # far past the gate's limit
    rng = np.random.default_rng(0)
    p95s = []
    for median in (60e-6, 150e-6, 400e-6, 0.02):
        observed = rng.lognormal(np.log(median), 0.3, size=2000)
        series = Buckets(LATENCY_BUCKETS)
        for value in observed:
            series.observe(float(value))
        cumulative = {float(le): n for le, n in series.cumulative()}
        p95 = histogram_quantile(0.95, cumulative)
        true = float(np.percentile(observed, 95))
        assert abs(p95 - true) / true < 0.26, (median, p95, true)
        p95s.append(p95)
    assert p95s == sorted(p95s) and len(set(p95s)) == len(p95s)
