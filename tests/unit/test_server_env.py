"""cxops.yaml's serving limits as a model server's environment (cxops.serving.limits): what the overlay's model.env
carries to a server in the cluster, whose command line is fixed by the image."""

from __future__ import annotations

import subprocess
import sys

from cxops.serving.limits import (
    DIRECT_PATH_VAR,
    ENV_VARS,
    MAX_BATCH_VAR,
    RequestLimits,
    direct_path_env,
    direct_path_from_env,
)


def _refused_line(model_dir, var: str, raw: str) -> str:
    """Start `python -m cxops.serving` with VAR=RAW as its only setting; assert exit 2 and return its one line."""
    res = subprocess.run(
        [sys.executable, "-m", "cxops.serving", "--model-dir", str(model_dir)],
        env={"PATH": "/usr/bin:/bin", var: raw},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    [line] = res.stderr.strip().splitlines()
    return line


def test_the_limits_survive_the_trip_through_the_environment():
    limits = RequestLimits(2.5, 7.0, 4096, 24)
    assert RequestLimits.from_env(limits.env()) == limits
    assert RequestLimits.from_env({}) == RequestLimits()


def test_a_bad_variable_is_one_line_naming_it_and_exit_2(tmp_path):
    for var, raw in ((ENV_VARS["max_headers"], "many"), (ENV_VARS["head_timeout"], "-1"), (MAX_BATCH_VAR, "0")):
        assert _refused_line(tmp_path, var, raw).startswith(f"error: {var}={raw!r} is not a positive")


def test_direct_path_survives_the_trip_through_the_environment():
    assert direct_path_from_env(direct_path_env(False)) is False
    assert direct_path_from_env(direct_path_env(True)) is True
    assert direct_path_from_env({}) is True  # unset: on, as serving.direct_path's default


def test_a_direct_path_value_that_is_not_a_boolean_is_one_line_naming_it_and_exit_2(tmp_path):
    line = _refused_line(tmp_path, DIRECT_PATH_VAR, "sometimes")
    assert line == f"error: {DIRECT_PATH_VAR}='sometimes' is not true or false"


def test_batching_settings_survive_the_trip_and_bad_ones_are_one_line(tmp_path):
    from cxops.serving.batch_settings import ENV_VARS as BATCH_VARS
    from cxops.serving.batch_settings import BatchSettings

    settings = BatchSettings(False, 8, 0.5)
    assert BatchSettings.from_env(settings.env()) == settings
    assert BatchSettings.from_env({}) == BatchSettings()
    for var, raw, says in (
        (BATCH_VARS["enabled"], "maybe", "is not true or false"),
        (BATCH_VARS["max_batch_size"], "0", "is not a positive whole number"),
        (BATCH_VARS["max_wait_ms"], "soon", "is not a number of milliseconds"),
    ):
        assert _refused_line(tmp_path, var, raw).startswith(f"error: {var}={raw!r} {says}")


def test_each_environment_gets_its_own_batching(tmp_path):
    """cxops.yaml's serving.batching for every environment, an environment's own batching where it has one: in
    its overlay's environment and in the lab's server command line."""
    from pathlib import Path

    from helpers import base_config

    from cxops.config.schema import Config
    from cxops.lab.controller import server_argv

    doc = base_config()
    doc["serving"] = {**doc.get("serving", {}), "batching": {"max_batch_size": 32, "max_wait_ms": 3}}
    doc["environments"]["staging"]["batching"] = {"enabled": False}
    cfg = Config.model_validate(doc)
    assert cfg.serving.server_env(cfg.batching("staging"))["CXOPS_SERVING_BATCHING"] == "false"
    prod = cfg.serving.server_env(cfg.batching("production"))
    assert (prod["CXOPS_SERVING_BATCHING"], prod["CXOPS_SERVING_BATCH_MAX_SIZE"]) == ("true", "32")
    assert prod["CXOPS_SERVING_BATCH_MAX_WAIT_MS"] == "3"
    argv = server_argv(cfg, Path("b"), "staging", Path("s"), 3)
    assert argv[argv.index("--batching") + 1] == "off"
    argv = server_argv(cfg, Path("b"), "canary", Path("s"), 3)
    assert argv[argv.index("--batch-max-size") + 1] == "32"
