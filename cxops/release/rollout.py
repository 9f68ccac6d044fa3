"""Moving an environment: git commit → live serves it → registry alias. A failure undoes git, so the three agree."""

from __future__ import annotations

import contextlib
from pathlib import Path

from cxops.builds import read_build
from cxops.config import Config
from cxops.errors import CxopsError
from cxops.gitops.history import PREVIOUS_TRAILER
from cxops.gitops.overlay import Desired, write_overlay
from cxops.gitops.repo import GitOpsRepo
from cxops.gitops.state import desired, gitops_repo, overlay_path
from cxops.gitops.traffic import write_traffic
from cxops.paths import state_dir
from cxops.pipeline.results import DeployResult
from cxops.registry.client import Registry
from cxops.release.canary_traffic import commit_canary_weight, set_canary_weight, wait_traffic, weight_active
from cxops.release.runtime import runtime_for


def _overlay_files(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(path.iterdir()) if f.is_file()} if path.is_dir() else {}


def _set_desired(cfg: Config, repo: GitOpsRepo, want: Desired, why: str, previous: str = "") -> str | None:
    """Commit `want` as its env's overlay (model name, version, image, model digest); the commit, or None when git
    already said so. For the canary, the HTTPRoute gives it weight 0 in the same commit whenever the overlay
    changes or empties: a canary takes its share only after it serves (`deploy` commits it then), and an empty
    canary never has weight. `previous` ("keep" | "clear"), from a deploy, goes into the commit as the
    PREVIOUS_TRAILER, so a `cxops reconcile` that sees the commit first moves the aliases as the deploy will."""
    env, version = want.env, want.version

    def edit(wd: Path) -> None:
        path = wd / overlay_path(cfg, env)
        before = _overlay_files(path)
        write_overlay(
            path,
            env,
            want.name or cfg.model.name,
            version,
            want.image,
            cfg.environments.get(env).replicas,
            want.digest,
            cfg.serving.server_env(cfg.batching(env)),
        )
        if env == "canary" and (version is None or _overlay_files(path) != before):
            write_traffic(wd, cfg, canary_active=False)

    message = f"{env}: {'deploy ' + want.label() if version else 'retire'} ({why})"
    return repo.change(edit, f"{message}\n\n{PREVIOUS_TRAILER}: {previous}" if previous else message)


def wait_serving(cfg: Config, env: str, want: Desired | None, commit: str | None = None) -> None:
    """Bounded wait until `env` serves what `want` names and is ready, or, for None or a Desired without a
    version, until nothing answers there; the wait of where the environments run (`cxops.release.runtime`: the
    lab's controller, ArgoCD in a workflow step, or the env's URL alone).

    Success: live agrees with what git asked. Failure: CxopsError saying what was awaited at which URL (timeout), or
    at once when the env loaded the version but reports itself not ready (e.g. a corrupt build; in the lab, where
    such a server never takes traffic, the controller's record says so). Changes nothing."""
    runtime_for(cfg).wait_serving(cfg, env, want if want is not None else Desired(env, None, None), commit)


def _restore(cfg: Config, repo: GitOpsRepo, before: Desired, weighted: bool, why: str) -> str:
    """Commit `before` back, and for the canary its weight as it was (`weighted`: the route gave it its share),
    the weight only once the restored canary serves again. Returns "" or why git could not be restored (e.g. the
    remote's hook cannot reach MLflow and fails closed: the new version then stays, and the registry follows it
    once MLflow is back)."""
    try:
        commit = _set_desired(cfg, repo, before, why)
    except CxopsError as exc:
        return f"git could NOT be restored: {exc}"
    with contextlib.suppress(CxopsError):  # git is restored; `cxops status` shows whether live caught up
        wait_serving(cfg, before.env, before, commit)
        if before.env == "canary":  # no weight on a canary that does not serve (yet)
            set_canary_weight(cfg, repo, weighted and before.version is not None, why)
    return ""


