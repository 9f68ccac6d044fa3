"""THE pipeline: which steps run, in what order, with which inputs, limits and retries.

Both executors derive from this tuple: `cxops pipeline run` (local, in-process) and the Argo WorkflowTemplates
rendered by cxops.workflows. Arguments are literals or references `{step_id.output}` to an earlier step's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REF = re.compile(r"^\{([a-z0-9-]+)\.([a-z_]+)\}$")


@dataclass(frozen=True)
class Step:
    id: str  # unique within the pipeline, a DNS label (Argo task names)
    command: str  # `cxops step <command> <args...>`
    args: tuple[str, ...]
    outputs: tuple[str, ...]
    stage: str  # the Argo WorkflowTemplate this step belongs to
    timeout_seconds: int
    retries: int  # bounded retries for transient (network) failures; gates are never retried
    gate: bool = False
    description: str = ""

    def references(self) -> list[tuple[str, str]]:
        return [(m[1], m[2]) for a in self.args if (m := REF.match(a))]


PIPELINE: tuple[Step, ...] = (
    Step("train", "train", (), ("run_id",), "train-model", 1800, 1,
         description="train the configured model in one MLflow run"),
    Step("evaluate", "evaluate", ("{train.run_id}",), ("passed",), "train-model", 600, 1, gate=True,
         description="held-out metrics vs thresholds and vs production"),
    Step("register", "register", ("{train.run_id}",), ("version",), "train-model", 300, 3,
         description="model version with lineage tags, alias candidate"),
    Step("build", "build", ("{register.version}",), ("version", "image", "digest"), "build-container-image", 900, 2,
         description="serving artifact (model files, version.json, image context) for the version"),
    Step("deploy-staging", "deploy", ("staging", "{register.version}"), ("commit",), "deploy-container-image", 600, 3,
         description="git commit of the staging overlay, wait until staging serves it"),
    Step("test-staging", "test", ("staging",), ("passed",), "test-staging", 600, 1, gate=True,
         description="integration + load test of staging"),
    Step("promote-canary", "promote", ("staging", "canary", "{register.version}"), ("commit",), "promote-model",
         600, 3, description="alias canary, git commit of the canary overlay"),
    Step("analyze-canary", "analyze", ("canary",), ("passed",), "analyze-canary", 1200, 1, gate=True,
         description="canary vs production on live traffic; rollback on fail"),
    Step("promote-production", "promote", ("canary", "production", "{register.version}"), ("commit",),
         "promote-model", 600, 3, description="alias production, git commit of the production overlay"),
)  # fmt: skip

# Steps callable as `cxops step <command>` but not part of the forward chain.
EXTRA_COMMANDS = ("rollback",)


def step(step_id: str) -> Step:
    for s in PIPELINE:
        if s.id == step_id:
            return s
    raise KeyError(step_id)


def validate(pipeline: tuple[Step, ...] = PIPELINE) -> None:
    """Every reference points to an earlier step's declared output; ids are unique."""
    seen: dict[str, tuple[str, ...]] = {}
    for s in pipeline:
        if s.id in seen:
            raise ValueError(f"duplicate step id {s.id}")
        for ref_step, output in s.references():
            if ref_step not in seen or output not in seen[ref_step]:
                raise ValueError(f"step {s.id} references {ref_step}.{output}, which no earlier step outputs")
        seen[s.id] = s.outputs


validate()
