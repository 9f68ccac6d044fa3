"""Execute a walkthrough notebook (notebooks/NN-*.ipynb) with nbclient and the pinned ipykernel, as a user's
Jupyter would: a real kernel, cells in order, the first unexpected error fails the run.

Cells tagged `needs-cloud` / `needs-cluster` (cxops.notebook.GUARD_TAGS) need a real cloud or cluster; they are not
run here and each one is listed on stderr (the test output) with its first line, so what was left out is visible.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from cxops.notebook import GUARD_TAGS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SKIP_TAG = "skip-execution"  # nbclient's own tag for cells it must not run


def notebook(number: str) -> Path:
    """notebooks/NUMBER-*.ipynb (exactly one)."""
    (path,) = NOTEBOOKS.glob(f"{number}-*.ipynb")
    return path


def execute(path: Path, cwd: Path, timeout: float = 900) -> tuple[nbformat.NotebookNode, list[str]]:
    """Run every unguarded cell of PATH in a fresh kernel started in CWD (the environment is this process's, so
    CXOPS_CONFIG etc. reach the kernel). Returns the executed notebook and the guarded cells that were skipped.
    Raises nbclient's CellExecutionError naming the cell on the first error; `timeout` bounds each cell (s)."""
    nb = nbformat.read(path, as_version=4)
    skipped = []
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        guards = [t for t in tags if t in GUARD_TAGS]
        if cell.cell_type == "code" and guards:
            cell.metadata["tags"] = [*tags, SKIP_TAG]
            skipped.append(f"{path.name} cell {i} [{', '.join(guards)}]: {cell.source.splitlines()[0]}")
    started = time.monotonic()
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}, allow_errors=False
    )
    client.execute()
    sys.stderr.write(f"\n{path.name}: executed in {time.monotonic() - started:.0f}s; {len(skipped)} guarded cell(s)\n")
    for line in skipped:
        sys.stderr.write(f"  not run here: {line}\n")
    return nb, skipped


def output_text(nb: nbformat.NotebookNode) -> str:
    """Everything the executed cells printed (streams and text results), for assertions."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "text/plain" in out.get("data", {}):
                parts.append(out.data["text/plain"])
    return "".join(parts)


def images(nb: nbformat.NotebookNode) -> int:
    """How many PNG images the executed cells displayed."""
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))
