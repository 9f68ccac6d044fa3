"""cxops.yaml: the shipped file is valid; every kind of bad input gives one line with file:line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO, cli

from cxops.config import load_config, parse_config
from cxops.errors import ConfigError

GOOD = (REPO / "cxops.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cxops.yaml")
    return info.value.problems


def test_shipped_config_is_valid_and_has_defaults():
    cfg = load_config(REPO / "cxops.yaml")
    assert cfg.model.name == "digits-classifier"
    assert cfg.environments.canary.weight == 10
    assert cfg.gates.evaluation.min_accuracy == 0.9
    assert cfg.costs.rate("m1.medium") == 0.05
    assert cfg.costs.rate("unknown-flavor") == cfg.costs.default_rate


def test_threshold_out_of_range_names_line_key_and_value():
    text = GOOD.replace("min_accuracy: 0.90", "min_accuracy: 1.7")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "min_accuracy: 1.7" in s)
    [msg] = problems(text)
    assert msg.startswith(f"cxops.yaml:{line} gates.evaluation.min_accuracy:")
    assert "1.7" in msg and "less than or equal to 1" in msg


def test_unknown_key_is_an_error_with_its_line():
    text = GOOD.replace("  suffix: proj01", "  suffix: proj01\n  sufix: typo")
    [msg] = problems(text)
    assert msg.startswith("cxops.yaml:5 project.sufix: unknown key")


def test_wrong_type():
    [msg] = problems(GOOD.replace("port: 8181", "port: eighty"))
    assert "environments.staging.port" in msg and "'eighty'" in msg


def test_malformed_yaml_reports_line():
    [msg] = problems("project:\n  name: [unclosed\n")
    assert msg.startswith("cxops.yaml:") and "malformed YAML" in msg


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("min_accuracy: 0.90", "min_accuracy: -1").replace("max_p95_ms: 200", "max_p95_ms: 0")
    msgs = problems(text)
    assert len(msgs) == 2
    assert any("min_accuracy" in m for m in msgs) and any("max_p95_ms" in m for m in msgs)


@pytest.mark.parametrize("name", ["bad/name", "x@prod", "has space", "-leading", "a" * 64])
def test_model_names_mlflow_or_uris_reject(name: str):
    [msg] = problems(GOOD.replace("name: digits-classifier", f"name: {name!r}"))
    assert "model.name" in msg and repr(name) in msg


def test_duplicate_ports_and_canary_weight_are_checked():
    [msg] = problems(GOOD.replace("port: 8182", "port: 8181"))
    assert "distinct ports" in msg
    [msg] = problems(GOOD.replace("weight: 10", "weight: 0"))
    assert "canary.weight" in msg


def test_node_outside_network_and_unpinned_base_image():
    [msg] = problems(GOOD.replace("192.168.1.12", "10.0.0.12"))
    assert "outside network_cidr" in msg
    [msg] = problems(GOOD.replace("python:3.11.11-slim-bookworm", "python:latest"))
    assert "serving.base_image" in msg and "latest" in msg


def test_empty_and_non_mapping_files():
    assert "empty" in problems("")[0]
    assert "mapping" in problems("- a\n- b\n")[0]


def test_cli_check_exit_codes(tmp_path: Path):
    good = tmp_path / "cxops.yaml"
    good.write_text(GOOD)
    ok = cli(good, "config", "check")
    assert ok.returncode == 0 and "is valid" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("min_accuracy: 0.90", "min_accuracy: 1.7"))
    res = cli(bad, "config", "check")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "min_accuracy" in lines[0] and "Traceback" not in res.stderr

    missing = cli(tmp_path / "nope.yaml", "config", "check")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_cli_show_json_prints_effective_config(tmp_path: Path):
    import json

    path = tmp_path / "cxops.yaml"
    path.write_text(GOOD)
    res = cli(path, "config", "show", "--json")
    data = json.loads(res.stdout)
    assert data["gitops"]["branch"] == "main"  # a default, not in the file
    assert data["model"]["params"]["C"] == 0.5
