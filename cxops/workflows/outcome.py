"""What the exit handler records: the workflow's name, status, duration and gate outcome, as a JSON line and a file.

A gate's verdict travels as the step's exit code (3 failed, 4 inconclusive; cxops.errors); Argo puts it in the
failed node's message ("... exit code 4"), which is all `{{workflow.failures}}` carries about it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

EXIT_CODE = re.compile(r"exit code (\d+)")
GATE_OUTCOMES = {"3": "failed", "4": "inconclusive"}


def gate_outcome(status: str, failures: str) -> str:
    """passed | failed | inconclusive | error: from the workflow status and Argo's `workflow.failures` JSON (a list
    of {displayName, message, templateName, phase, ...}; empty or unparsable when nothing failed)."""
    if status == "Succeeded":
        return "passed"
    try:
        nodes = json.loads(failures) if failures.strip() else []
    except ValueError:
        nodes = []
    if not isinstance(nodes, list):
        nodes = []
    messages = [str(n.get("message", "")) for n in nodes if isinstance(n, dict)]
    codes = {m[1] for msg in messages if (m := EXIT_CODE.search(msg))}
    for code in ("4", "3"):  # inconclusive wins: a human must look before anything else happens
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
