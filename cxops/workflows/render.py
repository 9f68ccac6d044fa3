"""Render the manifests to workflows/*.yaml and detect drift between the code and the committed files."""

from __future__ import annotations

from pathlib import Path

from cxops.config.schema import Config
from cxops.errors import CxopsError

HEADER = ("# Rendered by `cxops workflows render` from cxops/pipeline/definition.py and cxops.yaml.\n"
          "# Do not edit: change the code or the config and render again (`--check` runs in the tests).\n")


def rendered(cfg: Config) -> dict[str, str]:
    """File name → YAML text, for every WorkflowTemplate and CronWorkflow."""
    from cxops.workflows.templates import all_manifests

    return {f"{m.name}.yaml": HEADER + m.to_yaml() for m in all_manifests(cfg)}


def write(cfg: Config, out_dir: Path) -> list[Path]:
    """Write every file and delete stale rendered ones (a removed stage must not linger in the cluster repo)."""
    files = rendered(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in sorted(out_dir.glob("*.yaml")):
        if stale.name not in files and stale.read_text().startswith(HEADER):
            stale.unlink()
    written = []
    for name, text in files.items():
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def drift(cfg: Config, out_dir: Path) -> list[str]:
    """One line per file that differs from what the code renders now; empty = in sync."""
    files = rendered(cfg)
    problems = []
    for name, text in files.items():
        path = out_dir / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text() != text:
            problems.append(f"{path}: differs from the rendered output")
    for extra in sorted(out_dir.glob("*.yaml")) if out_dir.is_dir() else []:
        if extra.name not in files:
            problems.append(f"{extra}: not rendered by the code (stale?)")
    return problems


def check(cfg: Config, out_dir: Path) -> None:
    problems = drift(cfg, out_dir)
    if problems:
        raise CxopsError("rendered workflows are out of date, run `cxops workflows render`: " + "; ".join(problems))
