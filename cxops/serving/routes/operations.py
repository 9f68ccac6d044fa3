"""The routes operators and the platform read, whatever the protocol: `/healthz` (the process is up), `/readyz` (the
model can predict; what Kubernetes' readiness probe asks), `/version` (what is served and from what) and
`/metrics` (Prometheus)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cxops.serving.asgi import Answer, ModelServer, answer
from cxops.serving.dataplane import DataPlane
from cxops.serving.openapi import NOT_READY


def add_routes(app: ModelServer, plane: DataPlane) -> None:
    """/healthz, /readyz, /version and /metrics on `app`, reporting `plane`."""

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> Answer:
        return answer({"status": "ok"})

    @app.get("/readyz", summary="The model is loaded and can predict", responses=NOT_READY)
    async def readyz() -> Answer:
        if not plane.ready:
            return answer({"ready": False, "reason": plane.error}, 503)
        return answer({"ready": True})

    @app.get("/version", summary="What is served: model, version, model digest, run, git sha, env, scoring path")
    async def version() -> Answer:
        data = dict(plane.lineage)
        m = plane.loaded
        if m is None:
            data["error"] = plane.error
        else:
            data.update({"scorer": m.scorer, "flavor": m.flavor, "notes": m.notes})
        data["model_digest"] = plane.digest
        data["env"] = plane.env
        data["ready"] = m is not None
        return answer(data)

    @app.get("/metrics", summary="Prometheus metrics", text=True)
    async def prom() -> Answer:
        return Answer(200, generate_latest(plane.metrics.registry), CONTENT_TYPE_LATEST)
