"""cxops.serving.direct: which requests the HTTP protocol answers itself, and that it answers them as uvicorn would.

The protocol here is uvicorn's real httptools protocol (the subclass under test) parsing real request bytes; the
transport it writes to records its writes instead of sending them, so what is asserted is the protocol's contract:
which path answers (the route's two entry points answer differently here, to tell them apart), the bytes written,
and whether the connection stays open. The real server runs on it in tests/integration/test_serving.py, where both
paths are compared on the wire."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import pytest
import uvicorn
from helpers import RecordingTransport
from uvicorn.server import ServerState

import cxops.serving.direct as direct_module
from cxops.serving.asgi import Gate, Headers, ModelServer, Receive, Response, Scoring
from cxops.serving.direct import VERIFIED_UVICORN, DirectHttpTools, direct_path_check

LIMIT = 100


def server(
    answer: Callable[[Headers, bytes, dict[str, str], float], Response] | None = None, gate: Gate | None = None
) -> ModelServer:
    """A ModelServer with one scoring route, /score, whose ASGI entry answers "asgi:<body>" and whose direct
    entry (`answer`) answers "direct:<body>" unless given; `gate`: the route's gate (adaptive batching's)."""

    async def read(headers: Headers, receive: Receive, params: dict[str, str]) -> Response:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                return 200, b'"asgi:' + body + b'"', []

    def direct(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
        return 200, b'"direct:' + body + b'"', []

    app = ModelServer()
    app.post_scoring("/score", Scoring(read, answer or direct, LIMIT, gate=gate))
    return app


def exchange(
    app: ModelServer,
    *data: bytes,
    shutdown_after: int | None = None,
    timers: list[bool] | None = None,
    protocol_class: type[DirectHttpTools] = DirectHttpTools,
    connected: Callable[[DirectHttpTools], None] | None = None,
) -> tuple[list[bytes], bool, int]:
    """Feed `data` (one data_received call each) to a fresh connection; (writes, closed, ASGI tasks started).
    `shutdown_after`: call the protocol's graceful shutdown after that many feeds. `timers`, if given, gets
    whether the keep-alive timer is armed after each feed. `protocol_class`: the protocol (a DirectHttpTools);
    `connected`: called with it once its connection is made."""
    config = uvicorn.Config(app=app, http=protocol_class, lifespan="off", proxy_headers=False, access_log=False)
    config.load()
    state = ServerState()
    started = 0

    async def main() -> tuple[list[bytes], bool, int]:
        nonlocal started
        protocol = protocol_class(config=config, server_state=state, app_state={})
        inner = RecordingTransport()
        protocol.connection_made(inner)  # type: ignore[arg-type]
        if connected is not None:
            connected(protocol)
        for i, chunk in enumerate(data):
            if shutdown_after == i:
                protocol.shutdown()
            protocol.data_received(chunk)
            if timers is not None:
                timers.append(protocol.timeout_keep_alive_task is not None)
            started += len(state.tasks)
            for _ in range(20):  # let any ASGI task run to its end
                await asyncio.sleep(0)
        return inner.writes, inner.closed, started

    return asyncio.run(main())


def post(body: bytes, *headers: bytes, version: bytes = b"1.1", path: bytes = b"/score") -> bytes:
    lines = [b"POST " + path + b" HTTP/" + version, b"host: t", b"content-type: application/json", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def length(body: bytes) -> bytes:
    return b"content-length: %d" % len(body)


def chunked(body: bytes) -> bytes:
    return post(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), b"transfer-encoding: chunked")


def test_a_sized_scoring_request_is_answered_in_the_parser_callback_in_one_write():
    writes, closed, tasks = exchange(server(), post(b"[1]", length(b"[1]")))
    assert tasks == 0 and not closed
    assert len(writes) == 1
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: application/json" in head and b"content-length: 12" in head
    assert b"connection" not in head
    assert body == b'"direct:[1]"'


def test_a_body_split_across_reads_is_answered_whole():
    request = post(b"[1, 2, 3]", length(b"[1, 2, 3]"))
    writes, _, tasks = exchange(server(), request[:-5], request[-5:])
    assert tasks == 0 and writes[0].endswith(b'"direct:[1, 2, 3]"')


@pytest.mark.parametrize(
    "request_bytes",
    [
        chunked(b"[1]"),  # no Content-Length: the cycle bounds the reading
        post(b"[1]", b"content-length: %d" % (LIMIT + 1)),  # over the limit: refused unread by the route
        post(b"[1]", length(b"[1]"), b"expect: 100-continue"),  # the cycle sends 100 Continue
        post(b"[1]", length(b"[1]"), path=b"/sc%6Fre"),  # percent-encoded: the cycle decodes it
        b"GET /score HTTP/1.1\r\nhost: t\r\n\r\n",  # not a POST
    ],
    ids=["chunked", "over-limit", "expect-100", "percent-encoded", "get"],
)
def test_anything_else_goes_through_uvicorns_cycle(request_bytes: bytes):
    writes, _, tasks = exchange(server(), request_bytes)
    assert tasks == 1
    assert b'"direct:' not in b"".join(writes)


def test_http_1_0_and_connection_close_are_answered_then_closed():
    for request in (
        post(b"[1]", length(b"[1]"), version=b"1.0"),
        post(b"[1]", length(b"[1]"), b"connection: close"),
    ):
        writes, closed, tasks = exchange(server(), request)
        assert tasks == 0 and closed
        assert b"\r\nconnection: close\r\n" in writes[0] and writes[0].endswith(b'"direct:[1]"')


def test_a_close_the_route_asks_for_is_sent_once_and_closes():
    def refuse(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
        return 413, b"{}", [(b"connection", b"close")]

    writes, closed, _ = exchange(server(refuse), post(b"[1]", length(b"[1]")))
    assert closed and writes[0].startswith(b"HTTP/1.1 413 ")
    assert writes[0].count(b"connection: close") == 1


def test_pipelined_requests_are_answered_in_order():
    """A sized request behind one still in its ASGI cycle waits its turn in that cycle: answers keep their order."""
    writes, _, _ = exchange(server(), chunked(b"[1]") + post(b"[2]", length(b"[2]")) + post(b"[3]", length(b"[3]")))
    bodies = [w.partition(b"\r\n\r\n")[2] for w in writes]
    assert [b[-4:-1] for b in bodies if b] == [b"[1]", b"[2]", b"[3]"]


def test_an_exception_in_the_route_is_a_500_and_a_closed_connection():
    def broken(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
        raise RuntimeError("bug")

    writes, closed, _ = exchange(server(broken), post(b"[1]", length(b"[1]")))
    assert closed and writes[0].startswith(b"HTTP/1.1 500 ") and writes[0].endswith(b"Internal Server Error")


def test_shutdown_while_the_body_arrives_answers_it_then_closes():
    request = post(b"[1, 2, 3]", length(b"[1, 2, 3]"))
    writes, closed, _ = exchange(server(), request[:-4], request[-4:], shutdown_after=1)
    assert closed and b"connection: close" in writes[0] and writes[0].endswith(b'"direct:[1, 2, 3]"')


def test_shutdown_of_an_idle_connection_closes_it():
    _, closed, _ = exchange(server(), post(b"[1]", length(b"[1]")), b"", shutdown_after=1)
    assert closed


def test_an_app_without_scoring_routes_gets_the_plain_protocol():
    async def app(scope, receive, send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    writes, _, tasks = exchange(app, post(b"[1]", length(b"[1]")))  # type: ignore[arg-type]
    assert tasks == 1 and b"".join(writes).startswith(b"HTTP/1.1 204 ")


def test_a_content_length_beside_transfer_encoding_never_reaches_the_route():
    """The body the direct path collects is bounded by the one Content-Length the parser accepts."""
    both = post(b"1\r\nx\r\n0\r\n\r\n", b"content-length: 3", b"transfer-encoding: chunked")
    twice = post(b"[1]", b"content-length: 3", b"content-length: 30")
    for request in (both, twice):
        writes, closed, tasks = exchange(server(), request)
        assert tasks == 0 and closed and writes[0].startswith(b"HTTP/1.1 400 ")


def counting() -> tuple[ModelServer, list[bytes]]:
    """A server whose direct entry records each body it answers, and raises for the body b"boom"."""
    seen: list[bytes] = []

    def answer(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
        seen.append(body)
        if body == b"boom":
            raise RuntimeError("bug")
        return 200, b"{}", []

    return server(answer), seen


@pytest.mark.parametrize(
    "first",
    [post(b"[1]", length(b"[1]"), b"connection: keep-alive", version=b"1.0"), post(b"boom", length(b"boom"))],
    ids=["http-1.0", "500"],
)
def test_requests_pipelined_behind_an_answer_that_closed_are_not_served(first: bytes):
    app, seen = counting()
    writes, closed, tasks = exchange(app, first + post(b"[2]", length(b"[2]")) + chunked(b"[3]"))
    assert closed and len(writes) == 1 and tasks == 0
    assert seen == [first.rpartition(b"\r\n\r\n")[2]]


def test_the_idle_timer_runs_only_while_no_request_is_in_progress():
    """A pipelined request whose body is still arriving is not cut off by the keep-alive timeout."""
    request = post(b"[1, 2, 3]", length(b"[1, 2, 3]"))
    timers: list[bool] = []
    writes, closed, _ = exchange(server(), request + request[:-4], request[-4:], timers=timers)
    assert timers == [False, True] and len(writes) == 2 and not closed


# --- the fence around uvicorn's internals (issue 27) -----------------------------------------------------------------


class Recording(logging.Handler):
    """Keeps the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_with_the_direct_path_off_a_sized_scoring_request_goes_through_the_cycle():
    off = type("Off", (DirectHttpTools,), {"direct_path": False})
    writes, closed, tasks = exchange(server(), post(b"[1]", length(b"[1]")), protocol_class=off)
    assert tasks == 1 and not closed
    assert b"".join(writes).endswith(b'"asgi:[1]"')


