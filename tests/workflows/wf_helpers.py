"""Shared by the workflow tests: load the committed manifests, index templates, walk DAGs like Argo would."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


@cache
def manifests() -> dict[str, dict]:
    """File name → parsed document, for every committed rendered file."""
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.yaml"))}


def workflow_templates() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in manifests().values() if d["kind"] == "WorkflowTemplate"}


def templates_of(wt: dict) -> dict[str, dict]:
    return {t["name"]: t for t in wt["spec"]["templates"]}


def resolve(wt_name: str, task: dict) -> tuple[str, dict]:
    """The (WorkflowTemplate, template) a DAG task or step runs."""
    if "templateRef" in task:
        ref = task["templateRef"]
        return ref["name"], templates_of(workflow_templates()[ref["name"]])[ref["template"]]
    return wt_name, templates_of(workflow_templates()[wt_name])[task["template"]]


def depends_names(expr: str | None) -> list[str]:
    """Task names in a `depends` expression: `a && (b.Failed || b.Errored)` → [a, b]."""
    if not expr:
        return []
    names = re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z]+)?", expr)
    return list(dict.fromkeys(n.split(".")[0] for n in names))


def on_failure_only(task: dict) -> bool:
    return bool(re.search(r"\.(Failed|Errored)\b", task.get("depends") or ""))


def topo_tasks(tasks: list[dict]) -> list[dict]:
    """Kahn's order over depends/dependencies, ties broken by declaration order."""
    pending = list(tasks)
    done: list[str] = []
    out = []
    while pending:
        for t in pending:
            deps = depends_names(t.get("depends")) + list(t.get("dependencies") or [])
            if all(d in done for d in deps):
                out.append(t)
                done.append(t["name"])
                pending.remove(t)
                break
        else:
            raise AssertionError(f"cycle or dangling dependency among {[t['name'] for t in pending]}")
    return out


def task_args(task: dict) -> dict[str, str]:
    return {p["name"]: str(p.get("value", "")) for p in (task.get("arguments") or {}).get("parameters") or []}


def template_inputs(template: dict) -> dict[str, str | None]:
    params = (template.get("inputs") or {}).get("parameters") or []
    return {p["name"]: (str(p["default"]) if "default" in p else None) for p in params}


def substitute(text: str, env: dict[str, str]) -> str:
    """Replace `{{inputs.parameters.x}}` with the symbol in env and `{{tasks.t.outputs.parameters.o}}` with the
    pipeline's own reference syntax `{t.o}` (task names are step ids)."""

    def one(m: re.Match) -> str:
        expr = m[1]
        if expr.startswith("inputs.parameters."):
            return env[expr.removeprefix("inputs.parameters.")]
        if t := re.fullmatch(r"(?:tasks|steps)\.([^.]+)\.outputs\.parameters\.(.+)", expr):
            return f"{{{t[1]}.{t[2]}}}"
        return m[0]

    return VAR.sub(one, text)


WHEN_TOKEN = re.compile(r"\s*(?:(&&|\|\||==|!=|!|\(|\))|('[^']*')|([A-Za-z0-9_.-]+))")


def evaluate_when(expr: str) -> bool:
    """An Argo `when` after substitution, in the subset of govaluate the rendered templates use: `==`, `!=`, `&&`,
    `||`, `!`, parentheses, 'quoted' strings, true/false and bare words (compared as strings). AssertionError on
    anything else (e.g. a `{{...}}` left unsubstituted: a parameter never passed)."""
    assert "{{" not in expr, f"unsubstituted variable in when: {expr}"
    out, pos = [], 0
    while pos < len(expr.rstrip()):
        m = WHEN_TOKEN.match(expr, pos)
        assert m, f"cannot read when expression {expr!r} at {pos}"
        op, quoted, word = m.groups()
        if op:
            out.append({"&&": " and ", "||": " or ", "!": " not "}.get(op, f" {op} "))
        elif quoted is not None:
            out.append(repr(quoted[1:-1]))
        else:
            out.append({"true": "True", "false": "False"}.get(word, repr(word)))
        pos = m.end()
    # the tokens above are the whole input: only literals, comparisons and boolean operators reach eval
    return bool(eval("".join(out), {"__builtins__": {}}, {}))


def cxops_steps(wt_name: str, template: dict, env: dict[str, str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(task name, command, resolved args) of every `cxops step` on the success path, in execution order."""
    found: list[tuple[str, str, tuple[str, ...]]] = []

    def containers(t: dict) -> list[dict]:
        if "container" in t:
            return [t["container"]]
        if "containerSet" in t:
            by_name = {c["name"]: c for c in t["containerSet"]["containers"]}
            order = topo_tasks([{**c, "depends": None} for c in t["containerSet"]["containers"]])
            return [by_name[c["name"]] for c in order]
        return []

    def walk(wt: str, t: dict, env: dict[str, str], task_name: str) -> None:
        for c in containers(t):
            argv = [*c.get("command", []), *c.get("args", [])]
            if argv[:2] == ["cxops", "step"]:
                args = argv[3 : argv.index("--outputs-dir")]
                found.append((task_name, argv[2], tuple(substitute(a, env) for a in args)))
        for task in topo_tasks((t.get("dag") or {}).get("tasks") or []):
            if on_failure_only(task):
                continue
            if "when" in task and not evaluate_when(substitute(task["when"], env)):
                continue
            child_wt, child = resolve(wt, task)
            passed = {k: substitute(v, env) for k, v in task_args(task).items()}
            child_env = {k: passed.get(k, d) for k, d in template_inputs(child).items()}
            walk(child_wt, child, child_env, task["name"])

    walk(wt_name, template, env, template["name"])
    return found


def all_templates() -> list[tuple[str, dict]]:
    """(file name, template) for every template in every file."""
    out = []
    for fname, doc in manifests().items():
        spec = doc["spec"].get("workflowSpec", doc["spec"])
        out += [(fname, t) for t in spec.get("templates", [])]
    return out


def all_containers() -> list[tuple[str, str, dict]]:
    """(file, template name, container) for containers of container and containerSet templates, and scripts."""
    out = []
    for fname, t in all_templates():
        for key in ("container", "script"):
            if key in t:
                out.append((fname, t["name"], t[key]))
        for c in (t.get("containerSet") or {}).get("containers") or []:
            out.append((fname, t["name"], c))
    return out
