"""Cut the one pipeline into the segments the WorkflowTemplates run; no Hera here, only the derivation.

A segment is a maximal run of consecutive steps with the same `template`. Segment k's DAG runs its steps, then hands
on to segment k+1 through a templateRef task (awaited: a failing child fails the parent). Values produced before a
segment and needed by it or any later one are carried as input parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxops.pipeline.definition import COMMANDS, PIPELINE, REF, Param, Step

# Commands that change an environment through git: they get the deploy key and an ArgoCD sync wait after them.
GIT_COMMANDS = tuple(name for name, c in COMMANDS.items() if c.changes_git)

Ref = tuple[str, str]  # (step id, output name)


@dataclass(frozen=True)
class Segment:
    index: int
    template: str  # the WorkflowTemplate it belongs to
    steps: tuple[Step, ...]
    carried: tuple[Ref, ...]  # inputs of this segment's DAG, produced by earlier segments

    @property
    def name(self) -> str:
        """The DAG template's name inside its WorkflowTemplate."""
        return f"from-{self.steps[0].id}"


def arg_params(s: Step) -> list[tuple[str, str]]:
    """(parameter name, argument) for each positional argument of the step's command, in CLI order."""
    return [(p, s.args[p]) for p in s.spec.param_names()]


def param_spec(command: str, name: str) -> Param | None:
    """The definition of a command's parameter (help text, closed value set); None for carried-only names."""
    return next((p for p in COMMANDS[command].params if p.name == name), None)


def image_ref(s: Step, pipeline: tuple[Step, ...] = PIPELINE) -> Ref | None:
    """The latest earlier step output named `image`: what the ArgoCD wait after a git step expects to see."""
    found = None
    for earlier in pipeline:
        if earlier.id == s.id:
            return found
        if "image" in earlier.outputs:
            found = (earlier.id, "image")
    raise KeyError(s.id)


def needed_refs(s: Step, pipeline: tuple[Step, ...] = PIPELINE) -> list[Ref]:
    refs = s.references()
    if s.command in GIT_COMMANDS and (img := image_ref(s, pipeline)) is not None:
        refs.append(img)
    return refs


def param_name(ref: Ref) -> str:
    """Carried values are named after the output (`version`), which users pass when submitting by hand."""
    return ref[1]


def segments(pipeline: tuple[Step, ...] = PIPELINE) -> list[Segment]:
    runs: list[list[Step]] = []
    for s in pipeline:
        if runs and runs[-1][0].template == s.template:
            runs[-1].append(s)
        else:
            runs.append([s])
    produced_before: list[set[Ref]] = []
    seen: set[Ref] = set()
    for run in runs:
        produced_before.append(set(seen))
        seen |= {(s.id, o) for s in run for o in s.outputs}
    out = []
    for k, run in enumerate(runs):
        later = [r for later_run in runs[k:] for s in later_run for r in needed_refs(s, pipeline)]
        carried = tuple(dict.fromkeys(r for r in later if r in produced_before[k]))
        names = [param_name(r) for r in carried]
        if len(set(names)) != len(names):
            raise ValueError(f"segment {run[0].id}: carried values {carried} share a parameter name")
        out.append(Segment(k, run[0].template, tuple(run), carried))
    return out


def by_template(pipeline: tuple[Step, ...] = PIPELINE) -> dict[str, list[Segment]]:
    """WorkflowTemplate name → its segments, in pipeline order."""
    out: dict[str, list[Segment]] = {}
    for seg in segments(pipeline):
        out.setdefault(seg.template, []).append(seg)
    return out


def is_ref(arg: str) -> bool:
    return bool(REF.match(arg))
