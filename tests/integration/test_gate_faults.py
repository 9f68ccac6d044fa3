"""Gates against non-finite evidence (issue 13, class 1) on the real lab: real MLflow, real runs, the real CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml
from helpers import REPO, cli

pytestmark = pytest.mark.integration
NAN_PROJECT = "tests.integration.nan_project:NanAccuracy"


def test_an_evaluation_with_nan_accuracy_fails_and_nothing_is_registered(lab: Path, cfg):
    from cxops.errors import GateFailed
    from cxops.pipeline.local import step_function
    from cxops.registry.client import Registry

    run_id = step_function("train")(cfg).run_id
    nan_cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"project": NAN_PROJECT})})
    result = step_function("evaluate")(nan_cfg, run_id)
    assert result.passed is False and result.outcome == "failed"
    # the lab may hold a production version: then the drop against it is NaN as well, and says so
    assert result.reasons[0] == "accuracy is NaN; a gate passes only on finite evidence", result.reasons
    assert all(" is NaN; " in r for r in result.reasons)
    assert math.isnan(result.metrics["test_accuracy"])

    registry = Registry(cfg)
    run = registry.client.get_run(run_id)
    assert run.data.tags["cxops.gate.evaluation"] == "failed"
    assert "test_accuracy" not in run.data.metrics  # no NaN metric logged
    report = registry.client.download_artifacts(run_id, "evaluation/report.json")
    text = Path(report).read_text()

    def refuse(constant: str) -> None:  # NaN/Infinity as a value: not JSON (the reasons may name NaN in words)
        raise AssertionError(f"report.json holds the value {constant}")

    assert json.loads(text, parse_constant=refuse)["metrics"]["test_accuracy"] is None
    versions_before = {v.version for v in registry.versions()}
    with pytest.raises(GateFailed, match="refusing to register"):
        step_function("register")(cfg, run_id)
    assert {v.version for v in registry.versions()} == versions_before


def test_the_cli_exits_3_on_a_nan_evaluation(lab: Path, cfg):
    from cxops.pipeline.local import step_function

    run_id = step_function("train")(cfg).run_id
    data = yaml.safe_load(lab.read_text())
    data["model"]["project"] = NAN_PROJECT
    other = lab.parent / "cxops-nan.yaml"
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    res = cli(other, "step", "evaluate", run_id, "--json", env=env)
    assert res.returncode == 3, res.stderr
    out = json.loads(res.stdout)
    assert out["passed"] is False and out["outcome"] == "failed" and out["metrics"]["test_accuracy"] is None
    assert "accuracy is NaN" in res.stderr
