"""Every step's typed result, in one module. Each field is an output: the local executor passes them on, Argo reads
them from the files `write` leaves (one per field). `cxops.pipeline.definition` names which command returns which."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, get_args

from cxops.gates.verdict import PASSED, Outcome, json_safe


@dataclass
class StepResult:
    # outputs read from the fields rather than stored (a gate's `passed` is its `outcome`)
    DERIVED: ClassVar[tuple[str, ...]] = ()

    def outputs(self) -> dict[str, object]:
        """Every field and every DERIVED value; a non-finite float becomes None (JSON null), so no output file
        holds a bare NaN."""
        return json_safe({**asdict(self), **{name: getattr(self, name) for name in self.DERIVED}})

    def write(self, directory: Path) -> None:
        """One file per output (Argo output parameters read `valueFrom.path`), plus result.json. A directory this
        user owns is made group-writable: in the build pod BuildKit (another user, in the pod's fsGroup) writes its
        own outputs beside these."""
        directory.mkdir(parents=True, exist_ok=True)
        if directory.stat().st_uid == os.getuid():
            directory.chmod(directory.stat().st_mode | stat.S_IRWXG)
        for key, value in self.outputs().items():
            text = value if isinstance(value, str) else json.dumps(value, default=str, allow_nan=False)
            (directory / key).write_text(str(text))
        (directory / "result.json").write_text(json.dumps(self.outputs(), indent=2, default=str, allow_nan=False))


@dataclass
class TrainResult(StepResult):
    run_id: str
    metrics: dict[str, float]
    duration_seconds: float
    cost: float
    data_hash: str
    git_sha: str


@dataclass
class GateResult(StepResult):
    """A gate's decision. `outcome` is its one record (passed | failed | inconclusive, cxops.gates.verdict);
    `passed` is read from it, and written beside it as the output the workflows branch on."""

    gate: str
    outcome: Outcome
    reasons: list[str]
    metrics: dict[str, float | None] = field(default_factory=dict)  # None: could not be computed
    report: str = ""  # path of the JSON report
    action: str = ""  # what the gate did about a failure (e.g. the canary rollback)
    DERIVED: ClassVar[tuple[str, ...]] = ("passed",)  # the output the gate steps' templates branch on

    def __post_init__(self) -> None:
        if self.outcome not in get_args(Outcome):
            raise ValueError(f"outcome {self.outcome!r} is not one of {', '.join(get_args(Outcome))}")

    @property
    def passed(self) -> bool:
        """True only when the gate passed (failed and inconclusive both stop the pipeline)."""
        return self.outcome == PASSED


@dataclass
class EvaluateResult(GateResult):
    run_id: str = ""
    baseline_version: str | None = None


@dataclass
class RegisterResult(StepResult):
    name: str
    version: str
    run_id: str
    alias: str


@dataclass
class BuildResult(StepResult):
    version: str
    image: str  # <registry>/<model>:<version>-<first 12 hex of digest>
    digest: str  # sha256 of the build directory's content
    path: str  # the local build directory (.cxops/builds/<model>/<version>/context)
    name: str = ""  # the registered model the build is of
    model_digest: str = ""  # sha256 of its manifest.json: what the server serves (/version says it too)


@dataclass
class DeployResult(StepResult):
    env: str
    version: str | None  # None: the environment was retired (nothing deployed)
    previous: str | None
    commit: str | None  # the GitOps commit that moved it; None when nothing changed
    changed: bool
    note: str = ""  # what else the move changed (e.g. a production rollback retiring the canary)
