"""`cxops init-model NAME` scaffolds a project that honours the interface as generated: it is selected by
model.project, trains, logs a model (real MLflow, a sqlite store in a temp dir) that passes cxops' checks, and its
pyfunc output is class probabilities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import cli, make_project

pytestmark = pytest.mark.integration

CHECK = """
import mlflow, numpy as np
from cxops.config import load_config
from cxops.model.evaluation import evaluate, load_classifier, probabilities
from cxops.model.interface import check_logged, load_project, model_metadata
cfg = load_config()
project = load_project(cfg.model.project)
data = project.load_data(cfg.model.dataset)
model, metrics = project.train(dict(cfg.model.params), data)
mlflow.set_tracking_uri(TRACKING)
with mlflow.start_run():
    info = project.log_model(model, data, name="model", metadata=model_metadata(data))
check_logged(info, cfg.model.project)
ev = evaluate(probabilities(load_classifier(info.model_uri), data.X_test, "scaffold"), data)
print(ev.metrics["accuracy"])
"""


def test_init_model_scaffolds_a_working_project(tmp_path: Path):
    config = make_project(tmp_path / "team")
    res = cli(config, "init-model", "bird_sounds")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "team" / "bird_sounds" / "project.py").exists()
    assert "project: bird_sounds.project:Project" in res.stdout
    again = cli(config, "init-model", "bird_sounds")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = cli(config, "init-model", "Bird-Sounds")
    assert bad.returncode == 2 and "Python package name" in bad.stderr
    assert not (tmp_path / "team" / "Bird-Sounds").exists()

    doc = yaml.safe_load(config.read_text())
    doc["model"].update(
        {"project": "bird_sounds.project:Project", "dataset": {"name": "iris"}, "params": {"max_iter": 500}}
    )
    config.write_text(yaml.safe_dump(doc))
    assert cli(config, "config", "check").returncode == 0
    script = f"TRACKING = {('sqlite:///' + str(tmp_path / 'mlflow.db'))!r}\n" + CHECK
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"CXOPS_CONFIG": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1]) > 0.8
