"""The settings of adaptive batching (cxops.serving.batching): cxops.yaml `serving.batching`, per environment
`environments.<env>.batching`; in the cluster the environment variables of ENV_VARS (the overlay's model.env), as
cxops.serving.limits carries the request limits. Kept apart from the batcher so the CLI, the config and the lab can
name them without importing numpy or the server.

The defaults were chosen by measurement (docs/performance.md, "Adaptive batching"): 64 rows, the largest concurrency
`make bench` loads with; a wait of 2 ms, about one model call of the scikit-learn pipeline here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

ENV_VARS = {
    "enabled": "CXOPS_SERVING_BATCHING",
    "max_batch_size": "CXOPS_SERVING_BATCH_MAX_SIZE",
    "max_wait_ms": "CXOPS_SERVING_BATCH_MAX_WAIT_MS",
}
TRUE, FALSE = ("true", "on", "1", "yes"), ("false", "off", "0", "no")


@dataclass(frozen=True)
class BatchSettings:
    """Adaptive batching: on or off; most rows per model call; most milliseconds the first request of a batch
    waits for others (0: only what arrived while the previous call ran)."""

    enabled: bool = True
    max_batch_size: int = 64
    max_wait_ms: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default: BatchSettings | None = None) -> BatchSettings:
        """The settings named in `environ` (ENV_VARS), `default`'s (else the defaults) for the rest. ValueError
        naming the variable and its value when one is not valid."""
        base = default or cls()
        enabled, size, wait = base.enabled, base.max_batch_size, base.max_wait_ms
        if raw := environ.get(ENV_VARS["enabled"], "").strip():
            if raw.lower() not in TRUE + FALSE:
                raise ValueError(f"{ENV_VARS['enabled']}={raw!r} is not true or false")
            enabled = raw.lower() in TRUE
        if raw := environ.get(ENV_VARS["max_batch_size"], "").strip():
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"{ENV_VARS['max_batch_size']}={raw!r} is not a positive whole number (rows)")
            size = int(raw)
        if raw := environ.get(ENV_VARS["max_wait_ms"], "").strip():
            try:
                wait = float(raw)
            except ValueError:
                wait = -1.0
            if not (math.isfinite(wait) and 0 <= wait <= 1000):
                raise ValueError(f"{ENV_VARS['max_wait_ms']}={raw!r} is not a number of milliseconds from 0 to 1000")
        return cls(enabled, size, wait)

    def env(self) -> dict[str, str]:
        """These settings as the environment variables `from_env` reads (for an overlay's model.env)."""
        return {
            ENV_VARS["enabled"]: "true" if self.enabled else "false",
            ENV_VARS["max_batch_size"]: str(self.max_batch_size),
            ENV_VARS["max_wait_ms"]: f"{self.max_wait_ms:g}",
        }

    def argv(self) -> list[str]:
        """These settings as `python -m cxops.serving` options."""
        return [
            "--batching",
            "on" if self.enabled else "off",
            "--batch-max-size",
            str(self.max_batch_size),
            "--batch-max-wait-ms",
            f"{self.max_wait_ms:g}",
        ]
