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
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest

from cxops.serving.metrics import ServerMetrics
from cxops.serving.model_dir import LoadedModel, ModelLoadError, load_model_dir


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"detail": {"type": "string"}}}}}}  # fmt: skip


def predict_schema(n_features: int | None, max_batch: int) -> dict[str, Any]:
    """OpenAPI of /predict and /explain for this model: rows of exactly `n_features` JSON numbers (any length while
    no model is loaded), at most `max_batch` of them; the refusals 413, 422 and 503 documented."""
    row: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
    if n_features:
        row.update(minItems=n_features, maxItems=n_features)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "object", "required": ["inputs"],
                "properties": {"inputs": {"type": "array", "minItems": 1, "maxItems": max_batch, "items": row,
                                          "description": "a batch of feature rows; every feature a JSON number"}},
            }}},
        },
        "responses": {
            "413": _error("the body is larger than a batch of serving.max_batch rows can be; refused unread"),
            "422": _error("not a batch of rows of JSON numbers, or numbers outside the model's numeric range"),
            "503": _error("no model is loaded (see /readyz)"),
        },
    }  # fmt: skip


# JSON bytes one feature may take in a body: "-1.2345678901234567e-308, " is 26; rounded up for spaces.
BYTES_PER_FEATURE = 32
BYTES_PER_ROW = 8  # "[", "]", ", " and a little whitespace
BYTES_ENVELOPE = 64  # {"inputs": ...}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status, headers=headers,
                    media_type="application/json")


class BadInput(Exception):
    """A request the server refuses: `status` (413, 422 or 503) and one sentence saying why."""

    def __init__(self, message: str, status: int = 422) -> None:
        self.message = message
        self.status = status


def max_body_bytes(max_batch: int, n_features: int) -> int:
    """The largest body a batch of `max_batch` rows of `n_features` compact JSON numbers can need (bytes)."""
    return BYTES_ENVELOPE + max_batch * (n_features * BYTES_PER_FEATURE + BYTES_PER_ROW)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 before reading when Content-Length says it is over `limit`, and cut off at
    `limit` when it streams (chunked) without one: one client's huge body never fills memory or the loop."""
    length = None
    for name, value in request.scope["headers"]:  # ASGI header names are lower-case bytes; no Headers object
        if name == b"content-length":
            length = value
            break
    if length is not None and length.isdigit():
        if int(length) > limit:
            raise BadInput(f"body of {int(length)} bytes exceeds the {limit} bytes a batch of serving.max_batch "
                           "rows needs", 413)
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadInput(f"body exceeds the {limit} bytes a batch of serving.max_batch rows needs", 413)
        chunks.append(chunk)
    return b"".join(chunks)


disable_created_metrics()  # *_created series double the scrape size and no query here uses them
NUMBER_TYPES = frozenset((int, float))  # orjson gives int or float for a JSON number; bool is its own type


def create_app(build_dir: Path, env: str = "local", max_batch: int = 1024) -> FastAPI:
    """The server for one build directory. /predict and /explain answer 503 while no model is loaded, 413 for a
    body over what `max_batch` rows allow, 422 for anything but rows of JSON numbers the model can score."""
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
            raise BadInput(f"model not loaded: {state['error']}", 503)
        return state["model"]

    def parse(body: bytes, m: LoadedModel) -> np.ndarray:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc}") from None
        if type(doc) is not dict or "inputs" not in doc:
            raise BadInput('expected a JSON object {"inputs": [[...], ...]}')
        rows = doc["inputs"]
        if type(rows) is not list or not rows:
            raise BadInput("inputs must be a non-empty list of rows")
        if len(rows) > max_batch:
            raise BadInput(f"batch of {len(rows)} rows exceeds the limit of {max_batch}")
        n = m.n_features
        kinds: set[type] = set()
        for i, row in enumerate(rows):  # one pass, C-level per row: the API says numbers, so only numbers
            if type(row) is not list or len(row) != n:
                got = len(row) if type(row) is list else type(row).__name__
                raise BadInput(f"row {i}: needs {n} features, got {got} (every row the same length)")
            kinds.update(map(type, row))
        if not kinds <= NUMBER_TYPES:
            bad = sorted(t.__name__ for t in kinds - NUMBER_TYPES)
            names = {"bool": "true/false", "str": "strings", "NoneType": "null", "list": "lists", "dict": "objects"}
            raise BadInput("every feature must be a JSON number; got " + ", ".join(names.get(b, b) for b in bad))
        return np.asarray(rows, dtype=np.float64)  # orjson refuses NaN/Infinity and numbers beyond float64

    def score(m: LoadedModel, X: np.ndarray) -> np.ndarray:
        """Probabilities, or 422 when the inputs are outside the model's numeric range (an overflow makes NaN)."""
        try:  # no np.errstate here: it costs more than the arithmetic; an overflow warns once per process
            proba = m.proba(X)
        except (ValueError, FloatingPointError, OverflowError) as exc:
            raise BadInput(f"inputs outside the model's numeric range: {exc}") from None
        if not np.isfinite(proba).all():
            raise BadInput("inputs outside the model's numeric range: the model's scores overflow (not finite)")
        return proba
    state["classes"] = np.asarray(state["model"].classes) if state["model"] is not None else None
    state["max_body"] = max_body_bytes(max_batch, state["model"].n_features if state["model"] is not None else 0)

    def observe(route: str, status: int, started: float) -> None:
        metrics.observe(route, status, time.perf_counter() - started)

    def scored(route: str, handler):
        """Read (bounded), parse and validate the batch, score it, count it; a refusal is one clear sentence."""

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                m = model()
                X = parse(await read_body(request, state["max_body"]), m)
                body = handler(m, X, score(m, X))
            except BadInput as exc:
                observe(route, exc.status, started)
                # an unread body stays on the socket: close after a 413 instead of reading it
                headers = {"connection": "close"} if exc.status == 413 else None
                return _json({"detail": exc.message}, exc.status, headers)
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
            with np.errstate(all="ignore"):
                contributions = m.linear.contributions(X, proba.argmax(axis=1))
            if not np.isfinite(contributions).all():
                raise BadInput("inputs outside the model's numeric range: feature contributions overflow")
            out["contributions"] = contributions.round(6).tolist()
            out["feature_space"] = "standardized"
        return out

    schema = predict_schema(state["model"].n_features if state["model"] is not None else None, max_batch)
    app.post("/predict", openapi_extra=schema, summary="Predict classes for a batch of rows")(
        scored("/predict", predict))
    app.post("/explain", openapi_extra=schema, summary="Per-class probabilities and feature contributions")(
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

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prom() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
