"""Property-based tests (hypothesis) of the gate maths: arbitrary finite and non-finite evidence, any limits.

A gate passes only if every check is computed, finite and within its limit; it is inconclusive exactly when some
side has fewer samples than the minimum; counters are differenced per series with resets, then summed.
"""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cxops.gates import metrics_window as prom
from cxops.gates.promql import series_increase
from cxops.gates.verdict import FAILED, INCONCLUSIVE, PASSED, Check, decide, json_safe

any_float = st.floats(allow_nan=True, allow_infinity=True)
value = st.one_of(st.none(), any_float, st.integers(-(10**6), 10**6))
check = st.builds(
    Check, name=st.text(min_size=1, max_size=12), value=value, limit=any_float, kind=st.sampled_from(["max", "min"])
)
samples = st.dictionaries(
    st.sampled_from(["canary", "production"]), st.one_of(st.floats(allow_nan=True), st.integers(0, 10_000)), max_size=2
)


def within(c: Check) -> bool:
    v, lim = c.value, c.limit
    if v is None or not math.isfinite(v) or not math.isfinite(lim):
        return False
    return v <= lim if c.kind == "max" else v >= lim


@settings(max_examples=400, deadline=None)
@given(st.lists(check, max_size=6), samples, st.integers(0, 200))
def test_pass_only_on_finite_within_limit_and_inconclusive_only_below_the_minimum(checks, counts, minimum):
    v = decide(checks, counts, minimum, source='Prometheus http://p:9090 selector {job="x"}')
    short = [s for s, n in counts.items() if not (isinstance(n, int) or math.isfinite(n)) or n < minimum]
    if short:
        assert v.outcome == INCONCLUSIVE and not v.passed
        assert all('selector {job="x"}' in r for r in v.reasons)
        return
    assert v.passed == all(within(c) for c in checks)
    assert v.outcome == (PASSED if v.passed else FAILED)
    assert len(v.reasons) == sum(not within(c) for c in checks)  # one reason per failing check, none otherwise


@given(st.sampled_from([math.nan, math.inf, -math.inf, None]), st.floats(-1e9, 1e9), st.sampled_from(["max", "min"]))
def test_a_non_finite_or_missing_value_never_passes_whatever_the_limit(bad, limit, kind):
    c = Check("confidence ratio", bad, limit, kind)
    v = decide([c], {"canary": 600, "production": 600}, 50)
    assert v.outcome == FAILED
    word = "not computed" if bad is None else ("NaN" if bad != bad else "Infinity")
    assert word in v.reasons[0]
    assert c.as_dict()["value"] is None


@given(
    st.recursive(
        st.one_of(any_float, st.integers(), st.text(max_size=4), st.none()),
        lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=4), kids, max_size=3)),
        max_leaves=12,
    )
)
def test_json_safe_never_leaves_a_bare_nan(data):
    nulls: dict[str, str] = {}
    text = json.dumps(json_safe(data, nulls=nulls), allow_nan=False)  # raises on any NaN/Infinity left
    assert ("NaN" in nulls.values() or "Infinity" in nulls.values() or "-Infinity" in nulls.values()) == (
        _has_non_finite(data)
    )
    json.loads(text)


def _has_non_finite(data) -> bool:
    if isinstance(data, float):
        return not math.isfinite(data)
    if isinstance(data, dict):
        return any(_has_non_finite(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_non_finite(v) for v in data)
    return False


# -- counters ------------------------------------------------------------------------------------------------

increments = st.lists(st.integers(0, 1000), min_size=1, max_size=30)


@st.composite
def counter_with_restarts(draw):
    """(true increase over the window, the samples a scraper saw): a counter that restarts at random points."""
    start = draw(st.integers(0, 10**6))
    incs = draw(increments)
    restarts = draw(st.sets(st.integers(0, len(incs) - 1), max_size=3))
    samples, value = [float(start)], start
    for i, inc in enumerate(incs):
        value = inc if i in restarts else value + inc  # a restart: from 0, then this sample's requests
        samples.append(float(value))
    # a reset is visible only if the value went down: restarts that climbed back past the old value look like growth
    visible = all(samples[i + 1] < samples[i] or i not in restarts for i in range(len(incs)))
    return sum(incs), samples, visible


@given(counter_with_restarts())
def test_counter_increase_counts_resets_per_series(case):
    true, samples, visible = case
    got = prom.counter_increase(samples)
    if visible:
        assert got == true
    assert got >= 0


@given(st.lists(counter_with_restarts(), min_size=1, max_size=4))
def test_per_series_then_sum_equals_the_true_window_total(series):
    """Whatever the pods do, the window total is the sum of the true increases; summing counters first is not."""
    keyed = [
        (
            (prom.REQUESTS, (("instance", f"pod-{i}"), ("route", "/predict"), ("status", "200"))),
            prom.counter_increase(s),
        )
        for i, (_, s, _) in enumerate(series)
    ]
    w = prom.aggregate(keyed)
    if all(visible for *_, visible in series):
        assert w.samples == sum(true for true, *_ in series)


def test_a_restart_mid_window_is_not_the_whole_history():
    """The issue's numbers: a pod with 10,000 requests of history survives, another restarts; 60 in the window."""
    a = [10_000.0, 10_030.0]  # survivor: 30 in the window
    b = [50.0, 65.0, 15.0]  # 15 before its restart, 15 after
    summed = [a[0] + b[0], a[-1] + b[-1]]  # what summing first sees: 10,050 → 10,045, "a reset"
    assert prom.counter_increase(summed) == 10_045  # the old, wrong answer
    assert prom.counter_increase(a) + prom.counter_increase(b) == 60


def test_series_increase_takes_its_base_at_the_window_start():
    samples = [(90.0, 100.0), (99.0, 110.0), (101.0, 115.0), (103.0, 3.0), (105.0, 9.0)]
    assert series_increase(samples, start=100.0) == 5 + 3 + 6
    assert series_increase([(101.0, 7.0), (103.0, 9.0)], start=100.0) == 9  # a pod born in the window


def test_scrape_delta_sees_a_restart_by_start_time_even_when_the_counter_climbed_back():
    key = (prom.REQUESTS, (("instance", "u"), ("route", "/predict"), ("status", "200")))
    before = prom.Snapshot({key: 3.0}, started=1000.0)
    after = prom.Snapshot({key: 10.0}, started=2000.0)
    assert prom.delta(after, before).samples == 10
    assert prom.delta(prom.Snapshot({key: 10.0}, started=1000.0), before).samples == 7


def test_quantile_of_no_observations_is_nan_and_fails_its_check():
    p95 = prom.histogram_quantile(0.95, {0.1: 0.0, math.inf: 0.0})
    assert math.isnan(p95)
    assert not Check("p95 ratio", p95, 2.0, "max").ok
