"""cxops.serving.transport: the header block of a hot-route response goes out in the body's write.

The wrapped transport here records its writes instead of sending them: what is asserted is exactly the wrapper's
contract, the number and content of the writes it makes on the transport it wraps. The real server runs on it in
tests/integration/test_serving.py (every request there goes through `python -m cxops.serving`)."""

from __future__ import annotations

import asyncio

from helpers import RecordingTransport

from cxops.serving.transport import HOLD, HoldingHttpTools, HoldingTransport


def test_a_held_header_block_goes_out_with_the_next_write():
    inner = RecordingTransport()
    t = HoldingTransport(inner)  # type: ignore[arg-type]
    token = HOLD.set(True)
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    HOLD.reset(token)
    assert inner.writes == []
    t.write(b"{}")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_writes_outside_hold_pass_straight_through_and_other_attributes_are_the_inner_transports():
    inner = RecordingTransport()
    t = HoldingTransport(inner)  # type: ignore[arg-type]
    t.write(b"a")
    t.write(memoryview(b"b"))
    assert inner.writes == [b"a", b"b"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 5)


def test_close_sends_what_is_held_first():
    inner = RecordingTransport()
    t = HoldingTransport(inner)  # type: ignore[arg-type]
    token = HOLD.set(True)
    t.write(b"headers")
    HOLD.reset(token)
    t.close()
    assert inner.writes == [b"headers"] and inner.closed


def test_hold_is_per_task_so_one_request_never_holds_another_requests_writes():
    inner = RecordingTransport()
    t = HoldingTransport(inner)  # type: ignore[arg-type]

    async def main() -> None:
        async def holder(started: asyncio.Event, go: asyncio.Event) -> None:
            token = HOLD.set(True)
            started.set()
            await go.wait()
            HOLD.reset(token)

        started, go = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(holder(started, go))
        await started.wait()
        t.write(b"other task")  # HOLD is set in the holder's context only
        go.set()
        await task

    asyncio.run(main())
    assert inner.writes == [b"other task"]


def test_the_protocol_wraps_the_transport_it_is_given():
    import uvicorn
    from uvicorn.server import ServerState

    async def app(scope, receive, send) -> None:  # never called: no request is made
        raise AssertionError

    config = uvicorn.Config(app=app, http=HoldingHttpTools)
    config.load()

    async def main() -> object:
        protocol = HoldingHttpTools(config=config, server_state=ServerState(), app_state={})
        protocol.connection_made(RecordingTransport())  # type: ignore[arg-type]
        return protocol.transport

    assert isinstance(asyncio.run(main()), HoldingTransport)
