"""Read a job's markers out of a Nova console log (noisy: kernel and cloud-init lines, prefixes, repeats).

The result comes as short numbered chunks (userdata.RESULT_PY): `CXOPS-JOB-RESULT <run> <i>/<n> <crc32 of the
whole> <crc32 of the chunk> <base64 chunk>`, the sequence printed twice. A chunk counts only when its own CRC-32
matches, and the document only when every chunk is there and the whole matches its CRC-32, so a line cut short or
split by a kernel message is skipped (its copy is used) and a result that still cannot be put together is
*unreadable*, never a wrong value and never "failed". A plain JSON line (`CXOPS-JOB-RESULT {...}`, images without
python3) is read too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from cxops.cloud.userdata import BEGIN, RESULT

CHUNK_LINE = re.compile(
    re.escape(RESULT) + r" (?P<run>\S+) (?P<i>\d{1,6})/(?P<n>\d{1,6}) (?P<whole>[0-9a-f]{8}) (?P<crc>[0-9a-f]{8}) "
    r"(?P<chunk>[A-Za-z0-9+/=]+)"
)


@dataclass
class ConsoleMarkers:
    begun: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    unreadable: str | None = None  # why a result the console shows could not be read back (None: read or absent)


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


@dataclass
class _Chunks:
    """The chunks of one result (one run, one whole-document CRC-32, one chunk count) seen so far."""

    n: int
    whole: str
    parts: dict[int, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The JSON document; ValueError naming what is missing or does not check."""
        missing = [i for i in range(1, self.n + 1) if i not in self.parts]
        if missing:
            raise ValueError(f"{len(missing)} of {self.n} result chunks unreadable (first: {missing[0]})")
        try:
            data = base64.b64decode("".join(self.parts[i] for i in range(1, self.n + 1)), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"result chunks are not base64: {exc}") from None
        if f"{zlib.crc32(data):08x}" != self.whole:
            raise ValueError("the result's chunks do not match its CRC-32")
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("the result is not a JSON object")
        return doc


def parse(console: str, run_id: str | None = None) -> ConsoleMarkers:
    """The BEGIN and RESULT markers of run `run_id` (any run if None); the last one of each wins. A result the
    console shows for the run but that cannot be read back sets `unreadable` (and `result` stays None)."""
    out = ConsoleMarkers()
    groups: dict[tuple[str, int, str], _Chunks] = {}
    for line in console.splitlines():
        if (m := CHUNK_LINE.search(line)) is not None:
            if run_id is not None and m["run"] != run_id:
                continue
            i, n = int(m["i"]), int(m["n"])
            group = groups.setdefault((m["run"], n, m["whole"]), _Chunks(n, m["whole"]))
            # a chunk counts only whole: its CRC-32 proves it was neither cut short nor spliced
            if 1 <= i <= n and f"{zlib.crc32(m['chunk'].encode()):08x}" == m["crc"]:
                group.parts.setdefault(i, m["chunk"])
            continue
        for marker in (RESULT, BEGIN):
            try:
                obj = _payload(line, marker)
            except ValueError as exc:
                out.errors.append(str(exc))
                if marker == RESULT:
                    out.unreadable = str(exc)
                break
            if obj is None:
                continue
            if run_id is not None and obj.get("run") != run_id:
                break
            if marker == RESULT:
                out.result, out.unreadable = obj, None
            else:
                out.begun = obj
            break
    for chunks in groups.values():  # in the order first seen: the last readable one wins
        try:
            out.result, out.unreadable = chunks.document(), None
        except ValueError as exc:
            out.errors.append(str(exc))
            if out.result is None:
                out.unreadable = str(exc)
    return out
