"""Render the manifests to workflows/*.yaml and detect drift between the code and the committed files."""

from __future__ import annotations

from pathlib import Path

from cxops import generated
from cxops.config.schema import Config

COMMAND = "cxops workflows render"
HEADER = generated.header(COMMAND, "cxops/pipeline/definition.py and cxops.yaml")


def rendered(cfg: Config) -> dict[str, str]:
    """File name → YAML text, for every WorkflowTemplate and CronWorkflow."""
    from cxops.workflows.templates import all_manifests

    return {f"{m.name}.yaml": HEADER + m.to_yaml() for m in all_manifests(cfg)}


def _files(cfg: Config, out_dir: Path) -> dict[Path, str]:
    return {out_dir / name: text for name, text in rendered(cfg).items()}


def write(cfg: Config, out_dir: Path) -> list[Path]:
    """Write every file and delete stale rendered ones (a removed stage must not linger in the cluster repo)."""
    files = _files(cfg, out_dir)
    generated.write_all(files, prune_in=out_dir, pattern="*.yaml")
    return list(files)


def drift(cfg: Config, out_dir: Path) -> list[str]:
    """A unified diff or one-line reason per file that differs from what the code renders now; empty = in sync."""
    return generated.drift(_files(cfg, out_dir), expect_only_in=out_dir, pattern="*.yaml")


def check(cfg: Config, out_dir: Path) -> None:
    """Raise CxopsError with the diffs when workflows/ is out of date."""
    generated.check(_files(cfg, out_dir), COMMAND, expect_only_in=out_dir, pattern="*.yaml")
