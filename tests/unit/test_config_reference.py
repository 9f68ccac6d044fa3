"""The configuration reference is complete (every key described) and docs/configuration.md matches the schema."""

from __future__ import annotations

import pytest
from helpers import REPO
from pydantic import BaseModel, Field

from cxops import generated
from cxops.config.reference import files, undocumented
from cxops.errors import CxopsError
from cxops.settings import settings


def test_every_key_and_section_is_described():
    assert undocumented() == []


def test_an_undescribed_key_is_reported():
    class Inner(BaseModel):
        """A section."""

        documented: int = Field(1, description="has one")
        bare: int = 2

    class Outer(BaseModel):
        """The root."""

        inner: Inner = Inner()

    assert undocumented(Outer) == ["inner.bare"]


def test_committed_reference_is_up_to_date():
    assert generated.drift(files(REPO)) == [], "run `cxops config reference`"


def test_drift_is_reported_as_a_diff(tmp_path):
    page = tmp_path / "docs" / "configuration.md"
    expected = files(tmp_path)
    generated.write_all(expected)
    page.write_text(page.read_text().replace("lowest held-out accuracy", "LOWEST accuracy"))
    with pytest.raises(CxopsError) as exc:
        generated.check(expected, "cxops config reference")
    assert "-| `min_accuracy`" in str(exc.value) and "+| `min_accuracy`" in str(exc.value)


def test_settings_read_the_environment_typed(monkeypatch):
    monkeypatch.setenv("CXOPS_MLFLOW_TIMEOUT", "3.5")
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", "s3cr3t-token-value")
    s = settings()
    assert s.mlflow_timeout == 3.5 and s.argocd_token == "s3cr3t-token-value"
    assert "s3cr3t" not in repr(s), "tokens never appear in a repr (logs)"
    monkeypatch.setenv("CXOPS_MLFLOW_TIMEOUT", "soon")
    with pytest.raises(CxopsError, match="CXOPS_MLFLOW_TIMEOUT='soon' is not a number"):
        settings()
