"""What an environment actually serves, asked over HTTP (/version and /readyz)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cxops.config import Config
from cxops.pipeline.http import client


@dataclass(frozen=True)
class Live:
    reachable: bool
    version: str | None
    ready: bool
    detail: str = ""


def env_url(cfg: Config, env: str) -> str:
    e = cfg.environments.get(env)
    return (e.url or f"http://127.0.0.1:{e.port}").rstrip("/")


def live(cfg: Config, env: str, timeout: float = 2.0) -> Live:
    url = env_url(cfg, env)
    try:
        r = client().get(f"{url}/version", timeout=timeout)
        data = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        return Live(False, None, False, f"{url} unreachable: {type(exc).__name__}")
    version = data.get("version")
    return Live(True, str(version) if version is not None else None, bool(data.get("ready")), data.get("error", ""))
