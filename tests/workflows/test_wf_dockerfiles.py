"""Lint every docker/*.Dockerfile (no Docker daemon or hadolint here): pinned base, non-root, build-time installs
of pinned packages only, no secrets in layers, exec-form entry points."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from wf_helpers import ROOT

DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
SECRETISH = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|PRIVATE_KEY|ACCESS_KEY|API_KEY|CREDENTIAL)", re.I)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # Docker drops comment lines inside a continuation
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, rest = buf.strip().partition(" ")
        out.append((op.upper(), rest.strip()))
        buf = ""
    assert not buf, f"{path.name}: dangling line continuation"
    return out


def test_the_two_images_are_there():
    assert {p.name for p in DOCKERFILES} >= {"tools.Dockerfile", "serving.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_image_is_pinned(path):
    froms = [a for op, a in instructions(path) if op == "FROM"]
    assert froms, path.name
    for arg in froms:
        image = arg.split()[0]
        last = image.rsplit("/", 1)[-1]
        assert "@sha256:" in image or (":" in last and not last.endswith(":latest")), f"{path.name}: {image}"
        assert "$" not in image, f"{path.name}: base image from a build arg cannot be checked"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_non_root(path):
    users = [a for op, a in instructions(path) if op == "USER"]
    assert users, f"{path.name}: no USER, the container would run as root"
    final = users[-1].split(":")[0]
    assert final not in ("root", "0"), f"{path.name}: final USER is {users[-1]}"
    last_user = max(i for i, (op, _) in enumerate(instructions(path)) if op == "USER")
    assert all(op != "RUN" for op, _ in instructions(path)[last_user:]), f"{path.name}: RUN after USER"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_installs_are_pinned_and_leave_no_cache(path):
    for op, arg in instructions(path):
        if op != "RUN":
            continue
        for cmd in re.split(r"&&|;", arg):
            words = shlex.split(cmd)
            if words[:2] in (["pip", "install"], ["pip3", "install"]) or words[:4] == [
                "python",
                "-m",
                "pip",
                "install",
            ]:
                assert "--no-cache-dir" in words, f"{path.name}: {cmd.strip()}"
                pkgs = [w for w in words[2:] if not w.startswith("-")]
                reqs = [words[i + 1] for i, w in enumerate(words) if w in ("-r", "--requirement")]
                for pkg in pkgs:
                    assert pkg in reqs or pkg == "." or "==" in pkg, f"{path.name}: unpinned {pkg}"
            if words[:2] == ["apt-get", "install"]:
                assert "--no-install-recommends" in words, f"{path.name}: {cmd.strip()}"
                pkgs = [w for w in words[2:] if not w.startswith("-")]
                assert all("=" in p for p in pkgs), f"{path.name}: unpinned apt packages {pkgs}"
                assert "rm -rf /var/lib/apt/lists" in arg, f"{path.name}: apt lists left in the layer"
            assert not re.search(r"\b(curl|wget)\b.*\|\s*(ba)?sh", cmd), f"{path.name}: pipes a download to a shell"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_no_secrets_in_layers(path):
    for op, arg in instructions(path):
        if op in ("ARG", "ENV"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", arg) or [arg.split()[0]]
            assert not any(SECRETISH.search(n) for n in names), f"{path.name}: {op} {arg}"
        if op in ("COPY", "ADD"):
            assert not re.search(r"clouds\.yaml|secure\.yaml|\.pem\b|id_rsa|\.env\b|\.docker/config", arg), arg
        assert op != "ADD" or not re.search(r"https?://", arg), f"{path.name}: ADD of a URL; download and verify"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_entry_points_use_exec_form(path):
    for op, arg in instructions(path):
        if op in ("CMD", "ENTRYPOINT"):
            assert isinstance(json.loads(arg), list), f"{path.name}: {op} must be a JSON array (signals reach PID 1)"


def test_tools_image_contract():
    ins = instructions(ROOT / "docker" / "tools.Dockerfile")
    assert ("ENTRYPOINT", '["cxops"]') in ins
    copies = " ".join(a for op, a in ins if op == "COPY")
    assert "requirements.lock" in copies and "cxops.yaml" in copies and "docker" in copies
    # the step containers run as this uid (cxops.workflows.tools.TOOLS_UID) and their state dir is its home
    from cxops.workflows.builder import STATE_DIR
    from cxops.workflows.tools import TOOLS_UID

    assert any(op == "USER" and a.split(":")[0] == str(TOOLS_UID) for op, a in ins)
    assert ("ENV", f"CXOPS_CONFIG={STATE_DIR.rsplit('/', 1)[0]}/cxops.yaml") in ins


def test_serving_image_contract():
    ins = instructions(ROOT / "docker" / "serving.Dockerfile")
    cmd = json.loads(next(a for op, a in ins if op == "CMD"))
    assert cmd == ["python", "-m", "cxops.serving", "--model-dir", "/srv/model", "--host", "0.0.0.0", "--port", "8080"]


def test_dockerignore_keeps_secrets_and_clutter_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".cxops", "clouds.yaml", "secure.yaml"} <= ignored


def test_parser_sees_a_comment_inside_a_continuation(tmp_path):
    bad = tmp_path / "x.Dockerfile"
    bad.write_text(
        "FROM python:3.11.11-slim-bookworm\nRUN pip install --no-cache-dir \\\n  # pinned\n  requests\nUSER 1000\n"
    )
    with pytest.raises(AssertionError, match="unpinned requests"):
        test_installs_are_pinned_and_leave_no_cache(bad)
