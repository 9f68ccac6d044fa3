"""The model server's ASGI application: its hot routes answered directly, FastAPI for everything else, built on
first use.

A POST to a scoring route (/predict, /explain, /invocations, v2 infer) goes straight to its scoring handler, and a
GET of an operations route (/readyz, /healthz, /version, /metrics, /ping, v2 health) straight to its handler: past
Starlette's middleware, router and Request/Response objects, which cost more than the scoring itself on a small
model, and without importing FastAPI at start-up (the largest part of it). Every route is also registered with
FastAPI (for the OpenAPI document, /docs and the routes with path parameters), with the very same handler, so
validation, metrics and status codes are the same either way; FastAPI is imported and the app built the first
time a request needs it (anything that is not a hot route: another method, /docs, /openapi.json, a 404).

Under `python -m cxops.serving`, most scoring requests do not reach this app at all: the HTTP protocol answers
them itself through the same Scoring (cxops.serving.direct); the ones that need an ASGI cycle come here.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from cxops.serving.transport import HOLD

JSON = "application/json"
JSON_HEADER = JSON.encode()
Headers = list[tuple[bytes, bytes]]  # ASGI headers: lower-case names, raw values
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Response = tuple[int, bytes, Headers]  # a scoring route's answer: status, JSON body, extra headers
NO_HEADERS: Headers = []
NO_PARAMS: dict[str, str] = {}
V2_PREFIX = "/v2/models/{name}"
V2_MODELS = "/v2/models/"
V2_INFER = "/infer"


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


class Gate(Protocol):
    """When a route's direct answer may run (cxops.serving.batching.Batcher is one): `idle()` says whether a
    request answered directly now makes no other request wait; `defer()` is called for a request sent through the
    ASGI cycle instead, so that the requests read next follow it."""

    def idle(self) -> bool: ...

    def defer(self) -> None: ...


@dataclass(frozen=True)
class Scoring:
    """A scoring route's one path, with two ways in that differ only in how the body arrives.

    - `read(headers, receive, params)`: reads the body from ASGI `receive` (refused with 413 past `limit`);
      the ASGI app and FastAPI use it.
    - `answer(headers, body, params, started)`: the body already read whole (at most `limit` bytes, as its
      Content-Length said), `started` the request's perf_counter time (seconds); the HTTP protocol's direct path
      uses it (cxops.serving.direct). None: every request takes `read`.
    - `gate`: None when `answer` may always run; else the direct path calls `answer` only while `gate.idle()` and
      no other connection has a request waiting to be read, and sends the request through the cycle (`read`)
      otherwise (adaptive batching, cxops.serving.batching: a lone request is scored inline, others queue).
    """

    read: Callable[[Headers, Receive, dict[str, str]], Awaitable[Response]]
    answer: Callable[[Headers, bytes, dict[str, str], float], Response] | None
    limit: int  # bytes
    gate: Gate | None = None


@dataclass(frozen=True)
class Answer:
    """A GET handler's response: status, body bytes, content type."""

    status: int
    body: bytes
    content_type: str = JSON


def content_headers(headers: Headers) -> tuple[bytes | None, bytes | None]:
    """(Content-Type, Content-Length): the first value of each, None when absent (one pass; ASGI gives names in
    lower case)."""
    ctype = length = None
    for key, value in headers:
        if key == b"content-type":
            ctype = ctype if ctype is not None else value
        elif key == b"content-length":
            length = length if length is not None else value
    return ctype, length


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)


def answer(data: Any, status: int = 200) -> Answer:
    """A JSON Answer."""
    return Answer(status, dumps(data))


@dataclass(frozen=True)
class _Route:
    method: str
    path: str
    handler: Scoring | Callable[..., Awaitable[Answer]]  # a Scoring for POST, a GET handler otherwise
    options: dict[str, Any]


