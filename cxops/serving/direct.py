"""The scoring routes answered by the HTTP protocol itself, without an ASGI request cycle.

uvicorn runs every request as an ASGI cycle: a scope dict, an event, a task, a `receive` and two `send` calls, each
building and checking messages. On a model whose scoring takes tens of microseconds, that cycle costs as much as
the scoring (it is all the floor app in `make bench` does). A scoring request is simpler than what ASGI allows
for: one JSON body of a known, bounded size in, one JSON body out. So when the parser has a complete request of
that kind, this protocol calls the route's `Scoring.answer` (cxops.serving.asgi) at once, in httptools' callback,
and writes the whole response in one write. The route's checks, refusals, metrics and answer are the same code
the ASGI path runs; only how the body arrives differs.

A request takes the direct path only when nothing about it needs the cycle; everything else is handed to uvicorn
unchanged (and reaches the same route through the ASGI app):

- a POST to a scoring route (`ModelServer.scoring_route`), with a Content-Length of at most the route's limit
  (a chunked body, or one to be refused with 413 unread, goes through the cycle, which bounds the reading). The
  body the parser delivers is never longer: llhttp refuses a second Content-Length, a malformed one, and one
  beside Transfer-Encoding (uvicorn answers 400);
- no `Expect: 100-continue` (the cycle answers it), no upgrade, no percent-encoded path, no root path;
- no concurrency limit configured (uvicorn's 503 counts tasks) and the transport accepting writes (backpressure);
- no earlier request on the connection still in its cycle, so pipelined responses keep their order;
- on a route with a gate (adaptive batching, cxops.serving.batching), once the body is in: the gate idle (nothing
  batched waiting or being scored) and no other connection of this server with bytes waiting to be read (one
  `poll` with no timeout over the open connections' sockets; one whose client closed it does not count), and no
  other connection that sent a request to a gated route in the last RECENT_SECONDS. A request scored inline blocks
  the loop for the model call, so requests that arrive meanwhile are only in the sockets; this is how the next one
  knows it is not alone. Otherwise the request goes through the cycle to the batcher's queue (`Gate.defer`).

Keep-alive and close follow uvicorn's rules (RFC 9112 section 9: HTTP/1.0 and `Connection: close` close after the
answer), and requests pipelined behind an answer that closed the connection are not served; the idle timeout runs
only while no request is in progress; a graceful shutdown lets a request whose body is still arriving finish, then
closes. uvicorn's own default headers (server, date) are sent as on every other response. The direct path writes
no access-log line: the server runs with access logs off.

The fence around uvicorn's internals (issue 27): this protocol reads and calls parts of uvicorn that are not its
public API, listed below. So the direct path runs only on a uvicorn version it was verified on (VERIFIED_UVICORN;
`direct_path_check`, called at start-up by cxops.serving.__main__.serve: otherwise one warning line and every request
through the cycle), it can be turned off (cxops.yaml `serving.direct_path`, CXOPS_SERVING_DIRECT_PATH), and an
unexpected error in it (an internal renamed, say) hands that request to the cycle instead of failing it. The test
tests/unit/test_uvicorn_internals.py checks that each internal below still exists with the shape used here.

What it mirrors from uvicorn, and where (uvicorn/protocols/http/httptools_impl.py unless named):
- `HttpToolsProtocol.on_headers_complete`: when a request needs the cycle (upgrade, `expect_100_continue`,
  `limit_concurrency`, `root_path`, a percent-encoded path from `httptools.parse_url(self.url)`), the keep-alive rule
  (`parser.get_http_version() != "1.0" and parser.should_keep_alive()`), and waiting behind `self.cycle` while its
  `response_complete` is False (pipelining);
- `RequestResponseCycle.send`: the response head (`STATUS_LINE[status]`, `server_state.default_headers` from
  uvicorn/server.py `Server.on_tick`, content-type and content-length, `connection: close`), and closing the transport
  when not kept alive; `HttpToolsProtocol.send_400_response` for the 500's shape;
- `RequestResponseCycle.run_asgi`: a route's exception is logged on `self.logger` ("uvicorn.error") and answered 500
  with the connection closed;
- `HttpToolsProtocol.on_response_complete` (called as the cycle does once a response is written: count it, resume
  reading, start a pipelined cycle or arm the keep-alive timer), `_unset_keepalive_if_required` (called by
  `data_received`; here also on each request's begin), `shutdown` (a request in progress ends the connection after
  its answer), `flow.write_paused` (uvicorn/protocols/http/flow_control.py `FlowControl`: backpressure);
- overridden parser callbacks, which call uvicorn's own: `on_message_begin`, `on_headers_complete`, `on_body`,
  `on_message_complete`; and the attributes `app`, `parser`, `url`, `headers`, `transport`, `logger`, `server_state`.
"""

from __future__ import annotations

import asyncio
import select
from time import perf_counter
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from cxops.serving.asgi import Scoring, content_headers
from cxops.serving.transport import HoldingHttpTools

