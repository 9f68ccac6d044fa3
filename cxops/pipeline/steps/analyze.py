"""analyze canary: drive held-out traffic through the canary weight (mirrored to both sides), compare canary with
production on error rate, p95 latency, prediction distribution and confidence; pass → ready for production,
fail → automatic rollback of canary (registry alias AND git)."""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from pathlib import Path

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.gitops.state import desired, gitops_repo
from cxops.model.interface import load_project
from cxops.names import env_namespace
from cxops.pipeline import prom
from cxops.pipeline.deploy import retire
from cxops.pipeline.live import env_url
from cxops.pipeline.load import LoadStats, run_load
from cxops.pipeline.plots import canary_png
from cxops.pipeline.promql import prometheus_snapshot
from cxops.pipeline.reports import save_report
from cxops.pipeline.results import GateResult
from cxops.pipeline.steps import rollback
from cxops.pipeline.steps._args import check_env
from cxops.registry.client import Registry
from cxops.settings import settings

SIDES = ("canary", "production")


def _side_metrics(d: prom.Snapshot | None, client: LoadStats) -> dict[str, float]:
    """Server-side evidence from /metrics deltas; client-side failures count too (a dead server has no metrics)."""
    server_errors = sum(v for k, v in d.requests.items() if k != "200") if d else 0.0
    error_rate = max(client.error_rate, server_errors / max(sum(d.requests.values()), 1) if d else 1.0)
    p95 = prom.histogram_quantile(0.95, d.latency_buckets) * 1000 if d else math.nan
    conf = d.confidence_sum / d.confidence_count if d and d.confidence_count else 0.0
    return {"requests": client.requests, "error_rate": round(error_rate, 6),
            "p95_ms": round(p95 if not math.isnan(p95) else client.q(0.95), 3),
            "mean_confidence": round(conf, 6)}  # fmt: skip


def run(cfg: Config, env: str = "canary") -> GateResult:
    check_env(env)
    if env != "canary":
        raise CxopsError(f"analyze works on the canary environment, got {env!r}")
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
    rng = random.Random(7)
    weight = cfg.environments.canary.weight / 100
    prom_url = gate.prometheus_url or settings().prometheus_url

    def snapshot(side: str) -> prom.Snapshot | None:
        if prom_url:
            selector = gate.prometheus_selector.format(env=side, namespace=env_namespace(cfg, side))
            return prometheus_snapshot(prom_url, selector, time.time())
        return prom.scrape(urls[side])

    before = {s: snapshot(s) for s in sides}
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
            row = data.X_test[sent % len(data.X_test)].tolist()
            primary = "canary" if prod_v is None or rng.random() < weight else "production"
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
    if prom_url:  # the window's last requests reach Prometheus with the next scrape
        time.sleep(2 * gate.prometheus_scrape_seconds)
    after = {s: snapshot(s) for s in sides}
    deltas = {s: prom.delta(a, b) if (a := after[s]) and (b := before[s]) else None for s in sides}
    metrics = {s: _side_metrics(deltas[s], stats[s]) for s in sides}

    reasons: list[str] = []
    c = metrics["canary"]
    if c["error_rate"] > gate.max_error_rate:
        reasons.append(f"canary error rate {c['error_rate']:.3%} > {gate.max_error_rate:.3%}")
    compare: dict[str, float] = {}
    class_share: dict[str, list[float]] = {}
    if prod_v is not None:
        p = metrics["production"]
        pairs = [(preds["canary"][k], preds["production"][k]) for k in preds["canary"] if k in preds["production"]]
        agreement = sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0
        dist = {s: {str(k): 0.0 for k in range(len(data.class_names))} for s in sides}
        for s in sides:
            for v in preds[s].values():
                dist[s][str(v)] += 1
        tvd = prom.total_variation(dist["canary"], dist["production"])
        p95_ratio = c["p95_ms"] / p["p95_ms"] if p["p95_ms"] else math.inf
        conf_ratio = c["mean_confidence"] / p["mean_confidence"] if p["mean_confidence"] else 0.0
        compare = {"agreement": round(agreement, 4), "distribution_distance": round(tvd, 4),
                   "p95_ratio": round(p95_ratio, 3), "confidence_ratio": round(conf_ratio, 4)}  # fmt: skip
        if p95_ratio > gate.max_p95_ratio:
            reasons.append(
                f"canary p95 {c['p95_ms']:.2f} ms is {p95_ratio:.2f}x production's; max {gate.max_p95_ratio}")
        if tvd > gate.max_distribution_distance:
            reasons.append(f"prediction distribution distance {tvd:.3f} > {gate.max_distribution_distance}")
        if conf_ratio < gate.min_confidence_ratio:
            reasons.append(f"mean confidence ratio {conf_ratio:.3f} < {gate.min_confidence_ratio}")
        if agreement < gate.min_agreement:
            reasons.append(f"agreement with production {agreement:.3f} < {gate.min_agreement}")
        for s in sides:
            total = sum(dist[s].values()) or 1
            class_share[s] = [dist[s][str(k)] / total for k in range(len(data.class_names))]
    passed = not reasons
    report = {
        "gate": "canary", "version": canary_v, "production_version": prod_v, "passed": passed, "reasons": reasons,
        "window_seconds": round(time.monotonic() - started, 2), "inputs": sent,
        "canary_primary_share": round(primary_canary / max(sent, 1), 4), "weight": cfg.environments.canary.weight,
        "sides": metrics, "compare": compare, "thresholds": gate.model_dump(),
        "metrics_source": f"prometheus {prom_url}" if prom_url else "scrape of each server's /metrics",
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        if class_share:
            checks = [
                ("error rate", c["error_rate"], gate.max_error_rate, "max"),
                ("p95 ratio", compare["p95_ratio"], gate.max_p95_ratio, "max"),
                ("distribution distance", compare["distribution_distance"], gate.max_distribution_distance, "max"),
                ("confidence ratio", compare["confidence_ratio"], gate.min_confidence_ratio, "min"),
                ("agreement", compare["agreement"], gate.min_agreement, "min"),
            ]
            plots.append(canary_png(class_share, checks, Path(tmp) / f"canary-v{canary_v}.png"))
        path = save_report(cfg, registry, "canary", canary_v, report, plots)
    action = _roll_back(cfg, registry, reasons) if not passed else ""
    return GateResult(gate="canary", passed=passed, reasons=reasons,
                      metrics={**{f"canary_{k}": float(v) for k, v in c.items()}, **compare}, report=str(path),
                      action=action)


def _roll_back(cfg: Config, registry: Registry, reasons: list[str]) -> str:
    """Undo the canary: its previous version if it had one, else retire it (production keeps all traffic)."""
    why = "canary analysis failed: " + "; ".join(reasons)
    if registry.alias_version("canary-previous") is not None:
        result = rollback.run(cfg, "canary", why)
        return f"canary rolled back to v{result.version}"
    retire(cfg, "canary", why, registry=registry)
    return "canary retired (no previous canary version)"
