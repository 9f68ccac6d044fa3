"""GPU capacity measurements, kept for a while: a JSON file per cloud under the state dir plus memory.

Measuring walks every server and resource provider, so dashboards read the cache; `serve` refreshes it in
the background. Each refresh starts from nothing (no list grows across refreshes).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from cxops.errors import CxopsError


class GpuCache:
    def __init__(self, cloud: str, path: Path) -> None:
        self.cloud = cloud
        self.path = path
        self._lock = threading.Lock()
        self._report: dict[str, Any] | None = None
        self._at = 0.0
        self.last_error: str | None = None

    @classmethod
    def for_cloud(cls, cloud: str | None) -> GpuCache:
        from cxops.cloud.connection import resolve_cloud_name

        name = resolve_cloud_name(cloud)
        try:
            from cxops.config import load_config
            from cxops.paths import state_dir

            base = state_dir(load_config())
        except CxopsError:
            base = Path(".cxops")  # no cxops.yaml: probes still work, like the OpenStack CLI
        return cls(name, base / "gpus" / f"{name}.json")

    def measure(self) -> dict[str, Any]:
        from cxops.cloud.connection import connect
        from cxops.cloud.gpus import measure

        report = measure(connect(self.cloud))
        with self._lock:
            self._report, self._at, self.last_error = report, time.time(), None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"at": self._at, "report": report}))
        tmp.replace(self.path)
        return report

    def _from_file(self) -> tuple[float, dict[str, Any]] | None:
        try:
            data = json.loads(self.path.read_text())
            return float(data["at"]), data["report"]
        except (OSError, ValueError, KeyError):
            return None

    def get(self, max_age: float = 0) -> dict[str, Any]:
        """A report no older than `max_age` seconds (0: measure now)."""
        if max_age > 0:
            with self._lock:
                if self._report is not None and time.time() - self._at <= max_age:
                    return {**self._report, "age_seconds": round(time.time() - self._at, 1)}
            stored = self._from_file()
            if stored is not None and time.time() - stored[0] <= max_age:
                return {**stored[1], "age_seconds": round(time.time() - stored[0], 1)}
        return {**self.measure(), "age_seconds": 0.0}

    def latest(self) -> tuple[dict[str, Any] | None, float]:
        with self._lock:
            return self._report, (time.time() - self._at if self._report else float("inf"))

    def refresh_forever(self, interval: float, stop: threading.Event) -> None:
        """Background loop for `serve`: measure every `interval` s; a failure is kept, never fatal."""
        while not stop.wait(interval):
            try:
                self.measure()
            except Exception as exc:  # the cloud may be briefly away; keep serving the last report
                self.last_error = f"{type(exc).__name__}: {exc}"
