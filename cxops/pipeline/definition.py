"""THE pipeline contract: every `cxops step` command (its arguments and result), the ordered steps, and rollback.

Read this file to answer "what does step X take and give, and where is it rendered":

- `COMMANDS`: each `cxops step <command>` with its positional arguments (names, help, closed value sets) and the
  result type it returns (`cxops.pipeline.results`). The CLI's argument names and the Argo parameter names (and the
  Argo UI's submit form: description, enum) come from here.
- `PIPELINE`: the forward chain. Each `Step` names its command, its arguments by name (a literal, or a reference
  `{step_id.output}` to an earlier step's output), the outputs later steps may use (fields of the command's
  result type), the Argo WorkflowTemplate it renders into (`template`), its deadline and bounded retries.
- `ROLLBACK`: what runs when a step with `on_failure="rollback"` fails in a way it could not handle itself, and the
  stand-alone `rollback-model` WorkflowTemplate.

Both executors derive from it: `cxops pipeline run` (cxops.pipeline.local, in-process) and the Argo
WorkflowTemplates rendered by cxops.workflows (`cxops workflows render`, files in workflows/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from cxops.environments import ENV_NAMES
from cxops.pipeline import results

REF = re.compile(r"^\{([a-z0-9-]+)\.([a-z_]+)\}$")


@dataclass(frozen=True, kw_only=True)
class Param:
    """One positional argument of a `cxops step` command (also an Argo input parameter of the same name)."""

    name: str
    help: str
    enum: tuple[str, ...] | None = None  # a closed set (rendered as the Argo parameter's `enum`)


@dataclass(frozen=True, kw_only=True)
class Command:
    """A `cxops step <name>` command: positional arguments in CLI order, and the result type it returns."""

    name: str
    params: tuple[Param, ...]
    result: type[results.StepResult]
    help: str
    changes_git: bool = False  # moves an environment through a GitOps commit (deploy key + ArgoCD sync wait)
    # a failed gate rolls its environment back in the step itself (a GitOps commit and ArgoCD's sync wait inside
    # the step: the deploy key and ArgoCD token too, but no wait-synced task after it)
    rolls_back: bool = False

    @property
    def needs_gitops_access(self) -> bool:
        """Whether the step's container needs the GitOps deploy key and the ArgoCD token."""
        return self.changes_git or self.rolls_back

    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def outputs(self) -> tuple[str, ...]:
        """Every output the command can give: the fields of its result type and the values it derives from them."""
        return tuple(f.name for f in fields(self.result)) + self.result.DERIVED


ENV = Param(name="env", help="environment", enum=ENV_NAMES)
VERSION = Param(name="version", help="registered model version (a number)")
RUN_ID = Param(name="run_id", help="MLflow run id from the train step")

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            name="train", params=(), result=results.TrainResult, help="train the configured model in one MLflow run"
        ),
        Command(
            name="evaluate",
            params=(RUN_ID,),
            result=results.EvaluateResult,
            help="held-out metrics vs the evaluation gate and vs production",
        ),
        Command(
            name="register",
            params=(RUN_ID,),
            result=results.RegisterResult,
            help="register a run that passed evaluation; alias candidate",
        ),
        Command(
            name="build",
            params=(VERSION,),
            result=results.BuildResult,
            help="serving artifact and image context of a version",
        ),
        Command(
            name="deploy",
            params=(ENV, VERSION),
            result=results.DeployResult,
            changes_git=True,
            help="commit the environment's overlay, wait until it serves the version, set its alias",
        ),
        Command(
            name="test",
            params=(ENV,),
            result=results.GateResult,
            help="health, golden predictions and load test of an environment (the staging gate)",
        ),
        Command(
            name="promote",
            params=(
                Param(name="src", help="source environment (its gate must have passed)", enum=ENV_NAMES[:-1]),
                Param(name="dst", help="destination environment (the next one)", enum=ENV_NAMES[1:]),
                VERSION,
            ),
            result=results.DeployResult,
            changes_git=True,
            help="move a version that passed SRC's gate into DST (alias, <dst>-previous, git commit)",
        ),
        Command(
            name="analyze",
            params=(Param(name="env", help="environment to analyse", enum=("canary",)),),
            result=results.GateResult,
            rolls_back=True,
            help="canary vs production on live traffic; rolls back on failure",
        ),
        Command(
            name="rollback",
            params=(ENV,),
            result=results.DeployResult,
            changes_git=True,
            help="restore <env>-previous in the registry and in git, wait until live agrees",
        ),
    )
}


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step of the chain. `args` maps each of the command's parameters to a literal or `{step_id.output}`."""

    id: str  # unique within the pipeline, a DNS label (Argo task names)
    command: str  # a key of COMMANDS
    args: Mapping[str, str]
    outputs: tuple[str, ...]  # what later steps may reference; each is a field of the command's result type
    template: str  # the Argo WorkflowTemplate this step renders into
    timeout_seconds: int
    retries: int  # bounded retries for transient (network) failures; gates are never retried
    gate: bool = False
    on_failure: str | None = None  # "rollback": run ROLLBACK for `args["env"]` if the step crashes
    description: str = ""

    def __hash__(self) -> int:  # `args` is a mapping; ids are unique within a pipeline
        return hash(self.id)

    @property
    def spec(self) -> Command:
        return COMMANDS[self.command]

    def arg_values(self) -> tuple[str, ...]:
        """Arguments in the command's positional order (what `cxops step <command>` receives)."""
        return tuple(self.args[p] for p in self.spec.param_names() if p in self.args)

    def references(self) -> list[tuple[str, str]]:
        return [(m[1], m[2]) for a in self.args.values() if (m := REF.match(a))]


