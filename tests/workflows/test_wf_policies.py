"""What the reference system got wrong cannot be rendered: unpinned images, runtime installs, endless waits,
unbounded retries, secrets in plain values, imperative ArgoCD with the admin password."""

from __future__ import annotations

import json
import re

import pytest
from wf_helpers import all_containers, all_templates, manifests

from cxops.config.schema import Workflows

RUNTIME_INSTALL = re.compile(
    r"\b(pip3?|uv)\s+install\b|\bapk\s+add\b|\bapt(-get)?\s+install\b|\byum\s+install\b|\bdnf\s+install\b"
    r"|\bcurl\b[^|\n]*\|\s*(ba)?sh\b|\bwget\b[^|\n]*\|\s*(ba)?sh\b|\bconda\s+install\b"
)
SECRETISH = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|PRIVATE|ACCESS_KEY|API_KEY|CREDENTIAL)", re.I)


def pinned(image: str) -> bool:
    """name:tag (not latest) or name@sha256:..."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest") and "{{" not in image


def text_of(container: dict) -> str:
    return "\n".join([*container.get("command", []), *container.get("args", []), container.get("source", "")])


@pytest.mark.parametrize(("fname", "tname", "container"), all_containers())
def test_container_rules(fname, tname, container):
    where = f"{fname}:{tname}:{container.get('name', '')}"
    assert pinned(container["image"]), f"{where}: image {container['image']} is not pinned by tag or digest"
    assert not RUNTIME_INSTALL.search(text_of(container)), f"{where}: installs packages at run time"
    for env in container.get("env") or []:
        if SECRETISH.search(env["name"]):
            assert "secretKeyRef" in (env.get("valueFrom") or {}), f"{where}: {env['name']} must be a secretKeyRef"
            assert "value" not in env
    assert not re.search(r"argocd\s+(login|app\s+set)|--password|admin", text_of(container), re.I), where
    ctx = container.get("securityContext") or {}
    assert ctx.get("runAsNonRoot") is True and ctx.get("runAsUser", 0) != 0, f"{where}: must run as non-root"
    assert not ctx.get("privileged"), f"{where}: privileged"


def test_no_secret_value_is_ever_spelled_out():
    """Secrets are referenced by name only: no env value, argument or annotation carries one."""
    for fname, doc in manifests().items():
        text = json.dumps(doc)
        assert not re.search(r"(?i)(password|passwd)\"\s*:\s*\"[^\"{]", text), fname
        assert "BEGIN OPENSSH PRIVATE KEY" not in text and "BEGIN RSA" not in text, fname


@pytest.mark.parametrize(("fname", "template"), all_templates(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_every_template_has_a_deadline(fname, template):
    """Every leaf template has its own deadline; steps/DAG templates have none (Argo v4's CRDs refuse it there:
    "activeDeadlineSeconds is only valid for leaf templates"; the workflow's deadline bounds them)."""
    deadline = template.get("activeDeadlineSeconds")
    if "dag" in template or "steps" in template:
        assert deadline is None, f"{fname}:{template['name']}"
    else:
        assert isinstance(deadline, int) and 0 < deadline <= 48 * 3600, f"{fname}:{template['name']}"


@pytest.mark.parametrize("fname", sorted(manifests()))
def test_every_workflow_has_a_deadline_and_an_exit_handler(fname):
    doc = manifests()[fname]
    spec = doc["spec"].get("workflowSpec", doc["spec"])
    assert 0 < spec["activeDeadlineSeconds"] <= 48 * 3600
    if doc["kind"] == "WorkflowTemplate" and doc["metadata"]["name"] != "build-initial":
        assert spec["onExit"]  # build-initial has none: its handler would run in the image it builds (W7)


@pytest.mark.parametrize(("fname", "template"), all_templates(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_every_retry_is_bounded_and_backed_off(fname, template):
    retry = template.get("retryStrategy")
    if retry is None:
        return
    assert isinstance(retry.get("limit"), int) and 1 <= retry["limit"] <= 5, f"{template['name']}: limit"
    assert retry["backoff"]["duration"] and retry["backoff"]["maxDuration"], f"{template['name']}: backoff"
    # a usage error (2), a failed gate (3) or an inconclusive one (4) is never retried, whatever Argo calls the node
    expression = retry.get("expression", "")
    for status in ("Failed", "Error"):
        for code in (2, 3, 4):
            assert not retries(expression, status, code), f"{template['name']}: retries exit {code} ({status})"
    assert retries(expression, "Failed", 1), f"{template['name']}: a transient failure (exit 1) is not retried"
    assert retries(expression, "Error", -1), f"{template['name']}: a pod error without exit code is not retried"


# Python's spelling of the expr-lang operators the rendered retry expressions use. A stand-in: Argo evaluates them
# with expr-lang inside its controller, which cannot run here; an expression using anything else fails the test.
EXPR_TO_PYTHON = (("asInt(lastRetry.exitCode)", "code"), ("lastRetry.status", "status"), ("||", " or "))
EXPR_TO_PYTHON += (("&&", " and "), ("!(", " not ("))


def retries(expression: str, status: str, code: int) -> bool:
    """Whether Argo would retry a node that ended with `status` and exit `code` under `expression`."""
    py = expression
    for expr, python in EXPR_TO_PYTHON:
        py = py.replace(expr, python)
    assert re.fullmatch(r"[\sa-z0-9'()=,!\[\]A-Z-]+", py), f"unexpected syntax in {expression!r}"
    assert not re.search(r"\b(?!code\b|status\b|or\b|and\b|not\b|in\b|Error\b|Failed\b)[A-Za-z_]+", py), expression
    return bool(eval(py, {"__builtins__": {}}, {"code": code, "status": status}))  # only the names checked above


def test_network_steps_retry():
    """Every tools-image step that talks to MLflow, git, a registry or ArgoCD has a retryStrategy."""
    for fname, template in all_templates():
        if "container" in template or "containerSet" in template:
            assert "retryStrategy" in template or template["name"] in _no_retry_steps(), f"{fname}:{template['name']}"


def _no_retry_steps() -> set[str]:
    from cxops.pipeline.definition import PIPELINE

    return {s.id for s in PIPELINE if s.retries == 0}


def test_git_steps_get_the_deploy_key_as_a_file_and_no_other_step_does():
    for fname, tname, c in all_containers():
        argv = c.get("command", [])
        mounts = {m["mountPath"] for m in c.get("volumeMounts") or []}
        # analyze rolls the canary back itself on a failed gate; the guard reverts by push; reconcile reads git
        is_git = (
            argv[:2] == ["cxops", "step"] and argv[2] in ("deploy", "promote", "rollback", "analyze")
        ) or argv in (
            ["cxops", "gitops", "guard"],
            ["cxops", "reconcile"],
        )
        assert ("/etc/cxops/git" in mounts) == is_git, f"{fname}:{tname}"


def test_config_rejects_unpinned_images():
    with pytest.raises(ValueError):
        Workflows(tools_image="ghcr.io/cxops/cxops-tools:latest")
    with pytest.raises(ValueError):
        Workflows(builder_image="moby/buildkit")