class ModelServer:
    """The ASGI app (see the module docstring). Register routes with `post_scoring` and the `get` decorator;
    `fastapi()` is the FastAPI app with all of them (built once, on first use)."""

    def __init__(self, **fastapi_options: Any) -> None:
        self.options = fastapi_options
        self.hot: dict[str, Scoring] = {}
        self.native_get: dict[str, Callable[[], Awaitable[Answer]]] = {}
        self.routes: list[_Route] = []
        self.load_error: str | None = None  # why the model is not ready (None: it is)
        self.scorer: str | None = None  # the loaded model's scoring path ("linear", "pyfunc"), None when not loaded
        self._fastapi: Any = None
        self._building = threading.Lock()

    def post_scoring(self, path: str, scoring: Scoring, **options: Any) -> None:
        """A scoring route: the hot path answers it; FastAPI documents it."""
        self.hot[path] = scoring
        self.routes.append(_Route("POST", path, scoring, options))

    def get(self, path: str, **options: Any) -> Callable[[Callable[..., Awaitable[Answer]]], Any]:
        """Decorator: a GET route whose handler returns an Answer. Without path parameters it is a hot route."""

        def register(handler: Callable[..., Awaitable[Answer]]) -> Callable[..., Awaitable[Answer]]:
            if "{" not in path:
                self.native_get[path] = handler
            self.routes.append(_Route("GET", path, handler, options))
            return handler

        return register

    def scoring_route(self, path: str) -> tuple[Scoring, dict[str, str]] | None:
        """The Scoring and path parameters for `path`, as the router would match it, else None."""
        scoring = self.hot.get(path)
        if scoring is not None:
            return scoring, NO_PARAMS
        if path.startswith(V2_MODELS) and path.endswith(V2_INFER):  # {name}, {name}/versions/{version}: no "/"
            parts = path[len(V2_MODELS) : -len(V2_INFER)].split("/")
            if len(parts) == 1 and parts[0]:
                return self.hot[f"{V2_PREFIX}/infer"], {"name": parts[0]}
            if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
                return self.hot[f"{V2_PREFIX}/versions/{{version}}/infer"], {"name": parts[0], "version": parts[2]}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            method = scope["method"]
            if method == "POST" and (hit := self.scoring_route(scope["path"])):
                try:
                    status, body, extra = await hit[0].read(scope["headers"], receive, hit[1])
                except ClientGone:
                    return
                await _send(send, status, body, JSON_HEADER, extra)
                return
            if method == "GET" and (get := self.native_get.get(scope["path"])) is not None:
                a = await get()
                await _send(send, a.status, a.body, a.content_type.encode(), NO_HEADERS)
                return
        elif kind == "lifespan":  # nothing to set up or tear down: answered here, FastAPI stays unbuilt
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        # built in a worker thread the first time: the loop goes on answering the hot routes meanwhile
        app = self._fastapi or await asyncio.to_thread(self.fastapi)
        await app(scope, receive, send)

    def fastapi(self) -> Any:
        """The FastAPI app with every registered route (built once, on the first call; thread-safe)."""
        with self._building:
            if self._fastapi is None:
                self._fastapi = self._build()
            return self._fastapi

    def _build(self) -> Any:
        from fastapi import FastAPI, Request
        from fastapi.responses import PlainTextResponse, Response

        from cxops.serving.docs_page import add_docs

        # FastAPI's own /docs page loads Swagger UI from a CDN: replaced by one that loads it from this server
        docs_url = self.options.get("docs_url")
        app = FastAPI(**{**self.options, "docs_url": None})
        if docs_url:
            add_docs(app, docs_url, app.openapi_url or "/openapi.json", f"{app.title} - Swagger UI")
        for r in self.routes:
            options = dict(r.options)
            if options.pop("text", False):
                options["response_class"] = PlainTextResponse
            if isinstance(r.handler, Scoring):
                endpoint = _scoring_endpoint(r.handler, Request, Response)
            else:
                endpoint = _get_endpoint(r.handler, Response)
            app.add_api_route(
                r.path,
                endpoint,
                methods=[r.method],
                response_model=None,
                **options,
            )
        app.openapi()  # generated once here, not on the first /openapi.json request
        return app


async def _send(send: Send, status: int, body: bytes, content_type: bytes, extra: Headers) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *extra]
    token = HOLD.set(True)  # the header block waits for the body: one write (cxops.serving.transport)
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
    finally:
        HOLD.reset(token)
    await send({"type": "http.response.body", "body": body})


def _scoring_endpoint(scoring: Scoring, request_type: type, response_type: type) -> Callable[..., Awaitable[Any]]:
    """FastAPI's form of a scoring handler (reached only when the hot path is not, e.g. from tests)."""

    async def route(request: Any) -> Any:
        try:
            status, body, extra = await scoring.read(request.scope["headers"], request.receive, request.path_params)
        except ClientGone:
            return response_type(status_code=499)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in extra}
        return response_type(body, status, headers=headers or None, media_type=JSON)

    route.__annotations__ = {"request": request_type, "return": response_type}  # real classes: FastAPI reads them
    return route


def _get_endpoint(handler: Callable[..., Awaitable[Answer]], response_type: type) -> Callable[..., Awaitable[Any]]:
    """FastAPI's form of a GET handler: its path parameters (from the handler's signature), its Answer."""

    @functools.wraps(handler)
    async def route(*args: Any, **kwargs: Any) -> Any:
        a = await handler(*args, **kwargs)
        return response_type(a.body, a.status, media_type=a.content_type)

    return route
