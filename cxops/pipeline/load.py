"""A small HTTP load generator: N requests at concurrency C, latency percentiles and error rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


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

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.requests, "errors": self.errors, "error_rate": round(self.error_rate, 6),
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(self.q(0.5), 3), "p95_ms": round(self.q(0.95), 3), "p99_ms": round(self.q(0.99), 3),
        }  # fmt: skip


Request = tuple[str, bytes]  # (url, body)
OnResponse = Callable[[int, str, int, bytes | None, float], None]  # (index, url, status, body, ms)


async def _drive(requests: list[Request], concurrency: int, timeout: float, on_response: OnResponse | None,
                 headers: dict[str, str]) -> LoadStats:
    stats = LoadStats()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                url, body = requests[i]
                started = time.perf_counter()
                try:
                    r = await client.post(url, content=body, headers=headers)
                    status, content = r.status_code, r.content
                except httpx.HTTPError:
                    status, content = 0, None
                ms = (time.perf_counter() - started) * 1000
                stats.requests += 1
                stats.latencies_ms.append(ms)
                if status != 200:
                    stats.errors += 1
                if on_response is not None:
                    on_response(i, url, status, content, ms)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats.seconds = time.perf_counter() - started
    return stats


def run_load(requests: list[Request], concurrency: int, timeout: float = 10.0,
             on_response: OnResponse | None = None, content_type: str = "application/json") -> LoadStats:
    """Send every request (each POST once) with `concurrency` in flight; every request has a timeout."""
    return asyncio.run(_drive(requests, concurrency, timeout, on_response, {"content-type": content_type}))
