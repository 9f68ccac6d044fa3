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


# Imports that need no arrow. `config` (cxops.yaml) is used by nearly every room, so the diagram leaves its arrows out
# (drawing one is allowed). Each module below is a leaf every room may import; test_allowed_modules_are_leaves keeps
# it one, so an allowance can never carry a dependency the diagram does not show.
SHARED_ROOMS = {"config"}
ALLOWED_MODULES = {
    "pipeline.results": "the step contract's typed results, returned by release (deploy) and gitops (the guard)",
}


def _rooms() -> set[str]:
    return {p.parent.name for p in PACKAGE.glob("*/__init__.py")} | {"notebook"}


def _files(room: str) -> list[Path]:
    path = PACKAGE / room
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _targets(files: list[Path]) -> set[str]:
    """What the files import from cxops, dotted below `cxops.`, at module level or inside a function: the module
    (`from cxops.a.b import f` gives `a.b`), or the allowed module a name is (`from cxops.a import b` gives `a.b`
    when `a.b` is in ALLOWED_MODULES)."""
    found = set()
    for f in files:
        text = f.read_text()
        for module, grouped, plain in re.findall(
            r"^\s*from cxops\.([\w.]+) import (?:\(([^)]*)\)|([\w, ]+))", text, re.M
        ):
            for name in (grouped or plain).replace("\n", " ").split(","):
                name = name.split("#")[0].split(" as ")[0].strip()
                found.add(f"{module}.{name}" if f"{module}.{name}" in ALLOWED_MODULES else module)
        found |= set(re.findall(r"^\s*import cxops\.([\w.]+)", text, re.M))
    return found


def _allowed(target: str) -> bool:
    return any(target == a or target.startswith(a + ".") for a in ALLOWED_MODULES)


def _imports(source: str) -> set[str]:
    """The cxops rooms (and shared modules) imported by the code under cxops/SOURCE (a package dir or a module),
    less itself and the allowed modules."""
    return {t.split(".")[0] for t in _targets(_files(source)) if not _allowed(t)} - {source}


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


def test_every_import_between_rooms_is_an_arrow():
    """The other direction: an import from one room into another that the diagram does not draw is a layering
    break (or a missing arrow); either way the picture and the code must agree."""
    edges = _edges(_mermaid())
    rooms = _rooms()
    missing = sorted(
        f"{source} --> {target}"
        for source in rooms
        for target in _imports(source) & rooms
        if target not in SHARED_ROOMS and (source, target) not in edges
    )
    assert not missing, f"imports docs/architecture.md's diagram does not draw: {missing}"


def test_the_rooms_are_layered():
    """No cycle among the arrows (with the test above: none among the imports), so each room can be read, tested
    and changed knowing only the rooms below it."""
    edges = _edges(_mermaid())
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' --> '.join((*path[path.index(node) :], node))}"
        if node not in done:
            for source, target in edges:
                if source == node:
                    visit(target, (*path, node))
            done.add(node)

    for node in _nodes(_mermaid()):
        visit(node, ())


def test_module_names_are_unique_across_rooms():
    """A module's name says which one it is without its folder (no two `render.py`)."""
    seen: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.name, []).append(path.relative_to(PACKAGE).as_posix())
    repeated = {name: sorted(paths) for name, paths in seen.items() if len(paths) > 1}
    assert repeated == {}


def test_allowed_modules_are_leaves():
    """An allowed module imports nothing from a room but the gate maths, so importing it drags no room along."""
    for module in ALLOWED_MODULES:
        path = PACKAGE / (module.replace(".", "/") + ".py")
        assert path.exists(), module
        rooms = {m.split(".")[0] for m in _targets([path])} & _rooms()
        assert rooms <= {"gates"}, f"{module} imports from {sorted(rooms)}"


def test_the_release_runtimes_implement_the_seam():
    """The release loads where environments run by module name (its one late-bound seam): each module exists and
    its RUNTIME has every method of the Runtime protocol."""
    import importlib

    from cxops.release.runtime import RUNTIMES, Runtime

    methods = {n for n in vars(Runtime) if not n.startswith("_")}
    assert methods == {"ensure_running", "wait_serving", "wait_split"}
    for kind, module in RUNTIMES.items():
        runtime = importlib.import_module(module).RUNTIME
        assert all(callable(getattr(runtime, m, None)) for m in methods), kind


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
    from cxops.errors import ExitCode  # every exit status, in one place

    codes = {int(c) for c in ExitCode}
    assert {0, 1, 2, 3, 4} <= codes
    for code in codes:
        assert re.search(rf"^\| {code} \|", page, re.M), code
