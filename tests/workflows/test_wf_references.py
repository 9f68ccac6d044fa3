"""Every template, parameter, task and exit-handler reference in the rendered files resolves."""

from __future__ import annotations

import re

import pytest
from wf_helpers import (
    VAR,
    depends_names,
    manifests,
    resolve,
    task_args,
    template_inputs,
    templates_of,
    workflow_templates,
)

# Argo variables docs (docs/variables.md): workflow.failures is the JSON list of failed nodes, for exit handlers
WORKFLOW_VARS = {
    "workflow.name",
    "workflow.status",
    "workflow.duration",
    "workflow.namespace",
    "workflow.uid",
    "workflow.failures",
}


def variables(node) -> list[str]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in variables(value)]
    if isinstance(node, list):
        return [v for value in node for v in variables(value)]
    return VAR.findall(node) if isinstance(node, str) else []


def wt_cases():
    return [(name, t["name"]) for name, wt in workflow_templates().items() for t in wt["spec"]["templates"]]


def test_entrypoints_and_exit_handlers_exist():
    for name, wt in workflow_templates().items():
        names = set(templates_of(wt))
        assert wt["spec"]["entrypoint"] in names, name
        if name != "build-initial":  # no exit handler: it would run in the image being built (audit W7)
            assert wt["spec"].get("onExit") in names, f"{name}: onExit must name one of its templates"


def test_workflow_arguments_feed_the_entrypoint():
    for name, wt in workflow_templates().items():
        entry = templates_of(wt)[wt["spec"]["entrypoint"]]
        args = {p["name"] for p in wt["spec"].get("arguments", {}).get("parameters", [])}
        required = {k for k, v in template_inputs(entry).items() if v is None}
        assert required <= args, f"{name}: entrypoint needs {required - args}"
        assert args <= set(template_inputs(entry)), f"{name}: arguments not taken by the entrypoint"


def test_cron_workflow_refers_to_a_template_and_its_arguments():
    for doc in manifests().values():
        if doc["kind"] != "CronWorkflow":
            continue
        spec = doc["spec"]["workflowSpec"]
        target = workflow_templates()[spec["workflowTemplateRef"]["name"]]
        declared = {p["name"] for p in target["spec"].get("arguments", {}).get("parameters", [])}
        assert {p["name"] for p in spec.get("arguments", {}).get("parameters", [])} <= declared
        assert doc["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize(("wt_name", "template_name"), wt_cases())
def test_template_references_resolve(wt_name, template_name):
    template = templates_of(workflow_templates()[wt_name])[template_name]
    inputs = set(template_inputs(template))
    tasks = {t["name"]: t for t in (template.get("dag") or {}).get("tasks") or []}
    for expr in variables(template):
        if expr.startswith("inputs.parameters."):
            assert expr.removeprefix("inputs.parameters.") in inputs, f"{template_name}: {{{{{expr}}}}} undeclared"
        elif m := re.fullmatch(r"tasks\.([^.]+)\.(outputs\.parameters\.(.+)|exitCode|status)", expr):
            assert m[1] in tasks, f"{template_name}: {{{{{expr}}}}} names no task"
            if m[3]:
                _, target = resolve(wt_name, tasks[m[1]])
                outputs = {p["name"] for p in (target.get("outputs") or {}).get("parameters") or []}
                assert m[3] in outputs, f"{template_name}: task {m[1]} has no output {m[3]}"
        elif expr.startswith("steps."):
            pytest.fail(f"{template_name}: steps references need a steps template, got {{{{{expr}}}}}")
        else:
            assert expr in WORKFLOW_VARS, f"{template_name}: unknown variable {{{{{expr}}}}}"
    for task in tasks.values():
        for dep in depends_names(task.get("depends")):
            assert dep in tasks, f"{template_name}: task {task['name']} depends on unknown {dep}"
        _, target = resolve(wt_name, task)  # KeyError = a missing template or WorkflowTemplate
        declared = template_inputs(target)
        passed = task_args(task)
        assert set(passed) <= set(declared), f"{task['name']} passes {set(passed) - set(declared)}"
        missing = {k for k, v in declared.items() if v is None} - set(passed)
        assert not missing, f"{task['name']} does not pass required {missing}"


def test_every_forward_step_is_awaited_not_fired_and_forgotten():
    """Children run as templateRef tasks inside the same Workflow; nothing creates Workflow resources."""
    for _, doc in manifests().items():
        for t in doc["spec"].get("templates", []):
            assert "resource" not in t, f"{t['name']}: resource templates would create unawaited children"
