"""cxops.yaml's serving limits as a model server's environment (cxops.serving.limits): what the overlay's model.env
carries to a server in the cluster, whose command line is fixed by the image."""

from __future__ import annotations

import subprocess
import sys

from cxops.serving.limits import ENV_VARS, MAX_BATCH_VAR, RequestLimits


def test_the_limits_survive_the_trip_through_the_environment():
    limits = RequestLimits(2.5, 7.0, 4096, 24)
    assert RequestLimits.from_env(limits.env()) == limits
    assert RequestLimits.from_env({}) == RequestLimits()


def test_a_bad_variable_is_one_line_naming_it_and_exit_2(tmp_path):
    for var, raw in ((ENV_VARS["max_headers"], "many"), (ENV_VARS["head_timeout"], "-1"), (MAX_BATCH_VAR, "0")):
        res = subprocess.run(
            [sys.executable, "-m", "cxops.serving", "--model-dir", str(tmp_path)],
            env={"PATH": "/usr/bin:/bin", var: raw},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 2, res.stderr
        [line] = res.stderr.strip().splitlines()
        assert line.startswith(f"error: {var}={raw!r} is not a positive")
