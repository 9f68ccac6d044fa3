"""One truth about the cluster's Secrets: the docs tell users to create by hand exactly the Secrets the install leaves
to them (`generate="user"` in cxops/cluster_secrets.py, the catalogue the Ansible role reads), never one the install
creates (random values, the ArgoCD token)."""

from __future__ import annotations

import re
from pathlib import Path

from cxops.cluster_secrets import catalogue
from cxops.config import load_config

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/workflows.md", "docs/cluster.md", "docs/platform.md", "docs/chameleon.md")


def _created_by_hand(text: str) -> set[str]:
    """Secret names in `kubectl ... create secret <type> NAME` commands (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = set()
    for m in re.finditer(r"kubectl\b[^\n]*?\bcreate secret (?:generic|docker-registry|tls) (\S+)", joined):
        found.add(m.group(1))
    return found


def test_docs_never_ask_for_a_secret_the_install_creates():
    secrets = catalogue(load_config(REPO / "cxops.yaml"))
    made = {s.name for s in secrets if s.generate != "user"}
    yours = {s.name for s in secrets if s.generate == "user"}
    assert {"cxops-s3-credentials", "cxops-argocd-token"} <= made and yours  # the catalogue still says so
    for doc in DOCS:
        asked = _created_by_hand((REPO / doc).read_text())
        wrong = sorted(asked & made)
        assert not wrong, f"{doc} tells users to create {wrong}, which `cxops cluster install` creates"


def test_workflows_doc_names_the_secrets_users_supply_and_says_the_install_makes_the_others():
    text = (REPO / "docs/workflows.md").read_text()
    secrets = catalogue(load_config(REPO / "cxops.yaml"))
    for s in secrets:
        if s.generate == "user":
            assert s.name in _created_by_hand(text), f"docs/workflows.md does not say how to create {s.name}"
    assert "`cxops cluster install` creates" in text
    for name in ("cxops-s3-credentials", "cxops-argocd-token"):
        assert name in text
