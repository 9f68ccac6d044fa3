"""A latency quantile known only as a bound is reported and compared as one (issue 26, class 1).

When the 95th percentile's rank falls in the +Inf bucket of the serving latency histogram, all that is known is
"above the top finite bucket bound". The canary gate used that bound as the value, so a canary far slower than
production passed its p95 ratio check. The evidence here is the real server metrics registry
(cxops.serving.metrics.ServerMetrics, with whatever buckets the server uses) rendered by prometheus_client and
read back by the gate's own parser.
"""

from __future__ import annotations

import math

import pytest
from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from cxops.config import parse_config
from cxops.errors import ConfigError
from cxops.gates import metrics_window as prom
from cxops.gates.load import LoadStats
from cxops.gates.verdict import FAILED, INCONCLUSIVE, PASSED, Check, decide
from cxops.pipeline.steps import analyze
from cxops.serving.metrics import LATENCY_BUCKETS, ServerMetrics

TOP = max(LATENCY_BUCKETS)  # the top finite bucket bound (seconds)
MAX_RATIO = 2.0  # gates.canary.max_p95_ratio's default


def side(latencies: list[float]) -> dict:
    """One side's gate evidence from a real server registry that observed `latencies` (seconds) on /predict."""
    metrics = ServerMetrics()
    for seconds in latencies:
        metrics.observe("/predict", 200, seconds)
    window = prom.delta(prom.parse_metrics(generate_latest(metrics.registry).decode()), prom.Snapshot())
    return analyze._side_metrics(window, LoadStats())


def test_a_p95_in_the_inf_bucket_is_reported_as_a_bound():
    slow = side([TOP * 0.9] * 90 + [TOP * 40] * 10)  # 10% far beyond the top bucket: the p95 is among them
    assert slow["p95_above"] is True
    assert slow["p95"] == f"> {TOP * 1000:.0f} ms" == "> 10000 ms"  # the top bucket, in plain digits
    fast = side([TOP * 0.9] * 100)
    assert fast["p95_above"] is False and not fast["p95"].startswith(">")


def test_the_canary_p95_ratio_cannot_pass_on_a_bound():
    """The reported case: production's p95 just under the top bucket, the canary's in +Inf: the ratio of the bound
    reads about 1.1 (within 2.0) while the canary's true p95 is 40 times the top bucket."""
    production = side([TOP * 0.9] * 100)
    canary = side([TOP * 0.9] * 90 + [TOP * 40] * 10)
    check = analyze.p95_ratio_check(canary, production, MAX_RATIO)
    assert check.value is not None and check.value <= MAX_RATIO  # the bound itself would have passed
    verdict = decide([check], {"canary": 100, "production": 100}, 50)
    assert verdict.outcome == INCONCLUSIVE and not verdict.passed
    assert "> " in verdict.reasons[0] and "+Inf bucket" in verdict.reasons[0]


def test_a_bound_on_the_right_side_of_the_limit_decides():
    fast = side([TOP / 100] * 100)
    slow = side([TOP * 0.9] * 90 + [TOP * 40] * 10)
    # canary in +Inf, production 100x faster: the ratio is above a bound already beyond the limit
    assert decide([analyze.p95_ratio_check(slow, fast, MAX_RATIO)]).outcome == FAILED
    # production in +Inf, canary fast: the ratio is below a bound within the limit
    assert decide([analyze.p95_ratio_check(fast, slow, MAX_RATIO)]).outcome == PASSED
    # both in +Inf: nothing is known about the ratio
    assert decide([analyze.p95_ratio_check(slow, slow, MAX_RATIO)]).outcome == INCONCLUSIVE


@settings(max_examples=300, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=len(LATENCY_BUCKETS) + 1, max_size=len(LATENCY_BUCKETS) + 1),
    q=st.floats(0.01, 0.99),
)
def test_property_a_quantile_is_a_bound_exactly_when_its_rank_is_in_the_inf_bucket(counts, q):
    edges = [*sorted(LATENCY_BUCKETS), math.inf]
    cumulative, total = {}, 0
    for edge, n in zip(edges, counts, strict=True):
        total += n
        cumulative[edge] = float(total)
    got = prom.quantile(q, cumulative)
    if total == 0:
        assert math.isnan(got.value)
        return
    finite_count = cumulative[edges[-2]]
    assert got.above == (q * total > finite_count)
    if got.above:
        assert got.value == edges[-2] and got.describe().startswith("> ")
    else:
        assert 0 <= got.value <= edges[-2] and not got.describe().startswith(">")


