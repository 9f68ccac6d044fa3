"""Execute a walkthrough notebook (notebooks/NN-*.ipynb) with nbclient and the pinned ipykernel, as a user's
Jupyter would: a real kernel, cells in order, the first unexpected error fails the run.

Cells tagged `needs-cloud` / `needs-cluster` (cxops.notebook.GUARD_TAGS) need a real cloud or cluster; they are not
run here and each one is listed on stderr (the test output) with its first line, so what was left out is visible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

from cxops.notebook import GUARD_TAGS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SKIP_TAG = "skip-execution"  # nbclient's own tag for cells it must not run


def notebook(number: str) -> Path:
    """notebooks/NUMBER-*.ipynb (exactly one)."""
    (path,) = NOTEBOOKS.glob(f"{number}-*.ipynb")
    return path


def execute(
    path: Path, cwd: Path | None = None, timeout: float = 900, env: dict[str, str] | None = None
) -> tuple[nbformat.NotebookNode, list[str]]:
    """Run every unguarded cell of PATH in a fresh kernel started in CWD, by default the notebook's own folder (where
    JupyterLab, VS Code and `jupyter execute` start it), with ENV as its environment (default: this process's).
    Returns the executed notebook and the guarded cells that were skipped.
    Raises nbclient's CellExecutionError naming the cell on the first error; `timeout` bounds each cell (s)."""
    cwd = cwd if cwd is not None else path.parent
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
    client.execute(**({"env": env} if env is not None else {}))
    sys.stderr.write(f"\n{path.name}: executed in {time.monotonic() - started:.0f}s; {len(skipped)} guarded cell(s)\n")
    for line in skipped:
        sys.stderr.write(f"  not run here: {line}\n")
    return nb, skipped


def project_copy(project: Path) -> Path:
    """PROJECT/notebooks holding a copy of every walkthrough notebook: a clone's layout around a test's project, so a
    kernel runs where a front end starts it and finds the project's cxops.yaml above it."""
    dest = project / "notebooks"
    dest.mkdir(exist_ok=True)
    for nb in NOTEBOOKS.glob("*.ipynb"):
        shutil.copyfile(nb, dest / nb.name)
    return dest


OPERATOR_REMOTE = "git@gitlab.com:ml-team/cxops-gitops.git"  # an operator's GitOps repository (never contacted)


def ready_for_the_cluster(project: Path) -> None:
    """What docs/cluster.md (steps 4 and 5) has a user do before notebook 03: name their GitOps repository in
    cxops.yaml (`workflows.gitops_remote`) and `cxops k8s render` from the project root. Without it the committed
    tree names the placeholder remote, which `k8s render --check` and `cluster install` refuse."""
    config = project / "cxops.yaml"
    doc = yaml.safe_load(config.read_text())
    doc.setdefault("workflows", {})["gitops_remote"] = OPERATOR_REMOTE
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = subprocess.run(
        [sys.executable, "-m", "cxops", "k8s", "render"],
        cwd=project,
        env=kernel_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr


def kernel_env() -> dict[str, str]:
    """A user's environment for a kernel: this process's without CXOPS_CONFIG (which users do not set: the kernel
    finds cxops.yaml above its folder)."""
    return {k: v for k, v in os.environ.items() if k != "CXOPS_CONFIG"}


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
