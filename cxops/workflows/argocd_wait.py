"""Wait until an ArgoCD Application is Synced and Healthy at the expected git revision and image.

Uses the ArgoCD API with a project-scoped token (ARGOCD_AUTH_TOKEN from a secretKeyRef), never the admin password.
ArgoCD's documented REST API (argo-cd v3 docs, "API Docs": `GET /api/v1/applications/{name}`, whose `refresh` query
parameter, `normal` or `hard`, asks the controller to compare with git now instead of on its next poll; the poll is
`timeout.reconciliation`, 120 s plus up to 60 s jitter in argo-helm's argo-cd chart 10.1.1). The project role only
needs `get` for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cxops.errors import CxopsError
from cxops.settings import settings

TOKEN_ENV = "ARGOCD_AUTH_TOKEN"
REFRESH_EVERY = 30.0  # seconds between refresh requests while ArgoCD still reports an older revision
# ArgoCD's own poll of git when nobody asks it to refresh: timeout.reconciliation 120 s + jitter 60 s (argo-helm
# argo-cd 10.1.1 values.yaml); workflows.sync_timeout_seconds may not be shorter, so a lost refresh still lands
RECONCILE_SECONDS = 180


@dataclass(frozen=True)
class AppState:
    sync: str
    health: str
    revision: str
    images: tuple[str, ...]

    @classmethod
    def from_api(cls, app: dict) -> AppState:
        status = app.get("status") or {}
        sync = status.get("sync") or {}
        return cls(
            sync=sync.get("status", ""),
            health=(status.get("health") or {}).get("status", ""),
            revision=sync.get("revision", ""),
            images=tuple((status.get("summary") or {}).get("images") or []),
        )

    def ready(self, revision: str, image: str) -> bool:
        if self.sync != "Synced" or self.health != "Healthy":
            return False
        if revision and not self.revision.startswith(revision):
            return False
        return not image or any(i == image or i.startswith(f"{image}@") for i in self.images)

    def describe(self) -> str:
        return f"sync={self.sync or '?'} health={self.health or '?'} revision={self.revision[:12] or '?'}"


def wait_synced(
    server: str,
    app: str,
    *,
    revision: str = "",
    image: str = "",
    timeout: float = 600,
    transport: Any = None,
    live: Callable[[], str | None] | None = None,
    first: float = 2.0,
) -> AppState:
    """Ask ArgoCD to refresh `app`, then wait (bounded by `timeout` seconds, backoff `first` → 15 s) until it reports
    Synced and Healthy at `revision` (a commit SHA or its prefix; empty = any) running `image` (empty = any), and
    `live()` returns None (the caller's check that the environment serves what git says; a string is why not).
    The refresh is repeated every REFRESH_EVERY s while ArgoCD reports another revision.

    Returns the last AppState. CxopsError: at once for 401/403 (the token) and 404 (no such application); after
    the timeout naming what was awaited and the last state seen, or that ArgoCD was down."""
    import httpx

    from cxops.waiting import wait_until

    if revision in ("null", "None"):
        revision = ""  # the step changed nothing in git (already there): any synced revision will do
    token = settings().argocd_token or ""
    if not token:
        raise CxopsError(f"{TOKEN_ENV} is not set: mount a project-scoped ArgoCD token (secretKeyRef)")
    last: list[AppState] = []
    why: list[str] = []
    refreshed = [-REFRESH_EVERY]
    client = httpx.Client(
        base_url=server.rstrip("/"), timeout=15.0, transport=transport, headers={"Authorization": f"Bearer {token}"}
    )

    def probe() -> AppState | None:
        params = {}
        if time.monotonic() - refreshed[0] >= REFRESH_EVERY:
            params = {"refresh": "normal"}  # look at git now, not on the next poll
        try:
            resp = client.get(f"/api/v1/applications/{app}", params=params)
        except httpx.TransportError as exc:
            why[:] = [f"ArgoCD at {server} is down ({type(exc).__name__})"]
            return None
        if resp.status_code in (401, 403):
            raise CxopsError(
                f"ArgoCD at {server} refused the token ({resp.status_code}) for application {app!r}: mount a token "
                "of the project's deploy role in ARGOCD_AUTH_TOKEN"
            )
        if resp.status_code == 404:
            raise CxopsError(f"ArgoCD at {server} has no application {app!r} (404): check workflows.argocd_app")
        if resp.status_code >= 500:
            why[:] = [f"ArgoCD at {server} answered {resp.status_code}"]
            return None
        resp.raise_for_status()
        if params:
            refreshed[0] = time.monotonic()
        state = AppState.from_api(resp.json())
        last[:] = [state]
        if not state.ready(revision, image):
            why[:] = [f"last seen {state.describe()}"]
            return None
        if live is not None and (not_yet := live()):
            why[:] = [f"ArgoCD reports {state.describe()} but {not_yet}"]
            return None
        return state

    try:
        return wait_until(probe, timeout=timeout, what=_what(app, revision, image), first=first, cap=15.0)
    except CxopsError as exc:
        if why:
            raise CxopsError(f"{exc}; {why[0]}") from None
        raise
    finally:
        client.close()


def _what(app: str, revision: str, image: str) -> str:
    parts = [f"ArgoCD application {app} to be Synced+Healthy"]
    if revision:
        parts.append(f"at {revision[:12]}")
    if image:
        parts.append(f"with {image}")
    return " ".join(parts)
