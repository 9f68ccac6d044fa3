"""What an environment actually serves, asked over HTTP (/version and /readyz)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cxops.config import Config
from cxops.gitops.overlay import Desired
from cxops.http_client import client


@dataclass(frozen=True)
class Live:
    reachable: bool
    version: str | None
    ready: bool
    detail: str = ""
    name: str | None = None  # the model it serves (/version `name`)
    digest: str | None = None  # its build's model digest (/version `model_digest`)

    def label(self) -> str:
        return f"{self.name + ' ' if self.name else ''}v{self.version}" if self.reachable else "nothing"


def serves(now: Live, want: Desired) -> bool:
    """True when `now` serves what `want` names: the same version, and the same model and model digest wherever
    git records them (an overlay written before MODEL_DIGEST existed has none to compare)."""
    if want.version is None:
        return not now.reachable
    return (
        now.reachable
        and now.version == want.version
        and (want.name is None or now.name == want.name)
        and (want.digest is None or now.digest == want.digest)
    )


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
    version, name, digest = data.get("version"), data.get("name"), data.get("model_digest")
    return Live(
        True,
        str(version) if version is not None else None,
        bool(data.get("ready")),
        data.get("error", ""),
        str(name) if name is not None else None,
        str(digest) if digest is not None else None,
    )
