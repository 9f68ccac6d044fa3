"""Gate configuration that cannot compare a thing with itself, and the inconclusive outcome's plumbing (exit 4,
reports without NaN, the Argo exit handler's reading of exit codes)."""

from __future__ import annotations

import json
import math

import pytest
from helpers import REPO

from cxops.config import parse_config
from cxops.errors import ConfigError, GateFailed, GateInconclusive

GOOD = (REPO / "cxops.yaml").read_text()
CANARY_LINE = "    min_agreement: 0.9\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cxops.yaml")
    return info.value.problems


def with_canary(extra: str) -> tuple[str, int]:
    assert CANARY_LINE in GOOD
    text = GOOD.replace(CANARY_LINE, CANARY_LINE + extra)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s == extra.splitlines()[0])
    return text, line


def test_default_selector_holds_the_namespace():
    cfg = parse_config(GOOD)
    assert cfg.gates.canary.prometheus_selector == 'namespace="{namespace}"'
    assert cfg.gates.canary.min_samples == 50


@pytest.mark.parametrize(
    ("selector", "needle"),
    [
        ('job="cxops-serving"', "must hold {env} or {namespace}"),
        ('job="{enviroment}"', "unknown placeholder {enviroment}; valid: {env}, {namespace}"),
        ('job="{}"', "only plain named placeholders"),
        ('job="{env!r}"', "only plain named placeholders"),
        ('job="{env"', "not a valid template"),
    ],
)
def test_a_selector_without_env_or_namespace_is_rejected_with_file_line(selector: str, needle: str):
    text, line = with_canary(f"    prometheus_selector: '{selector}'\n")
    [msg] = problems(text)
    assert msg.startswith(f"cxops.yaml:{line} gates.canary.prometheus_selector:"), msg
    assert needle in msg


def test_literal_braces_are_written_doubled():
    text, _ = with_canary('    prometheus_selector: \'pod=~"srv-[a-z]{{5}}",namespace="{namespace}"\'\n')
    cfg = parse_config(text)
    filled = cfg.gates.canary.prometheus_selector.format(env="canary", namespace="ns")
    assert filled == 'pod=~"srv-[a-z]{5}",namespace="ns"'


def test_argocd_app_needs_env():
    text = GOOD.replace("  namespace: argo\n", "  namespace: argo\n  argocd_app: '{project}-serving'\n")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "argocd_app" in s)
    [msg] = problems(text)
    assert msg.startswith(f"cxops.yaml:{line} workflows.argocd_app:") and "must hold {env}" in msg


def test_min_samples_above_requests_is_rejected():
    text, _ = with_canary("    min_samples: 601\n")
    [msg] = problems(text)
    assert "gates.canary" in msg and "min_samples 601 exceeds requests 600" in msg


def test_an_inconclusive_gate_exits_4_and_a_failed_one_3(tmp_path):
    from cxops.cli.step_cmd import report
    from cxops.pipeline.results import GateResult

    inconclusive = GateResult("canary", "inconclusive", ["inconclusive: canary has 0 samples"])
    with pytest.raises(GateInconclusive) as info:
        report(inconclusive, tmp_path, False)
    assert info.value.exit_code == 4 and "not promoted" in str(info.value)
    assert json.loads((tmp_path / "result.json").read_text())["outcome"] == "inconclusive"
    assert (tmp_path / "passed").read_text() == "false"
    with pytest.raises(GateFailed) as failed:
        report(GateResult("canary", "failed", ["x"]), None, False)
    assert failed.value.exit_code == 3
    with pytest.raises(ValueError, match="'maybe' is not one of passed, failed, inconclusive"):
        GateResult("canary", "maybe", [])  # type: ignore[arg-type]


def test_gate_outputs_never_hold_a_bare_nan(tmp_path):
    from cxops.pipeline.results import GateResult

    r = GateResult("evaluation", "failed", ["accuracy is NaN"], metrics={"test_accuracy": math.nan, "x": 0.5})
    r.write(tmp_path)
    text = (tmp_path / "result.json").read_text()
    assert "NaN" not in text.replace("accuracy is NaN", "")
    assert json.loads(text)["metrics"] == {"test_accuracy": None, "x": 0.5}
    assert json.loads((tmp_path / "metrics").read_text())["test_accuracy"] is None


@pytest.mark.parametrize(
    ("status", "failures", "outcome"),
    [
        ("Succeeded", "", "passed"),
        ("Failed", json.dumps([{"displayName": "analyze-canary", "message": "Error (exit code 4)"}]), "inconclusive"),
        ("Failed", json.dumps([{"displayName": "evaluate", "message": "Error (exit code 3)"}]), "failed"),
        ("Failed", json.dumps([{"displayName": "train", "message": "Error (exit code 1)"}]), "error"),
        ("Error", "not json", "error"),
        ("Failed", "null", "error"),
    ],
)
def test_exit_handler_names_the_gate_outcome(status: str, failures: str, outcome: str):
    from cxops.workflows.outcome import record

    assert record("wf", status, "3.2", None, failures)["gate_outcome"] == outcome


def test_the_analyze_rollback_task_skips_failed_and_inconclusive_gates():
    from cxops.config import load_config
    from cxops.workflows.templates import all_manifests

    cfg = load_config(REPO / "cxops.yaml")
    tasks = [
        t
        for m in all_manifests(cfg)
        for tpl in (m.templates or [])
        if getattr(tpl, "tasks", None)
        for t in tpl.tasks
        if t.name == "analyze-canary-rollback"
    ]
    assert tasks, "no rollback task after analyze-canary"
    for t in tasks:
        assert "!= '3'" in t.when and "!= '4'" in t.when