PIPELINE: tuple[Step, ...] = (
    Step(
        id="train",
        command="train",
        args={},
        outputs=("run_id",),
        template="train-model",
        timeout_seconds=1800,
        retries=1,
        description="train the configured model in one MLflow run",
    ),
    Step(
        id="evaluate",
        command="evaluate",
        args={"run_id": "{train.run_id}"},
        outputs=("passed",),
        template="train-model",
        timeout_seconds=600,
        retries=1,
        gate=True,
        description="held-out metrics vs thresholds and vs production",
    ),
    Step(
        id="register",
        command="register",
        args={"run_id": "{train.run_id}"},
        outputs=("version",),
        template="train-model",
        timeout_seconds=300,
        retries=3,
        description="model version with lineage tags, alias candidate",
    ),
    Step(
        id="build",
        command="build",
        args={"version": "{register.version}"},
        outputs=("version", "image", "digest"),
        template="build-container-image",
        timeout_seconds=900,
        retries=2,
        description="serving artifact (model files, version.json, image context) for the version",
    ),
    Step(
        id="deploy-staging",
        command="deploy",
        args={"env": "staging", "version": "{register.version}"},
        outputs=("commit",),
        template="deploy-container-image",
        timeout_seconds=600,
        retries=3,
        description="git commit of the staging overlay, wait until staging serves it",
    ),
    Step(
        id="test-staging",
        command="test",
        args={"env": "staging"},
        outputs=("passed",),
        template="test-staging",
        timeout_seconds=600,
        retries=1,
        gate=True,
        description="integration + load test of staging",
    ),
    Step(
        id="promote-canary",
        command="promote",
        args={"src": "staging", "dst": "canary", "version": "{register.version}"},
        outputs=("commit",),
        template="promote-model",
        timeout_seconds=600,
        retries=3,
        description="alias canary, git commit of the canary overlay",
    ),
    Step(
        id="analyze-canary",
        command="analyze",
        args={"env": "canary"},
        outputs=("passed",),
        template="analyze-canary",
        timeout_seconds=1200,
        retries=1,
        gate=True,
        on_failure="rollback",
        description="canary vs production on live traffic; rollback on fail",
    ),
    Step(
        id="promote-production",
        command="promote",
        args={"src": "canary", "dst": "production", "version": "{register.version}"},
        outputs=("commit",),
        template="promote-model",
        timeout_seconds=600,
        retries=3,
        description="alias production, git commit of the production overlay",
    ),
)

# Not part of the forward chain: run after a crashed `on_failure="rollback"` step, and as its own WorkflowTemplate.
ROLLBACK = Step(
    id="rollback",
    command="rollback",
    args={"env": "canary"},
    outputs=("commit",),
    template="rollback-model",
    timeout_seconds=600,
    retries=2,
    description="restore <env>-previous in the registry and in git",
)


def step(step_id: str) -> Step:
    """The step with this id; KeyError when there is none."""
    for s in PIPELINE:
        if s.id == step_id:
            return s
    raise KeyError(step_id)


def validate(pipeline: tuple[Step, ...] = PIPELINE) -> None:
    """Raise ValueError unless: ids are unique; every command exists; args name exactly the command's parameters
    (trailing optional ones may be left out only by ROLLBACK-style callers, not here); declared outputs are fields of
    the command's result type; every reference points to an earlier step's declared output."""
    seen: dict[str, tuple[str, ...]] = {}
    for s in (*pipeline, ROLLBACK):
        if s.id in seen:
            raise ValueError(f"duplicate step id {s.id}")
        if s.command not in COMMANDS:
            raise ValueError(f"step {s.id}: unknown command {s.command!r}; valid: {', '.join(COMMANDS)}")
        spec = COMMANDS[s.command]
        if set(s.args) != set(spec.param_names()):
            raise ValueError(f"step {s.id}: args {sorted(s.args)} must be exactly {list(spec.param_names())}")
        missing = set(s.outputs) - set(spec.outputs())
        if missing:
            raise ValueError(f"step {s.id}: outputs {sorted(missing)} are not fields of {spec.result.__name__}")
        if s.on_failure not in (None, "rollback"):
            raise ValueError(f"step {s.id}: on_failure must be 'rollback' or None, got {s.on_failure!r}")
        for ref_step, output in s.references():
            if ref_step not in seen or output not in seen[ref_step]:
                raise ValueError(f"step {s.id} references {ref_step}.{output}, which no earlier step outputs")
        if s is not ROLLBACK:
            seen[s.id] = s.outputs


validate()
