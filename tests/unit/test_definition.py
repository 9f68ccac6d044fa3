"""The one pipeline definition is well-formed and every step it names exists as a `cxops step` command."""

from __future__ import annotations

import inspect

import pytest

from cxops.cli.step_cmd import app as step_app
from cxops.pipeline.definition import COMMANDS, PIPELINE, Step, validate
from cxops.pipeline.local import step_function


def _step(**kw) -> Step:
    base = {
        "id": "a",
        "command": "evaluate",
        "args": {"run_id": "x"},
        "outputs": ("passed",),
        "template": "t",
        "timeout_seconds": 1,
        "retries": 0,
    }
    return Step(**{**base, **kw})


def test_references_point_backwards():
    validate(PIPELINE)
    with pytest.raises(ValueError, match="no earlier step"):
        validate((_step(args={"run_id": "{b.run_id}"}),))


def test_args_are_exactly_the_commands_parameters():
    with pytest.raises(ValueError, match="must be exactly"):
        validate((_step(args={"run": "x"}),))
    with pytest.raises(ValueError, match="unknown command"):
        validate((_step(command="fly"),))


def test_every_declared_output_exists_on_the_result_type():
    from dataclasses import fields

    for s in PIPELINE:
        result = s.spec.result
        names = {f.name for f in fields(result)} | set(result.DERIVED)
        assert all(isinstance(getattr(result, d, None), property) for d in result.DERIVED), result.__name__
        assert set(s.outputs) <= names, f"{s.id}: {set(s.outputs) - names} not on {result.__name__}"
    with pytest.raises(ValueError, match="not fields of EvaluateResult"):
        validate((_step(outputs=("version",)),))


def test_each_step_module_returns_its_declared_result_type():
    import typing

    for name, spec in COMMANDS.items():
        hints = typing.get_type_hints(step_function(name))
        assert hints["return"] is spec.result, f"cxops.pipeline.steps.{name}.run returns {hints['return']}"


def test_every_command_is_a_step_module_and_a_cli_command():
    cli_names = {c.name or c.callback.__name__ for c in step_app.registered_commands}
    for s in PIPELINE:
        fn = step_function(s.command)
        params = list(inspect.signature(fn).parameters)
        assert params[0] == "cfg"
        assert list(s.spec.param_names()) == params[1 : 1 + len(s.args)], f"{s.id}: {s.command} signature differs"
        assert s.command in cli_names


def test_order_is_the_lifecycle():
    assert [s.id for s in PIPELINE] == [
        "train",
        "evaluate",
        "register",
        "build",
        "deploy-staging",
        "test-staging",
        "promote-canary",
        "analyze-canary",
        "promote-production",
    ]
    assert all(s.retries == 1 or not s.gate for s in PIPELINE), "gates are not retried beyond one attempt"
