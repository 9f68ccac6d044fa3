"""The walkthrough notebooks as stored: one per stage 00..11, each .ipynb paired with its percent-format .py and
committed without outputs (scripts/notebooks.py check), and every code cell only calls cxops (no logic that lives
only in a notebook, no secret read from the environment)."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
from pathlib import Path

import jupytext
import pytest

import cxops.notebook

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
STAGES = [f"{n:02d}" for n in range(12)]


def _script():
    spec = importlib.util.spec_from_file_location("notebooks_script", REPO / "scripts" / "notebooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_pair_per_stage_and_no_drift():
    stems = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert [s[:2] for s in stems] == STAGES, stems
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.py")) == stems
    assert _script().problems() == []


def test_check_finds_outputs_and_drift(tmp_path):
    script = _script()
    for ext in ("py", "ipynb"):
        shutil.copy(NOTEBOOKS / f"09-costs.{ext}", tmp_path / f"09-costs.{ext}")
    assert script.problems(tmp_path) == []
    nb = json.loads((tmp_path / "09-costs.ipynb").read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"], code["execution_count"] = [{"output_type": "stream", "name": "stdout", "text": "x"}], 1
    (tmp_path / "09-costs.ipynb").write_text(json.dumps(nb))
    found = script.problems(tmp_path)
    assert any("outputs stored" in p for p in found) and any("differs from 09-costs.py" in p for p in found), found
    (tmp_path / "09-costs.py").write_text((tmp_path / "09-costs.py").read_text() + "\n# %%\nrun('status')\n")
    (tmp_path / "09-costs.ipynb").unlink()
    assert any("missing" in p for p in script.problems(tmp_path))


@pytest.mark.parametrize("stage", STAGES)
def test_cells_only_call_cxops(stage):
    (py,) = NOTEBOOKS.glob(f"{stage}-*.py")
    nb = jupytext.read(py)
    allowed = {name for name in dir(cxops.notebook) if not name.startswith("_")} | {"print"}
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {stage} · ")
    for cell in nb.cells:
        if cell.cell_type != "code":
            assert "by hand" not in cell.source.replace("never by hand", "").replace("no hand edit", "")
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module == "cxops.notebook", cell.source
            assert not isinstance(node, ast.Import | ast.For | ast.While | ast.If | ast.FunctionDef), cell.source
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                assert name in allowed | {"json"}, f"{py.name}: {name}() is not a cxops.notebook call"
        # no import but cxops.notebook, so no os.environ: and no credential named in a command line either
        assert not any(w in cell.source.upper() for w in ("TOKEN", "SECRET", "PASSWORD")), cell.source
        tags = cell.metadata.get("tags", [])
        assert set(tags) <= set(cxops.notebook.GUARD_TAGS), tags


@pytest.mark.parametrize("stage", STAGES)
def test_guarded_cells_say_why(stage):
    (py,) = NOTEBOOKS.glob(f"{stage}-*.py")
    cells = jupytext.read(py).cells
    for i, cell in enumerate(cells):
        if set(cell.metadata.get("tags", [])) & set(cxops.notebook.GUARD_TAGS):
            above = cells[i - 1]
            assert above.cell_type == "markdown" and "**Needs " in above.source, (py.name, cell.source)
