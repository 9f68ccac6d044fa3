"""Build outputs another user of the same pod can use (audit W4): the outputs directory is group-writable (BuildKit
writes its own outputs beside the build step's), the build directory readable by others (mkdtemp makes it 0700)."""

from __future__ import annotations

import stat
from pathlib import Path

from cxops.pipeline.results import BuildResult


def test_outputs_directory_is_group_writable(tmp_path: Path):
    out = tmp_path / "outputs"
    BuildResult(version="1", image="r/m:1-abc", digest="sha256:0", path="/p").write(out)
    mode = out.stat().st_mode
    assert mode & stat.S_IWGRP and mode & stat.S_IXGRP, oct(mode)
    assert (out / "image").read_text() == "r/m:1-abc"
