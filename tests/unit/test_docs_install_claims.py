"""What the docs say the cluster install does is what it does (audit C1): no doc asks the user to create a Secret the
install creates or to mint a token the install mints, and what the docs say the install sets in ArgoCD, it sets."""

from __future__ import annotations

import re

import yaml
from helpers import REPO

from cxops.cluster_secrets import catalogue
from cxops.config.schema import Config
from tests.helpers import base_config

DOCS = sorted([*REPO.joinpath("docs").glob("*.md"), REPO / "README.md"])
ARGOCD_VALUES = REPO / "ansible" / "roles" / "gitops_bootstrap" / "defaults" / "main.yml"


def test_no_doc_asks_for_a_secret_the_install_creates():
    made = {s.name for s in catalogue(Config.model_validate(base_config())) if s.generate != "user"}
    asked = [
        f"{doc.name}: {name}"
        for doc in DOCS
        for name in re.findall(r"create secret \S+ (\S+)", doc.read_text())
        if name in made
    ]
    assert asked == []


def test_no_doc_mints_an_argocd_account_token_the_install_does_not_use():
    assert [d.name for d in DOCS if "generate-token" in d.read_text()] == []


def test_argocd_settings_the_docs_attribute_to_the_install_are_set_by_it():
    """docs/platform.md names the argocd-cm keys the install sets; each is in the values the install hands the
    argo-cd chart (ansible/roles/gitops_bootstrap)."""
    text = " ".join((REPO / "docs" / "platform.md").read_text().split())
    cm = str(yaml.safe_load(ARGOCD_VALUES.read_text())["gitops_bootstrap_argocd_values"]["configs"]["cm"])
    named = set(re.findall(r"`(resource\.customizations\.[\w.]+)`", text))
    assert named, "docs/platform.md names no argocd-cm setting"
    assert {k for k in named if f"'{k}'" not in cm} == set()
