"""The serving PrometheusRule, checked and unit-tested by a real promtool (Debian's prometheus package, installed by
scripts/install-test-deps): every alert fires on synthetic series that break its limit and stays silent on series
that keep it. The rule file tested is the committed PrometheusRule's spec (what the operator loads)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO
from k8s_helpers import yaml_docs

from cxops import names
from cxops.config import load_config

CFG = load_config(REPO / "cxops.yaml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1.0", "+Inf")


def _promtool() -> str:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is not installed; `make test` installs it (scripts/install-test-deps: prometheus)")
    return PROMTOOL


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = yaml_docs(REPO / "k8s" / "platform" / "monitoring-config" / "objects.yaml")
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    path = tmp_path_factory.mktemp("rules") / "cxops-serving.rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    return path


def ns(env: str) -> str:
    return names.env_namespace(CFG, env)


def requests(env: str, ok_per_min: int, errors_per_min: int, minutes: int = 30) -> list[dict[str, str]]:
    """Counters of /predict requests by status, growing by the given amount each minute."""
    base = f'cxops_requests_total{{namespace="{ns(env)}",route="/predict",status="%s"}}'
    series = [{"series": base % "200", "values": f"0+{ok_per_min}x{minutes}"}]
    if errors_per_min:
        series.append({"series": base % "500", "values": f"0+{errors_per_min}x{minutes}"})
    return series


def latency(env: str, bucket: str, per_min: int = 60, minutes: int = 90) -> list[dict[str, str]]:
    """A latency histogram where every request falls in `bucket` (and, cumulatively, every bucket above it)."""
    out = []
    for le in BUCKETS:
        grows = float(le) >= float(bucket) if le != "+Inf" else True
        out.append(
            {
                "series": f'cxops_request_seconds_bucket{{namespace="{ns(env)}",route="/predict",status="200",'
                f'le="{le}"}}',
                "values": f"0+{per_min if grows else 0}x{minutes}",
            }
        )
    return out


def confidence(env: str, mean: float, per_min: int = 60, minutes: int = 30) -> list[dict[str, str]]:
    return [
        {
            "series": f'cxops_prediction_confidence_sum{{namespace="{ns(env)}"}}',
            "values": f"0+{mean * per_min:g}x{minutes}",
        },
        {"series": f'cxops_prediction_confidence_count{{namespace="{ns(env)}"}}', "values": f"0+{per_min}x{minutes}"},
    ]


def classes(env: str, per_min: dict[str, int], minutes: int = 30) -> list[dict[str, str]]:
    return [
        {"series": f'cxops_predictions_total{{namespace="{ns(env)}",cls="{cls}"}}', "values": f"0+{n}x{minutes}"}
        for cls, n in per_min.items()
    ]


def expect(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """The alert as promtool reports it: the rule's labels and annotations (no series labels: all aggregate)."""
    return [{"exp_labels": dict(rule["labels"]), "exp_annotations": dict(rule["annotations"])}]


def _rules(rule_file: Path) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(rule_file.read_text())["groups"] for r in g["rules"]]


def _find(rule_file: Path, alert: str, env: str) -> dict[str, Any]:
    return next(r for r in _rules(rule_file) if r["alert"] == alert and r["labels"]["env"] == env)


