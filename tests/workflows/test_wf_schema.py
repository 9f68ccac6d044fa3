"""Every rendered file validates against a strict JSON schema generated from Hera's Argo models."""

from __future__ import annotations

import copy
from functools import cache

import jsonschema
import pytest
from wf_helpers import manifests


def forbid_unknown_keys(node):
    """Hera's model_validate silently drops unknown keys; the schema with additionalProperties false does not."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            forbid_unknown_keys(value)
    elif isinstance(node, list):
        for value in node:
            forbid_unknown_keys(value)
    return node


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    from hera.workflows import models

    schema = forbid_unknown_keys(getattr(models, kind).model_json_schema(by_alias=True))
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(manifests()))
def test_file_validates_strictly(name):
    doc = manifests()[name]
    assert doc["kind"] in ("WorkflowTemplate", "CronWorkflow")
    errors = sorted(validator(doc["kind"]).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors]


def test_schema_rejects_a_typo_and_a_wrong_type():
    doc = copy.deepcopy(manifests()["train-model.yaml"])
    doc["spec"]["templates"][0]["container"]["imagePulPolicy"] = "IfNotPresent"
    assert not validator("WorkflowTemplate").is_valid(doc)
    doc = copy.deepcopy(manifests()["train-model.yaml"])
    doc["spec"]["activeDeadlineSeconds"] = {"seconds": 5}
    assert not validator("WorkflowTemplate").is_valid(doc)


def test_every_kind_is_present():
    kinds = sorted({d["kind"] for d in manifests().values()})
    assert kinds == ["CronWorkflow", "WorkflowTemplate"]


@pytest.mark.parametrize("name", sorted(manifests()))
def test_hera_round_trip_is_lossless(name):
    """Hera reads back exactly what it wrote: nothing in the files is outside its model of Argo."""
    import yaml
    from hera.workflows import CronWorkflow, WorkflowTemplate
    from wf_helpers import WORKFLOWS

    text = (WORKFLOWS / name).read_text()
    cls = CronWorkflow if manifests()[name]["kind"] == "CronWorkflow" else WorkflowTemplate
    assert yaml.safe_load(cls.from_yaml(text).to_yaml()) == manifests()[name]
