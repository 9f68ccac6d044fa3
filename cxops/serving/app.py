"""The FastAPI model server: predict, explain, healthz, readyz, version, metrics.

Bodies are parsed with orjson into one numpy array and scored on numpy (linear export) or the estimator's native
API: no pydantic model per row and no pandas round trip, which is where a generic scoring server spends its time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest

from cxops.serving.metrics import ServerMetrics
from cxops.serving.model_dir import LoadedModel, ModelLoadError, load_model_dir

PREDICT_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["inputs"],
            "properties": {"inputs": {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
                                      "description": "a batch of feature rows"}},
        }}},
    }
}  # fmt: skip


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json")


class BadInput(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


disable_created_metrics()  # *_created series double the scrape size and no query here uses them


def create_app(build_dir: Path, env: str = "local", max_batch: int = 1024) -> FastAPI:
    metrics = ServerMetrics()
    state: dict[str, Any] = {"model": None, "error": None, "lineage": {}}
    try:  # lineage first and on its own: a broken model file must still say which version is broken
        state["lineage"] = orjson.loads((build_dir / "version.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        state["error"] = f"version.json unreadable: {exc}"
    try:
        state["model"] = load_model_dir(build_dir)
        v = state["model"].version
        metrics.info.labels(v.get("name", ""), str(v.get("version", "")), env).set(1)
    except ModelLoadError as exc:
        state["error"] = str(exc)

    app = FastAPI(title="cxops model server", version="1", docs_url="/docs", redoc_url=None)

    def model() -> LoadedModel:
        if state["model"] is None:
            raise BadInput(f"model not loaded: {state['error']}")
        return state["model"]

    def parse(body: bytes, m: LoadedModel) -> np.ndarray:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc}") from None
        if not isinstance(doc, dict) or "inputs" not in doc:
            raise BadInput('expected a JSON object {"inputs": [[...], ...]}')
        rows = doc["inputs"]
        if not isinstance(rows, list) or not rows:
            raise BadInput("inputs must be a non-empty list of rows")
        if len(rows) > max_batch:
            raise BadInput(f"batch of {len(rows)} rows exceeds the limit of {max_batch}")
        try:
            X = np.asarray(rows, dtype=np.float64)
        except (ValueError, TypeError):
            raise BadInput("every row must be a list of numbers of the same length") from None
        if X.ndim != 2 or X.shape[1] != m.n_features:
            got = X.shape[1] if X.ndim == 2 else "ragged/scalar"
            raise BadInput(f"each row needs {m.n_features} features, got {got}")
        if not np.isfinite(X).all():
            raise BadInput("inputs must be finite numbers (no NaN/Infinity)")
        return X

    state["classes"] = np.asarray(state["model"].classes) if state["model"] is not None else None

    def observe(route: str, status: int, started: float) -> None:
        metrics.observe(route, status, time.perf_counter() - started)

    def scored(route: str, handler):
        """Parse and validate the batch, score it, count it; bad input is a 422 with one clear sentence."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                m = model()
                X = parse(await request.body(), m)
            except BadInput as exc:
                observe(route, 422, started)
                return _json({"detail": exc.message}, 422)
            body = handler(m, X, m.proba(X))
            observe(route, 200, started)
            return _json(body)

        return endpoint

    def predict(m: LoadedModel, X: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
        top = proba.argmax(axis=1)
        classes = classes_arr[top] if (classes_arr := state["classes"]) is not None else top
        conf = proba[np.arange(len(top)), top]
        for c, p in zip(classes.tolist(), conf.tolist(), strict=True):
            metrics.count_prediction(c, p)
        return {"predictions": classes.tolist(), "confidence": conf.round(6).tolist(),
                "version": m.version.get("version")}

    def explain(m: LoadedModel, X: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"classes": m.classes, "probabilities": proba.round(6).tolist()}
        if m.linear is not None:
            out["contributions"] = m.linear.contributions(X, proba.argmax(axis=1)).round(6).tolist()
            out["feature_space"] = "standardized"
        return out

    app.post("/predict", openapi_extra=PREDICT_SCHEMA, summary="Predict classes for a batch of rows")(
        scored("/predict", predict))
    app.post("/explain", openapi_extra=PREDICT_SCHEMA, summary="Per-class probabilities and feature contributions")(
        scored("/explain", explain))

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", summary="The model is loaded and can predict")
    async def readyz() -> Response:
        if state["model"] is None:
            return _json({"ready": False, "reason": state["error"]}, 503)
        return _json({"ready": True})

    @app.get("/version", summary="What is served: model, version, run, git sha, environment")
    async def version() -> Response:
        data = dict(state["lineage"])
        if state["model"] is None:
            data["error"] = state["error"]
        data["env"] = env
        data["ready"] = state["model"] is not None
        return _json(data)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prom() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
