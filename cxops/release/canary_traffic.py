"""The canary's share of user traffic, moved in a commit of its own once the canary serves (audit K6).

The gateway's HTTPRoute and the canary's overlay are synced independently (in the cluster: the `traffic` and the
canary's ArgoCD Applications; in the lab: nginx and the lab controller), so a route that gave the canary its
weight in the overlay's own commit could send that share to a Service with no ready pod. A deploy therefore
commits the canary's overlay with weight 0, waits until the canary serves, and only then commits the weight.
"""

from __future__ import annotations

from cxops.config import Config
from cxops.gitops.repo import GitOpsRepo
from cxops.gitops.traffic import canary_weight, write_traffic
from cxops.release.runtime import runtime_for


def set_canary_weight(cfg: Config, repo: GitOpsRepo, active: bool, why: str) -> str | None:
    """Commit the canary's weight alone: the configured one when `active`, else 0; then wait until the router
    applies it (`wait_traffic`). Returns the commit, or None when git already said so. CxopsError as `wait_traffic`
    or when the push is refused (the remote refuses weight on an empty canary)."""
    commit = commit_canary_weight(cfg, repo, active, why)
    if commit is not None:
        wait_traffic(cfg, cfg.environments.canary.weight if active else 0, commit)
    return commit


def commit_canary_weight(cfg: Config, repo: GitOpsRepo, active: bool, why: str) -> str | None:
    """Commit the canary's weight alone (the configured one when `active`, else 0) without waiting. Returns the
    commit, or None when git already said so. GateFailed when the remote refuses it, CxopsError when the push
    fails otherwise."""
    weight = cfg.environments.canary.weight if active else 0
    return repo.change(
        lambda wd: write_traffic(wd, cfg, canary_active=active), f"traffic: canary weight {weight} ({why})"
    )


def weight_active(cfg: Config, repo: GitOpsRepo) -> bool:
    """Whether the HTTPRoute in the work clone (as last synced) gives the canary any weight; an unreadable route
    counts as "no weight" (the remote's check refuses such routes, so this is only a hand-broken clone)."""
    try:
        return canary_weight(repo.workdir, cfg) > 0
    except (OSError, ValueError):
        return False


def wait_traffic(cfg: Config, canary_weight: int, commit: str) -> None:
    """Bounded wait until the router sends `canary_weight` percent to the canary as `commit` asks; the wait of where
    the environments run (`cxops.release.runtime`). In the cluster: ArgoCD reports the `traffic` Application Synced
    and Healthy at `commit` (workflows.sync_timeout_seconds). In the embedded lab: nginx runs the config of that
    split (gitops.sync_timeout_seconds, backoff 0.05 → 0.25 s). With an external remote outside the cluster nothing
    here can see the router, so it returns at once. CxopsError on timeout."""
    runtime_for(cfg).wait_split(cfg, canary_weight, commit)