def cases(rule_file: Path) -> list[tuple[str, list[dict[str, str]], str, bool, str]]:
    """(alert, input series, env, should fire, eval time) for every alert, firing and silent."""
    gate, staging = CFG.gates.canary, CFG.gates.staging
    out = []
    for env in ("staging", "canary", "production"):
        limit = staging.max_error_rate if env == "staging" else gate.max_error_rate
        bad = max(1, int(100 * limit * 3))  # three times the limit, out of ~100 requests a minute
        out.append(("CxopsServingErrorRateHigh", requests(env, 100, bad), env, True, "20m"))
        out.append(("CxopsServingErrorRateHigh", requests(env, 100, 0), env, False, "20m"))
        slow = next(b for b in BUCKETS[:-1] if float(b) > staging.max_p95_ms / 1000)
        fast = next(b for b in reversed(BUCKETS[:-1]) if float(b) < staging.max_p95_ms / 1000 / 1.1)
        out.append(("CxopsServingLatencySLOBurn", latency(env, slow), env, True, "75m"))
        out.append(("CxopsServingLatencySLOBurn", latency(env, fast), env, False, "75m"))
    same = {"0": 30, "1": 30}
    out += [
        (
            "CxopsCanaryLatencyDivergence",
            latency("canary", "1.0") + latency("production", "0.1"),
            "canary",
            True,
            "30m",
        ),
        (
            "CxopsCanaryLatencyDivergence",
            latency("canary", "0.1") + latency("production", "0.1"),
            "canary",
            False,
            "30m",
        ),
        (
            "CxopsCanaryConfidenceDrop",
            confidence("canary", 0.5) + confidence("production", 0.95),
            "canary",
            True,
            "20m",
        ),
        (
            "CxopsCanaryConfidenceDrop",
            confidence("canary", 0.94) + confidence("production", 0.95),
            "canary",
            False,
            "20m",
        ),
        (
            "CxopsCanaryClassDistributionDivergence",
            classes("canary", {"0": 60}) + classes("production", {"1": 60}),
            "canary",
            True,
            "20m",
        ),
        (
            "CxopsCanaryClassDistributionDivergence",
            classes("canary", same) + classes("production", same),
            "canary",
            False,
            "20m",
        ),
    ]
    return out


def test_promtool_checks_the_rules(rule_file: Path):
    out = subprocess.run([_promtool(), "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(_rules(rule_file))} rules found" in out.stdout


def test_every_alert_fires_and_stays_silent_as_it_should(rule_file: Path, tmp_path: Path):
    tests = []
    for alert, series, env, fires, at in cases(rule_file):
        rule = _find(rule_file, alert, env)
        tests.append(
            {
                "interval": "1m",
                "input_series": series,
                "name": f"{alert} {env} fires={fires}",
                "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expect(rule) if fires else []}],
            }
        )
    covered = {(a, e) for a, _, e, _, _ in cases(rule_file)}
    assert covered == {(r["alert"], r["labels"]["env"]) for r in _rules(rule_file)}, "an alert has no test"
    test_file = tmp_path / "cxops-serving.test.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [str(rule_file)], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )
    out = subprocess.run([_promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_a_broken_expectation_is_caught(rule_file: Path, tmp_path: Path):
    """The harness itself can fail: a healthy env expected to alert makes promtool report a failure."""
    rule = _find(rule_file, "CxopsServingErrorRateHigh", "production")
    test = {
        "interval": "1m",
        "input_series": requests("production", 100, 0),
        "alert_rule_test": [{"eval_time": "20m", "alertname": rule["alert"], "exp_alerts": expect(rule)}],
    }
    test_file = tmp_path / "broken.test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(rule_file)], "evaluation_interval": "1m", "tests": [test]}))
    out = subprocess.run([_promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "FAILED" in (out.stdout + out.stderr)


def test_alert_thresholds_are_the_gates():
    """Changing a gate in cxops.yaml changes the alert: the limits are not copied by hand."""
    from cxops.k8s.rules import rule_spec

    rules = [r for g in rule_spec(CFG)["groups"] for r in g["rules"]]
    gate = CFG.gates.canary
    assert any(
        r["alert"] == "CxopsCanaryConfidenceDrop" and r["expr"].endswith(f"< {gate.min_confidence_ratio}")
        for r in rules
    )
    stricter = CFG.model_copy(
        update={
            "gates": CFG.gates.model_copy(
                update={"canary": gate.model_copy(update={"max_distribution_distance": 0.05})}
            )
        }
    )
    changed = [
        r
        for g in rule_spec(stricter)["groups"]
        for r in g["rules"]
        if r["alert"] == "CxopsCanaryClassDistributionDivergence"
    ]
    assert changed[0]["expr"].endswith("> 0.05")