def test_an_error_while_choosing_the_path_sends_the_request_through_the_cycle(monkeypatch):
    """As if uvicorn renamed an attribute the choice reads: the request is answered by the cycle, not refused with
    400 (what an exception escaping a parser callback gets from uvicorn), and the error is logged once."""
    monkeypatch.setattr(DirectHttpTools, "_reported", False)

    class Renamed(DirectHttpTools):
        def _eligible(self) -> None:
            raise AttributeError("'HttpToolsProtocol' object has no attribute 'expect_100_continue'")

    request = post(b"[1]", length(b"[1]"))
    logged = Recording()
    logger = logging.getLogger("uvicorn.error")  # not propagated to the root's; its handlers set by uvicorn.Config
    try:
        writes, closed, tasks = exchange(
            server(), request, request, protocol_class=Renamed, connected=lambda _: logger.addHandler(logged)
        )
    finally:
        logger.removeHandler(logged)
    assert tasks == 2 and not closed
    answers = b"".join(writes)
    assert answers.count(b"HTTP/1.1 200 OK") == 2 and answers.count(b'"asgi:[1]"') == 2
    [record] = [r for r in logged.records if "direct scoring path failed" in r.getMessage()]  # once, not per request
    assert record.levelname == "WARNING" and "expect_100_continue" in record.getMessage()


