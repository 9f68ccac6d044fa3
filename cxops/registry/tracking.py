"""Which MLflow to talk to: $MLFLOW_TRACKING_URI when set, else the lab's (started on demand)."""

from __future__ import annotations

import os

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.registry.mlflow_server import MlflowLab, http_ok
from cxops.settings import settings
from cxops.waiting import wait_until


def tracking_uri(cfg: Config, start_lab: bool = True) -> str:
    """Resolve and verify the tracking URI, and export it so mlflow's client uses the same one."""
    env = settings()
    uri = env.mlflow_tracking_uri
    if uri:
        if uri.startswith(("http://", "https://")):
            wait_until(
                lambda: http_ok(f"{uri.rstrip('/')}/health"),
                timeout=env.mlflow_timeout,
                what=f"MLflow at {uri} (MLFLOW_TRACKING_URI) to answer /health",
                first=0.2,
                cap=2.0,
            )
        return uri
    from cxops.cluster_config import in_cluster

    if in_cluster():  # a step pod: the rendered template sets MLFLOW_TRACKING_URI; the lab is never started there
        raise CxopsError("CXOPS_EXECUTOR=argo and MLFLOW_TRACKING_URI is unset: set it to the platform's MLflow")
    lab = MlflowLab.from_config(cfg)
    if not lab.healthy():
        if not start_lab:
            raise CxopsError(f"MLflow lab is not running at {lab.url}; start it with `cxops lab up`")
        lab.up()
    os.environ["MLFLOW_TRACKING_URI"] = lab.url
    return lab.url
