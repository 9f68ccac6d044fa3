"""Grafana dashboards as code: JSON files in k8s/platform/monitoring-config/dashboards/, one ConfigMap each (label
`grafana_dashboard`), provisioned by Grafana's dashboard sidecar.

Serving panels use the canary gate's PromQL builders (cxops.gates.promql); pipeline panels use the Argo
Workflows controller's metrics (`argo_workflows_workflowtemplate_triggered_total`, `argo_workflows_total_count`,
names from argo-workflows docs/metrics.md, v3.6 and later). JSON cannot carry a comment, so the generated marker
is the dashboard's `description`.
"""

from __future__ import annotations

import json
from typing import Any

from cxops import generated, names
from cxops.config.schema import ENV_NAMES, Config
from cxops.gates import promql
from cxops.k8s import rules, values

DIR = "dashboards"
COMMAND = "cxops k8s render"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(
    pid: int,
    title: str,
    targets: list[tuple[str, str]],
    unit: str = "short",
    kind: str = "timeseries",
    x: int = 0,
    y: int = 0,
    w: int = 12,
    h: int = 8,
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [_target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(targets)],
    }


def _text(pid: int, title: str, content: str, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "text",
        "title": title,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 3},
        "options": {"mode": "markdown", "content": content},
    }


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict[str, Any]]) -> dict[str, Any]:
    marker = generated.header(COMMAND).replace("# ", "").replace("\n", " ").strip()
    return {
        "uid": uid,
        "title": title,
        "description": marker,
        "tags": ["cxops", *tags],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def _grid(panels: list[tuple[str, list[tuple[str, str]], str]], first_id: int = 1, y0: int = 0) -> list[dict]:
    """Lay panels out two per row."""
    return [
        _panel(first_id + i, t, targets, unit, x=12 * (i % 2), y=y0 + 8 * (i // 2))
        for i, (t, targets, unit) in enumerate(panels)
    ]


def _version_join(expr: str) -> str:
    """Attach the served model version (cxops_model_info) to a per-namespace series."""
    return f"{expr} * on (namespace) group_left (version) max by (namespace, version) (cxops_model_info)"


def serving(cfg: Config) -> dict[str, Any]:
    """Rate, errors and duration per environment and model version."""
    sel = {env: rules.selector(cfg, env) for env in ENV_NAMES}
    rate_by_ns = f"sum by (namespace) (rate({promql.REQUESTS}{{{promql.PREDICT_ROUTE}}}[5m]))"
    panels = [
        (
            "Requests/s by environment and model version",
            [(_version_join(rate_by_ns), "{{namespace}} v{{version}}")],
            "reqps",
        ),
        ("Error ratio (non-2xx /predict)", [(promql.error_ratio(sel[e], "5m"), e) for e in ENV_NAMES], "percentunit"),
        ("p95 latency", [(promql.p95_seconds(sel[e], "5m"), e) for e in ENV_NAMES], "s"),
        (
            "Served model version",
            [("max by (namespace, version) (cxops_model_info)", "{{namespace}} v{{version}}")],
            "none",
        ),
    ]
    return _dashboard("cxops-serving", "cxops / serving", ["serving"], _grid(panels))


def canary(cfg: Config) -> dict[str, Any]:
    """Canary vs production: class mix, mean confidence, distribution distance, latency ratio."""
    c, p, w = rules.selector(cfg, "canary"), rules.selector(cfg, "production"), rules.CANARY_WINDOW
    panels = [
        ("Class mix: canary", [(promql.class_share(c, w), "class {{cls}}")], "percentunit"),
        ("Class mix: production", [(promql.class_share(p, w), "class {{cls}}")], "percentunit"),
        (
            "Mean confidence",
            [(promql.mean_confidence(c, w), "canary"), (promql.mean_confidence(p, w), "production")],
            "percentunit",
        ),
        (
            "Class distribution distance (total variation)",
            [(promql.distribution_distance(c, p, w), "canary vs prod")],
            "none",
        ),
        (
            "p95 ratio canary / production",
            [(f"({promql.p95_seconds(c, w)}) / ({promql.p95_seconds(p, w)})", "ratio")],
            "none",
        ),
        (
            "Canary share of requests",
            [(f"{promql.request_rate(c, w)} / ({promql.request_rate(c, w)} + {promql.request_rate(p, w)})", "canary")],
            "percentunit",
        ),
    ]
    note = (
        "Agreement with production needs mirrored request pairs: it is measured by the analyze-canary step and "
        "stored with its report on the model version in MLflow (tag `cxops.gate.canary`)."
    )
    return _dashboard(
        "cxops-canary",
        "cxops / canary vs production",
        ["canary"],
        [*_grid(panels), _text(len(panels) + 1, "Agreement", note, 24)],
    )


def pipeline(cfg: Config) -> dict[str, Any]:
    """Pipeline runs per WorkflowTemplate and phase, and gate failures (a failed test-staging or analyze-canary)."""
    ns = names.workflows_namespace(cfg)
    trig = "argo_workflows_workflowtemplate_triggered_total"
    panels = [
        (
            "Runs per template and phase (24h)",
            [
                (
                    f'sum by (name, phase) (increase({trig}{{namespace="{ns}",phase=~"Succeeded|Failed|Error"}}[1d]))',
                    "{{name}} {{phase}}",
                )
            ],
            "short",
        ),
        (
            "Gate failures (24h)",
            [
                (
                    f'sum by (name) (increase({trig}{{namespace="{ns}",name=~"test-staging|analyze-canary",'
                    f'phase="Failed"}}[1d]))',
                    "{{name}}",
                )
            ],
            "short",
        ),
        (
            "Workflows entering each phase (rate)",
            [(f'sum by (phase) (rate(argo_workflows_total_count{{namespace="{ns}"}}[15m]))', "{{phase}}")],
            "short",
        ),
    ]
    return _dashboard("cxops-pipeline", "cxops / pipeline runs and gates", ["pipeline"], _grid(panels))


def operator(cfg: Config) -> dict[str, Any]:
    """Platform health for the operator: scrape targets up per job, firing alerts, model server pods per env."""
    platform, argo = names.platform_namespace(cfg), names.workflows_namespace(cfg)
    envs = "|".join(names.env_namespace(cfg, e) for e in ENV_NAMES)
    panels = [
        (
            "Platform targets up",
            [(f'sum by (namespace, job) (up{{namespace=~"{platform}|{argo}"}})', "{{job}}")],
            "short",
        ),
        ("Model server pods up", [(f'sum by (namespace) (up{{namespace=~"{envs}"}})', "{{namespace}}")], "short"),
        (
            "Firing alerts",
            [('sum by (alertname, env) (ALERTS{alertstate="firing"})', "{{alertname}} {{env}}")],
            "short",
        ),
    ]
    note = (
        "GPU capacity: `cxops cloud gpus serve` (JSON API, /v1/gpus). Cost per run: the `train_cost` metric "
        "of each training run in MLflow (duration x flavor rate from `costs:` in cxops.yaml)."
    )
    return _dashboard(
        "cxops-operator",
        "cxops / operator",
        ["operator"],
        [*_grid(panels), _text(len(panels) + 1, "Capacity and cost", note, 16)],
    )


def team(cfg: Config) -> dict[str, Any]:
    """What a model team looks at: per env the served version, traffic and failure share."""
    panels = []
    for env in ENV_NAMES:
        sel = rules.selector(cfg, env)
        panels.append(
            (
                f"{env}: requests/s and error ratio",
                [(promql.request_rate(sel, "5m"), "requests/s"), (promql.error_ratio(sel, "5m"), "errors")],
                "short",
            )
        )
    panels.append(("Versions served", [("max by (env, version) (cxops_model_info)", "{{env}} v{{version}}")], "none"))
    return _dashboard("cxops-team", "cxops / team", ["team"], _grid(panels))


BUILDERS = (serving, canary, pipeline, operator, team)


def dashboards(cfg: Config) -> list[dict[str, Any]]:
    """Every dashboard, in file order."""
    return [build(cfg) for build in BUILDERS]


def files(cfg: Config) -> dict[str, str]:
    """Relative path (under the monitoring-config directory) → dashboard JSON text."""
    return {f"{DIR}/{d['uid']}.json": json.dumps(d, indent=2) + "\n" for d in dashboards(cfg)}


def generators(cfg: Config) -> list[dict[str, Any]]:
    """kustomize configMapGenerator entries: one ConfigMap per dashboard, labelled for the Grafana sidecar."""
    return [
        {
            "name": f"dashboard-{d['uid']}",
            "files": [f"{DIR}/{d['uid']}.json"],
            "options": {"labels": {values.DASHBOARD_LABEL: "1"}, "disableNameSuffixHash": True},
        }
        for d in dashboards(cfg)
    ]
