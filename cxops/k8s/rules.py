"""Alerting rules for the serving app, built from the canary gate's PromQL (cxops.gates.promql) and the gate
thresholds in cxops.yaml, so an alert fires on the same samples and limits the gate judges by.

What a server's metrics cannot show is left to the gate: agreement with production needs the mirrored request
pairs the analyze step sends, so it has no alert.
"""

from __future__ import annotations

from typing import Any

from cxops import names
from cxops.config.schema import ENV_NAMES, Config
from cxops.gates import promql

SHORT, LONG = "5m", "1h"  # burn windows: a fast one to notice, a slow one to be sure
CANARY_WINDOW = "10m"
FOR = "5m"


def selector(cfg: Config, env: str) -> str:
    """The gate's selector for one env (`gates.canary.prometheus_selector` filled in), as the analyze step uses it."""
    return cfg.gates.canary.prometheus_selector.format(env=env, namespace=names.env_namespace(cfg, env))


def _alert(name: str, expr: str, env: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": FOR,
        "labels": {"severity": severity, "env": env},
        "annotations": {"summary": summary, "description": description},
    }


def serving_alerts(cfg: Config) -> list[dict[str, Any]]:
    """Per env: error rate above the gate's limit, and p95 latency above the staging SLO in both burn windows."""
    out = []
    slo = cfg.gates.staging.max_p95_ms / 1000
    for env in ENV_NAMES:
        sel = selector(cfg, env)
        limit = cfg.gates.staging.max_error_rate if env == "staging" else cfg.gates.canary.max_error_rate
        severity = "critical" if env == "production" else "warning"
        out.append(
            _alert(
                "CxopsServingErrorRateHigh",
                f"{promql.error_ratio(sel, SHORT)} > {limit}",
                env,
                severity,
                f"{env}: more than {limit:.1%} of /predict requests fail",
                "Share of non-2xx /predict responses over 5m is above the gate's limit (Grafana: cxops / serving).",
            )
        )
        out.append(
            _alert(
                "CxopsServingLatencySLOBurn",
                f"({promql.p95_seconds(sel, SHORT)} > {slo}) and ({promql.p95_seconds(sel, LONG)} > {slo})",
                env,
                severity,
                f"{env}: p95 /predict latency above {cfg.gates.staging.max_p95_ms:g} ms",
                "p95 latency is above the SLO over both 5m and 1h (Grafana: cxops / serving).",
            )
        )
    return out


def canary_alerts(cfg: Config) -> list[dict[str, Any]]:
    """Canary vs production divergence with the canary gate's limits: latency ratio, confidence ratio, and the
    total variation distance of predicted classes."""
    gate = cfg.gates.canary
    c, p, w = selector(cfg, "canary"), selector(cfg, "production"), CANARY_WINDOW
    return [
        _alert(
            "CxopsCanaryLatencyDivergence",
            f"({promql.p95_seconds(c, w)}) / ({promql.p95_seconds(p, w)}) > {gate.max_p95_ratio}",
            "canary",
            "warning",
            f"canary p95 is more than {gate.max_p95_ratio:g}x production's",
            "p95 ratio canary/production over 10m is above the canary gate's limit.",
        ),
        _alert(
            "CxopsCanaryConfidenceDrop",
            f"({promql.mean_confidence(c, w)}) / ({promql.mean_confidence(p, w)}) < {gate.min_confidence_ratio}",
            "canary",
            "warning",
            f"canary mean confidence below {gate.min_confidence_ratio:g}x production's",
            "Mean confidence ratio canary/production over 10m is below the canary gate's limit.",
        ),
        _alert(
            "CxopsCanaryClassDistributionDivergence",
            f"{promql.distribution_distance(c, p, w)} > {gate.max_distribution_distance}",
            "canary",
            "warning",
            f"canary's predicted classes differ from production's by more than {gate.max_distribution_distance}",
            "Total variation distance of predicted-class shares over 10m is above the gate's limit.",
        ),
    ]


def rule_spec(cfg: Config) -> dict[str, Any]:
    """The `spec` of the PrometheusRule, which is also a valid Prometheus rule file (`promtool check rules`)."""
    return {
        "groups": [
            {"name": "cxops-serving", "rules": serving_alerts(cfg)},
            {"name": "cxops-canary", "rules": canary_alerts(cfg)},
        ]
    }
