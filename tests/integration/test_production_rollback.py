"""Issue 31, item 4, as the user hit it: after two releases (the canary and production both serve the newer version)
`cxops rollback production` must leave no traffic on the rolled-back version, asked through the lab's real public
endpoint (nginx, with the HTTPRoute's split): the canary that served it too is retired in the same move (overlay
empty, traffic weight 0, alias removed) and the command says so."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml
from helpers import cli

pytestmark = pytest.mark.integration


def public_versions(config: Path, requests: int = 200) -> Counter:
    """Which version answered each of `requests` GET /version sent to the lab's public endpoint."""
    port = yaml.safe_load(config.read_text())["lab"]["endpoint_port"]
    seen: Counter = Counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        for _ in range(requests):
            seen[str(client.get("/version").json()["version"])] += 1
    return seen


def status(config: Path) -> dict[str, dict]:
    res = cli(config, "status", "--json")
    assert res.returncode == 0, res.stderr
    return {row["env"]: row for row in json.loads(res.stdout)}


@pytest.fixture(scope="module")
def two_releases(lab: Path) -> tuple[str, str]:
    versions = []
    for _ in range(2):
        res = cli(lab, "pipeline", "run", "--json", timeout=600)
        assert res.returncode == 0, res.stderr + res.stdout
        versions.append(json.loads(res.stdout)["version"])
    return versions[0], versions[1]


def test_rollback_of_production_leaves_no_traffic_on_the_rolled_back_version(lab: Path, two_releases):
    first, second = two_releases
    rows = status(lab)
    assert rows["canary"]["live"] == rows["production"]["live"] == second
    before = public_versions(lab)
    assert set(before) == {second}, before

    res = cli(lab, "rollback", "production")
    assert res.returncode == 0, res.stderr + res.stdout

    seen = public_versions(lab)
    assert seen == Counter({first: sum(seen.values())}), f"after the rollback the public endpoint answered {seen}"
    assert f"canary v{second} retired" in res.stdout, res.stdout  # and the command says so
    rows = status(lab)
    assert rows["production"]["alias"] == rows["production"]["git"] == rows["production"]["live"] == first
    assert rows["canary"]["alias"] is None and rows["canary"]["git"] is None and rows["canary"]["live"] is None
    check = cli(lab, "status", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
