"""The local executor and the rendered Argo chain run the same steps, in the same order, with the same data flow."""

from __future__ import annotations

from wf_helpers import cxops_steps, templates_of, workflow_templates

from cxops.pipeline import local
from cxops.pipeline.definition import PIPELINE


def rendered_chain() -> list[tuple[str, str, tuple[str, ...]]]:
    """Follow the first stage's entrypoint through every awaited templateRef, as Argo would on success."""
    wt_name = PIPELINE[0].template
    wt = workflow_templates()[wt_name]
    entry = templates_of(wt)[wt["spec"]["entrypoint"]]
    args = {p["name"]: str(p.get("value", "")) for p in wt["spec"].get("arguments", {}).get("parameters", [])}
    return cxops_steps(wt_name, entry, args)


class _Result:
    def __init__(self, outputs: dict) -> None:
        self._outputs = outputs

    def outputs(self) -> dict:
        return self._outputs


def local_chain(monkeypatch) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    """Run the real local executor with every step replaced by a recorder; outputs are unique tokens."""
    calls: list[tuple[str, tuple[str, ...]]] = []

    def fake(command: str):
        def run(cfg, *args):
            calls.append((command, tuple(args)))
            n = len(calls)
            outs = {o: f"out{n}-{o}" for s in PIPELINE for o in s.outputs if s.command == command}
            return _Result({**outs, "passed": True, "reasons": []})

        return run

    monkeypatch.setattr(local, "step_function", fake)
    result = local.run_pipeline(cfg=None)  # the recorder never reads the config
    assert result.succeeded, result.reason
    return calls, [r.step.id for r in result.steps]


def test_rendered_chain_runs_every_pipeline_step_in_order():
    chain = rendered_chain()
    assert [task for task, _, _ in chain] == [s.id for s in PIPELINE]
    assert [(cmd, args) for _, cmd, args in chain] == [(s.command, s.arg_values()) for s in PIPELINE]


def test_local_and_rendered_executors_agree(monkeypatch):
    calls, local_ids = local_chain(monkeypatch)
    chain = rendered_chain()
    assert local_ids == [task for task, _, _ in chain]
    # Map the rendered references `{step.output}` to the tokens the local run produced, then compare arguments.
    tokens = {
        f"{{{task}.{o}}}": f"out{i + 1}-{o}"
        for i, (task, _, _) in enumerate(chain)
        for s in PIPELINE
        if s.id == task
        for o in s.outputs
    }
    rendered = [(cmd, tuple(tokens.get(a, a) for a in args)) for _, cmd, args in chain]
    assert rendered == calls


def test_a_broken_hand_on_is_detected(monkeypatch):
    """Drop one stage's `next-*` task: the walk must come up short (the check is not vacuous)."""
    import copy

    import wf_helpers

    docs = copy.deepcopy(wf_helpers.manifests())
    for t in docs["test-staging.yaml"]["spec"]["templates"]:
        if "dag" in t:
            t["dag"]["tasks"] = [task for task in t["dag"]["tasks"] if not task["name"].startswith("next-")]
    monkeypatch.setattr(wf_helpers, "manifests", lambda: docs)
    ids = [task for task, _, _ in rendered_chain()]
    assert ids == [s.id for s in PIPELINE][: ids.index("test-staging") + 1] != [s.id for s in PIPELINE]
