"""The local executor: run PIPELINE in order in this process, passing outputs on, stopping at a failed gate."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.pipeline.definition import PIPELINE, REF, Step
from cxops.pipeline.results import StepResult


@dataclass
class StepRun:
    step: Step
    seconds: float
    result: StepResult | None = None
    error: str = ""


@dataclass
class PipelineRun:
    steps: list[StepRun] = field(default_factory=list)
    stopped_at: str | None = None
    reason: str = ""
    registered_at: float | None = None
    production_at: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.stopped_at is None

    def output(self, step_id: str, name: str) -> object:
        for r in self.steps:
            if r.step.id == step_id and r.result is not None:
                return r.result.outputs()[name]
        raise KeyError(f"{step_id}.{name}")


def step_function(command: str) -> Callable[..., StepResult]:
    """`cxops.pipeline.steps.<command>.run`: the function both executors call for a command."""
    return importlib.import_module(f"cxops.pipeline.steps.{command}").run


def resolve(step: Step, run: PipelineRun) -> list[str]:
    """The step's positional arguments with `{step.output}` references replaced by earlier outputs."""
    return [str(run.output(m[1], m[2])) if (m := REF.match(a)) else a for a in step.arg_values()]


def run_pipeline(
    cfg: Config,
    on_start: Callable[[Step], None] = lambda s: None,
    on_end: Callable[[StepRun], None] = lambda r: None,
    until: str | None = None,
) -> PipelineRun:
    """Steps run exactly as Argo runs them (same functions, same arguments); retries and deadlines are Argo's job
    in the cluster, here every wait inside a step is already bounded."""
    run = PipelineRun()
    # every step's module is imported before the first step runs: a broken import fails at once, and a version's
    # way from registered to production does not wait on imports
    functions = {step.command: step_function(step.command) for step in PIPELINE}
    for step in PIPELINE:
        on_start(step)
        started = time.perf_counter()
        record = StepRun(step, 0.0)
        try:
            record.result = functions[step.command](cfg, *resolve(step, run))
        except CxopsError as exc:
            record.error = str(exc)
        record.seconds = time.perf_counter() - started
        run.steps.append(record)
        on_end(record)
        outputs = record.result.outputs() if record.result else {}
        if record.error or outputs.get("passed") is False:
            run.stopped_at = step.id
            reasons = outputs.get("reasons")
            listed = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
            run.reason = record.error or listed or "gate failed"
            break
        if step.id == "register":
            run.registered_at = time.time()
        if step.id == "promote-production":
            run.production_at = time.time()
        if step.id == until:
            break
    return run
