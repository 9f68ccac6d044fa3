"""evaluate: held-out metrics vs absolute thresholds AND vs the current production model on the same split."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.gates.plots import confusion_png
from cxops.gates.verdict import Check, decide, finite, json_safe
from cxops.model.evaluation import load_classifier, project_evaluation
from cxops.model.interface import load_project
from cxops.pipeline.results import EvaluateResult
from cxops.registry.client import Registry

GATE_TAG = "cxops.gate.evaluation"


def run(cfg: Config, run_id: str) -> EvaluateResult:
    registry = Registry(cfg)
    run_info = registry.finished_run(run_id, timeout=cfg.training.timeout_seconds)
    project = load_project(cfg.model.project)
    data = project.load_data(cfg.model.dataset)
    trained_on = run_info.data.tags.get("cxops.data_hash")
    if trained_on and trained_on != data.digest:
        raise CxopsError(
            f"run {run_id} was trained on data {trained_on[:12]} but model.dataset now gives {data.digest[:12]}; "
            "evaluate with the dataset settings it was trained with"
        )
    with registry.errors(f"loading the model of run {run_id}"):
        model = load_classifier(f"runs:/{run_id}/model")
    ev = project_evaluation(project, model, data, f"run {run_id}")
    gate = cfg.gates.evaluation
    checks = [
        Check("accuracy", ev.metrics.get("accuracy"), gate.min_accuracy, "min"),
        Check("macro_f1", ev.metrics.get("macro_f1"), gate.min_macro_f1, "min"),
    ]
    metrics = {"test_accuracy": ev.metrics.get("accuracy"), "test_macro_f1": ev.metrics.get("macro_f1")}
    production = registry.alias_version("production")
    baseline = None
    if production is not None and production.run_id != run_id:  # baseline is set only in this branch
        with registry.errors(f"loading production model v{production.version}"):
            prod_model = load_classifier(f"models:/{cfg.model.name}/{production.version}")
        baseline = project_evaluation(project, prod_model, data, f"production v{production.version}")
        metrics["production_accuracy"] = baseline.metrics.get("accuracy")
        drop = _difference(baseline.metrics.get("accuracy"), ev.metrics.get("accuracy"))
        checks.append(Check(f"accuracy drop below production v{production.version}", drop, gate.max_regression, "max"))
    verdict = decide(checks)
    reasons = verdict.reasons
    passed = verdict.passed
    report = {
        "gate": "evaluation",
        "run_id": run_id,
        "passed": passed,
        "outcome": verdict.outcome,
        "reasons": reasons,
        "checks": [c.as_dict() for c in verdict.checks],
        "metrics": metrics,
        "thresholds": gate.model_dump(),
        "per_class": ev.per_class,
        "confusion": ev.confusion,
        "baseline_version": production.version if production and baseline else None,
    }
    with registry.errors(f"logging the evaluation to run {run_id}"), tempfile.TemporaryDirectory() as tmp:
        client = registry.client
        for key, value in metrics.items():
            if value is not None and finite(value):  # a NaN metric would compare as anything; the report says why
                client.log_metric(run_id, key, value)
        png = confusion_png(ev.confusion, data.class_names, f"run {run_id[:8]}: confusion", Path(tmp) / "cm.png")
        client.log_artifact(run_id, str(png), "evaluation")
        client.log_dict(run_id, json_safe(report), "evaluation/report.json")
        client.set_tag(run_id, GATE_TAG, "passed" if passed else "failed")
        client.set_tag(run_id, f"{GATE_TAG}.reasons", json.dumps(reasons)[:4000])
    return EvaluateResult(
        gate="evaluation",
        outcome=verdict.outcome,
        reasons=reasons,
        metrics=metrics,
        report=f"runs:/{run_id}/evaluation/report.json",
        run_id=run_id,
        baseline_version=production.version if production and baseline else None,
    )


def _difference(a: object, b: object) -> float | None:
    """a - b as a float, or None when either is missing or not a number (the check then says 'not computed')."""
    try:
        return float(a) - float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
