"""Bounded waits and retries with exponential backoff: the only loops that may wait on the world."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from cxops.errors import CxopsError

T = TypeVar("T")


def backoff_delays(timeout: float, first: float = 0.1, factor: float = 1.6, cap: float = 2.0):
    """Yield sleep intervals until `timeout` seconds are spent; the caller checks between them."""
    deadline = time.monotonic() + timeout
    delay = first
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(delay * factor, cap)


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    first: float = 0.1,
    cap: float = 2.0,
) -> T:
    """Call `probe` until it returns something truthy, or raise a CxopsError naming `what` after `timeout`."""
    last_error: Exception | None = None
    for delay in backoff_delays(timeout, first=first, cap=cap):
        try:
            result = probe()
        except CxopsError:
            raise
        except Exception as exc:  # the probe's world is not ready yet; remember why
            last_error, result = exc, None
        if result:
            return result
        time.sleep(delay)
    try:
        result = probe()
    except CxopsError:
        raise
    except Exception as exc:
        last_error, result = exc, None
    if result:
        return result
    reason = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
    raise CxopsError(f"timed out after {timeout:g}s waiting for {what}{reason}")


def retry(
    action: Callable[[], T],
    *,
    attempts: int,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    first: float = 0.2,
    cap: float = 2.0,
) -> T:
    """Run `action` up to `attempts` times with backoff between tries; the last failure becomes a CxopsError."""
    delay = first
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except CxopsError:
            raise
        except retry_on as exc:
            if attempt == attempts:
                raise CxopsError(f"{what} failed after {attempts} attempts: {type(exc).__name__}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, cap)
    raise AssertionError("unreachable")