limit = st.floats(0.01, 100)
bounded = st.sampled_from([None, "above", "below", "unknown"])


@settings(max_examples=400, deadline=None)
@given(value=st.floats(0.01, 100), limit=limit, kind=st.sampled_from(["max", "min"]), bound=bounded, data=st.data())
def test_property_a_check_passes_or_fails_only_when_every_consistent_truth_would(value, limit, kind, bound, data):
    """Every truth the bound allows (above: > value; below: < value; unknown: anything) is tried: a passing check
    must pass for all of them, a failing one fail for all of them; otherwise it is undetermined."""
    c = Check("p95 ratio", value, limit, kind, bound=bound)
    if bound is None:
        truths = [value]
    elif bound == "above":
        truths = [value * (1 + data.draw(st.floats(1e-6, 1e3))) for _ in range(3)] + [value * 1e6]
    elif bound == "below":
        truths = [value * data.draw(st.floats(1e-6, 1 - 1e-6)) for _ in range(3)] + [value * 1e-6]
    else:
        truths = [value * 1e-6, value, value * 1e6]

    def within(t: float) -> bool:
        return t <= limit if kind == "max" else t >= limit

    if c.ok:
        assert all(within(t) for t in truths)
    elif not c.undetermined:
        assert not any(within(t) for t in truths)
    outcome = decide([c]).outcome
    assert outcome == (PASSED if c.ok else INCONCLUSIVE if c.undetermined else FAILED)


# -- at config load: the gates' latency limits lie well below the histogram's top bucket ----------------------------

CONFIG = (REPO / "cxops.yaml").read_text()


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cxops.yaml")
    return info.value.problems


def test_a_staging_p95_limit_near_the_top_bucket_is_refused_at_load():
    [msg] = _problems(CONFIG.replace("max_p95_ms: 200", f"max_p95_ms: {TOP * 1000 / 2:g}"))
    assert f"gates.staging.max_p95_ms {TOP * 1000 / 2:g} ms" in msg
    assert f"top bucket ({TOP:g} s)" in msg and f"at most {TOP * 1000 / 4:g} ms" in msg


def test_a_canary_ratio_is_not_a_latency_and_is_not_limited_by_the_buckets():
    """max_p95_ratio compares the canary's p95 with production's: generous ratios (the test projects' 50) load."""
    parse_config(CONFIG.replace("max_p95_ratio: 3.0", "max_p95_ratio: 50"), "cxops.yaml")


def test_the_shipped_limits_are_well_inside_the_buckets():
    gates = parse_config(CONFIG, "cxops.yaml").gates
    assert gates.staging.max_p95_ms * 4 <= TOP * 1000


def test_sub_millisecond_p95s_compare_as_equal_above_the_floor_they_do_not():
    """A fresh-clone CI run failed a canary on "p95 ratio 7.77 > max 3": canary 0.715 ms against production's
    0.092 ms, both far below anything a client notices. gates.canary.p95_floor_ms (5 by default) counts each p95
    below it as the floor; a real slowdown above it still fails."""
    from cxops.config.schema import CanaryGate

    floor = CanaryGate().p95_floor_ms
    production, canary = side([0.000092] * 100), side([0.000715] * 100)
    slow = side([0.04] * 100)  # 40 ms
    assert decide([analyze.p95_ratio_check(canary, production, 3.0)]).outcome == FAILED  # no floor: the old verdict
    assert decide([analyze.p95_ratio_check(canary, production, 3.0, floor)]).outcome == PASSED
    check = analyze.p95_ratio_check(slow, production, 3.0, floor)
    assert decide([check]).outcome == FAILED and check.value == pytest.approx(slow["p95_ms"] / floor)