def deploy(
    cfg: Config, env: str, version: str, reason: str, *, registry: Registry | None = None, keep_previous: bool = True
) -> DeployResult:
    """The one way an environment moves (promote and rollback call it): git commit of the overlay → live serves it →
    (canary only: a second commit gives it its traffic weight → the router applies it) → registry alias `env` (and
    `<env>-previous` = what was there, when `keep_previous`). The canary's overlay commit sets its weight to 0, so
    the gateway never sends the canary's share to a canary that does not serve yet.

    On success the three agree and the result names the last commit pushed (None when git already said so). On
    failure it raises CxopsError and leaves nothing half-done: an unknown version or a version without a build fails
    before anything changes; a version that never becomes ready, a weight the router does not apply, or an alias
    that cannot be set (MLflow down), reverts the overlay and the weight with commits of their own (the weight
    last), so git, live and the registry again say what they said before. The remote's hook fails closed: with
    MLflow down it refuses even that revert; the error then says the version was left in
    git, and `cxops reconcile` moves the alias once MLflow answers."""
    registry = registry or Registry(cfg)
    info = registry.version(version)  # an unknown version fails here, before anything changes
    runtime_for(cfg).ensure_running(cfg)  # the lab, when it is what applies git
    # The build record is local in the lab; in the cluster the build ran in another pod and left its image on
    # the version as a tag. Either way: no build, no deploy.
    build = read_build(state_dir(cfg), cfg.model.name, info.version)
    image = build["image"] if build else info.tags.get("cxops.build.image")
    digest = (build or {}).get("model_digest") or info.tags.get("cxops.build.model_digest")
    if not image:
        raise CxopsError(f"{cfg.model.name} v{info.version} has no build; run `cxops step build {info.version}` first")
    repo = gitops_repo(cfg)
    before = desired(cfg, repo, env)
    weighted = env == "canary" and weight_active(cfg, repo)
    want = Desired(env, info.version, image, cfg.model.name, digest)
    commit = _set_desired(cfg, repo, want, reason, "keep" if keep_previous else "clear")
    last = commit  # the last commit this deploy pushed: what a failure must undo
    failed = f"v{info.version} never became ready"
    try:
        wait_serving(cfg, env, want, commit)
        failed = f"the canary weight for v{info.version} was not applied"
        if env == "canary":  # only now that it serves does the canary get its share (audit K6)
            weight = cfg.environments.canary.weight
            if opened := commit_canary_weight(cfg, repo, True, f"v{info.version} serves; {reason}"):
                last = opened
                wait_traffic(cfg, weight, opened)
    except CxopsError as exc:
        note = _restore(cfg, repo, before, weighted, f"revert: {failed}") if last else ""
        where = f" ({note})" if note else f", git restored to {before.label()}"
        raise CxopsError(f"deploy of v{info.version} to {env} failed{where}: {exc}") from None
    try:
        previous = move_alias(registry, env, info.version, keep_previous=keep_previous, commit=commit)
    except CxopsError as exc:
        note = _restore(cfg, repo, before, weighted, "revert: registry alias could not be set") if last else ""
        how = f"left in git ({note}; the alias follows once MLflow answers)" if note else "undone (no half-promotion)"
        raise CxopsError(f"deploy of v{info.version} to {env} {how}: {exc}") from None
    # the step's output is the last commit pushed: what ArgoCD must have synced (its revision is the branch head)
    return DeployResult(env=env, version=info.version, previous=previous, commit=last, changed=last is not None)


def commit_tag(env: str) -> str:
    """Version tag naming the GitOps commit that last moved `env`'s alias to that version."""
    return f"cxops.gitops.{env}.commit"


def move_alias(
    registry: Registry, env: str, version: str, *, keep_previous: bool = True, commit: str | None = None
) -> str | None:
    """Point alias `env` at `version` once live serves it; `<env>-previous` keeps the version it replaces.

    The version is tagged with the commit that caused the move (when known). Returns the replaced version. Both
    `deploy` and `cxops reconcile` (a hand push) move aliases only through here and `step_back`."""
    current = registry.alias_version(env)
    if keep_previous and current is not None and current.version != version:
        registry.set_alias(f"{env}-previous", current.version)
    registry.set_alias(env, version)
    if commit:
        registry.set_version_tag(version, commit_tag(env), commit)
    return current.version if current else None


def step_back(registry: Registry, env: str, rolled_back: str | None, reason: str) -> None:
    """After a rollback: clear `<env>-previous` (one step back only, no ping-pong) and mark the version left."""
    registry.delete_alias(f"{env}-previous")
    if rolled_back is not None:
        registry.set_version_tag(rolled_back, f"cxops.rolled_back.{env}", reason[:250])


def retire(cfg: Config, env: str, reason: str, *, registry: Registry | None = None) -> DeployResult:
    """Serve nothing in `env` (used when a first canary fails and there is nothing to go back to).

    Success: the overlay says nothing (0 replicas; for canary the traffic weight is 0 in the same commit), nothing
    answers at the env's URL, and alias `env` is removed. Failure: CxopsError from the bounded wait or from MLflow;
    git then already says "nothing", which `cxops status` reports until live or the alias catch up."""
    registry = registry or Registry(cfg)
    runtime_for(cfg).ensure_running(cfg)  # the lab, when it is what applies git
    repo = gitops_repo(cfg)
    before = desired(cfg, repo, env)
    commit = _set_desired(cfg, repo, Desired(env, None, None, before.name), reason)
    wait_serving(cfg, env, None, commit)
    registry.delete_alias(env)
    return DeployResult(env=env, version=None, previous=before.version, commit=commit, changed=commit is not None)
