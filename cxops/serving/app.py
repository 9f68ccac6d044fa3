"""The model server (an ASGI app, cxops.serving.asgi; FastAPI for its documentation). One scoring path behind
three protocols:

- cxops: `/predict` (classes, confidence, version) and `/explain` (probabilities, linear contributions);
- MLflow's scoring protocol: `POST /invocations` (inputs | instances | dataframe_split | dataframe_records),
  `GET /ping`, so MLflow clients work unchanged;
- Open Inference Protocol v2 REST (KServe, Triton, MLServer): `/v2`, `/v2/health/live|ready`,
  `/v2/models/{name}[/versions/{v}]`, `.../ready`, `.../infer`.

Each protocol's parser (cxops.serving.protocols) validates the body against the model's signature and yields one
float64 array; the model scores it (verified linear fast path, or MLflow's pyfunc loader); the protocol's
formatter answers. Bodies are parsed with orjson straight into numpy: no pydantic model per row and no pandas
round trip on the fast path, which is where a generic scoring server spends its time. Metrics are labelled by
route (the route template, not the raw path).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest

from cxops.serving import protocols
from cxops.serving.asgi import (
    NO_HEADERS,
    V2_PREFIX,
    Answer,
    ClientGone,
    Headers,
    ModelServer,
    Receive,
    Response,
    Scoring,
    answer,
    content_headers,
    dumps,
)
from cxops.serving.batch_settings import BatchSettings
from cxops.serving.batching import batcher_for
from cxops.serving.manifest import model_digest
from cxops.serving.metrics import ServerMetrics
from cxops.serving.model_dir import LoadedModel, ModelLoadError, load_model_dir
from cxops.serving.protocols import BadRequest
from cxops.serving.signature import V2_NUMERIC, InputSchema

# JSON bytes one feature may take in a body: "-1.2345678901234567e-308, " is 26; rounded up for spaces.
BYTES_PER_FEATURE = 32
BYTES_PER_ROW = 8  # "[", "]", ", " and a little whitespace
BYTES_ENVELOPE = 64  # {"inputs": ...}


def max_body_bytes(max_batch: int, n_features: int, per_row_names: int = 0, envelope: int = 0) -> int:
    """The largest body a batch of `max_batch` rows of `n_features` compact JSON numbers can need (bytes), plus
    the column names a records-style row repeats (`per_row_names`) and per-column envelopes (`envelope`)."""
    return BYTES_ENVELOPE + envelope + max_batch * (n_features * BYTES_PER_FEATURE + BYTES_PER_ROW + per_row_names)


def body_limit(schema: InputSchema | None, max_batch: int) -> int:
    """max_body_bytes for the model's signature (a tensor: numbers only; columns: names too)."""
    if schema is None:
        return max_body_bytes(max_batch, 0)
    names = sum(len(n) + 6 for n in schema.names)  # "name": per value in a record
    return max_body_bytes(max_batch, schema.n_values, names, sum(len(n) + 64 for n in schema.names))


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _row_schema(schema: InputSchema | None) -> dict[str, Any]:
    """JSON schema of one /predict row: nested arrays of the tensor's row shape, or the columns as an array in
    signature order or an object by name."""
    number: dict[str, Any] = {"type": "number"}
    if schema is None:
        return {"type": "array", "items": number}
    if schema.kind == "columns":
        n = len(schema.names)
        return {
            "oneOf": [
                {"type": "array", "items": number, "minItems": n, "maxItems": n},
                {
                    "type": "object",
                    "required": list(schema.names),
                    "additionalProperties": False,
                    "properties": {name: number for name in schema.names},
                },
            ]
        }
    row = number
    for d in reversed(schema.row_shape):
        row = {"type": "array", "items": row, **({"minItems": d, "maxItems": d} if d > 0 else {})}
    return row


