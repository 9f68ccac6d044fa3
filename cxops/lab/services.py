"""The lab as a whole: which services exist, and bringing them up, down and reporting on them."""

from __future__ import annotations

from collections.abc import Iterator

from cxops.config import Config
from cxops.lab.mlflow_server import MlflowLab


def lab_up(cfg: Config) -> Iterator[str]:
    mlflow = MlflowLab.from_config(cfg)
    pid, started = mlflow.up()
    yield f"MLflow {'started' if started else 'already running'} at {mlflow.url} (pid {pid})"


def lab_down(cfg: Config) -> Iterator[str]:
    mlflow = MlflowLab.from_config(cfg)
    yield "MLflow stopped" if mlflow.down() else "MLflow was not running"


def lab_status(cfg: Config) -> list[dict[str, object]]:
    mlflow = MlflowLab.from_config(cfg)
    pid = mlflow.process.pid()
    return [
        {
            "service": "mlflow",
            "url": mlflow.url,
            "pid": pid,
            "health": "ok" if mlflow.healthy() else ("starting/unhealthy" if pid else "stopped"),
        }
    ]
