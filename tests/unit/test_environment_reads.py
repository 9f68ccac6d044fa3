"""Every environment variable cxops reads is declared in cxops/settings.py: no module reads one on its own.

A read is `os.environ.get(...)`, `os.environ[...]` as a value, `os.getenv(...)` or `... in os.environ`. Handing the
whole environment to a child process (`{**os.environ, ...}`) and setting a variable are not reads.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cxops.settings import settings, variables

PACKAGE = Path(__file__).resolve().parents[2] / "cxops"
# where a read is allowed, and why
EXEMPT = {
    "settings.py": "the one place that reads them",
    "serving": "the model server ships alone in its image, without the rest of cxops (docs/architecture.md)",
    "cloud/userdata.py": "a script template that runs on the instance, not in cxops",
    "gitops/hook_client.py": "forwards git's own hook variables to the hook service as git set them",
}


def _exempt(path: Path) -> bool:
    rel = path.relative_to(PACKAGE).as_posix()
    return any(rel == e or rel.startswith(e + "/") for e in EXEMPT)


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", None) == "os"


def _is_read(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        on = node.func.value
        return (node.func.attr == "get" and _is_environ(on)) or (
            node.func.attr == "getenv" and getattr(on, "id", None) == "os"
        )
    if isinstance(node, ast.Subscript):
        return isinstance(node.ctx, ast.Load) and _is_environ(node.value)
    return isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators)


def _reads(tree: ast.AST) -> list[int]:
    """Line numbers of the environment reads in `tree`."""
    return sorted(node.lineno for node in ast.walk(tree) if _is_read(node))  # type: ignore[attr-defined]


def test_no_module_reads_the_environment_but_settings():
    found = [
        f"cxops/{path.relative_to(PACKAGE)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not _exempt(path)
        for line in _reads(ast.parse(path.read_text()))
    ]
    assert not found, f"environment read outside cxops/settings.py (declare it there): {found}"


def test_the_check_sees_each_kind_of_read():
    """The pattern still finds what it forbids."""
    code = "\n".join(['os.environ.get("A")', 'os.environ["B"]', 'os.getenv("C")', '"D" in os.environ'])
    code += '\nos.environ["E"] = "1"\nf(**os.environ)\n'
    assert _reads(ast.parse(code)) == [1, 2, 3, 4]


def test_the_variables_read_here_are_declared(monkeypatch):
    """The variables the other modules used to read themselves (issue 27) are settings now, listed in the
    configuration reference; the MLflow password keeps its spaces, every other value is stripped."""
    names = {v[0] for v in variables()}
    assert {
        "CXOPS_TERRAFORM",
        "CXOPS_OPERATOR_ADDRESS",
        "CXOPS_KUBECTL",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    } <= names
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", " pass word ")
    monkeypatch.setenv("CXOPS_KUBECTL", " /usr/bin/kubectl ")
    s = settings()
    assert (s.mlflow_tracking_password, s.kubectl) == (" pass word ", "/usr/bin/kubectl")
    assert "pass word" not in repr(s)
