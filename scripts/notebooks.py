#!/usr/bin/env python3
"""The walkthrough notebooks' pairs: notebooks/NN-name.py (jupytext percent format, the one to edit and review)
and notebooks/NN-name.ipynb (what Jupyter opens), committed without outputs.

  scripts/notebooks.py sync    write each .ipynb from its .py (outputs never stored)
  scripts/notebooks.py check   exit 1 naming each pair whose cells differ, each .ipynb holding outputs or
                               execution counts, and each .py without its .ipynb (or the reverse)

`make lint` and tests/unit/test_notebooks_pairs.py run `check`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FORMATS = "ipynb,py:percent"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def pairs(directory: Path = NOTEBOOKS) -> list[tuple[Path, Path]]:
    """(py, ipynb) for every notebook stem present in either form in DIRECTORY, sorted by name."""
    stems = sorted({p.stem for p in directory.glob("[0-9][0-9]-*.py")} | {p.stem for p in directory.glob("*.ipynb")})
    return [(directory / f"{s}.py", directory / f"{s}.ipynb") for s in stems]


def from_py(py: Path) -> nbformat.NotebookNode:
    """The notebook a .py holds, with the pairing metadata and Python 3 kernel, and no outputs."""
    nb = jupytext.read(py, fmt="py:percent")
    nb.metadata["jupytext"] = {"formats": FORMATS}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("lines_to_next_cell", None)
        cell.id = f"cell-{i:02d}"  # stable ids (nbformat's are random): a re-sync changes nothing
    return nb


def sync() -> list[Path]:
    """Write every .ipynb from its .py; returns the files written."""
    written = []
    for py, ipynb in pairs():
        if not py.exists():
            raise SystemExit(f"{ipynb.name} has no {py.name}: the .py is the source, write it first")
        text = nbformat.writes(from_py(py)) + "\n"
        if not ipynb.exists() or ipynb.read_text() != text:
            ipynb.write_text(text)
            written.append(ipynb)
    return written


def problems(directory: Path = NOTEBOOKS) -> list[str]:
    """Every way the pairs in DIRECTORY disagree or an .ipynb holds outputs; empty when all is well."""
    found = []
    for py, ipynb in pairs(directory):
        if not py.exists() or not ipynb.exists():
            found.append(f"{(py if not py.exists() else ipynb).name} missing (run scripts/notebooks.py sync)")
            continue
        nb = nbformat.read(ipynb, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
                found.append(f"{ipynb.name} cell {i}: outputs stored (commit notebooks without outputs)")
        if nbformat.writes(nb) != nbformat.writes(from_py(py)) or _cells(nb) != _cells(from_py(py)):
            found.append(f"{ipynb.name} differs from {py.name} (edit the .py, then scripts/notebooks.py sync)")
    return found


def main(argv: list[str]) -> int:
    if argv == ["sync"]:
        for path in sync():
            print(f"wrote {path.relative_to(NOTEBOOKS.parent)}")
        return 0
    if argv == ["check"]:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
