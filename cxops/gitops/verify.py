"""Is a push to the GitOps branch a safe promotion? The rules every change of deployed state must obey.

For every environment whose overlay changes between OLD and NEW: the new version exists in the registry, has a
build, the image named in `model.env` and in the kustomization equals that build's image, and the version passed
the gate that guards the environment (staging: evaluation, canary: staging, production: canary) unless it was in
that environment before (a rollback). The HTTPRoute gives the canary no weight while no canary is deployed, and
the branch's history is never rewritten or deleted. Anything the rules cannot check (MLflow down) is a violation:
the check fails closed.

The same function backs `cxops gitops verify`, the lab's pre-receive hook, a Gitea/GitLab server hook and the
cluster's `gitops-guard` workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from cxops.config import ENV_NAMES, Config
from cxops.errors import CxopsError
from cxops.gitops import history
from cxops.gitops.overlay import IMAGE_PLACEHOLDER, parse_env_file
from cxops.gitops.traffic import TRAFFIC_FILES, backend_weights, route_problems
from cxops.names import overlay_dir, traffic_dir

# The gate a version must have passed to ENTER each environment (a version's tags hold the verdicts).
ENTRY_GATE = {"staging": "evaluation", "canary": "staging", "production": "canary"}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (an environment, the traffic route or the branch) and why, on one line."""

    where: str
    message: str

    def line(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class _Registry:
    """The registry, opened on first use; the first failure to reach it is remembered and reported once."""

    factory: Callable[[], object]
    _client: object | None = None
    error: str | None = None
    reported: bool = False

    def get(self):
        if self._client is None and self.error is None:
            try:
                self._client = self.factory()
            except CxopsError as exc:
                self.error = str(exc)
        return self._client


@dataclass(frozen=True)
class Push:
    """One ref update as a pre-receive hook sees it: old and new object names (all-zero = absent) and the ref."""

    old: str
    new: str
    ref: str


def branch_ref(cfg: Config) -> str:
    return f"refs/heads/{cfg.gitops.branch}"


def verify_push(
    cfg: Config,
    git_dir: Path,
    push: Push,
    registry: Callable[[], object] | None = None,
) -> list[Violation]:
    """The violations of one ref update. Only the GitOps branch is deployed, so other refs are not checked."""
    if push.ref != branch_ref(cfg):
        return []
    branch = cfg.gitops.branch
    if history.is_zero(push.new):
        return [Violation(branch, f"deleting branch {branch} is refused: it is what every environment deploys")]
    out: list[Violation] = []
    if not history.is_zero(push.old) and not history.is_ancestor(git_dir, push.old, push.new):
        out.append(
            Violation(
                branch,
                f"history rewrite refused (force-push): {push.new[:12]} does not contain "
                f"{push.old[:12]}; pull, rebase your change onto it and push again",
            )
        )
    if out:
        return out
    reg = _Registry(registry or _default_registry(cfg))
    # every commit of the range, not only its net change: a bad commit reverted later in the same push would
    # otherwise land in history, and history counts what it once deployed as "was in <env> before" (a rollback)
    steps = history.commits_between(git_dir, push.old, push.new)
    if len(steps) > history.MAX_RANGE:
        return [
            Violation(
                branch,
                f"{len(steps)} commits in one push; at most {history.MAX_RANGE} are judged one by one: push in parts",
            )
        ]
    for commit, parent in steps[:-1]:  # the tip is judged below against what the branch held
        for v in verify(cfg, git_dir, parent, commit, registry, accepted=push.old, reg=reg):
            out.append(Violation(v.where, f"commit {commit[:12]} (before the tip): {v.message}"))
    return out + verify(cfg, git_dir, push.old, push.new, registry, reg=reg)


def verify(
    cfg: Config,
    git_dir: Path,
    old: str,
    new: str,
    registry: Callable[[], object] | None = None,
    accepted: str | None = None,
    reg: _Registry | None = None,
) -> list[Violation]:
    """Every rule for the state change OLD → NEW (commits in `git_dir`); empty = a safe promotion.

    `accepted` is the branch tip the remote last accepted (default `old`): only versions in its history count as
    "was in the environment before". `registry` makes the registry reader on demand (default:
    `cxops.registry.rest.RegistryReader`, which never starts the lab's MLflow, so a stopped MLflow refuses the push
    instead of being started by it)."""
    reg = reg or _Registry(registry or _default_registry(cfg))
    accepted = old if accepted is None else accepted
    out: list[Violation] = []
    for env in ENV_NAMES:
        if history.changed(git_dir, old, new, overlay_dir(cfg, env)):
            out += _check_env(cfg, git_dir, accepted, new, env, reg)
    canary_changed = history.changed(git_dir, old, new, overlay_dir(cfg, "canary"))
    if canary_changed or history.changed(git_dir, old, new, traffic_dir(cfg)):
        out += _check_traffic(cfg, git_dir, new)
    return out


def _default_registry(cfg: Config) -> Callable[[], object]:
    def make() -> object:
        from cxops.registry.rest import RegistryReader

        return RegistryReader(cfg, start_lab=False)

    return make


def _check_env(cfg: Config, git_dir: Path, old: str, new: str, env: str, reg: _Registry) -> list[Violation]:
    path = overlay_dir(cfg, env)
    text = history.show(git_dir, new, f"{path}/model.env")
    if text is None:
        return [Violation(env, f"{path}/model.env is missing; every environment keeps its overlay")]
    values = parse_env_file(text)
    version, image = values.get("MODEL_VERSION") or None, values.get("MODEL_IMAGE") or None
    out = []
    if values.get("MODEL_NAME") != cfg.model.name:
        out.append(
            Violation(
                env,
                f"MODEL_NAME={values.get('MODEL_NAME', '')} but this project deploys "
                f"{cfg.model.name} (model.name in cxops.yaml)",
            )
        )
    kimage = _kustomization_image(history.show(git_dir, new, f"{path}/kustomization.yaml"))
    if version is None:
        if env == "production":
            out.append(Violation(env, "production would serve nothing; roll back to an earlier version instead"))
        elif image:
            out.append(Violation(env, f"MODEL_IMAGE={image} without a MODEL_VERSION"))
        return out
    client = reg.get()
    if client is None:
        return out + _registry_down(reg, env, version)
    try:
        info = client.version(version)
    except CxopsError as exc:
        if "does not exist" in str(exc):
            return [*out, Violation(env, f"v{version} is not a registered version of {cfg.model.name}")]
        reg.error = str(exc)
        return out + _registry_down(reg, env, version)
    build = info.tags.get("cxops.build.image") or _local_build_image(cfg, version)
    if not build:
        out.append(Violation(env, f"v{version} has no build (run `cxops step build {version}`); nothing to deploy"))
    else:
        if image != build:
            out.append(Violation(env, f"MODEL_IMAGE={image or '(empty)'} is not v{version}'s build {build}"))
        if kimage != build:
            out.append(Violation(env, f"kustomization image {kimage or '(none)'} is not v{version}'s build {build}"))
    gate = ENTRY_GATE[env]
    verdict = info.tags.get(f"cxops.gate.{gate}")
    if verdict != "passed":
        earlier = history.values_ever_set(git_dir, old, f"{path}/model.env", "MODEL_VERSION")
        if version not in earlier:
            out.append(
                Violation(
                    env,
                    f"v{version} has not passed the {gate} gate ({verdict or 'never run'}); only "
                    f"a version that passed it may enter {env}, or one that was in {env} before "
                    "(a rollback)",
                )
            )
    return out


def _registry_down(reg: _Registry, env: str, version: str) -> list[Violation]:
    """Fail closed: MLflow could not answer, so nothing about the version can be checked. Reported once."""
    if reg.reported:
        return [Violation(env, f"v{version} not checked: MLflow is unreachable (see above)")]
    reg.reported = True
    return [Violation(env, f"cannot check v{version}, refusing (fail closed): {reg.error}")]


def _kustomization_image(text: str | None) -> str | None:
    """The `images:` entry that replaces the base's placeholder, as name:tag."""
    try:
        doc = yaml.safe_load(text or "") or {}
        entry = next(i for i in doc.get("images") or [] if i.get("name") == IMAGE_PLACEHOLDER)
    except (yaml.YAMLError, StopIteration, AttributeError):
        return None
    return f"{entry.get('newName', '')}:{entry.get('newTag', '')}"


def _local_build_image(cfg: Config, version: str) -> str | None:
    """The lab keeps build records on disk too (a version built before its tags existed still has one)."""
    from cxops.builds import read_build
    from cxops.paths import state_dir

    build = read_build(state_dir(cfg), cfg.model.name, version)
    return build.get("image") if build else None


def _check_traffic(cfg: Config, git_dir: Path, new: str) -> list[Violation]:
    route_path = f"{traffic_dir(cfg)}/httproute.yaml"
    text = history.show(git_dir, new, route_path)
    if text is None:
        return [Violation("traffic", f"{route_path} is missing: the gateway would have no production route")]
    try:
        weights = backend_weights(cfg, text)
    except ValueError as exc:
        return [Violation("traffic", f"{route_path}: {exc}")]
    out = []
    if sum(weights.values()) != 100:
        out.append(
            Violation(
                "traffic",
                f"weights add up to {sum(weights.values())}, not 100 "
                f"(production {weights['production']}, canary {weights['canary']})",
            )
        )
    canary = parse_env_file(history.show(git_dir, new, f"{overlay_dir(cfg, 'canary')}/model.env") or "")
    if weights["canary"] and not canary.get("MODEL_VERSION"):
        out.append(
            Violation(
                "traffic",
                f"canary weight {weights['canary']} but no canary is deployed; it must be "
                "0 while the canary overlay is empty",
            )
        )
    if out:
        return out
    # beyond the weights: the route must be exactly what cxops renders, or the gateway may not serve it as intended
    files = {name: history.show(git_dir, new, f"{traffic_dir(cfg)}/{name}") for name in TRAFFIC_FILES}
    return [Violation("traffic", p) for p in route_problems(cfg, files, bool(canary.get("MODEL_VERSION")))]
