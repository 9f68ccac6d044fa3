"""A real embedded lab (MLflow server, bare git remote, env controller) for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import cli, lab_build, make_project


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    config = make_project(tmp_path_factory.mktemp("lab-project"))
    up = cli(config, "lab", "up", timeout=180)
    if up.returncode != 0:
        cli(config, "lab", "down")
        pytest.fail(f"cxops lab up failed (rc={up.returncode}): {up.stderr}{up.stdout}")
    previous = os.environ.get("CXOPS_CONFIG")
    os.environ["CXOPS_CONFIG"] = str(config)  # for in-process calls
    yield config
    if previous is None:
        os.environ.pop("CXOPS_CONFIG", None)
    else:
        os.environ["CXOPS_CONFIG"] = previous
    down = cli(config, "lab", "down", timeout=120)
    assert down.returncode == 0, down.stderr


@pytest.fixture(scope="session")
def cfg(lab: Path):
    from cxops.config import load_config

    return load_config(lab)


@pytest.fixture(scope="module")
def built(lab: Path, cfg) -> Path:
    """A real build of a model trained, evaluated and registered in the lab's MLflow, one per module: the server loads
    exactly what a deploy would (the build directory; tests/helpers.py `model_server` serves it)."""
    return lab_build(cfg)
