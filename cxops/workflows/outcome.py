"""What the exit handler records: the workflow's name, status and duration, as a JSON line and a file."""

from __future__ import annotations

import json
import time
from pathlib import Path


def record(workflow: str, status: str, duration: str, outputs_dir: Path | None) -> dict:
    try:
        seconds: float | None = round(float(duration), 1)
    except ValueError:
        seconds = None
    data = {"workflow": workflow, "status": status, "duration_seconds": seconds,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if outputs_dir is not None:
        outputs_dir.mkdir(parents=True, exist_ok=True)
        (outputs_dir / "outcome.json").write_text(json.dumps(data))
    return data
