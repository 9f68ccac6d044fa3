"""The Argo parameter names are the `cxops step` commands' own argument names (one CLI shape, not two), and both come
from the pipeline definition."""

from __future__ import annotations

import typer

from cxops.cli import step_cmd
from cxops.pipeline.definition import COMMANDS, PIPELINE, ROLLBACK


def test_arg_names_match_the_step_cli():
    group = typer.main.get_command(step_cmd.app)
    assert {s.command for s in (*PIPELINE, ROLLBACK)} <= set(COMMANDS)
    for command, spec in COMMANDS.items():
        cmd = group.commands.get(command)
        assert cmd is not None, f"`cxops step {command}` does not exist"
        # typer vendors its own click: compare by the parameter kind, not by class
        args = tuple(p.name for p in cmd.params if p.param_type_name == "argument")
        assert args == spec.param_names(), f"cxops step {command}: CLI takes {args}, definition says {spec.params}"
        assert "outputs_dir" in {p.name for p in cmd.params}, f"cxops step {command} lacks --outputs-dir"
        for p in cmd.params:
            if p.param_type_name == "argument":
                defined = next(d for d in spec.params if d.name == p.name)
                assert p.help.startswith(defined.help), f"cxops step {command} {p.name}: help not from definition"