def predict_schema(schema: InputSchema | None, max_batch: int) -> dict[str, Any]:
    """OpenAPI of /predict and /explain for this model: at most `max_batch` rows shaped by its signature (any rows
    while no model is loaded); the refusals 413, 422 and 503 documented."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {
                            "inputs": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": max_batch,
                                "items": _row_schema(schema),
                                "description": "a batch of rows shaped as the model's signature; "
                                "every feature a JSON number",
                            }
                        },
                    }
                }
            },
        },
        "responses": {
            "413": _error("the body is larger than a batch of serving.max_batch rows can be; refused unread"),
            "415": _error("not application/json"),
            "422": _error(
                "not rows the model's signature takes (the message names the field), or numbers outside "
                "the model's numeric range"
            ),
            "503": _error("no model is loaded (see /readyz)"),
        },
    }


def _protocol_schema(description: str, body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI of a protocol's scoring route: `body` is the request body's JSON schema, no stricter than the parser
    (a body it allows may still be refused for the model's signature: 400 naming the field)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": description, **body}}},
        },
        "responses": {
            "400": _error(
                "the body does not match the protocol or the model's signature (the message names the field)"
            ),
            "413": _error("the body is larger than a batch of serving.max_batch rows can be; refused unread"),
            "415": _error("not application/json"),
            "503": _error("no model is loaded (see /readyz)"),
            **extra,
        },
    }


_NUMBER: dict[str, Any] = {"type": "number"}
INVOCATIONS_SCHEMA = _protocol_schema(
    "MLflow scoring protocol: exactly one of inputs, instances, dataframe_split, dataframe_records",
    {
        "minProperties": 1,
        "properties": {
            "inputs": {"description": "rows (or {column: values}, or {tensor name: rows})"},
            "instances": {"description": "rows, as inputs"},
            "dataframe_split": {
                "type": "object",
                "required": ["data"],
                "properties": {  # columns: only a DataFrame signature reads them
                    "data": {"type": "array", "items": {"type": "array", "items": _NUMBER}},
                },
            },
            "dataframe_records": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": _NUMBER},
            },
        },
    },
    {},
)
V2_INFER_SCHEMA = _protocol_schema(
    "Open Inference Protocol v2 inference request: "
    '{"inputs": [{"name", "shape", "datatype", "data"}], "outputs"?, "id"?}',
    {
        "required": ["inputs"],
        "properties": {
            "inputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                        "datatype": {"type": "string", "enum": sorted(V2_NUMERIC)},
                        "data": {"type": "array"},
                    },
                },
            },
            "outputs": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            },
        },
    },
    {"404": _error("no model of that name or version is served here")},
)
V2_MODEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _error("no model of that name or version is served here"),
    503: _error("no model is loaded"),
}
NOT_READY: dict[int | str, dict[str, Any]] = {503: _error("no model is loaded")}


CLOSE: Headers = [(b"connection", b"close")]


def _too_large(limit: int, length: int | None = None) -> BadRequest:
    size = f"body of {length} bytes" if length is not None else "body"
    return BadRequest(f"{size} exceeds the {limit} bytes a batch of serving.max_batch rows needs", 413)


async def read_body(length: bytes | None, receive: Receive, limit: int) -> bytes:
    """The body, refused with 413 before reading when its Content-Length (`length`, the header's raw value) says
    it is over `limit`, and cut off at `limit` when it streams (chunked) without one: one client's huge body never
    fills memory or the loop. Raises ClientGone when the client disconnects first."""
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit, int(length))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if not message.get("more_body", False):
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


disable_created_metrics()  # *_created series double the scrape size and no query here uses them

# A protocol: parse(doc, model) -> (array, context); respond(model, array, proba, top, context) -> body;
# error(message) -> body. `proba` is rows of per-class probabilities as Python floats (what JSON is made of).
# `count` says whether its answers count as predictions (canary evidence); `top` (the predicted labels and their
# probabilities, per row) is computed for those only, else None.
Proba = list[list[float]]
Top = tuple[list[Any], list[float]]
Parse = Callable[[Any, LoadedModel], tuple[np.ndarray, Any]]
Respond = Callable[[LoadedModel, np.ndarray, Proba, Top | None, Any], dict[str, Any]]


def create_app(
    build_dir: Path, env: str = "local", max_batch: int = 1024, batching: BatchSettings | None = None
) -> ModelServer:
    """The server for one build directory. Scoring routes answer 503 while no model is loaded, 413 for a body over
    what `max_batch` rows allow, and the protocol's 4xx (422 for /predict, 400 for /invocations and v2) naming the
    field for anything the model's signature does not take. `batching`: adaptive batching of a pyfunc model's
    calls (cxops.serving.batching; None or disabled: each request scored alone)."""
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
    loaded: LoadedModel | None = state["model"]
    max_body = body_limit(loaded.schema if loaded is not None else None, max_batch)
    classes = list(loaded.classes) if loaded is not None else None
    name = str(state["lineage"].get("name", "model"))
    version_str = str(state["lineage"].get("version", ""))
    digest = model_digest(build_dir)  # the manifest the loader verified: names exactly what is served

    app = ModelServer(title="cxops model server", version="1", docs_url="/docs", redoc_url=None)
    app.load_error = None if loaded is not None else str(state["error"])
    app.scorer = loaded.scorer if loaded is not None else None
    batcher = batcher_for(loaded, batching, metrics.registry)

    def model() -> LoadedModel:
        if state["model"] is None:
            raise BadRequest(f"model not loaded: {state['error']}", 503)
        return state["model"]

    def score(m: LoadedModel, X: np.ndarray) -> Proba:
        """Probabilities as lists (rows of per-class floats), or 422 when the inputs are outside the model's
        numeric range (the scorers raise FloatingPointError for scores that are not finite)."""
        try:  # no np.errstate here: it costs more than the arithmetic; an overflow warns once per process
            return m.proba_rows(X)
        except (ValueError, FloatingPointError, OverflowError) as exc:
            raise BadRequest(f"inputs outside the model's numeric range: {exc}") from None

    def top(proba: Proba) -> Top:
        """Per row: the predicted class label and its probability (the confidence), as lists; the first class
        of the highest probability, as argmax picks."""
        assert classes is not None
        labels, confidences = [], []
        for row in proba:
            best = max(row)
            labels.append(classes[row.index(best)])
            confidences.append(best)
        return labels, confidences

    def endpoint(
        route: str,
        parse: Parse,
        respond: Respond,
        error: Callable[[str], dict[str, Any]],
        bad_status: int,
        count: bool,
        check: Callable[[dict[str, str]], None] | None = None,
    ) -> Scoring:
        """The one scoring path: check what the headers (and `check`, the path parameters) say, read the body
        (bounded), parse it against the signature, score, answer, count. Its two entry points (Scoring) differ only
        in how the body arrives; each returns (status, JSON body, extra headers)."""

        def refuse(exc: BadRequest, started: float) -> Response:
            status = bad_status if exc.status == 422 else exc.status  # the protocol's own "bad request"
            metrics.observe(route, status, perf_counter() - started)
            # an unread body stays on the socket: close after a 413 instead of reading it
            return status, dumps(error(exc.message)), CLOSE if status == 413 else NO_HEADERS

        def accept(headers: Headers, params: dict[str, str]) -> tuple[LoadedModel, bytes | None]:
            """What is refused before the body is read: a model not served here (`check`), no model loaded (503),
            a content type other than JSON (415). Returns the model and the raw Content-Length."""
            if check is not None:
                check(params)
            m = model()
            raw_ctype, length = content_headers(headers)
            if raw_ctype is not None and raw_ctype != b"application/json":  # else parse what was sent
                ctype = raw_ctype.decode("latin-1").split(";")[0].strip().lower()
                if ctype not in ("application/json", "", "*/*"):
                    raise BadRequest(f"content-type {ctype} is not supported; send application/json", 415)
            return m, length

        def parsed(m: LoadedModel, body: bytes) -> tuple[np.ndarray, Any]:
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"invalid JSON body: {exc}", bad_status) from None
            return parse(doc, m)

        def answered(m: LoadedModel, X: np.ndarray, proba: Proba, ctx: Any, started: float) -> Response:
            try:
                tops = top(proba) if count else None
                out = respond(m, X, proba, tops, ctx)
            except BadRequest as exc:
                return refuse(exc, started)
            if tops is not None:
                metrics.count_predictions(*tops)
            metrics.observe(route, 200, perf_counter() - started)
            return 200, dumps(out), NO_HEADERS

        def scored(m: LoadedModel, body: bytes, started: float) -> Response:
            try:
                X, ctx = parsed(m, body)
                proba = score(m, X)
            except BadRequest as exc:
                return refuse(exc, started)
            return answered(m, X, proba, ctx, started)

        async def scored_in_batch(m: LoadedModel, body: bytes, started: float) -> Response:
            """scored, the model call in an adaptive batch (cxops.serving.batching); the input refused before."""
            assert batcher is not None
            try:
                X, ctx = parsed(m, body)
                proba = await batcher.proba(X)
            except BadRequest as exc:
                return refuse(exc, started)
            return answered(m, X, proba, ctx, started)

        async def read(headers: Headers, receive: Receive, params: dict[str, str]) -> Response:
            started = perf_counter()
            try:
                m, length = accept(headers, params)
                body = await read_body(length, receive, max_body)
            except BadRequest as exc:
                return refuse(exc, started)
            return await scored_in_batch(m, body, started) if batcher is not None else scored(m, body, started)

        def answer_read(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
            try:
                m, _ = accept(headers, params)
            except BadRequest as exc:
                return refuse(exc, started)
            return scored(m, body, started)

        # batched: no direct answer (the model call is awaited), every request takes the ASGI cycle
        return Scoring(read, answer_read if batcher is None else None, max_body)

    def post(path: str, scoring: Scoring, doc: dict[str, Any], summary: str) -> None:
        app.post_scoring(path, scoring, openapi_extra=doc, summary=summary)

    # --- cxops /predict and /explain -------------------------------------------------------------------------
    def parse_predict(doc: Any, m: LoadedModel) -> tuple[np.ndarray, Any]:
        return protocols.predict_body(doc, m.schema, max_batch), None

    def predict(m: LoadedModel, X: np.ndarray, proba: Proba, tops: Top | None, _: Any) -> dict[str, Any]:
        assert tops is not None  # /predict counts its predictions
        return {
            "predictions": tops[0],
            "confidence": [round(c, 6) for c in tops[1]],
            "version": m.version.get("version"),
        }

    def explain(m: LoadedModel, X: np.ndarray, proba: Proba, _: Top | None, __: Any) -> dict[str, Any]:
        P = np.array(proba)
        out: dict[str, Any] = {
            "classes": m.classes,
            "class_names": m.class_names,
            "probabilities": P.round(6).tolist(),
        }
        if m.linear is not None:
            with np.errstate(all="ignore"):
                contributions = m.linear.contributions(X, P.argmax(axis=1))
            if not np.isfinite(contributions).all():
                raise BadRequest("inputs outside the model's numeric range: feature contributions overflow")
            out["contributions"] = contributions.round(6).tolist()
            out["feature_space"] = "standardized"
        return out

    def detail(message: str) -> dict[str, Any]:
        return {"detail": message}

    predict_doc = predict_schema(loaded.schema if loaded is not None else None, max_batch)
    post(
        "/predict",
        endpoint("/predict", parse_predict, predict, detail, 422, count=True),
        predict_doc,
        "Predict classes for a batch of rows",
    )
    post(
        "/explain",
        endpoint("/explain", parse_predict, explain, detail, 422, count=False),
        predict_doc,
        "Per-class probabilities and feature contributions",
    )

    # --- MLflow scoring protocol ------------------------------------------------------------------------------
    def parse_invocations(doc: Any, m: LoadedModel) -> tuple[np.ndarray, Any]:
        return protocols.invocations_body(doc, m.schema, max_batch), None

    def invocations(m: LoadedModel, X: np.ndarray, proba: Proba, _: Top | None, __: Any) -> dict[str, Any]:
        return {"predictions": proba}  # what pyfunc predict returns: class probabilities

    def mlflow_error(message: str) -> dict[str, Any]:
        return {"error_code": "BAD_REQUEST", "message": message}

    post(
        "/invocations",
        endpoint("/invocations", parse_invocations, invocations, mlflow_error, 400, count=True),
        INVOCATIONS_SCHEMA,
        "MLflow scoring protocol",
    )

    @app.get("/ping", summary="MLflow scoring protocol liveness: 200 when the model is loaded", responses=NOT_READY)
    async def ping() -> Answer:
        return answer(
            {"status": "ok"} if state["model"] is not None else {"status": "not ready"},
            200 if state["model"] is not None else 503,
        )

    # --- Open Inference Protocol v2 ---------------------------------------------------------------------------
    def v2_error(message: str) -> dict[str, Any]:
        return {"error": message}

    def check_model(model_name: str, model_version: str | None) -> None:
        if model_name != name or (model_version is not None and model_version != version_str):
            raise BadRequest(
                f"model {model_name!r}{f' version {model_version!r}' if model_version else ''} is not "
                f"served here; this server serves {name!r} version {version_str!r}",
                404,
            )

    def v2_infer_for(model_version: str | None) -> Scoring:
        def parse_v2(doc: Any, m: LoadedModel) -> tuple[np.ndarray, Any]:
            X, request_id, wanted = protocols.v2_body(doc, m.schema, max_batch)
            if wanted is not None and (unknown := sorted(set(wanted) - {"probabilities", "predictions"})):
                raise BadRequest(
                    f"outputs: {unknown[0]!r} is not an output; outputs are probabilities, predictions", 400
                )
            return X, (request_id, wanted)

        def v2_infer(m: LoadedModel, X: np.ndarray, proba: Proba, tops: Top | None, ctx: Any) -> dict[str, Any]:
            request_id, wanted = ctx
            assert tops is not None  # v2 infer counts its predictions
            labels = tops[0]
            outputs = [
                {
                    "name": "probabilities",
                    "shape": [len(proba), len(m.classes)],
                    "datatype": "FP64",
                    "data": [p for row in proba for p in row],
                },
                {"name": "predictions", "shape": [len(labels)], "datatype": "INT64", "data": labels},
            ]
            body: dict[str, Any] = {
                "model_name": name,
                "model_version": version_str,
                "outputs": [o for o in outputs if wanted is None or o["name"] in wanted],
            }
            if request_id is not None:
                body["id"] = request_id
            return body

        route = f"{V2_PREFIX}/infer" if model_version is None else f"{V2_PREFIX}/versions/{{version}}/infer"

        def served_here(params: dict[str, str]) -> None:
            check_model(params["name"], params.get("version"))

        return endpoint(route, parse_v2, v2_infer, v2_error, 400, count=True, check=served_here)

    post(f"{V2_PREFIX}/infer", v2_infer_for(None), V2_INFER_SCHEMA, "v2 inference")
    post(
        f"{V2_PREFIX}/versions/{{version}}/infer",
        v2_infer_for("version"),
        V2_INFER_SCHEMA,
        "v2 inference on a named version",
    )

    @app.get("/v2", summary="v2 server metadata")
    async def v2_server() -> Answer:
        from cxops import __version__

        return answer({"name": "cxops", "version": __version__, "extensions": []})

    @app.get("/v2/health/live", summary="v2 server liveness")
    async def v2_live() -> Answer:
        return answer({"live": True})

    @app.get("/v2/health/ready", summary="v2 server readiness: the model is loaded", responses=NOT_READY)
    async def v2_ready() -> Answer:
        ready = state["model"] is not None
        return answer({"ready": ready}, 200 if ready else 503)

    def v2_metadata(model_name: str, model_version: str | None) -> Answer:
        try:
            check_model(model_name, model_version)
            m = model()
        except BadRequest as exc:
            return answer(v2_error(exc.message), exc.status)
        return answer(
            {
                "name": name,
                "versions": [version_str],
                "platform": f"mlflow_{m.flavor}",
                "inputs": m.schema.v2_inputs(),
                "outputs": [
                    {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(m.classes)]},
                    {"name": "predictions", "datatype": "INT64", "shape": [-1]},
                ],
            }
        )

    @app.get(
        V2_PREFIX,
        summary="v2 model metadata: inputs and outputs from the model's signature",
        responses=V2_MODEL_RESPONSES,
    )
    async def v2_model(name: str) -> Answer:
        return v2_metadata(name, None)

    @app.get(
        f"{V2_PREFIX}/versions/{{version}}",
        summary="v2 model metadata of a named version",
        responses=V2_MODEL_RESPONSES,
    )
    async def v2_model_version(name: str, version: str) -> Answer:
        return v2_metadata(name, version)

    @app.get(f"{V2_PREFIX}/ready", summary="v2 model readiness", responses=V2_MODEL_RESPONSES)
    async def v2_model_ready(name: str) -> Answer:
        try:
            check_model(name, None)
            model()
        except BadRequest as exc:
            return answer({"name": name, "ready": False, "error": exc.message}, exc.status)
        return answer({"name": name, "ready": True})

    # --- operations -------------------------------------------------------------------------------------------
    @app.get("/healthz", summary="The process is up")
    async def healthz() -> Answer:
        return answer({"status": "ok"})

    @app.get("/readyz", summary="The model is loaded and can predict", responses=NOT_READY)
    async def readyz() -> Answer:
        if state["model"] is None:
            return answer({"ready": False, "reason": state["error"]}, 503)
        return answer({"ready": True})

    @app.get("/version", summary="What is served: model, version, model digest, run, git sha, env, scoring path")
    async def version() -> Answer:
        data = dict(state["lineage"])
        m = state["model"]
        if m is None:
            data["error"] = state["error"]
        else:
            data.update({"scorer": m.scorer, "flavor": m.flavor, "notes": m.notes})
        data["model_digest"] = digest
        data["env"] = env
        data["ready"] = m is not None
        return answer(data)

    @app.get("/metrics", summary="Prometheus metrics", text=True)
    async def prom() -> Answer:
        return Answer(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)

    return app
