"""train: one MLflow run with params, metrics, the model (signature + example), data hash, git sha, cost."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cxops.config import Config
from cxops.model.interface import check_logged, load_project, model_metadata
from cxops.pipeline.lineage import git_sha
from cxops.pipeline.results import TrainResult
from cxops.registry.client import Registry
from cxops.settings import settings


def run(cfg: Config) -> TrainResult:
    env = settings()
    runner = env.training_runner or cfg.training.runner
    result = on_instance(cfg) if runner == "openstack-instance" else in_process(cfg)
    if env.result_file:  # inside an ephemeral instance: hand the run id to the console JSON
        Path(env.result_file).write_text(json.dumps({"mlflow_run_id": result.run_id, **result.metrics}))
    return result


def on_instance(cfg: Config) -> TrainResult:
    """Train on an ephemeral (GPU) server: it runs `training.instance_command` with the local runner and the
    same MLflow; the server is always deleted. The result is read back from the run it logged."""
    from cxops.cloud.connection import connect
    from cxops.cloud.train_runner import train_on_instance
    from cxops.paths import state_dir

    registry = Registry(cfg)
    env = {"CXOPS_TRAINING_RUNNER": "local", "MLFLOW_TRACKING_URI": registry.uri}
    out = train_on_instance(cfg, connect(cfg.cloud.name), state_dir(cfg), list(cfg.training.instance_command), env=env)
    run = registry.finished_run(out["run_id"], timeout=120)
    tags, metrics = run.data.tags, dict(run.data.metrics)
    duration, cost = metrics.pop("train_duration_seconds", 0.0), metrics.pop("train_cost", 0.0)
    return TrainResult(
        run_id=out["run_id"],
        metrics=metrics,
        duration_seconds=round(duration, 3),
        cost=round(cost, 6),
        data_hash=tags.get("cxops.data_hash", ""),
        git_sha=tags.get("cxops.git_sha", "unknown"),
    )


def in_process(cfg: Config) -> TrainResult:
    import mlflow

    registry = Registry(cfg)
    project = load_project(cfg.model.project)
    data = project.load_data(cfg.model.dataset)
    sha = git_sha()
    rate = cfg.costs.rate(cfg.training.flavor)
    with registry.errors("starting the training run"):
        mlflow.set_experiment(cfg.model.experiment)
        active = mlflow.start_run(run_name=f"train-{cfg.model.name}")
    with active as run:
        mlflow.set_tags(
            {
                "cxops.git_sha": sha,
                "cxops.data_hash": data.digest,
                "cxops.model_name": cfg.model.name,
                "cxops.runner": cfg.training.runner,
                "cxops.flavor": cfg.training.flavor,
            }
        )
        mlflow.log_params(
            {
                **cfg.model.params,
                "dataset": cfg.model.dataset.name,
                "test_size": cfg.model.dataset.test_size,
                "seed": cfg.model.dataset.seed,
            }
        )
        started = time.perf_counter()
        model, metrics = project.train(dict(cfg.model.params), data)
        duration = time.perf_counter() - started
        cost = duration / 3600 * rate
        mlflow.log_metrics({**metrics, "train_duration_seconds": duration, "train_cost": cost})
        logged = project.log_model(model, data, name="model", metadata=model_metadata(data))
        check_logged(logged, cfg.model.project)
        mlflow.set_tag("cxops.model_uri", logged.model_uri)
        run_id = run.info.run_id
    return TrainResult(
        run_id=run_id,
        metrics=metrics,
        duration_seconds=round(duration, 3),
        cost=round(cost, 6),
        data_hash=data.digest,
        git_sha=sha,
    )
