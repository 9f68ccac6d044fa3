"""The one pipeline definition is well-formed and every step it names exists as a `cxops step` command."""

from __future__ import annotations

import inspect

import pytest

from cxops.cli.step_cmd import app as step_app
from cxops.pipeline.definition import PIPELINE, Step, validate
from cxops.pipeline.local import step_function


def test_references_point_backwards():
    validate(PIPELINE)
    with pytest.raises(ValueError, match="no earlier step"):
        validate((Step("a", "train", ("{b.run_id}",), ("x",), "t", 1, 0),))


def test_every_command_is_a_step_module_and_a_cli_command():
    cli_names = {c.name or c.callback.__name__ for c in step_app.registered_commands}
    for s in PIPELINE:
        fn = step_function(s.command)
        params = list(inspect.signature(fn).parameters)
        assert params[0] == "cfg"
        assert len(s.args) <= len(params) - 1, f"{s.id} passes more args than {s.command} takes"
        assert s.command in cli_names


def test_order_is_the_lifecycle():
    assert [s.id for s in PIPELINE] == [
        "train", "evaluate", "register", "build", "deploy-staging", "test-staging",
        "promote-canary", "analyze-canary", "promote-production",
    ]
    assert all(s.retries == 1 or not s.gate for s in PIPELINE), "gates are not retried beyond one attempt"
