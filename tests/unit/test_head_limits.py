"""Property-based test (hypothesis) of how the server's HTTP protocol counts a request head against its limits
(issue 26, class 7; cxops.serving.limited): whatever the header lines and however the bytes are split into reads,
a head within the limits is answered and a head past them is refused with 431, before any answer.

The protocol is the server's real one (uvicorn's httptools protocol with the direct path and the limits) parsing
real request bytes; the transport records its writes instead of sending them, as in tests/unit/test_direct.py. The
same limits on a real server over sockets, with the deadlines: tests/integration/test_request_limits.py.
"""

from __future__ import annotations

import asyncio
import itertools

import uvicorn
from helpers import RecordingTransport
from hypothesis import example, given, settings
from hypothesis import strategies as st
from uvicorn.server import ServerState

from cxops.serving.asgi import Headers, ModelServer, Receive, Response, Scoring
from cxops.serving.limited import HEADER_LINE_EXTRA, protocol_with
from cxops.serving.limits import RequestLimits

LIMITS = RequestLimits(head_timeout=60, body_timeout=60, max_head_bytes=2048, max_headers=20)
TARGET = b"/score"
# bytes a head may be counted above its request target and header lines while a line is still arriving (the
# method, the version and the spaces of a request line not yet ended): a head this close to the limit may be refused
SLACK = 32


def app() -> ModelServer:
    async def read(headers: Headers, receive: Receive, params: dict[str, str]) -> Response:
        raise AssertionError("a sized body takes the direct path")

    def direct(headers: Headers, body: bytes, params: dict[str, str], started: float) -> Response:
        return 200, b"{}", []

    server = ModelServer()
    server.post_scoring("/score", Scoring(read, direct, 100))
    return server


def exchange(chunks: list[bytes]) -> tuple[list[bytes], bool]:
    """Feed `chunks` (one read each) to a fresh connection of the server's protocol; (writes, closed)."""
    protocol_class = protocol_with(LIMITS)
    config = uvicorn.Config(app=app(), http=protocol_class, lifespan="off", proxy_headers=False, access_log=False)
    config.load()

    async def main() -> tuple[list[bytes], bool]:
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
        transport = RecordingTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        for chunk in chunks:
            if transport.closed:
                break
            protocol.data_received(chunk)
        closed = transport.closed
        protocol.connection_lost(None)  # the client goes: the protocol's timers are cancelled
        return transport.writes, closed

    return asyncio.run(main())


header_lines = st.lists(st.tuples(st.from_regex(rb"\Ax-[a-z]{1,20}\Z"), st.integers(0, 300)), max_size=24)


@settings(max_examples=300, deadline=None)
@example(headers=[(b"x-a%d" % i, 180) for i in range(10)], reads=[600, 600, 600])  # ~1.9 KB in 600-byte reads
@given(headers=header_lines, reads=st.lists(st.integers(1, 600), max_size=40))
def test_property_a_head_is_refused_exactly_when_past_its_limits(headers, reads):
    """`headers`: (name, value length) pairs; `reads`: the sizes of the reads the bytes arrive in (the rest in one)."""
    lines = [(b"host", b"t"), (b"content-length", b"2"), *[(n, b"v" * length) for n, length in headers]]
    request = b"POST " + TARGET + b" HTTP/1.1\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in lines) + b"\r\n{}"
    size = len(TARGET) + sum(len(n) + len(v) + HEADER_LINE_EXTRA for n, v in lines)
    points = [0, *itertools.accumulate(reads)]
    chunks = [request[a:b] for a, b in itertools.pairwise([*(p for p in points if p < len(request)), len(request)])]
    writes, closed = exchange(chunks)
    answer = b"".join(writes)
    too_many = len(lines) > LIMITS.max_headers
    if size > LIMITS.max_head_bytes or too_many:
        assert answer.startswith(b"HTTP/1.1 431 ") and closed, (size, len(lines), answer[:80])
        assert b"200 OK" not in answer
    elif size <= LIMITS.max_head_bytes - SLACK:
        assert answer.startswith(b"HTTP/1.1 200 OK") and not closed, (size, len(lines), answer[:80])
    else:  # within SLACK of the limit: either answer, never anything else
        assert answer.startswith((b"HTTP/1.1 200 OK", b"HTTP/1.1 431 ")), answer[:80]
