"""One write per response on the hot routes: the status line and headers go out with the body, not before it.

uvicorn writes an ASGI response's `http.response.start` (status line and headers) to the transport at once, and its
`http.response.body` in a second write. On loopback each write is a system call that also wakes the client, so a
small JSON answer cost two wake-ups, which took more of a request's time than scoring it (py-spy on the digits
model: 39%). The wrapper here holds the header block while the app says a body follows right away (`HOLD` set),
and sends both in the body's write. It wraps the transport an asyncio protocol is given (`connection_made`), the
standard place to interpose on a connection; anything else uvicorn writes passes straight through.

Only the ASGI app's own hot path asks for holding (cxops.serving.asgi), for a response whose body it sends in the very
next message. Used for `make bench`'s floor too, so that ours is still compared with the fastest app on the same
stack.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# True while the app sends a header block whose body it sends next (a contextvar: per ASGI task, so per request).
HOLD: ContextVar[bool] = ContextVar("cxops_hold_headers", default=False)


class HoldingTransport:
    """A transport that holds writes made while HOLD is set and sends them joined with the next write; every
    other attribute is the wrapped transport's. Held bytes are sent before the transport closes."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self._inner = inner
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if HOLD.get():
            self._held.append(bytes(data))
            return
        if self._held:
            self._held.append(bytes(data))
            data, self._held = b"".join(self._held), []
        self._inner.write(data)

    def close(self) -> None:
        if self._held:
            data, self._held = b"".join(self._held), []
            self._inner.write(data)
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class HoldingHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol on a HoldingTransport (pass as `uvicorn.Config(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HoldingTransport(transport))  # type: ignore[arg-type]
