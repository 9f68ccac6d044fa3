"""The pipeline's one HTTP client per process, for its short requests to the model servers and Prometheus.

`httpx.get()` builds a new Client for every call, and with it a new TLS context (loading the CA bundle: 0.1-0.3 s of
CPU here, even for plain-HTTP URLs), which a deploy's readiness probes and a gate's checks paid dozens of times.
Connections are not kept alive, so each request still opens its own (as `httpx.get` did): a server swapped out
between two requests never leaves a pooled connection behind. httpx documents its Client as thread-safe.
"""

from __future__ import annotations

import functools

import httpx


@functools.cache
def client() -> httpx.Client:
    """The process's shared client (created on first use); pass `timeout=` per request."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
