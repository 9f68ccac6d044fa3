"""A small HTTP load generator: N requests at concurrency C, latency percentiles and error rate.

It speaks just enough HTTP/1.1 (keep-alive POST, Content-Length bodies) over asyncio streams: a general client
costs more CPU per request than the model server it measures, and on a small machine that skews every number.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class LoadStats:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def q(self, quantile: float) -> float:
        return percentile(sorted(self.latencies_ms), quantile)

    def record(self, status: int, ms: float) -> None:
        self.requests += 1
        self.latencies_ms.append(ms)
        if status != 200:
            self.errors += 1

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(self.q(0.5), 3),
            "p95_ms": round(self.q(0.95), 3),
            "p99_ms": round(self.q(0.99), 3),
        }


Request = tuple[str, bytes]  # (url, body)
OnResponse = Callable[[int, str, int, bytes | None, float], None]  # (index, url, status, body, ms)


class _Conn:
    """One keep-alive connection to host:port; reconnects after any failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        assert self.reader is not None  # set together with writer
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length, close = 0, False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ConnectionError("chunked responses are not supported by the load generator")
        content = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _drive(
    requests: list[Request], concurrency: int, timeout: float, on_response: OnResponse | None, content_type: str
) -> LoadStats:
    stats = LoadStats()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)

    async def worker() -> None:
        conns: dict[tuple[str, int], _Conn] = {}
        while not queue.empty():
            i = queue.get_nowait()
            url, body = requests[i]
            parts = urlsplit(url)
            key = (parts.hostname or "127.0.0.1", parts.port or 80)
            conn = conns.setdefault(key, _Conn(*key))
            started = time.perf_counter()
            try:
                status, content = await asyncio.wait_for(conn.post(parts.path or "/", body, content_type), timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                conn.close()
                status, content = 0, None
            ms = (time.perf_counter() - started) * 1000
            stats.record(status, ms)
            if on_response is not None:
                on_response(i, url, status, content, ms)
        for conn in conns.values():
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.seconds = time.perf_counter() - started
    return stats


def run_load(
    requests: list[Request],
    concurrency: int,
    timeout: float = 10.0,
    on_response: OnResponse | None = None,
    content_type: str = "application/json",
) -> LoadStats:
    """Send every request (each POST once) with `concurrency` in flight; every request has a timeout."""
    return asyncio.run(_drive(requests, concurrency, timeout, on_response, content_type))
