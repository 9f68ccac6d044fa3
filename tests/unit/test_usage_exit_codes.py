"""A usage error exits 2, and no retry policy runs it again (issue 26, class 11).

Each `cxops step` argument with a closed value set (the Argo parameter's `enum`), and a version that is not a
number, is given a bad value through the real CLI in its own process, from a project directory as a user runs it:
the exit code must be 2 with one line naming the value and what is valid. The retry expressions of the rendered
WorkflowTemplates are then evaluated for each exit code.
"""

from __future__ import annotations

import pytest

from cxops.pipeline.definition import COMMANDS
from tests.helpers import cli, make_project

BAD = "nowhere"


def _cases() -> list[tuple[str, list[str], str]]:
    """(command, argv with one bad value, the bad value) for every closed parameter and every version argument."""
    cases = []
    for command in COMMANDS.values():
        good = [p.enum[0] if p.enum else "3" for p in command.params]
        for i, p in enumerate(command.params):
            if p.enum is None and p.name != "version":
                continue
            bad = BAD if p.enum else "v3"
            cases.append((command.name, [*good[:i], bad, *good[i + 1 :]], bad))
    return cases


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("usage"))


@pytest.mark.parametrize(("command", "argv", "bad"), _cases(), ids=lambda v: v if isinstance(v, str) else None)
def test_a_bad_step_argument_exits_2_naming_it(config, command, argv, bad):
    proc = cli(config, "step", command, *argv, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and repr(bad) in lines[0] and "valid" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_promotion_that_skips_an_environment_is_a_usage_error(config):
    proc = cli(config, "step", "promote", "staging", "production", timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "staging → canary → production" in proc.stderr


def test_analyze_outside_canary_is_a_usage_error_in_the_step_itself():
    """The same rule where the local executor calls the step function directly (no CLI in between)."""
    from cxops.errors import UsageError
    from cxops.pipeline.steps import analyze

    with pytest.raises(UsageError) as err:
        analyze.run(None, "production")  # type: ignore[arg-type]  # refused before the config is read
    assert err.value.exit_code == 2 and "'production'" in str(err.value)
