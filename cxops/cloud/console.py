"""Read a job's markers out of a Nova console log (noisy: kernel and cloud-init lines, prefixes, repeats)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cxops.cloud.userdata import BEGIN, RESULT


@dataclass
class ConsoleMarkers:
    begun: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _payload(line: str, marker: str) -> dict[str, Any] | None:
    at = line.find(marker + " ")
    if at < 0:
        return None
    text = line[at + len(marker) + 1 :].strip()
    try:
        obj, _ = json.JSONDecoder().raw_decode(text)  # tolerate trailing console noise
    except ValueError:
        raise ValueError(f"{marker} line is not JSON: {text[:120]!r}") from None
    return obj if isinstance(obj, dict) else None


def parse(console: str, run_id: str | None = None) -> ConsoleMarkers:
    """The BEGIN and RESULT markers of run `run_id` (any run if None); the last one of each wins."""
    out = ConsoleMarkers()
    for line in console.splitlines():
        for marker in (RESULT, BEGIN):
            try:
                obj = _payload(line, marker)
            except ValueError as exc:
                out.errors.append(str(exc))
                break
            if obj is None:
                continue
            if run_id is not None and obj.get("run") != run_id:
                break
            if marker == RESULT:
                out.result = obj
            else:
                out.begun = obj
            break
    return out
