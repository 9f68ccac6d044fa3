"""CLI surface without services: help everywhere, pipeline show, and argument errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, cli

CONFIG = REPO / "cxops.yaml"


@pytest.mark.parametrize(
    "group",
    ["", "config", "lab", "step", "models", "pipeline", "workflows", "cloud", "infra", "job", "status", "serve"],
)
def test_help_everywhere(group: str):
    res = cli(CONFIG, *([group] if group else []), "--help")
    assert res.returncode == 0 and "Usage" in res.stdout


def test_version():
    res = cli(CONFIG, "--version")
    assert res.returncode == 0 and res.stdout.startswith("cxops ")


def test_pipeline_show_json_is_the_definition():
    from cxops.pipeline.definition import PIPELINE

    res = cli(CONFIG, "pipeline", "show", "--json")
    assert [s["id"] for s in json.loads(res.stdout)] == [s.id for s in PIPELINE]


def test_pipeline_run_unknown_until_step():
    res = cli(CONFIG, "pipeline", "run", "--until", "deploy-prod")
    assert res.returncode == 2 and "unknown step 'deploy-prod'" in res.stderr and "promote-production" in res.stderr


def test_serve_argument_errors(tmp_path: Path):
    both = cli(CONFIG, "serve", "--env", "staging", "--model-dir", str(tmp_path))
    assert both.returncode == 2 and "exactly one of --env ENV or --model-dir DIR" in both.stderr
    not_a_build = cli(CONFIG, "serve", "--model-dir", str(tmp_path))
    assert not_a_build.returncode == 1 and "holds no build" in not_a_build.stderr


def test_unknown_command_is_a_usage_error():
    res = cli(CONFIG, "stpe")
    assert res.returncode == 2 and "No such command" in res.stderr
