"""The embedded lab as the release's runtime (cxops.release.runtime): its controller applies git, nginx the split."""

from __future__ import annotations

from cxops.config import Config
from cxops.gitops.overlay import Desired
from cxops.lab.controller import start_failure
from cxops.lab.endpoint import applied_split
from cxops.paths import state_dir
from cxops.release.runtime import probe_serving
from cxops.waiting import wait_until


class EmbeddedRuntime:
    """The lab on this machine: started by a deploy when it is down; the controller's record explains a failed
    start at once instead of after the timeout."""

    def ensure_running(self, cfg: Config) -> None:
        """In embedded mode the lab's controller is what applies git; a deploy without it could only time out."""
        from cxops.lab.services import lab_up  # the lab's services import the release (live); load them on use

        for _ in lab_up(cfg):  # idempotent: running services are left alone
            pass

    def wait_serving(self, cfg: Config, env: str, want: Desired, commit: str | None) -> None:
        """`probe_serving`, failing at once when the controller recorded a failed start of `want` since the wait
        began (in the lab such a server never takes traffic)."""
        ref = want.ref or want.version or ""
        probe_serving(cfg, env, want, lambda since: start_failure(state_dir(cfg), env, ref, since))

    def wait_split(self, cfg: Config, canary_weight: int, commit: str) -> None:
        """Bounded wait (gitops.sync_timeout_seconds, backoff 0.05 → 0.25 s) until nginx runs the config of that
        split (`cxops.lab.endpoint.applied_split`). CxopsError on timeout."""

        def applied() -> bool:
            split = applied_split(cfg)
            return split is not None and split.canary == canary_weight

        wait_until(
            applied,
            timeout=cfg.gitops.sync_timeout_seconds,
            what=f"the lab's endpoint to send {canary_weight}% to the canary (commit {commit[:12]})",
            first=0.05,
            cap=0.25,
        )


RUNTIME = EmbeddedRuntime()
