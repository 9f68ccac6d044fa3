"""`cxops infra cost` as a user runs it, from the project's folder with its cxops.yaml and nothing else: the figures
are computed here again from the YAML (not from cxops), and bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CXOPS_CONFIG"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "cxops", "infra", "cost", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def expected(doc: dict, hours: float) -> tuple[float, float]:
    """(SU, currency) of a lease of `hours`: every node x its role's flavor's rates x hours, straight from the YAML."""
    costs, flavors = doc["costs"], doc["cloud"]["flavors"]
    su = cost = 0.0
    for node in doc["cloud"]["nodes"]:
        flavor = flavors[node.get("role", "worker")]
        su += costs["su_per_hour"].get(flavor, costs.get("default_su_per_hour") or 0) * hours
        cost += costs["rates_per_hour"].get(flavor, costs.get("default_rate", 0)) * hours
    return su, cost


def project(tmp_path: Path, change) -> Path:
    doc = yaml.safe_load((REPO / "cxops.yaml").read_text())
    change(doc)
    (tmp_path / "cxops.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def test_shipped_config_one_lease():
    doc = yaml.safe_load((REPO / "cxops.yaml").read_text())
    hours = doc["costs"]["lease_hours"]
    su, cost = expected(doc, hours)
    assert su > 0 and cost > 0

    res = run(REPO, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["hours"] == hours and out["currency"] == doc["costs"]["currency"]
    assert out["su"] == pytest.approx(su) and out["cost"] == pytest.approx(cost)
    assert sum(len(r["nodes"]) for r in out["rows"]) == len(doc["cloud"]["nodes"])

    table = run(REPO)
    assert table.returncode == 0, table.stderr
    assert f"lease: {su:.2f} SU, {cost:.2f} {doc['costs']['currency']}" in table.stdout
    assert re.search(rf"total\s*│\s*{len(doc['cloud']['nodes'])}\s*│", table.stdout), table.stdout


def test_a_known_rate_and_hours(tmp_path: Path):
    def rates(doc: dict) -> None:
        doc["costs"].update(su_per_hour={"m1.medium": 0.5}, rates_per_hour={"m1.medium": 0.25}, currency="EUR")
        doc["cloud"]["flavors"] = {"control": "m1.medium", "worker": "m1.medium"}

    root = project(tmp_path, rates)
    res = run(root, "--hours", "10")
    assert res.returncode == 0, res.stderr
    nodes = len(yaml.safe_load((root / "cxops.yaml").read_text())["cloud"]["nodes"])
    assert f"lease: {nodes * 0.5 * 10:.2f} SU, {nodes * 0.25 * 10:.2f} EUR" in res.stdout  # 3 nodes: 15 SU, 7.50
    assert f"draws {nodes * 0.5:g} SU and {nodes * 0.25:.2f} EUR per hour" in res.stdout


def test_unknown_flavor_without_a_default_is_one_line(tmp_path: Path):
    def unknown(doc: dict) -> None:
        doc["cloud"]["flavors"]["worker"] = "m1.xxlarge"
        doc["costs"].pop("default_su_per_hour")

    res = run(project(tmp_path, unknown))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "'m1.xxlarge'" in lines[0] and "costs.default_su_per_hour is unset" in lines[0]
    assert "flavors with a rate: m1.large, m1.medium" in lines[0]
    assert "Traceback" not in res.stderr and res.stdout == ""


@pytest.mark.parametrize("hours", ["-1", "0", "abc", "nan", "inf"])
def test_bad_hours_are_one_line(hours: str):
    res = run(REPO, f"--hours={hours}")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"--hours {hours}: not a length of time" in lines[0] and "above 0" in lines[0]
    assert res.stdout == ""


def test_negative_rate_in_the_config_is_refused(tmp_path: Path):
    res = run(project(tmp_path, lambda doc: doc["costs"]["su_per_hour"].update({"m1.medium": -1})))
    assert res.returncode == 2
    assert "costs.su_per_hour.m1.medium" in res.stderr and "greater than or equal to 0" in res.stderr
    assert res.stdout == ""
