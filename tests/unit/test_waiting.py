"""Bounded waits and retries: they end, and say what they waited for."""

from __future__ import annotations

import time

import pytest

from cxops.errors import CxopsError
from cxops.waiting import backoff_delays, retry, wait_until


def test_wait_until_returns_first_truthy_value():
    calls = iter([None, 0, "ready"])
    assert wait_until(lambda: next(calls), timeout=5, what="x", first=0.01) == "ready"


def test_wait_until_times_out_with_what_and_last_error():
    def probe():
        raise ConnectionError("refused")

    started = time.monotonic()
    with pytest.raises(CxopsError) as info:
        wait_until(probe, timeout=0.5, what="the thing", first=0.05)
    assert time.monotonic() - started < 3
    assert "the thing" in str(info.value) and "ConnectionError: refused" in str(info.value)


def test_backoff_grows_and_is_capped_and_bounded():
    started = time.monotonic()
    delays = []
    for d in backoff_delays(1.5, first=0.1, factor=2, cap=0.5):
        delays.append(d)
        time.sleep(d)
    assert delays[:3] == [0.1, 0.2, 0.4] and max(delays) <= 0.5
    assert time.monotonic() - started < 1.5 + 0.2


def test_retry_stops_after_attempts():
    count = {"n": 0}

    def flaky():
        count["n"] += 1
        raise OSError("down")

    with pytest.raises(CxopsError, match="after 3 attempts"):
        retry(flaky, attempts=3, what="calling", first=0.01)
    assert count["n"] == 3


def test_retry_passes_cxops_errors_through_at_once():
    count = {"n": 0}

    def bad():
        count["n"] += 1
        raise CxopsError("bad input")

    with pytest.raises(CxopsError, match="bad input"):
        retry(bad, attempts=5, what="x", first=0.01)
    assert count["n"] == 1
