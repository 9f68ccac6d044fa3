"""cxops.yaml's request limits (issue 26, class 7): checked at load, and the lab's servers are started with them.
Their effect on a real server: tests/integration/test_request_limits.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import REPO

from cxops.config import parse_config
from cxops.errors import ConfigError
from cxops.lab.controller import server_argv

GOOD = (REPO / "cxops.yaml").read_text()


def with_serving(lines: str) -> str:
    return GOOD.replace("serving:\n", "serving:\n" + lines, 1)


def test_the_lab_starts_servers_with_the_configured_limits():
    cfg = parse_config(
        with_serving(
            "  request_head_timeout_seconds: 2.5\n  request_body_timeout_seconds: 7\n"
            "  max_request_head_bytes: 8192\n  max_request_headers: 40\n"
        ),
        "cxops.yaml",
    )
    argv = server_argv(cfg, Path("/b"), "staging", Path("/s.sock"), 3)
    pairs = dict(zip(argv[-8::2], argv[-7::2], strict=True))
    assert pairs == {"--head-timeout": "2.5", "--body-timeout": "7", "--max-head-bytes": "8192", "--max-headers": "40"}


def test_the_defaults_are_safe():
    limits = parse_config(GOOD, "cxops.yaml").serving.request_limits()
    assert 0 < limits.head_timeout <= 60 and 0 < limits.body_timeout <= 120
    assert 8 * 1024 <= limits.max_head_bytes <= 64 * 1024 and limits.max_headers <= 200


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("  max_request_head_bytes: 100\n", "greater than or equal to 1024"),
        ("  request_head_timeout_seconds: 0\n", "greater than 0"),
        ("  max_request_headers: 3\n", "greater than or equal to 8"),
    ],
)
def test_a_limit_out_of_range_is_one_line_naming_it(line: str, named: str):
    with pytest.raises(ConfigError) as info:
        parse_config(with_serving(line), "cxops.yaml")
    [msg] = info.value.problems
    key = line.split(":")[0].strip()
    assert f"serving.{key}" in msg and named in msg


def test_serving_direct_path_reaches_the_lab_and_the_clusters_servers():
    """serving.direct_path (cxops.serving.direct): on by default; false reaches the lab's servers as an option and a
    cluster's as the overlay's environment."""
    on = parse_config(GOOD, "cxops.yaml")
    off = parse_config(with_serving("  direct_path: false\n"), "cxops.yaml")
    assert on.serving.direct_path is True
    assert "--direct-path" in server_argv(on, Path("/b"), "staging", Path("/s.sock"), 3)
    assert "--no-direct-path" in server_argv(off, Path("/b"), "staging", Path("/s.sock"), 3)
    assert off.serving.server_env()["CXOPS_SERVING_DIRECT_PATH"] == "false"
    assert on.serving.server_env()["CXOPS_SERVING_DIRECT_PATH"] == "true"
