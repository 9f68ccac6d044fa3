"""What the exit handler records: the workflow's name, status, duration and gate outcome, as a JSON line and a file.

A gate's verdict travels as the step's exit code (3 failed, 4 inconclusive; cxops.errors); Argo puts it in the
failed node's message ("Error (exit code 4)"), which is all `{{workflow.failures}}` carries about it.

How Argo substitutes `{{workflow.failures}}` (argo-workflows, workflow/controller/operator.go): the failed and
errored nodes are marshalled to a JSON list (Go's encoding/json: `<`, `>`, `&` escaped as \\u003c...), and that
text is quoted with Go's strconv.Quote, so the argument the handler receives is a JSON document inside a Go string
literal: `"[{\\"displayName\\":\\"analyze\\",\\"message\\":\\"Error (exit code 3)\\",...}]"`. A plain JSON list (a
hand-run handler, an older Argo) is read too.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from cxops.errors import ExitCode

EXIT_CODE = re.compile(r"exit code (\d+)")
# exit code -> outcome, inconclusive first: it wins over failed (see gate_outcome)
GATE_OUTCOMES = {str(ExitCode.GATE_INCONCLUSIVE.value): "inconclusive", str(ExitCode.GATE_FAILED.value): "failed"}
FAILED_PHASES = ("Failed", "Error")
MAX_LAYERS = 3  # Argo quotes once; a value re-quoted by a template author adds one layer; more is not Argo's
GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
GO_ESCAPES |= {"'": "'", "/": "/"}  # \' is Go's, \/ is JSON's: accepted from either writer
# one token of a Go (or JSON) double-quoted literal's body: a run of plain characters, or one escape
TOKEN = re.compile(
    r'(?P<plain>[^"\\]+)|\\(?:(?P<simple>[abfnrtv\\"\'/])|x(?P<x>[0-9a-fA-F]{2})|(?P<oct>[0-7]{3})'
    r"|u(?P<u>[0-9a-fA-F]{4})|U(?P<U>[0-9a-fA-F]{8}))"
)


def go_unquote(literal: str) -> str:
    r"""The value of a double-quoted Go string literal (strconv.Quote's output; a JSON string literal is one too):
    escapes \a \b \f \n \r \t \v \\ \" \' \/, \xHH and \ooo (bytes, decoded as UTF-8, U+FFFD for invalid
    sequences), \uHHHH (JSON surrogate pairs joined) and \UHHHHHHHH.
    ValueError for anything that is not such a literal (no quotes around it, a bare quote inside, a bad escape)."""
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise ValueError("not a double-quoted string literal")
    body, pos, units = literal[1:-1], 0, bytearray()  # UTF-16 code units (surrogates pass) and raw bytes
    raw = bytearray()

    def flush() -> None:
        units.extend(raw.decode("utf-8", errors="replace").encode("utf-16-le", "surrogatepass"))
        raw.clear()

    while pos < len(body):
        m = TOKEN.match(body, pos)
        if m is None:
            raise ValueError(f"bad escape or unescaped quote at character {pos + 2} of the literal")
        pos = m.end()
        if m["x"] or m["oct"]:
            value = int(m["x"], 16) if m["x"] else int(m["oct"], 8)
            if value > 0xFF:
                raise ValueError(f"octal escape \\{m['oct']} is above 255")
            raw.append(value)
            continue
        flush()
        if m["U"]:
            value = int(m["U"], 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError(f"\\U{m['U']} is not a Unicode scalar value")
            text = chr(value)
        elif m["u"]:
            text = chr(int(m["u"], 16))  # may be half of a surrogate pair: joined when the units are decoded
        else:
            text = GO_ESCAPES[m["simple"]] if m["simple"] else m["plain"]
        units.extend(text.encode("utf-16-le", "surrogatepass"))
    flush()
    return units.decode("utf-16-le", errors="replace")


def argo_failures(value: str) -> list[dict]:
    """The failed nodes in `{{workflow.failures}}` as Argo substitutes it (a JSON list inside a Go string literal),
    or as a plain JSON list; empty when nothing failed (an empty value, `null`, `[]`). Each node is a dict
    (displayName, message, templateName, phase, podName, finishedAt); entries that are not objects are dropped.
    ValueError when the value is neither (a truncated or mangled substitution)."""
    text = value.strip()
    for _ in range(MAX_LAYERS + 1):
        if not text:
            return []
        if text.startswith('"'):
            text = go_unquote(text).strip()
            continue
        doc = json.loads(text)
        if isinstance(doc, str):
            text = doc.strip()
            continue
        if doc is None:
            return []
        if not isinstance(doc, list):
            raise ValueError(f"workflow.failures is a JSON {type(doc).__name__}, not a list of nodes")
        return [n for n in doc if isinstance(n, dict)]
    raise ValueError(f"workflow.failures is quoted more than {MAX_LAYERS} times")


def gate_outcome(status: str, failures: str) -> str:
    """passed | failed | inconclusive | error: from the workflow status and Argo's `{{workflow.failures}}`.

    A gate's exit code (3 failed, 4 inconclusive) in a failed node's message decides; inconclusive wins (a human
    must look before anything else happens). A value that cannot be parsed is still searched for those exit codes
    (a mangled substitution must not turn a failed gate into "error")."""
    if status == "Succeeded":
        return "passed"
    try:
        nodes = argo_failures(failures)
        messages = [str(n.get("message", "")) for n in nodes if n.get("phase", "Failed") in FAILED_PHASES]
    except ValueError:
        messages = [failures]
    codes = {m[1] for msg in messages for m in EXIT_CODE.finditer(msg)}
    for code in GATE_OUTCOMES:
        if code in codes:
            return GATE_OUTCOMES[code]
    return "error"


def record(workflow: str, status: str, duration: str, outputs_dir: Path | None, failures: str = "") -> dict:
    """The outcome line: workflow, status, duration_seconds (None if unparsable), gate_outcome, finished_at."""
    try:
        seconds: float | None = round(float(duration), 1)
    except ValueError:
        seconds = None
    data = {
        "workflow": workflow,
        "status": status,
        "duration_seconds": seconds,
        "gate_outcome": gate_outcome(status, failures),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if outputs_dir is not None:
        outputs_dir.mkdir(parents=True, exist_ok=True)
        (outputs_dir / "outcome.json").write_text(json.dumps(data))
    return data