JSON_LENGTH = b"content-type: application/json\r\ncontent-length: %d\r\n"
INTERNAL_ERROR = (
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)
# Seconds after another connection's last scoring request during which a gated route queues instead of scoring inline:
# a client under load sends its next request as soon as it has its answer, so a connection that scored moments ago
# will most likely send again while this one is scored (measured: scoring the first of each burst inline cost a
# quarter of the CNN's batched requests/s at concurrency 16). A lone client has no other connection, so pays nothing.
RECENT_SECONDS = 0.1
# a socket whose peer closed its end (Linux's POLLRDHUP; elsewhere 0: such a socket counts as waiting)
POLL_HANGUP = getattr(select, "POLLRDHUP", 0)
# uvicorn versions the direct path was verified on (the tests, the wire comparison and `make bench` passed on each):
# it uses uvicorn's internals (module docstring), so another version gets the plain protocol until verified.
VERIFIED_UVICORN = ("0.54.0",)


def direct_path_check(wanted: bool, installed: str = uvicorn.__version__) -> tuple[bool, str | None]:
    """Whether the server answers scoring requests on the direct path: `wanted` (serving.direct_path) and uvicorn
    `installed` one of VERIFIED_UVICORN. Returns (use it, the one line to log when it was wanted but is not used)."""
    if not wanted:
        return False, None
    if installed not in VERIFIED_UVICORN:
        return False, (
            f"uvicorn {installed} is not a version the direct scoring path was verified on "
            f"({', '.join(VERIFIED_UVICORN)}): every request goes through uvicorn's ASGI cycle (cxops.serving.direct)"
        )
    return True, None


