"""Wait until an ArgoCD Application is Synced and Healthy at the expected git revision and image.

Uses the ArgoCD API with a project-scoped token (ARGOCD_AUTH_TOKEN from a secretKeyRef), never the admin password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cxops.errors import CxopsError
from cxops.settings import settings

TOKEN_ENV = "ARGOCD_AUTH_TOKEN"


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
    server: str, app: str, *, revision: str = "", image: str = "", timeout: float = 600, transport: Any = None
) -> AppState:
    import httpx

    from cxops.waiting import wait_until

    if revision in ("null", "None"):
        revision = ""  # the step changed nothing in git (already there): any synced revision will do
    token = settings().argocd_token or ""
    if not token:
        raise CxopsError(f"{TOKEN_ENV} is not set: mount a project-scoped ArgoCD token (secretKeyRef)")
    last: list[AppState] = []
    client = httpx.Client(
        base_url=server.rstrip("/"), timeout=15.0, transport=transport, headers={"Authorization": f"Bearer {token}"}
    )

    def probe() -> AppState | None:
        # refresh=normal asks ArgoCD to look at git now instead of after its 180 s poll
        resp = client.get(f"/api/v1/applications/{app}", params={"refresh": "normal"})
        if resp.status_code in (401, 403, 404):
            raise CxopsError(
                f"ArgoCD answered {resp.status_code} for application {app!r} at {server}: "
                "check workflows.argocd_app and the token's project scope"
            )
        resp.raise_for_status()
        state = AppState.from_api(resp.json())
        last[:] = [state]
        return state if state.ready(revision, image) else None

    try:
        return wait_until(probe, timeout=timeout, what=_what(app, revision, image), first=2.0, cap=15.0)
    except CxopsError as exc:
        if last:
            raise CxopsError(f"{exc}; last seen {last[0].describe()}") from exc
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
