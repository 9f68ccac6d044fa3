"""docs/ against the code: the architecture diagram's packages and arrows, the troubleshooting page's gate checks."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "cxops"


def _mermaid() -> str:
    text = (REPO / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/architecture.md holds one mermaid diagram"
    return blocks[0]


def _nodes(diagram: str) -> set[str]:
    subgraphs = set(re.findall(r"^\s*subgraph (\w+)", diagram, re.M))
    return set(re.findall(r"^\s*(\w+)\[", diagram, re.M)) - subgraphs


def _edges(diagram: str) -> set[tuple[str, str]]:
    edges = set()
    for left, right in re.findall(r"^\s*(\w+) --> (.+)$", diagram, re.M):
        edges |= {(left, r.strip()) for r in right.split("&")}
    return edges


def _imports(source: str) -> set[str]:
    """The cxops packages/modules imported by the code under cxops/SOURCE (a package dir or a module)."""
    path = PACKAGE / source
    files = list(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    found = set()
    for f in files:
        found |= set(re.findall(r"^\s*(?:from|import) cxops\.(\w+)", f.read_text(), re.M))
    return found


def test_every_package_is_in_the_diagram_and_every_node_exists():
    nodes = _nodes(_mermaid())
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages <= nodes, f"packages missing from docs/architecture.md's diagram: {sorted(packages - nodes)}"
    for node in nodes:
        assert (PACKAGE / node / "__init__.py").exists() or (PACKAGE / f"{node}.py").exists(), node


def test_every_arrow_is_an_import():
    diagram = _mermaid()
    edges = _edges(diagram)
    assert len(edges) >= 15
    for source, target in sorted(edges):
        assert target in _imports(source), f"diagram: {source} --> {target}, but cxops/{source} never imports it"


def test_troubleshooting_names_every_gate_check():
    page = (REPO / "docs" / "troubleshooting.md").read_text()
    steps = REPO / "cxops" / "pipeline" / "steps"
    names = set()
    for f in steps.glob("*.py"):
        text = f.read_text()
        names |= set(re.findall(r'Check\(\s*f?"([^"{]+)', text))  # evaluate, test, analyze: the checks' names
        names |= set(re.findall(r'check\("(\w+)"', text))  # staging's named checks (healthz, readyz, ...)
    assert {"accuracy", "healthz", "canary error rate"} <= names  # the pattern still finds them
    missing = sorted(n for n in names if f"`{n.strip()}" not in page)
    assert not missing, f"docs/troubleshooting.md does not say what to do about: {missing}"


def test_troubleshooting_covers_every_exit_code():
    page = (REPO / "docs" / "troubleshooting.md").read_text()
    codes = {int(c) for c in re.findall(r"exit_code = (\d)", (REPO / "cxops" / "errors.py").read_text())}
    assert codes == {1, 2, 3, 4}
    for code in codes | {0}:
        assert re.search(rf"^\| {code} \|", page, re.M), code
