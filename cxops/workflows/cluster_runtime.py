"""A cluster as the release's runtime (cxops.release.runtime): inside a workflow step ArgoCD applies git."""

from __future__ import annotations

from cxops import names
from cxops.config import Config
from cxops.gitops.overlay import Desired
from cxops.release.live import env_url, live, serves
from cxops.workflows.argocd_wait import wait_synced


class ClusterRuntime:
    """ArgoCD applies the env overlays (one Application per env) and the route (the `traffic` Application)."""

    def ensure_running(self, cfg: Config) -> None:
        """Nothing to start: ArgoCD runs in the cluster."""

    def wait_serving(self, cfg: Config, env: str, want: Desired, commit: str | None) -> None:
        """Ask ArgoCD to refresh the env's Application and wait (workflows.sync_timeout_seconds, at least ArgoCD's
        own poll period) until it reports `commit` Synced and Healthy and the env's Service answers /version with
        what `want` names (nothing at all for a retired env). CxopsError naming what was awaited."""
        url = env_url(cfg, env)

        def agrees() -> str | None:
            now = live(cfg, env)
            if want.version is None:
                return f"{url} still serves {now.label()}" if now.reachable else None
            if serves(now, want) and now.ready:
                return None
            return f"{url} serves {now.label()}{'' if now.ready or not now.reachable else ' (not ready)'}"

        wait_synced(
            names.argocd_server(cfg),
            names.argocd_app(cfg, env),
            revision=commit or "",
            timeout=cfg.workflows.sync_timeout_seconds,
            live=agrees,
            first=0.5,
        )

    def wait_split(self, cfg: Config, canary_weight: int, commit: str) -> None:
        """ArgoCD reports the `traffic` Application Synced and Healthy at `commit` (workflows.sync_timeout_seconds)."""
        wait_synced(
            names.argocd_server(cfg),
            names.argocd_platform_app(cfg, "traffic"),
            revision=commit,
            timeout=cfg.workflows.sync_timeout_seconds,
            first=0.5,
        )


RUNTIME = ClusterRuntime()
