"""The arithmetic the canary gate rests on: histogram quantiles, distribution distance, percentiles."""

from __future__ import annotations

import math

from cxops.pipeline.load import percentile
from cxops.pipeline.prom import histogram_quantile, total_variation


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
