"""evaluate: held-out metrics vs absolute thresholds AND vs the current production model on the same split."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.model.evaluation import evaluate, load_classifier, probabilities
from cxops.model.interface import load_project
from cxops.pipeline.plots import confusion_png
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
    ev = evaluate(probabilities(model, data.X_test, f"run {run_id}"), data)
    gate = cfg.gates.evaluation
    reasons: list[str] = []
    if ev.metrics["accuracy"] < gate.min_accuracy:
        reasons.append(f"accuracy {ev.metrics['accuracy']:.4f} < min_accuracy {gate.min_accuracy}")
    if ev.metrics["macro_f1"] < gate.min_macro_f1:
        reasons.append(f"macro_f1 {ev.metrics['macro_f1']:.4f} < min_macro_f1 {gate.min_macro_f1}")

    metrics = {"test_accuracy": ev.metrics["accuracy"], "test_macro_f1": ev.metrics["macro_f1"]}
    production = registry.alias_version("production")
    baseline = None
    if production is not None and production.run_id != run_id:  # baseline is set only in this branch
        with registry.errors(f"loading production model v{production.version}"):
            prod_model = load_classifier(f"models:/{cfg.model.name}/{production.version}")
        baseline = evaluate(probabilities(prod_model, data.X_test, f"production v{production.version}"), data)
        metrics["production_accuracy"] = baseline.metrics["accuracy"]
        drop = baseline.metrics["accuracy"] - ev.metrics["accuracy"]
        if drop > gate.max_regression:
            reasons.append(
                f"accuracy {ev.metrics['accuracy']:.4f} is {drop:.4f} below production v{production.version} "
                f"({baseline.metrics['accuracy']:.4f}); max_regression is {gate.max_regression}"
            )
    passed = not reasons
    report = {
        "gate": "evaluation", "run_id": run_id, "passed": passed, "reasons": reasons, "metrics": metrics,
        "thresholds": gate.model_dump(), "per_class": ev.per_class, "confusion": ev.confusion,
        "baseline_version": production.version if production and baseline else None,
    }  # fmt: skip
    with registry.errors(f"logging the evaluation to run {run_id}"), tempfile.TemporaryDirectory() as tmp:
        client = registry.client
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        png = confusion_png(ev.confusion, data.class_names, f"run {run_id[:8]}: confusion", Path(tmp) / "cm.png")
        client.log_artifact(run_id, str(png), "evaluation")
        client.log_dict(run_id, report, "evaluation/report.json")
        client.set_tag(run_id, GATE_TAG, "passed" if passed else "failed")
        client.set_tag(run_id, f"{GATE_TAG}.reasons", json.dumps(reasons)[:4000])
    return EvaluateResult(
        gate="evaluation", passed=passed, reasons=reasons, metrics=metrics,
        report=f"runs:/{run_id}/evaluation/report.json", run_id=run_id,
        baseline_version=production.version if production and baseline else None,
    )  # fmt: skip
