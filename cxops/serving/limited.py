"""Deadlines and size limits on what a client sends before the server answers: the request head and the body.

uvicorn's httptools protocol has no deadline while a request is in progress (its keep-alive timeout runs only
between requests, and any byte cancels it) and no bound on the head: a client trickling a header a byte at a time,
or sending half a body and stopping, held its connection for ever, and one oversized header grew the parser's
buffer without limit. The protocol here adds, for every request whichever way it is answered (the direct path,
cxops.serving.direct, or uvicorn's ASGI cycle: both are decided only once the head is complete):

- a head deadline: the head must be complete within `head_timeout` seconds of the connection opening, or of the
  first byte after an idle period (or after the previous request). Past it: 408 and the connection closes; a
  connection that never began a request is closed without an answer, as an idle keep-alive connection is.
- a body deadline: the body must be complete within `body_timeout` seconds of the head. Past it: 408 (or a plain
  close when the response has started) and the connection closes; an ASGI app waiting in `receive` is told the
  client disconnected.
- a head size limit: the request target and header lines (name, value, ": " and CRLF) at most `max_head_bytes`,
  and at most `max_headers` header lines; past either, 431 (414 when the request target alone is too long) and
  the connection closes, the rest of the head unread.

The head is counted from what the parser reports: the request target as it arrives, each header once complete,
and a header line still arriving as the bytes after the last line break of each read. A read that ends one
pipelined request and begins the next is the one case where the part of the new head after its last line break
is counted only from the next read on (at most one read, 256 KiB, more than the limit then).

Deadlines are armed only when a request is not whole at the end of a read, so a request that arrives in one read,
the usual case, costs no timer. A deadline that expires while the server itself holds the connection back (reading
paused for backpressure or behind a pipelined request, a response in progress) is re-armed: the slowness is the
server's, not the client's. Timeouts are loop timers (asyncio `call_later`), cancelled when the connection is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from cxops.serving.direct import DirectHttpTools
from cxops.serving.limits import RequestLimits

HEADER_LINE_EXTRA = 4  # ": " and CRLF around a header's name and value


def protocol_with(limits: RequestLimits, direct: bool = True) -> type[LimitedHttpTools]:
    """The server's HTTP protocol class with `limits` (pass as `uvicorn.Config(http=...)`); `direct` False: every
    request through uvicorn's cycle (cxops.serving.direct.direct_path_check)."""
    return type("LimitedHttpTools", (LimitedHttpTools,), {"limits": limits, "direct_path": direct})


class LimitedHttpTools(DirectHttpTools):
    """DirectHttpTools with the head and body deadlines and the head size limits of the module docstring; the
    limits are the class's `limits` (see `protocol_with`)."""

    limits: ClassVar[RequestLimits] = RequestLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # a request's head has begun and is not complete
        self._in_message = False  # a request has begun and its body is not complete
        self._head_bytes = 0  # request target and complete header lines of the head in progress
        self._partial = 0  # bytes of the header line still arriving (after the read's last line break)
        self._url_in_read = 0  # bytes of request target reported during the current read
        self._began_in_read = False
        self._ended_in_read = False  # a request completed during the current read (before the next began)
        self._refusal: tuple[int, str] | None = None  # a head refused: the rest of the connection is ignored
        self._upgraded = False

    # -- connection and reads ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()  # the connection is another protocol's from here on
        self._upgraded = True
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        head_open = self._in_head
        self._url_in_read = 0
        self._began_in_read = self._ended_in_read = False
        super().data_received(data)
        if self.transport.is_closing() or self._upgraded:  # answered and closed (a 400), or another protocol's
            return
        if self._refusal is not None:
            self._refuse(*self._refusal)
            return
        if self._in_head:
            if head_open or (self._began_in_read and not self._ended_in_read):
                newline = data.rfind(b"\n")
                if newline >= 0:
                    self._partial = len(data) - newline - 1
                else:
                    self._partial += len(data) - self._url_in_read
            if self._head_bytes + self._partial > self.limits.max_head_bytes:
                self._refuse(431, self._too_large(self._head_bytes + self._partial))
                return
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_expired)
        elif self._in_message:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_expired)
        elif self._head_timer is None and self.timeout_keep_alive_task is None and not self._response_pending():
            # bytes that began no request (blank lines) cancelled uvicorn's idle timer: the head deadline runs
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_expired)

    # -- parser callbacks: count the head, note where requests begin and end ------------------------------------
    def on_message_begin(self) -> None:
        if self._refusal is not None:
            return
        self._in_head = self._in_message = self._began_in_read = True
        self._head_bytes = self._partial = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refusal is not None:
            return
        self._head_bytes += len(url)
        self._url_in_read += len(url)
        if self._head_bytes > self.limits.max_head_bytes:
            self._refusal = (414, f"request target longer than {self.limits.max_head_bytes} bytes")
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refusal is not None:
            return
        self._head_bytes += len(name) + len(value) + HEADER_LINE_EXTRA
        if self._head_bytes > self.limits.max_head_bytes:
            self._refusal = (431, self._too_large(self._head_bytes))
            return
        if len(self.headers) >= self.limits.max_headers:
            self._refusal = (431, f"more than {self.limits.max_headers} header lines")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refusal is not None:
            return
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refusal is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refusal is not None:
            return
        self._in_message = False
        self._ended_in_read = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # -- deadlines ------------------------------------------------------------------------------------------------
    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused or self._response_pending():  # an earlier request is still being answered
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_expired)
        elif self._in_head:
            self._refuse(408, f"request head not complete within {self.limits.head_timeout:g} s")
        elif not self._in_message:
            self.transport.close()  # no request begun: closed like an idle keep-alive connection

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._in_message:
            return
        if self.flow.read_paused or self.pipeline:  # reading paused, or queued behind an earlier request
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_expired)
            return
        cycle = self.cycle
        in_cycle = self._direct is None and cycle is not None and not cycle.response_complete
        if in_cycle:
            cycle.disconnected = True  # the app's receive() returns http.disconnect; its sends are dropped
            cycle.message_event.set()
            if cycle.response_started:  # a status already went out: nothing to answer with, only close
                self.transport.close()
                return
        self._refuse(408, f"request body not complete within {self.limits.body_timeout:g} s")

    def _response_pending(self) -> bool:
        """A response through uvicorn's cycle is still being produced (the direct path answers within a read)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    # -- refusals -------------------------------------------------------------------------------------------------
    def _too_large(self, size: int) -> str:
        return f"request head of at least {size} bytes exceeds the limit of {self.limits.max_head_bytes} bytes"

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with `message` (text) and close; nothing more is read from the connection."""
        self._refusal = (status, message)
        self._cancel_timers()
        body = message.encode()
        self.transport.write(
            b"".join(
                (
                    STATUS_LINE[status],
                    self._default_headers(),
                    b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                )
            )
        )
        self.transport.close()
