"""Where the environments run, the release's one seam: the embedded lab, a cluster, or a team's remote elsewhere.

The release (rollout, canary_traffic) commits to git and then waits until what applies git has done so. Who that
is depends on where the environments run, and only this module knows the three answers:

- `embedded` (`Config.embedded`: no gitops.remote): the lab's controller and nginx on this machine
  (cxops/lab/embedded_runtime.py). A deploy starts the lab when it is down and fails at once on the controller's
  start-up record.
- `cluster` (a workflow step, CXOPS_EXECUTOR=argo): ArgoCD applies git (cxops/workflows/cluster_runtime.py).
- `external` (a team's remote, run from a machine outside the cluster): something else applies git; the release
  can only probe each environment's URL and cannot see the router (`ExternalRuntime` below).

The implementations live in the rooms that own those services (lab, workflows), which import the release and not
the other way round; `runtime_for` loads the one in use by module name from `RUNTIMES`, the only such table in
cxops (tests/unit/test_docs.py checks that each module implements `Runtime`).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Protocol

from cxops.cluster_config import in_cluster
from cxops.config import Config
from cxops.errors import CxopsError
from cxops.gitops.overlay import Desired
from cxops.release.live import env_url, live, serves
from cxops.waiting import wait_until

# where environments run -> the module whose RUNTIME implements it (imported on first use: the release imports
# neither the lab nor the workflows)
RUNTIMES = {"embedded": "cxops.lab.embedded_runtime", "cluster": "cxops.workflows.cluster_runtime"}


class Runtime(Protocol):
    """What applies git to the environments, as the release sees it."""

    def ensure_running(self, cfg: Config) -> None:
        """Start what applies git, when this runtime is the one that starts it (idempotent); CxopsError if not."""

    def wait_serving(self, cfg: Config, env: str, want: Desired, commit: str | None) -> None:
        """Bounded wait until `env` serves what `want` names and is ready (nothing answers, for a `want` without
        a version), after `commit` (None: git already said so). CxopsError naming what was awaited."""

    def wait_split(self, cfg: Config, canary_weight: int, commit: str) -> None:
        """Bounded wait until the router sends `canary_weight` percent to the canary, as `commit` asks."""


def where(cfg: Config) -> str:
    """`cluster` inside a workflow step, `embedded` without a gitops.remote, else `external`."""
    if in_cluster():
        return "cluster"
    return "embedded" if cfg.embedded else "external"


def runtime_for(cfg: Config) -> Runtime:
    """The runtime of `where(cfg)`."""
    kind = where(cfg)
    if kind == "external":
        return ExternalRuntime()
    runtime: Runtime = importlib.import_module(RUNTIMES[kind]).RUNTIME
    return runtime


def probe_serving(
    cfg: Config, env: str, want: Desired, start_failure: Callable[[float], str | None] | None = None
) -> None:
    """The release's own wait (gitops.sync_timeout_seconds, backoff 0.05 → 0.25 s: a local GET per probe) until
    `env` serves what `want` names (version, and model and model digest where given; `cxops.release.live.serves`)
    and is ready, or, for a Desired without a version, until nothing answers there.

    Fails at once when the env loaded the version but reports itself not ready (e.g. a corrupt build), or when
    `start_failure(since)` (the runtime's record of a failed start since `since`, epoch seconds) says why it did
    not start. CxopsError; changes nothing."""
    since = time.time()
    version = want.version

    def probe() -> bool:
        now = live(cfg, env)
        if version is None:
            return not now.reachable
        if serves(now, want) and not now.ready and now.detail:
            raise CxopsError(f"{env} loaded {want.label()} but it is not ready: {now.detail}")
        if not serves(now, want) and start_failure is not None and (why := start_failure(since)):
            raise CxopsError(f"{env} loaded {want.label()} but it is not ready: {why}")
        return serves(now, want) and now.ready

    wait_until(
        probe,
        timeout=cfg.gitops.sync_timeout_seconds,
        what=f"{env} at {env_url(cfg, env)} to serve {want.label()}",
        first=0.05,
        cap=0.25,
    )


class ExternalRuntime:
    """A team's remote seen from outside the cluster: the env URLs are probed; the router cannot be seen."""

    def ensure_running(self, cfg: Config) -> None:
        """Nothing to start: the team's remote and whatever applies it run elsewhere."""

    def wait_serving(self, cfg: Config, env: str, want: Desired, commit: str | None) -> None:
        """`probe_serving` on the env's URL."""
        probe_serving(cfg, env, want)

    def wait_split(self, cfg: Config, canary_weight: int, commit: str) -> None:
        """Returns at once: nothing here can see the router."""