def test_an_error_once_the_body_is_in_sends_the_request_and_its_body_through_the_cycle(monkeypatch):
    monkeypatch.setattr(DirectHttpTools, "_reported", False)
    answered: list[bytes] = []

    def direct(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
        answered.append(body)
        return 200, b"{}", []

    class Broken(DirectHttpTools):
        def _default_headers(self) -> bytes:
            raise AttributeError("'ServerState' object has no attribute 'default_headers'")

    request = post(b"[1, 2, 3]", length(b"[1, 2, 3]"))
    writes, closed, tasks = exchange(server(direct), request[:-4], request[-4:], protocol_class=Broken)
    assert tasks == 1 and not closed and answered == []  # the route ran once: in the cycle
    assert b"".join(writes).endswith(b'"asgi:[1, 2, 3]"')


def test_the_direct_path_runs_only_where_wanted_and_on_a_verified_uvicorn():
    assert direct_path_check(True, VERIFIED_UVICORN[0]) == (True, None)
    assert direct_path_check(False, VERIFIED_UVICORN[0]) == (False, None)
    used, why = direct_path_check(True, "99.0.0")
    assert not used and why is not None
    assert "uvicorn 99.0.0" in why and VERIFIED_UVICORN[0] in why and "\n" not in why


class Switch:
    """A route's gate (cxops.serving.asgi.Gate; the batcher in the server) idle or busy as set; counts the
    requests deferred to the cycle."""

    def __init__(self, idle: bool) -> None:
        self.open = idle
        self.deferred = 0

    def idle(self) -> bool:
        return self.open

    def defer(self) -> None:
        self.deferred += 1


def test_a_gated_route_is_answered_directly_while_its_gate_is_idle():
    gate = Switch(idle=True)
    writes, _, tasks = exchange(server(gate=gate), post(b"[1]", length(b"[1]")))
    assert tasks == 0 and gate.deferred == 0
    assert writes[0].endswith(b'"direct:[1]"')


def test_a_gated_route_goes_through_the_cycle_while_its_gate_is_busy():
    gate = Switch(idle=False)
    request = post(b"[1, 2]", length(b"[1, 2]"))
    writes, closed, tasks = exchange(server(gate=gate), request[:-3], request[-3:])
    assert tasks == 1 and not closed and gate.deferred == 1
    assert b"".join(writes).endswith(b'"asgi:[1, 2]"')


class SocketTransport(RecordingTransport):
    """A RecordingTransport that names a real socket as its own (what the direct path polls for waiting bytes)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.sock if name == "socket" else super().get_extra_info(name, default)


def on_socket_pairs(count: int) -> tuple[list[DirectHttpTools], list[tuple[socket.socket, socket.socket]]]:
    """`count` direct-path protocols on a gated route whose gate is idle, each connected to one end of a real socket
    pair (the other end is the client's); call `closed` on them when done. Needs a running event loop."""
    config = uvicorn.Config(
        app=server(gate=Switch(idle=True)), http=DirectHttpTools, lifespan="off", proxy_headers=False, access_log=False
    )
    config.load()
    state = ServerState()
    pairs = [socket.socketpair() for _ in range(count)]
    protocols = []
    for ours, _ in pairs:
        protocol = DirectHttpTools(config=config, server_state=state, app_state={})
        protocol.connection_made(SocketTransport(ours))  # type: ignore[arg-type]
        protocols.append(protocol)
    return protocols, pairs


def closed(protocols: list[DirectHttpTools], pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    for protocol in protocols:
        protocol.connection_lost(None)
    for pair in pairs:
        for sock in pair:
            sock.close()  # closing one twice is allowed


def test_a_gated_route_goes_through_the_cycle_while_another_connection_has_a_request_waiting():
    """Two connections on real sockets: while the other's socket holds unread bytes (a request that arrived while
    the loop was busy), this one's request on a gated route, its gate idle, goes through the cycle; once they are
    read, the next is answered directly. A connection's own waiting bytes (pipelining) and a connection whose client
    has closed it (its socket readable for the end of the stream) do not count."""
    request = post(b"[1]", length(b"[1]"))

    async def main() -> list[bytes]:
        protocols, pairs = on_socket_pairs(3)
        mine, transport = protocols[0], protocols[0].transport
        (_, my_peer), (other_sock, other_peer), (_, closed_peer) = pairs
        written = []

        async def send() -> None:
            mine.data_received(request)
            for _ in range(20):  # let the ASGI task, if any, run to its end
                await asyncio.sleep(0)
            written.append(b"".join(transport.writes))  # type: ignore[attr-defined]
            transport.writes.clear()  # type: ignore[attr-defined]

        try:
            closed_peer.close()  # a client gone: its connection waits for nothing
            my_peer.sendall(b"POST /score HTTP/1.1\r\n")  # this connection's own next request: not another's
            other_peer.sendall(request)  # unread: as if it arrived while the loop was busy
            await send()
            other_sock.recv(4096)  # the other request read: nobody else waits now
            await send()
            await send()
            return written
        finally:
            closed(protocols, pairs)

    waited, alone, alone_again = asyncio.run(main())
    assert waited.endswith(b'"asgi:[1]"')
    assert alone.endswith(b'"direct:[1]"') and alone_again.endswith(b'"direct:[1]"')
    assert DirectHttpTools._sockets is not None and DirectHttpTools._sockets.poll(0) == []  # unregistered


@pytest.mark.parametrize("window", [direct_module.RECENT_SECONDS, 0.0])
def test_a_gated_route_queues_while_another_connection_scored_moments_ago(monkeypatch, window: float):
    """Load: another connection's client sent a request to a gated route moments ago, so it will most likely send
    again while this one would be scored inline: this request goes through the cycle (the other was alone, and
    answered directly). With no window (0 s) it is answered directly."""
    monkeypatch.setattr(direct_module, "RECENT_SECONDS", window)
    request = post(b"[1]", length(b"[1]"))

    async def main() -> list[bytes]:
        protocols, pairs = on_socket_pairs(2)
        try:
            answers = []
            for protocol in reversed(protocols):  # the other connection first, then this one
                protocol.data_received(request)
                for _ in range(20):
                    await asyncio.sleep(0)
                answers.append(b"".join(protocol.transport.writes))  # type: ignore[attr-defined]
            return answers
        finally:
            closed(protocols, pairs)

    other, mine = asyncio.run(main())
    assert other.endswith(b'"direct:[1]"')
    assert mine.endswith(b'"asgi:[1]"' if window else b'"direct:[1]"')
    assert DirectHttpTools._scored_at == {}  # forgotten with their connections
