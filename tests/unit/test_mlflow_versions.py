"""MLflow's client and server at one version (audit W11): the server the platform renders runs exactly the MLflow
the tools image's client is locked to, so no client call lands on an older server that lacks it."""

from __future__ import annotations

import re

import yaml
from helpers import REPO

from cxops.k8s.charts import CHARTS


def _lock_pin(path: str) -> str:
    text = (REPO / path).read_text()
    found = re.findall(r'^\s*"?mlflow==([0-9][^"\s,;]*)', text, flags=re.M)
    assert len(found) == 1, f"{path}: expected one mlflow pin, found {found}"
    return found[0]


def test_the_rendered_mlflow_server_runs_the_locked_client_version() -> None:
    client = _lock_pin("requirements.lock")
    assert _lock_pin("pyproject.toml") == client
    values = yaml.safe_load((REPO / "k8s/platform/mlflow/values.yaml").read_text())
    # the community chart runs image.tag, else its appVersion
    server = (values.get("image") or {}).get("tag") or CHARTS["mlflow"].app_version
    assert server == client, f"MLflow server {server} (k8s/platform/mlflow/values.yaml) vs client {client}"
    assert server != "latest"