class DirectHttpTools(HoldingHttpTools):
    """uvicorn's httptools protocol that answers eligible scoring requests itself (see the module docstring); pass
    as `uvicorn.Config(http=...)` with an app that has `scoring_route(path)` (cxops.serving.asgi.ModelServer). With
    any other app it is HoldingHttpTools."""

    # False: every request goes through uvicorn's cycle (serving.direct_path off, or an unverified uvicorn)
    direct_path: ClassVar[bool] = True
    _reported: ClassVar[bool] = False  # an unexpected error in the direct path was logged (once per process)
    # The sockets of the open connections (one server per process), for a gated route's "is anyone else waiting"
    _sockets: ClassVar[select.poll | None] = None
    _scored_at: ClassVar[dict[int, float]] = {}  # socket -> perf_counter time of its last request on a gated route

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route = getattr(self.app, "scoring_route", None) if self.direct_path else None
        # the request in progress on the direct path: (scoring, path params, started, keep alive), its body chunks
        self._direct: tuple[Scoring, dict[str, str], float, bool] | None = None
        self._chunks: list[bytes] = []
        self._headers_of: list[tuple[bytes, bytes]] | None = None
        self._headers_block = b""
        self._dropped = False  # the request being parsed came after the connection was closed: not served
        self._cycle_only = False  # the request being parsed goes through the cycle (the direct path failed on it)
        self._fd: int | None = None  # this connection's socket, registered in _sockets

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket") if self._route is not None else None
        if sock is not None:
            if DirectHttpTools._sockets is None:
                DirectHttpTools._sockets = select.poll()
            self._fd = sock.fileno()
            DirectHttpTools._sockets.register(self._fd, select.POLLIN | POLL_HANGUP)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._fd is not None and DirectHttpTools._sockets is not None:
            DirectHttpTools._sockets.unregister(self._fd)
            DirectHttpTools._scored_at.pop(self._fd, None)
            self._fd = None
        super().connection_lost(exc)

    def _others_waiting(self, now: float) -> bool:
        """Another open connection sent a request on a gated route in the last RECENT_SECONDS before `now`
        (perf_counter seconds), or has bytes waiting to be read (a request the loop has not parsed yet); one whose
        client has closed it (readable too, for the end of the stream) is not waiting for anything."""
        sockets = DirectHttpTools._sockets
        if sockets is None:
            return False
        since = now - RECENT_SECONDS
        if any(fd != self._fd and at > since for fd, at in DirectHttpTools._scored_at.items()):
            return True
        return any(
            fd != self._fd and events & select.POLLIN and not events & POLL_HANGUP for fd, events in sockets.poll(0)
        )

    def on_message_begin(self) -> None:
        # A request is under way: no idle timeout now. uvicorn arms the timer only once no request is in progress;
        # the direct path answers inside data_received, so the next pipelined request can begin in the same call.
        self._cycle_only = False
        try:
            self._unset_keepalive_if_required()
        except Exception as exc:  # an internal renamed: this request goes through the cycle
            self._unexpected(exc)
            self._cycle_only = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        # An answer earlier in this read closed the connection (HTTP/1.0, shutdown, a 500): what follows in the
        # buffer is not served, as uvicorn starts no queued request once its transport is closing.
        self._dropped = self.transport.is_closing()
        if self._dropped:
            return
        try:
            direct = self._eligible()
            if direct is not None:
                keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        except Exception as exc:  # an internal renamed, or a bug here: this request goes through the cycle
            self._unexpected(exc)
            direct = None
        if direct is None:
            super().on_headers_complete()
            return
        scoring, params = direct
        self._direct = (scoring, params, perf_counter(), keep_alive)

    def _eligible(self) -> tuple[Scoring, dict[str, str]] | None:
        """The route and path parameters of a request the direct path can answer, else None."""
        if (
            self._route is None
            or self._cycle_only
            or self.parser.get_method() != b"POST"
            or self.expect_100_continue
            or self.parser.should_upgrade()
            or self.limit_concurrency is not None
            or self.root_path
            or self.flow.write_paused
            or (self.cycle is not None and not self.cycle.response_complete)
        ):
            return None
        path = httptools.parse_url(self.url).path
        if b"%" in path or not path.isascii():  # the cycle decodes (or refuses) these
            return None
        hit = self._route(path.decode("ascii"))
        if hit is None or hit[0].answer is None:  # a route without a direct entry
            return None
        length = content_headers(self.headers)[1]
        if length is None or not length.isdigit() or int(length) > hit[0].limit:
            return None
        return hit

    def on_body(self, body: bytes) -> None:
        if self._direct is not None:
            self._chunks.append(body)
        elif not self._dropped:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._direct is None:
            if not self._dropped:
                super().on_message_complete()
            return
        scoring, params, started, keep_alive = self._direct
        self._direct = None
        chunks, self._chunks = self._chunks, []
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        assert scoring.answer is not None  # _eligible took only routes that answer directly
        gate = scoring.gate
        try:  # what the answer needs from uvicorn, before the route runs: a failure here costs the route nothing
            default_headers = self._default_headers()
            queue = False
            if gate is not None:
                if self._fd is not None:
                    DirectHttpTools._scored_at[self._fd] = started
                queue = not gate.idle() or self._others_waiting(started)
        except Exception as exc:
            self._unexpected(exc)
            self._through_cycle(body)
            return
        if queue:  # a gated route with others waiting or being scored: to the batcher's queue, through the cycle
            assert gate is not None
            self._through_cycle(body)  # schedules the cycle's task first: defer's reset runs after it
            gate.defer()
            return
        try:
            status, payload, extra = scoring.answer(self.headers, body, params, started)
        except Exception as exc:  # as uvicorn answers an ASGI app's exception: 500, logged, connection closed
            self.logger.error("Exception in a direct scoring route", exc_info=exc)
            self.transport.write(b"".join((STATUS_LINE[500], default_headers, INTERNAL_ERROR)))
            self.transport.close()
            self._response_complete()
            return
        out = [STATUS_LINE[status], default_headers, JSON_LENGTH % len(payload)]
        closes = False  # the route asked to close (a 413: its unread body stays on the socket)
        if extra:
            out.extend(b"%s: %s\r\n" % pair for pair in extra)
            closes = any(name == b"connection" and b"close" in value.lower() for name, value in extra)
            keep_alive = keep_alive and not closes
        if not keep_alive and not closes:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        out.append(payload)
        self.transport.write(b"".join(out))
        if not keep_alive:
            self.transport.close()
        self._response_complete()

    def _response_complete(self) -> None:
        """As uvicorn's cycle ends a response: count it, resume reading, arm the keep-alive timer. The answer is
        written already, so a failure here can only end the connection (the client has its answer)."""
        try:
            self.on_response_complete()
        except Exception as exc:
            self._unexpected(exc)
            self.transport.close()

    def _through_cycle(self, body: bytes) -> None:
        """Hand the request whose head and whole `body` the parser has delivered to uvicorn's cycle, as if it had
        never been taken for the direct path (the parser still holds its method and version)."""
        super().on_headers_complete()
        if body:
            super().on_body(body)
        super().on_message_complete()

    def _unexpected(self, exc: Exception) -> None:
        """Log an unexpected error in the direct path, once per process with its traceback (it would repeat on
        every request when an internal it uses has changed). The caller decides what becomes of the request: uvicorn's
        cycle while nothing has been written, else the connection closes."""
        if not DirectHttpTools._reported:
            DirectHttpTools._reported = True
            self.logger.warning(
                "The direct scoring path failed (%s: %s); such requests go through uvicorn's ASGI cycle "
                "(set serving.direct_path: false to skip it)",
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def _default_headers(self) -> bytes:
        """uvicorn's default header lines (date, server), joined once per change (the date changes each second)."""
        headers = self.server_state.default_headers
        if headers is not self._headers_of:
            self._headers_of, self._headers_block = headers, b"".join(b"%s: %s\r\n" % pair for pair in headers)
        return self._headers_block

    def shutdown(self) -> None:
        """Graceful shutdown: a request whose body is still arriving is answered, then the connection closes."""
        if self._direct is not None:
            scoring, params, started, _ = self._direct
            self._direct = (scoring, params, started, False)
            return
        super().shutdown()
