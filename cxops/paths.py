"""Where cxops keeps local state: a git-ignored directory beside cxops.yaml."""

from __future__ import annotations

from pathlib import Path

from cxops.config import Config, config_path


def project_root() -> Path:
    return config_path().resolve().parent


def state_dir(cfg: Config) -> Path:
    d = project_root() / cfg.lab.state_dir
    d.mkdir(parents=True, exist_ok=True)
    return d
