"""Window evidence from counters: per-series increases (resets handled per series), then summed.

Summing counters across pods first and differencing the sums afterwards is wrong as soon as one pod restarts: the
sum drops, looks like one big reset, and the surviving pods' whole history becomes "the window". So every series
(one metric, one label set, one pod/instance) is differenced on its own, and only the increases are summed. Two
sources give the samples: a server's own /metrics (two snapshots; a changed `process_start_time_seconds` marks a
restart even when the counter has already climbed past its old value) and Prometheus (cxops.gates.promql:
every raw sample of the window, so a reset between scrapes is seen as Prometheus' own `increase()` sees it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cxops.http_client import client

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
SeriesKey = tuple[str, Labels]  # (sample name, labels), e.g. ("cxops_requests_total", (("route", "/predict"), ...))

REQUESTS = "cxops_requests_total"
LATENCY_BUCKET = "cxops_request_seconds_bucket"
PREDICTIONS = "cxops_predictions_total"
CONFIDENCE_SUM = "cxops_prediction_confidence_sum"
CONFIDENCE_COUNT = "cxops_prediction_confidence_count"
WINDOW_SERIES = (REQUESTS, LATENCY_BUCKET, PREDICTIONS, CONFIDENCE_SUM, CONFIDENCE_COUNT)
START_TIME = "process_start_time_seconds"  # prometheus_client's ProcessCollector (Prometheus client guidelines)
ROUTE = "/predict"


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


@dataclass
class Snapshot:
    """One instant of one server's /metrics: every window counter series, and when the process started."""

    series: dict[SeriesKey, float] = field(default_factory=dict)
    started: float | None = None  # process_start_time_seconds (unix seconds); None if not exposed


@dataclass
class Window:
    """Increases over a window, summed over series: what the canary gate compares.

    requests: status -> count (route /predict); latency_buckets: le (seconds) -> cumulative count (/predict, all
    statuses, as `sum by (le)`); classes: predicted class -> count; confidence_sum / confidence_count: the
    top-class probability histogram's _sum and _count; series: the label sets seen, to tell two sides apart.
    """

    requests: dict[str, float] = field(default_factory=dict)
    latency_buckets: dict[float, float] = field(default_factory=dict)
    classes: dict[str, float] = field(default_factory=dict)
    confidence_sum: float = 0.0
    confidence_count: float = 0.0
    series: frozenset[SeriesKey] = frozenset()

    @property
    def samples(self) -> float:
        """Requests to /predict the window holds evidence for (any status)."""
        return sum(self.requests.values())


def counter_increase(values: Sequence[float]) -> float:
    """Increase of one counter series over its consecutive samples (oldest first). A drop is a reset: the counter
    restarted from 0, so the value after the drop is the increase since the reset (Prometheus' `increase()`
    treats resets the same way, without its extrapolation to the window edges)."""
    total = 0.0
    for prev, cur in itertools.pairwise(values):
        total += cur - prev if cur >= prev else cur
    return total


def aggregate(increases: Iterable[tuple[SeriesKey, float]]) -> Window:
    """Sum per-series increases into a Window (only the window series of route /predict where labelled)."""
    w = Window()
    seen: set[SeriesKey] = set()
    for key, inc in increases:
        name, labels = key
        lab = dict(labels)
        seen.add(key)
        if name in (REQUESTS, LATENCY_BUCKET) and lab.get("route") != ROUTE:
            continue
        if name == REQUESTS:
            w.requests[lab.get("status", "")] = w.requests.get(lab.get("status", ""), 0.0) + inc
        elif name == LATENCY_BUCKET:
            le = float(lab["le"])
            w.latency_buckets[le] = w.latency_buckets.get(le, 0.0) + inc
        elif name == PREDICTIONS:
            w.classes[lab.get("cls", "")] = w.classes.get(lab.get("cls", ""), 0.0) + inc
        elif name == CONFIDENCE_SUM:
            w.confidence_sum += inc
        elif name == CONFIDENCE_COUNT:
            w.confidence_count += inc
    w.series = frozenset(seen)
    return w


def parse_metrics(text: str, instance: str = "") -> Snapshot:
    """The window series of one /metrics text, each labelled with `instance` (the target it came from)."""
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == START_TIME:
                snap.started = s.value
            elif s.name in WINDOW_SERIES:
                snap.series[(s.name, labels_of({**s.labels, "instance": instance}))] = s.value
    return snap


def scrape(url: str, timeout: float = 3.0) -> Snapshot | None:
    """GET url/metrics; None when the server does not answer (it is down, which the caller reports)."""
    try:
        r = client().get(f"{url}/metrics", timeout=timeout)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    return parse_metrics(r.text, instance=url)


def delta(after: Snapshot, before: Snapshot) -> Window:
    """Per-series increase between two snapshots of one server, then summed. A series new since `before` counts
    from 0; a restart (process start time changed, or a counter went down) counts from 0 after it."""
    restarted = before.started is not None and after.started is not None and after.started != before.started

    def inc(key: SeriesKey, value: float) -> float:
        if restarted or key not in before.series:
            return value
        return counter_increase([before.series[key], value])

    return aggregate((key, inc(key, value)) for key, value in after.series.items())


@dataclass(frozen=True)
class Quantile:
    """A quantile read from a histogram (seconds). `above` True: the rank falls in the +Inf bucket, so the quantile
    is known only to exceed `value`, the top finite bucket bound; it must be reported and compared as "> value",
    never as the value itself. NaN `value`: the histogram holds no observations."""

    value: float
    above: bool = False

    def describe(self, scale: float = 1.0, unit: str = "s", fmt: str = ".4g") -> str:
        """'0.012 s', or '> 2.5 s' for a bound; `scale` converts seconds (1000 → ms with unit 'ms'). Never in
        exponent form: the top latency bucket in ms reads '> 10000 ms', not '> 1e+04 ms'."""
        text = format(self.value * scale, fmt)
        if "e" in text and math.isfinite(self.value):
            text = f"{self.value * scale:.0f}"
        return f"{'> ' if self.above else ''}{text} {unit}"


def quantile(q: float, buckets: dict[float, float]) -> Quantile:
    """The q-quantile of cumulative `buckets` (le seconds -> count, ending with +Inf): linear interpolation inside
    the bucket holding rank q·total, as Prometheus' histogram_quantile; a rank in the +Inf bucket gives a bound
    (Quantile.above) at the top finite bound instead of that bound as a value; NaN if empty."""
    edges = sorted(buckets)
    if not edges or not buckets[edges[-1]] > 0:
        return Quantile(math.nan)
    total = buckets[edges[-1]]
    rank = q * total
    prev_edge, prev_count = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if math.isinf(edge):
                return Quantile(prev_edge, above=True)
            span = count - prev_count
            return Quantile(prev_edge + (edge - prev_edge) * ((rank - prev_count) / span if span else 0.0))
        prev_edge, prev_count = edge, count
    return Quantile(edges[-1], above=math.isinf(edges[-1]))


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """`quantile(q, buckets).value` in Prometheus' convention (the top finite bound for a rank in the +Inf
    bucket). For display and trend only: a decision must use `quantile`, which says when the value is a bound."""
    return quantile(q, buckets).value


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    """Total variation distance of two count distributions (0 same shares, 1 disjoint); 1 if either is empty."""
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return 1.0
    return 0.5 * sum(abs(p.get(k, 0) / sp - q.get(k, 0) / sq) for k in set(p) | set(q))
