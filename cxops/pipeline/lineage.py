"""Lineage facts recorded on runs and versions: git sha of the project, cxops version."""

from __future__ import annotations

import subprocess

from cxops.paths import project_root


def git_sha() -> str:
    """The project's HEAD, with '-dirty' when the work tree has changes; 'unknown' outside git."""
    root = project_root()
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
