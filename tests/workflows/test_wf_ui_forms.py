"""The Argo UI's submit form of every WorkflowTemplate explains itself: each parameter has a description, closed sets
(environments, chain) are enums whose default is one of them, and nothing offers a value outside its set."""

from __future__ import annotations

import pytest
from wf_helpers import templates_of, workflow_templates

from cxops.environments import ENV_NAMES

NAMES = sorted(workflow_templates())


def _form(wt: dict) -> list[dict]:
    spec = wt["spec"]
    return spec.get("arguments", {}).get("parameters", []) or spec.get("workflowSpec", {}).get("arguments", {}).get(
        "parameters", []
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_form_parameter_is_described(name: str):
    for p in _form(workflow_templates()[name]):
        assert p.get("description", "").strip(), f"{name}: parameter {p['name']} has no description"


@pytest.mark.parametrize("name", NAMES)
def test_closed_sets_are_enums_and_defaults_lie_inside(name: str):
    wt = workflow_templates()[name]
    params = list(_form(wt))
    for t in templates_of(wt).values():
        params += t.get("inputs", {}).get("parameters", [])
    for p in params:
        if p["name"] in ("env", "src", "dst"):
            assert set(p.get("enum", [])) <= set(ENV_NAMES) and p.get("enum"), f"{name}: {p['name']} is no enum"
        if "enum" in p:
            for key in ("value", "default"):
                if key in p:
                    assert p[key] in p["enum"], f"{name}: {p['name']} {key} {p[key]!r} outside {p['enum']}"
