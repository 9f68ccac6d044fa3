"""analyze canary: drive held-out traffic through the canary weight (mirrored to both sides), compare canary with
production on error rate, p95 latency, prediction distribution and confidence; pass → ready for production,
fail → automatic rollback of canary (registry alias AND git), inconclusive (too little evidence) → neither."""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxops.config import Config
from cxops.errors import CxopsError, UsageError
from cxops.gates import metrics_window
from cxops.gates.load import LoadStats, run_load
from cxops.gates.plots import canary_png
from cxops.gates.promql import prometheus_window
from cxops.gates.reports import save_report
from cxops.gates.verdict import FAILED, INCONCLUSIVE, Bound, Check, Verdict, decide
from cxops.gitops.state import desired, gitops_repo
from cxops.model.interface import load_project
from cxops.names import env_namespace
from cxops.pipeline.results import GateResult
from cxops.pipeline.steps import rollback
from cxops.pipeline.steps._args import check_env
from cxops.registry.client import Registry
from cxops.release.live import env_url
from cxops.release.rollout import retire
from cxops.settings import settings

SIDES = ("canary", "production")


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None (not computed) when either is missing or b is 0."""
    return a / b if a is not None and b else None


def _side_metrics(w: metrics_window.Window | None, client: LoadStats) -> dict[str, Any]:
    """Server-side evidence of one side's window; client-side failures count too (a dead server has no metrics).
    A value that cannot be computed (no samples) is None, never a stand-in number. `p95_ms` is a lower bound when
    `p95_above` is true (the 95th percentile falls in the latency histogram's +Inf bucket); `p95` is how it reads
    ("12.5 ms", "> 10000 ms")."""
    samples = w.samples if w else 0.0
    server_errors = sum(v for k, v in w.requests.items() if k != "200") if w else 0.0
    server_rate = server_errors / samples if samples else None
    if server_rate is None:
        error_rate = client.error_rate
    else:  # max() would drop a NaN (nan > x is False): keep it so the check fails
        error_rate = max(client.error_rate, server_rate) if math.isfinite(server_rate) else math.nan
    q = metrics_window.quantile(0.95, w.latency_buckets) if w else metrics_window.Quantile(math.nan)
    p95 = q.value * 1000
    conf = w.confidence_sum / w.confidence_count if w and w.confidence_count else None
    return {
        "requests": client.requests,
        "samples": samples,
        "error_rate": round(error_rate, 6),
        "p95_ms": round(p95, 3) if math.isfinite(p95) else None,
        "p95_above": q.above,
        "p95": q.describe(1000, "ms", ".4g") if math.isfinite(p95) else None,
        "mean_confidence": round(conf, 6) if conf is not None and math.isfinite(conf) else conf,
    }


def p95_ratio_check(c: Mapping[str, Any], p: Mapping[str, Any], max_ratio: float, floor_ms: float = 0.0) -> Check:
    """canary p95 / production p95 against `max_ratio`, as a bound when either p95 is one: a canary p95 in the
    +Inf bucket makes the ratio a lower bound (it may fail, never pass on it); a production p95 there makes it an
    upper bound; both there, the ratio says nothing (see verdict.Check.bound). Each p95 below `floor_ms`
    (gates.canary.p95_floor_ms) counts as `floor_ms`, so two sub-millisecond latencies compare as equal."""
    ratio = _ratio(*(None if m["p95_ms"] is None else max(m["p95_ms"], floor_ms) for m in (c, p)))
    ratio = round(ratio, 4) if ratio is not None and math.isfinite(ratio) else ratio
    above = {side: bool(m.get("p95_above")) for side, m in (("canary", c), ("production", p))}
    bound: Bound = {
        (False, False): None,
        (True, False): "above",
        (False, True): "below",
        (True, True): "unknown",
    }[(above["canary"], above["production"])]
    note = ", ".join(
        f"{side} p95 {m['p95']} is in the latency histogram's +Inf bucket"
        for side, m in (("canary", c), ("production", p))
        if above[side]
    )
    return Check("canary/production p95 ratio", ratio, max_ratio, "max", ".3g", bound=bound, note=note)


def run(cfg: Config, env: str = "canary") -> GateResult:
    """Drive the window's traffic, read both sides' evidence, decide: passed (ready for production), failed (canary
    rolled back) or inconclusive (too few samples, or both sides read the same series: left as is, never
    promoted; the reasons name the metrics source and selector).

    Five jobs, one function each: `drive_traffic`, `EvidenceSource` (where the window's numbers come from),
    `canary_checks`, `canary_verdict`, `act_on`; this function connects them and keeps the report."""
    check_env(env)
    if env != "canary":
        raise UsageError(f"analyze works on the canary environment, got {env!r}")
    gate = cfg.gates.canary
    registry = Registry(cfg)
    repo = gitops_repo(cfg)
    canary_v = desired(cfg, repo, "canary").version
    prod_v = desired(cfg, repo, "production", sync=False).version
    if canary_v is None:
        raise CxopsError("nothing is deployed to canary; run `cxops step promote staging canary` first")
    urls = {s: env_url(cfg, s) for s in SIDES}
    sides = SIDES if prod_v is not None else ("canary",)
    data = load_project(cfg.model.project).load_data(cfg.model.dataset)
    source = EvidenceSource.of(cfg, urls, sides)

    source.begin()
    traffic = drive_traffic(cfg, data.X_test, urls, sides, comparing=prod_v is not None)
    windows = source.windows(traffic.window_start)
    metrics = {s: _side_metrics(windows[s], traffic.stats[s]) for s in sides}
    found = canary_checks(cfg, metrics, traffic.preds, len(data.class_names))
    verdict = canary_verdict(cfg, found, metrics, traffic, source, windows)

    c = metrics["canary"]
    passed, reasons = verdict.passed, verdict.reasons
    report = {
        "gate": "canary",
        "version": canary_v,
        "production_version": prod_v,
        "passed": passed,
        "outcome": verdict.outcome,
        "reasons": reasons,
        "checks": [ch.as_dict() for ch in verdict.checks],
        "window_seconds": round(time.monotonic() - traffic.started, 2),
        "inputs": traffic.sent,
        "canary_primary_share": round(traffic.primary_canary / max(traffic.sent, 1), 4),
        "weight": cfg.environments.canary.weight,
        "sides": metrics,
        "compare": found.compare,
        "thresholds": gate.model_dump(),
        "min_samples": gate.min_samples,
        "samples": {s: metrics[s]["samples"] for s in sides},
        "sources": source.describe(),
        "metrics_source": f"prometheus {source.prom_url}" if source.prom_url else "scrape of each server's /metrics",
    }
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        if found.class_share:
            plots.append(canary_png(found.class_share, found.checks, Path(tmp) / f"canary-v{canary_v}.png"))
        path = save_report(cfg, registry, "canary", canary_v, report, plots)
    action = act_on(cfg, registry, verdict, canary_v)
    # numbers only: how a p95 reads ("> 10000 ms") and whether it is a bound are in the report and the reasons
    numbers = {k: v for k, v in c.items() if v is None or (isinstance(v, int | float) and not isinstance(v, bool))}
    gate_metrics = {**{f"canary_{k}": v for k, v in numbers.items()}, **found.compare}
    return GateResult(
        gate="canary",
        outcome=verdict.outcome,
        reasons=reasons,
        metrics={k: float(v) if v is not None else math.nan for k, v in gate_metrics.items()},
        report=str(path),
        action=action,
    )


@dataclass
class Traffic:
    """What the window's traffic did: per side, the client's view and the predictions by input index."""

    stats: dict[str, LoadStats]
    preds: dict[str, dict[int, int]]
    sent: int  # inputs sent (each to every side)
    primary_canary: int  # inputs whose primary side was the canary
    started: float  # time.monotonic() at the window's start
    window_start: float  # epoch seconds at the window's start


def drive_traffic(cfg: Config, inputs: Any, urls: dict[str, str], sides: tuple[str, ...], comparing: bool) -> Traffic:
    """Held-out `inputs` (a numpy array of rows, cycled) sent to /predict, gates.canary.requests in all, paced over
    gates.canary.window_seconds so a server dying mid-way is seen; each input goes to its primary side by the
    canary weight (seeded: the same split every run) and is mirrored to the other, so both sides answer it."""
    gate = cfg.gates.canary
    rng = random.Random(7)
    weight = cfg.environments.canary.weight / 100
    window_start = time.time()
    stats = {s: LoadStats() for s in sides}
    preds: dict[str, dict[int, int]] = {s: {} for s in sides}
    primary_canary = 0
    ticks = max(1, math.ceil(gate.window_seconds))
    per_tick = max(1, gate.requests // ticks)
    started = time.monotonic()
    sent = 0
    for tick in range(ticks):  # paced over the window so a server dying mid-way is seen
        batch = []
        for _ in range(per_tick):
            row = inputs[sent % len(inputs)].tolist()
            primary = "canary" if not comparing or rng.random() < weight else "production"
            primary_canary += primary == "canary"
            body = json.dumps({"inputs": [row]}).encode()
            batch += [(f"{urls[s]}/predict", body) for s in sides]  # mirrored: every input reaches both
            sent += 1
        base = sent - per_tick

        def on_response(i: int, url: str, status: int, content: bytes | None, ms: float, base: int = base) -> None:
            side = "canary" if url.startswith(urls["canary"]) else "production"
            stats[side].record(status, ms)
            if status == 200 and content:
                preds[side][base + i // len(sides)] = json.loads(content)["predictions"][0]

        run_load(batch, gate.concurrency, timeout=5.0, on_response=on_response)
        next_tick = started + (tick + 1) * gate.window_seconds / ticks
        time.sleep(max(0.0, next_tick - time.monotonic()))
    return Traffic(stats, preds, sent, primary_canary, started, window_start)


@dataclass
class EvidenceSource:
    """Where a side's window comes from: each server's /metrics scraped at the window's edges, or a Prometheus
    server (gates.canary.prometheus_url, else $PROMETHEUS_URL) queried with the side's selector."""

    cfg: Config
    urls: dict[str, str]
    sides: tuple[str, ...]
    prom_url: str | None
    selectors: dict[str, str]
    before: dict[str, metrics_window.Snapshot | None] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: Config, urls: dict[str, str], sides: tuple[str, ...]) -> EvidenceSource:
        gate = cfg.gates.canary
        prom_url = gate.prometheus_url or settings().prometheus_url
        selectors = {s: gate.prometheus_selector.format(env=s, namespace=env_namespace(cfg, s)) for s in sides}
        return cls(cfg, urls, sides, prom_url, selectors)

    def describe(self) -> dict[str, str]:
        """Per side, where its numbers come from (the report's `sources`, the reasons' wording)."""
        return {
            s: f"Prometheus {self.prom_url} selector {{{self.selectors[s]}}}"
            if self.prom_url
            else f"{self.urls[s]}/metrics"
            for s in self.sides
        }

    def begin(self) -> None:
        """The window's first edge: scrape each side's /metrics (Prometheus keeps its own history)."""
        if not self.prom_url:
            self.before = {s: metrics_window.scrape(self.urls[s]) for s in self.sides}

    def windows(self, window_start: float) -> dict[str, metrics_window.Window | None]:
        """Each side's window (None where a scrape failed). From Prometheus, after two scrape intervals, so the
        window's last requests are in."""
        gate = self.cfg.gates.canary
        if self.prom_url:  # the window's last requests reach Prometheus with the next scrape
            time.sleep(2 * gate.prometheus_scrape_seconds)
            lookback = 3 * gate.prometheus_scrape_seconds  # so every series has a sample at or before the start
            end = time.time()
            return {
                s: prometheus_window(self.prom_url, self.selectors[s], window_start, end, lookback) for s in self.sides
            }
        after = {s: metrics_window.scrape(self.urls[s]) for s in self.sides}
        return {
            s: metrics_window.delta(a, b) if (a := after[s]) and (b := self.before[s]) else None for s in self.sides
        }


@dataclass
class CanaryChecks:
    """The gate's checks (the error rate first), the comparison numbers and each side's class shares."""

    checks: list[Check]
    compare: dict[str, float | None]
    class_share: dict[str, list[float]]

    @property
    def error_check(self) -> Check:
        return self.checks[0]


def canary_checks(
    cfg: Config, metrics: dict[str, dict[str, Any]], preds: dict[str, dict[int, int]], classes: int
) -> CanaryChecks:
    """The canary's error rate against its limit; with a production side also the p95 ratio, the prediction
    distribution distance (total variation over `classes`), the mean confidence ratio and the agreement on the
    mirrored inputs."""
    gate = cfg.gates.canary
    sides = tuple(metrics)
    c = metrics["canary"]
    checks = [Check("canary error rate", c["error_rate"], gate.max_error_rate, "max", ".3%")]
    compare: dict[str, float | None] = {}
    class_share: dict[str, list[float]] = {}
    if "production" in metrics:
        p = metrics["production"]
        pairs = [(preds["canary"][k], preds["production"][k]) for k in preds["canary"] if k in preds["production"]]
        agreement = sum(a == b for a, b in pairs) / len(pairs) if pairs else None
        dist = {s: {str(k): 0.0 for k in range(classes)} for s in sides}
        for s in sides:
            for v in preds[s].values():
                dist[s][str(v)] += 1
        tvd = metrics_window.total_variation(dist["canary"], dist["production"])
        compare = {
            "agreement": agreement,
            "distribution_distance": tvd,
            # a bound when a p95 is in the +Inf bucket: see checks
            "p95_ratio": (latency := p95_ratio_check(c, p, gate.max_p95_ratio, gate.p95_floor_ms)).value,
            "confidence_ratio": _ratio(c["mean_confidence"], p["mean_confidence"]),
        }
        compare = {k: round(v, 4) if v is not None and math.isfinite(v) else v for k, v in compare.items()}
        checks += [
            latency,
            Check("prediction distribution distance", tvd, gate.max_distribution_distance, "max", ".3f"),
            Check("mean confidence ratio", compare["confidence_ratio"], gate.min_confidence_ratio, "min", ".3f"),
            Check("agreement with production", agreement, gate.min_agreement, "min", ".3f"),
        ]
        for s in sides:
            total = sum(dist[s].values()) or 1
            class_share[s] = [dist[s][str(k)] / total for k in range(classes)]
    return CanaryChecks(checks, compare, class_share)


def canary_verdict(
    cfg: Config,
    found: CanaryChecks,
    metrics: dict[str, dict[str, Any]],
    traffic: Traffic,
    source: EvidenceSource,
    windows: dict[str, metrics_window.Window | None],
) -> Verdict:
    """The gate maths (`decide`: enough samples per side, every check computed and within its limit), then two
    rules of this gate: both sides read from the same evidence is inconclusive; an inconclusive window in which
    the client itself saw the canary fail is failed."""
    gate = cfg.gates.canary
    sides = tuple(metrics)
    sources = source.describe()
    verdict = decide(
        found.checks,
        {s: metrics[s]["samples"] or 0.0 for s in sides},
        gate.min_samples,
        "; ".join(f"{s}: {sources[s]}" for s in sides),
    )
    same = _same_evidence(windows, source.selectors, source.urls, sides, source.prom_url)
    if same and verdict.outcome != FAILED:
        verdict = Verdict(INCONCLUSIVE, [same], verdict.checks)
    error_check = found.error_check
    if verdict.outcome == INCONCLUSIVE and traffic.stats["canary"].requests >= gate.min_samples and not error_check.ok:
        # what the canary answered us is evidence of its own, whatever its metrics say (e.g. it is down)
        verdict = Verdict(FAILED, [f"{error_check.reason()} (as the client saw it)", *verdict.reasons], found.checks)
    return verdict


def act_on(cfg: Config, registry: Registry, verdict: Verdict, canary_v: str) -> str:
    """What the gate does about its verdict, as a sentence ("" when it passed): a failed canary is rolled back
    (or retired), an inconclusive one is left as is and not promoted."""
    if verdict.outcome == FAILED:
        return _roll_back(cfg, registry, verdict.reasons)
    if verdict.outcome == INCONCLUSIVE:
        return (
            f"canary v{canary_v} left as is and not promoted: fix the evidence (docs/operations.md, "
            "'Inconclusive canary') and rerun `cxops step analyze canary`, or `cxops step rollback canary`"
        )
    return ""


def _same_evidence(
    windows: dict[str, metrics_window.Window | None],
    selectors: dict[str, str],
    urls: dict[str, str],
    sides: tuple[str, ...],
    prom_url: str | None,
) -> str:
    """A reason when canary and production evidence are the same thing (comparing a side with itself always
    passes), else ''. Prometheus: the selectors are equal or pick shared series; /metrics: the same URL."""
    if len(sides) < 2:
        return ""
    if not prom_url:
        if urls["canary"] == urls["production"]:
            return f"inconclusive: canary and production are both read from {urls['canary']}/metrics"
        return ""
    if selectors["canary"] == selectors["production"]:
        return (
            f"inconclusive: canary and production use the same selector {{{selectors['canary']}}}; "
            "gates.canary.prometheus_selector needs {env} or {namespace}"
        )
    wc, wp = windows["canary"], windows["production"]
    shared = (wc.series & wp.series) if wc and wp else frozenset()
    if shared:
        return (
            f"inconclusive: {len(shared)} series are selected for both canary {{{selectors['canary']}}} and "
            f"production {{{selectors['production']}}} at Prometheus {prom_url}; make the selectors disjoint"
        )
    return ""


def _roll_back(cfg: Config, registry: Registry, reasons: list[str]) -> str:
    """Undo the canary: its previous version if it had one, else retire it (production keeps all traffic)."""
    why = "canary analysis failed: " + "; ".join(reasons)
    if registry.alias_version("canary-previous") is not None:
        result = rollback.run(cfg, "canary", why)
        return f"canary rolled back to v{result.version}"
    retire(cfg, "canary", why, registry=registry)
    return "canary retired (no previous canary version)"
