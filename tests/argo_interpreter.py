"""A small interpreter of the rendered Argo WorkflowTemplates (workflows/*.yaml) for tests: it runs a template's DAG
as Argo v4 wires it and each container as a real process, so a wiring mistake (a wrong output name, a parameter
never passed, an outcome read wrongly) fails a test.

Modelled: the entrypoint and the workflow's arguments; DAG tasks in dependency order with `depends` (task names,
`.Succeeded`, `.Failed`, `.Errored`, `&&`, `||`), `when` (after substitution), `arguments`, `templateRef` into other
WorkflowTemplates; container templates' inputs (defaults, a missing one is an error), command, args, env (`value`,
and `secretKeyRef` from the test's secrets); output parameters (`valueFrom.path`); `retryStrategy.limit` and its
`expression` (lastRetry.exitCode, lastRetry.status); `{{inputs.parameters.*}}`, `{{tasks.*.outputs.parameters.*}}`,
`{{tasks.*.exitCode}}`, `{{workflow.name|status|duration|failures}}`; the exit handler (`onExit`) with
`workflow.status` and `workflow.failures` in Argo v4's form (argo-workflows workflow/controller/operator.go: every
Failed or Errored node as a JSON list, `null` when none failed, Go's encoding/json escaping, quoted with Go's
strconv.Quote; the nodes are each failed attempt `task(i)` and the Retry node `task` of a retried template, the
container node of one that is not, and the workflow's root node, whose message names no exit code).

Stricter than Argo, on purpose: an argument a template or workflow does not declare is an error (Argo ignores it, so
a misspelt parameter name would silently fall back to the default).

CronWorkflows: `run_cron` starts the workflow a CronWorkflow's `workflowSpec` makes (its `workflowTemplateRef` and
`arguments`, which override the WorkflowTemplate's by name) at once; its schedule, `suspend`, concurrencyPolicy and
history limits are not modelled (tests/workflows/test_wf_schedules.py reads those). Workflow arguments are checked
against their `enum`, as Argo checks a submitted workflow's.

Stood in on request (`stand_in`): a `templateRef` into a named WorkflowTemplate is recorded with its arguments
(`Result.stood_in`) and counts as Succeeded, not run; for a stage that needs the cluster (the BuildKit containerSet)
or that another test runs.

Not modelled: pods, images and the scheduler (a container is a process on this machine running the venv's `cxops`);
its filesystem (each pod gets a fresh directory for the outputs path, substituted in args and `valueFrom.path`);
volumes and securityContext; containerSet templates; retry backoff (no sleeping), activeDeadlineSeconds (the
process gets `deadline` seconds), podGC, TTL; Argo's `Omitted` vs `Skipped` distinction (both count as not run);
cluster DNS (the caller's environment, e.g. HTTP_PROXY, maps Service names, or its `launcher` runs each process in
a network of its own, tests/pod_network.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.workflows.wf_helpers import evaluate_when

VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
REPO = Path(__file__).resolve().parents[1]


def manifests(kind: str = "WorkflowTemplate") -> dict[str, dict]:
    """Name → document of that KIND (WorkflowTemplate or CronWorkflow), from the committed workflows/*.yaml."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "workflows").glob("*.yaml"))]
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def go_quote(text: str) -> str:
    """Go's strconv.Quote of TEXT (printable non-ASCII kept, control characters escaped)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def go_json(value: object) -> str:
    """Go's encoding/json: compact, `<`, `>`, `&` escaped as \\u003c, \\u003e, \\u0026."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass
class Node:
    name: str
    template: str
    phase: str  # Succeeded | Failed | Skipped
    exit_code: str = ""
    message: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    argv: list[str] = field(default_factory=list)


@dataclass
class StoodIn:
    """A templateRef task recorded, not run: the WorkflowTemplate, its template and the arguments it was given."""

    task: str
    workflow_template: str
    template: str
    arguments: dict[str, str]


@dataclass
class Result:
    status: str
    nodes: list[Node]
    exit_handler: Node | None
    stood_in: list[StoodIn] = field(default_factory=list)


class Interpreter:
    """Run one WorkflowTemplate as wired. `secrets[(name, key)]` feeds secretKeyRef; `env` is the process env;
    `templates` (default: the committed ones) lets a test run a mutated copy; `stand_in` names WorkflowTemplates
    whose templateRef tasks are recorded, not run; `launcher` is an argv prefix every container's process is started
    with (tests/pod_network.py: the pod's network)."""

    def __init__(
        self,
        env: dict[str, str],
        secrets: dict[tuple[str, str], str],
        deadline: float = 900,
        *,
        templates: dict[str, dict] | None = None,
        stand_in: frozenset[str] = frozenset(),
        launcher: list[str] | None = None,
    ) -> None:
        self.templates = templates if templates is not None else manifests()
        self.env, self.secrets, self.deadline, self.stand_in = env, secrets, deadline, stand_in
        self.launcher = launcher or []
        self.nodes: list[Node] = []
        self.stood_in: list[StoodIn] = []
        self.failures: list[dict] = []  # Argo's failedNodeStatus entries, in the order the nodes finished

    def _failed(self, wt_name: str, display: str, template: str, message: str) -> None:
        self.failures.append(
            {
                "displayName": display,
                "message": message,
                "templateName": template,
                "phase": "Failed",
                "podName": f"{wt_name}-test-{display}",
                "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )

    def run_cron(self, cron_name: str, crons: dict[str, dict] | None = None) -> Result:
        """Run the workflow the CronWorkflow CRON_NAME submits: its workflowTemplateRef with its arguments."""
        spec = (crons if crons is not None else manifests("CronWorkflow"))[cron_name]["spec"]["workflowSpec"]
        args = {p["name"]: str(p.get("value", "")) for p in (spec.get("arguments") or {}).get("parameters") or []}
        return self.run(spec["workflowTemplateRef"]["name"], args)

    def run(self, wt_name: str, arguments: dict[str, str]) -> Result:
        wt = self.templates[wt_name]
        spec = wt["spec"]
        declared = {p["name"]: p for p in (spec.get("arguments") or {}).get("parameters") or []}
        unknown = sorted(set(arguments) - set(declared))
        assert not unknown, f"{wt_name}: arguments {unknown} are not among its parameters {sorted(declared)}"
        params = {name: str(p["value"]) for name, p in declared.items() if "value" in p}
        params.update(arguments)
        for name, p in declared.items():
            assert name in params, f"{wt_name}: workflow argument {name!r} has no value"
            enum = p.get("enum")
            assert not enum or params[name] in enum, f"{wt_name}: {name}={params[name]!r} is not one of {enum}"
        started = time.monotonic()
        self.wt_name = wt_name
        self.globals = {"workflow.name": f"{wt_name}-test"}
        phase = self._template(wt_name, spec["entrypoint"], params, wt_name)
        status = "Succeeded" if phase == "Succeeded" else "Failed"
        handler = None
        if phase != "Succeeded":  # the DAG (root) node fails too; Argo's message for it names no exit code
            self._failed(wt_name, self.globals["workflow.name"], spec["entrypoint"], "child failed")
        if spec.get("onExit"):
            # Argo marshals a nil slice when nothing failed: `null`, quoted (operator.go `var failures []...`)
            failed = self.failures or None
            self.globals |= {
                "workflow.status": status,
                "workflow.duration": f"{time.monotonic() - started:.6f}",
                "workflow.failures": go_quote(go_json(failed)),
            }
            self._template(wt_name, spec["onExit"], {}, spec["onExit"])
            handler = self.nodes[-1]
        return Result(status, self.nodes, handler, self.stood_in)

    def _sub(self, text: str, inputs: dict[str, str], tasks: dict[str, Node]) -> str:
        def one(m: re.Match) -> str:
            expr = m[1]
            if expr.startswith("inputs.parameters."):
                name = expr.removeprefix("inputs.parameters.")
                assert name in inputs, f"{{{{{expr}}}}}: no input {name!r} (given {sorted(inputs)})"
                return inputs[name]
            if t := re.fullmatch(r"tasks\.([^.]+)\.outputs\.parameters\.(.+)", expr):
                node = tasks.get(t[1])
                assert node is not None and t[2] in node.outputs, f"{{{{{expr}}}}}: no such output"
                return node.outputs[t[2]]
            if t := re.fullmatch(r"tasks\.([^.]+)\.exitCode", expr):
                return tasks[t[1]].exit_code
            assert expr in self.globals, f"{{{{{expr}}}}} is not substituted here"
            return self.globals[expr]

        return VAR.sub(one, text)

    def _check_inputs(self, wt_name: str, name: str, given: dict[str, str]) -> dict[str, str]:
        """The template's inputs from GIVEN and its defaults; a missing one or an unknown argument is an error."""
        by_name = {x["name"]: x for x in self.templates[wt_name]["spec"]["templates"]}
        assert name in by_name, f"{wt_name}: no template {name!r}"
        declared = (by_name[name].get("inputs") or {}).get("parameters") or []
        unknown = sorted(set(given) - {p["name"] for p in declared})
        assert not unknown, f"{wt_name}/{name}: arguments {unknown} are no inputs of it"
        inputs = {}
        for p in declared:
            value = given.get(p["name"], p.get("default"))
            assert value is not None, f"{wt_name}/{name}: input {p['name']!r} was never passed"
            inputs[p["name"]] = str(value)
        return inputs

    def _template(self, wt_name: str, name: str, given: dict[str, str], node_name: str) -> str:
        t = {x["name"]: x for x in self.templates[wt_name]["spec"]["templates"]}[name]
        inputs = self._check_inputs(wt_name, name, given)
        if "dag" in t:
            return self._dag(wt_name, t, inputs)
        assert "container" in t, f"{wt_name}/{name}: only dag and container templates are modelled"
        return self._container(t, inputs, node_name)

    def _dag(self, wt_name: str, t: dict, inputs: dict[str, str]) -> str:
        tasks: dict[str, Node] = {}
        pending = list(t["dag"]["tasks"])
        while pending:
            task = next(x for x in pending if all(d in tasks for d in _names(x.get("depends"))))
            pending.remove(task)
            if not _depends_ok(task.get("depends"), tasks):
                tasks[task["name"]] = Node(task["name"], task.get("template", ""), "Skipped")
                continue
            if "when" in task and not evaluate_when(self._sub(task["when"], inputs, tasks)):
                tasks[task["name"]] = Node(task["name"], task.get("template", ""), "Skipped")
                continue
            args = {
                p["name"]: self._sub(str(p.get("value", "")), inputs, tasks)
                for p in (task.get("arguments") or {}).get("parameters") or []
            }
            target_wt, template = wt_name, task.get("template")
            if "templateRef" in task:
                target_wt, template = task["templateRef"]["name"], task["templateRef"]["template"]
                assert target_wt in self.templates, f"{task['name']}: no WorkflowTemplate {target_wt!r}"
                if target_wt in self.stand_in:
                    self._check_inputs(target_wt, template, args)
                    self.stood_in.append(StoodIn(task["name"], target_wt, template, args))
                    tasks[task["name"]] = Node(task["name"], template, "Succeeded")
                    continue
            before = len(self.nodes)
            phase = self._template(target_wt, template, args, task["name"])
            node = self.nodes[-1] if len(self.nodes) > before and self.nodes[-1].name == task["name"] else None
            tasks[task["name"]] = node or Node(task["name"], template, phase)
        # a DAG fails when one of its tasks failed (Argo also fails it when a task it depends on for success failed)
        return "Failed" if any(n.phase == "Failed" for n in tasks.values()) else "Succeeded"

    def _container(self, t: dict, inputs: dict[str, str], node_name: str) -> str:
        c = t["container"]
        retry = t.get("retryStrategy") or {}
        limit = int(retry.get("limit", 0))
        node = Node(node_name, t["name"], "Failed")
        stderr = ""
        for attempt in range(limit + 1):
            pod_dir = Path(tempfile.mkdtemp(prefix=f"argo-{node_name}-"))
            argv = [self._sub(a, inputs, {}) for a in [*c.get("command", []), *c.get("args", [])]]
            out_dir = _outputs_dir(argv)
            argv = [str(pod_dir) if a == out_dir else a for a in argv]
            env = dict(self.env)
            for e in c.get("env") or []:
                if "value" in e:
                    env[e["name"]] = self._sub(str(e["value"]), inputs, {})
                else:
                    ref = e["valueFrom"]["secretKeyRef"]
                    env[e["name"]] = self.secrets[(ref["name"], ref["key"])]
            if argv[0] == "cxops":
                argv = [sys.executable, "-m", "cxops", *argv[1:]]
            proc = subprocess.run(
                [*self.launcher, *argv], env=env, capture_output=True, text=True, timeout=self.deadline
            )
            node = Node(node_name, t["name"], "Succeeded" if proc.returncode == 0 else "Failed", str(proc.returncode))
            node.attempts, node.argv = attempt + 1, argv
            node.message = "" if proc.returncode == 0 else f"Error (exit code {proc.returncode})"
            node.stderr = stderr = stderr + proc.stderr  # type: ignore[attr-defined]  # every attempt's, in order
            if proc.returncode == 0:
                for p in (t.get("outputs") or {}).get("parameters") or []:
                    path = p["valueFrom"]["path"]
                    local = pod_dir / Path(path).relative_to(out_dir) if out_dir else Path(path)
                    assert local.exists(), f"{t['name']}: output {p['name']!r} not written at {path}"
                    node.outputs[p["name"]] = local.read_text()
                break
            if retry:  # a retried template's attempts are child nodes `name(0)`, `name(1)`, ... of a Retry node
                self._failed(self.wt_name, f"{node_name}({attempt})", t["name"], node.message)
            if attempt == limit or not _retry(retry.get("expression"), proc.returncode):
                break
        if node.phase != "Succeeded":
            self._failed(self.wt_name, node_name, t["name"], node.message)
        self.nodes.append(node)
        return node.phase


def _outputs_dir(argv: list[str]) -> str | None:
    return argv[argv.index("--outputs-dir") + 1] if "--outputs-dir" in argv else None


def _names(expr: str | None) -> list[str]:
    found = re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z]+)?", expr or "")
    return list(dict.fromkeys(n.split(".")[0] for n in found))


def _depends_ok(expr: str | None, tasks: dict[str, Node]) -> bool:
    if not expr:
        return True

    def one(m: re.Match) -> str:
        name, _, state = m[0].partition(".")
        phase = tasks[name].phase
        if not state:  # a bare name: succeeded or skipped (Argo's default)
            return str(phase in ("Succeeded", "Skipped"))
        return str({"Succeeded": "Succeeded", "Failed": "Failed", "Errored": "Error"}[state] == phase)

    text = re.sub(r"[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z]+)?", one, expr)
    return bool(eval(text.replace("&&", " and ").replace("||", " or "), {"__builtins__": {}}, {}))


def _retry(expression: str | None, exit_code: int) -> bool:
    """Argo's retryStrategy.expression for a failed attempt (status Failed: the container ran and exited non-zero)."""
    if not expression:
        return True
    text = expression.replace("asInt(lastRetry.exitCode)", str(exit_code)).replace("lastRetry.status", "'Failed'")
    text = text.replace("&&", " and ").replace("||", " or ").replace("!(", " not (")
    return bool(eval(text, {"__builtins__": {}}, {}))


def process_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment a step process starts from: this one without cxops' and MLflow's own variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CXOPS_", "MLFLOW_", "ARGOCD_"))}
    return {**base, **extra}


def step_pod_env(config: Path, proxy_port: int, bare: Path, remote: str) -> dict[str, str]:
    """A tools pod's environment for a step: the image's cxops.yaml (CXOPS_CONFIG), cluster DNS through the test's
    proxy on `proxy_port`, and git pushing to `remote` reaching the local bare repository `bare` instead."""
    proxy = {"HTTP_PROXY": f"http://127.0.0.1:{proxy_port}", "NO_PROXY": "127.0.0.1,localhost"}
    return {**pod_env(config, bare, remote), **proxy}


def pod_env(config: Path, bare: Path, remote: str) -> dict[str, str]:
    """A tools pod's environment for a step without a proxy (cluster DNS from tests/pod_network.py): the image's
    cxops.yaml (CXOPS_CONFIG) and git pushing to `remote` reaching the local bare repository `bare` instead."""
    return process_env(
        {
            "CXOPS_CONFIG": str(config),
            "GIT_CONFIG_COUNT": "3",
            "GIT_CONFIG_KEY_0": f"url.{bare}.insteadOf",
            "GIT_CONFIG_VALUE_0": remote,
            "GIT_CONFIG_KEY_1": "user.name",
            "GIT_CONFIG_VALUE_1": "cxops-step",
            "GIT_CONFIG_KEY_2": "user.email",
            "GIT_CONFIG_VALUE_2": "cxops-step@example.org",
        }
    )


def stand_in_secrets(argocd_token: str) -> dict[tuple[str, str], str]:
    """The Secrets the templates reference, (name, key) -> value: test values, none of them a real credential."""
    return {
        ("cxops-s3-credentials", "AWS_ACCESS_KEY_ID"): "test-key-id",
        ("cxops-s3-credentials", "AWS_SECRET_ACCESS_KEY"): "test-secret",
        ("cxops-demo-mlflow-admin", "MLFLOW_TRACKING_USERNAME"): "admin",
        ("cxops-demo-mlflow-admin", "MLFLOW_TRACKING_PASSWORD"): "test-password",
        ("cxops-argocd-token", "token"): argocd_token,
    }
