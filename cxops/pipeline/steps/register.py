"""register: only a run that passed evaluation becomes a model version, with lineage tags and alias candidate."""

from __future__ import annotations

import contextlib
import io
import json

from cxops.config import Config
from cxops.errors import CxopsError, GateFailed
from cxops.pipeline.results import RegisterResult
from cxops.pipeline.steps.evaluate import GATE_TAG
from cxops.registry.client import Registry

LINEAGE_TAGS = ("cxops.git_sha", "cxops.data_hash")


def run(cfg: Config, run_id: str) -> RegisterResult:
    """Register a run that passed the evaluation gate as a new version with lineage tags and alias `candidate`.

    Refuses (GateFailed, exit 3) a run without a passed `cxops.gate.evaluation` tag and (CxopsError) an unknown run;
    nothing is registered then. Waits (bounded) until MLflow reports the version READY."""
    import mlflow

    registry = Registry(cfg)
    run_info = registry.run(run_id)
    if run_info.info.status != "FINISHED":
        raise CxopsError(f"run {run_id} is {run_info.info.status}, not FINISHED; only finished runs are registered")
    verdict = run_info.data.tags.get(GATE_TAG)
    if verdict != "passed":
        why = run_info.data.tags.get(f"{GATE_TAG}.reasons", "[]")
        detail = "it was never evaluated (run `cxops step evaluate`)" if verdict is None else f"it failed: {why}"
        raise GateFailed(f"refusing to register run {run_id}: {detail}")
    existing = [v for v in registry.versions() if v.run_id == run_id]
    if existing:  # idempotent: a retried step must not mint a second version for the same run
        version = existing[-1].version
    else:
        tags = {k: run_info.data.tags.get(k, "") for k in LINEAGE_TAGS}
        tags.update(
            {
                "cxops.run_id": run_id,
                "cxops.gate.evaluation": "passed",
                "cxops.metrics": json.dumps({k: round(v, 4) for k, v in run_info.data.metrics.items()}),
            }
        )
        source = run_info.data.tags.get("cxops.model_uri", f"runs:/{run_id}/model")
        # register_model() prints progress banners; our result is the output (and --json must stay clean).
        chatter = io.StringIO()
        with registry.errors(f"registering run {run_id}"), contextlib.redirect_stdout(chatter):
            mv = mlflow.register_model(source, cfg.model.name, tags=tags)
        version = str(mv.version)
    registry.wait_version_ready(version)
    registry.set_alias("candidate", version)
    return RegisterResult(name=cfg.model.name, version=version, run_id=run_id, alias="candidate")
