"""The model server's core, whatever the protocol (the data plane, as KServe's server calls it): the model served
and what it was built from, the one scoring path every protocol's scoring route goes through, and the metrics.

A protocol (cxops.serving.routes) supplies three functions to `DataPlane.scoring`: parse (its request body, checked
against the model's signature by cxops.serving.protocols, to one float64 array and a context), respond (its answer
from the probabilities) and error (its error body). The data plane does the rest the same way for all of them:
refuse before reading what can be refused (a model not served here, no model loaded, not JSON, a body too large),
read the body (bounded), parse, score, answer, count.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import orjson
from prometheus_client import disable_created_metrics

from cxops.serving.asgi import NO_HEADERS, ClientGone, Headers, Receive, Response, Scoring, content_headers, dumps
from cxops.serving.batch_settings import BatchSettings
from cxops.serving.batching import batcher_for
from cxops.serving.manifest import model_digest
from cxops.serving.metrics import ServerMetrics
from cxops.serving.model_dir import LoadedModel, ModelLoadError, load_model_dir
from cxops.serving.protocols import BadRequest
from cxops.serving.signature import InputSchema

# JSON bytes one feature may take in a body: "-1.2345678901234567e-308, " is 26; rounded up for spaces.
BYTES_PER_FEATURE = 32
BYTES_PER_ROW = 8  # "[", "]", ", " and a little whitespace
BYTES_ENVELOPE = 64  # {"inputs": ...}

CLOSE: Headers = [(b"connection", b"close")]

disable_created_metrics()  # *_created series double the scrape size and no query here uses them

# A protocol: parse(doc, model) -> (array, context); respond(model, array, proba, top, context) -> body;
# error(message) -> body. `proba` is rows of per-class probabilities as Python floats (what JSON is made of).
# `count` says whether its answers count as predictions (canary evidence); `top` (the predicted labels and their
# probabilities, per row) is computed for those only, else None.
Proba = list[list[float]]
Top = tuple[list[Any], list[float]]
Parse = Callable[[Any, LoadedModel], tuple[np.ndarray, Any]]
Respond = Callable[[LoadedModel, np.ndarray, Proba, Top | None, Any], dict[str, Any]]
ErrorBody = Callable[[str], dict[str, Any]]
Check = Callable[[dict[str, str]], None]  # path parameters -> None, or BadRequest (a model not served here)


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


class DataPlane:
    """One model served: `model` (None when it did not load, `error` says why), its `lineage` (version.json),
    `digest` (the manifest the loader verified), the environment name `env`, `max_batch` rows per request, and the
    server's `metrics`. Routes read it; nothing changes it after construction."""

    def __init__(
        self,
        model: LoadedModel | None,
        error: str | None,
        lineage: dict[str, Any],
        digest: str | None,
        env: str = "local",
        max_batch: int = 1024,
        metrics: ServerMetrics | None = None,
        batching: BatchSettings | None = None,
    ) -> None:
        self.loaded = model
        self.error = error
        self.lineage = lineage
        self.digest = digest
        self.env = env
        self.max_batch = max_batch
        self.metrics = metrics if metrics is not None else ServerMetrics()
        self.schema = model.schema if model is not None else None
        self.max_body = body_limit(self.schema, max_batch)  # bytes
        self.classes = list(model.classes) if model is not None else None
        self.name = str(lineage.get("name", "model"))  # what v2 calls the model: its registered name
        self.version = str(lineage.get("version", ""))
        # a pyfunc model's calls in adaptive batches (None: each request scored alone; cxops.serving.batching)
        self.batcher = batcher_for(model, batching, self.metrics.registry)
        if model is not None:
            v = model.version
            self.metrics.info.labels(v.get("name", ""), str(v.get("version", "")), env).set(1)

    @classmethod
    def load(
        cls, build_dir: Path, env: str = "local", max_batch: int = 1024, batching: BatchSettings | None = None
    ) -> DataPlane:
        """The data plane of one build directory (model/, version.json, manifest). A model that does not load is
        not an error here: the plane says why (`error`) and scoring answers 503. `batching`: adaptive batching of
        a pyfunc model's calls (None or disabled: each request scored alone)."""
        error: str | None = None
        lineage: dict[str, Any] = {}
        try:  # lineage first and on its own: a broken model file must still say which version is broken
            lineage = orjson.loads((build_dir / "version.json").read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            error = f"version.json unreadable: {exc}"
        model: LoadedModel | None = None
        try:
            model = load_model_dir(build_dir)
        except ModelLoadError as exc:
            error = str(exc)
        # the manifest the loader verified: names exactly what is served
        return cls(model, error, lineage, model_digest(build_dir), env, max_batch, batching=batching)

    @property
    def ready(self) -> bool:
        """The model is loaded and can score."""
        return self.loaded is not None

    def model(self) -> LoadedModel:
        """The loaded model, or BadRequest 503 naming why there is none."""
        if self.loaded is None:
            raise BadRequest(f"model not loaded: {self.error}", 503)
        return self.loaded

    def check_served(self, model_name: str, model_version: str | None) -> None:
        """BadRequest 404 unless `model_name` (and `model_version`, when given) is the model served here."""
        if model_name != self.name or (model_version is not None and model_version != self.version):
            raise BadRequest(
                f"model {model_name!r}{f' version {model_version!r}' if model_version else ''} is not "
                f"served here; this server serves {self.name!r} version {self.version!r}",
                404,
            )

    def score(self, m: LoadedModel, X: np.ndarray) -> Proba:
        """The one place a scoring request calls the model: probabilities of the validated (rows, *row_shape)
        float64 array `X` as lists (rows of per-class floats), or BadRequest 422 when the inputs are outside the
        model's numeric range (the scorers raise FloatingPointError for scores that are not finite)."""
        try:  # no np.errstate here: it costs more than the arithmetic; an overflow warns once per process
            return m.proba_rows(X)
        except (ValueError, FloatingPointError, OverflowError) as exc:
            raise BadRequest(f"inputs outside the model's numeric range: {exc}") from None

    def top(self, proba: Proba) -> Top:
        """Per row: the predicted class label and its probability (the confidence), as lists; the first class
        of the highest probability, as argmax picks."""
        classes = self.classes
        assert classes is not None
        labels, confidences = [], []
        for row in proba:
            best = max(row)
            labels.append(classes[row.index(best)])
            confidences.append(best)
        return labels, confidences

    def scoring(
        self,
        route: str,
        parse: Parse,
        respond: Respond,
        error: ErrorBody,
        bad_status: int,
        count: bool,
        check: Check | None = None,
    ) -> Scoring:
        """A protocol's scoring route (`route`: its template, the metrics' label): check what the headers (and
        `check`, the path parameters) say, read the body (bounded), parse it against the signature, score, answer,
        count. A refusal is the protocol's `error` body with its status; `bad_status` is the protocol's own "bad
        request" (422 or 400). The Scoring's two entry points differ only in how the body arrives; each returns
        (status, JSON body, extra headers)."""
        metrics, max_body, model, score, top = self.metrics, self.max_body, self.model, self.score, self.top
        batcher = self.batcher

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

        def answer_inline(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
            """answer_read on a batched route, for a request the direct path found alone (nothing batched waiting
            or being scored, no other request waiting to be read: cxops.serving.direct): scored at once on the
            loop, as a batch of one, with the same refusals and metrics."""
            assert batcher is not None
            try:
                m, _ = accept(headers, params)
                X, ctx = parsed(m, body)
                proba = batcher.proba_inline(X)
            except BadRequest as exc:
                return refuse(exc, started)
            return answered(m, X, proba, ctx, started)

        async def scored_in_batch(m: LoadedModel, body: bytes, started: float) -> Response:
            """scored, the model call in an adaptive batch (cxops.serving.batching): the input refused before."""
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

        if batcher is None:
            return Scoring(read, answer_read, max_body)
        # batched: the direct path answers inline while the batcher is idle (`gate`), else the cycle queues
        return Scoring(read, answer_inline, max_body, gate=batcher)
