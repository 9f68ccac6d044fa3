"""The Argo parameter names are the `cxops step` commands' own argument names (one CLI shape, not two)."""

from __future__ import annotations

import typer

from cxops.cli import step_cmd
from cxops.pipeline.definition import EXTRA_COMMANDS, PIPELINE
from cxops.workflows.chain import ARG_NAMES


def test_arg_names_match_the_step_cli():
    group = typer.main.get_command(step_cmd.app)
    for command in {s.command for s in PIPELINE} | set(EXTRA_COMMANDS):
        cmd = group.commands.get(command)
        assert cmd is not None, f"`cxops step {command}` does not exist"
        # typer vendors its own click: compare by the parameter kind, not by class
        args = tuple(p.name for p in cmd.params if p.param_type_name == "argument")
        assert args == ARG_NAMES[command], f"cxops step {command}: CLI takes {args}"
        assert "outputs_dir" in {p.name for p in cmd.params}, f"cxops step {command} lacks --outputs-dir"
