"""promote SRC DST [VERSION]: only a version that passed SRC's gate moves; DST is deployed by git commit."""

from __future__ import annotations

from cxops.config import ENV_NAMES, Config
from cxops.environments import GATE_OF
from cxops.errors import CxopsError, GateFailed, UsageError
from cxops.gates.reports import gate_tag
from cxops.pipeline.results import DeployResult
from cxops.pipeline.steps._args import check_env
from cxops.registry.client import Registry
from cxops.release.rollout import deploy


def run(cfg: Config, src: str, dst: str, version: str | None = None) -> DeployResult:
    """Move `version` (default: what SRC's alias names) from SRC into the next environment DST through `deploy`.

    Refuses (GateFailed, exit 3, nothing changed) a version whose SRC gate tag is not "passed"; UsageError (exit 2)
    for a move that skips an environment; CxopsError for an empty SRC. Success and failure guarantees are `deploy`'s."""
    check_env(src)
    check_env(dst)
    if ENV_NAMES.index(dst) != ENV_NAMES.index(src) + 1:
        raise UsageError(f"cannot promote {src} → {dst}; promotions go staging → canary → production")
    registry = Registry(cfg)
    if version is None:
        current = registry.alias_version(src)
        if current is None:
            raise CxopsError(f"nothing is in {src} (no alias {src!r}); deploy or promote into {src} first")
        version = current.version
    info = registry.version(version)
    verdict = info.tags.get(gate_tag(GATE_OF[src]))
    if verdict != "passed":
        raise GateFailed(
            f"v{info.version} has not passed the {GATE_OF[src]} gate ({verdict or 'never run'}); refusing to promote "
            f"{src} → {dst}"
        )
    return deploy(cfg, dst, info.version, f"promote from {src}, {GATE_OF[src]} gate passed", registry=registry)
