"""Issue 31, item 2, as the user hit it: in the lab `make demo` left (the digits model through to production), bring
your own model (`cxops init-model`, then `model:` in cxops.yaml switched to it, docs/models.md) and run its
pipeline. Staging must serve the NEW model (its name and build digest on /version), the digits model's aliases must
not move, and `cxops status --check` must see a deliberately mixed state (live serving another model's build than
git names). A lab of its own: the module changes the project's model, which the session's lab must not see."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from helpers import cli, make_project

from cxops.waiting import wait_until

pytestmark = pytest.mark.integration

DIGITS = "digits-classifier"
OWN = "bird-sounds"


def aliases(config: Path, model: str) -> dict[str, str]:
    """alias -> version of `model`, read straight from the lab's MLflow."""
    from mlflow.tracking import MlflowClient

    port = yaml.safe_load(config.read_text())["lab"]["mlflow_port"]
    found = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}").get_registered_model(model).aliases
    return {k: str(v) for k, v in (found or {}).items()}


def version_of(config: Path, env: str) -> dict:
    port = yaml.safe_load(config.read_text())["environments"][env]["port"]
    return httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    config = make_project(tmp_path_factory.mktemp("own-model") / "team")
    up = cli(config, "lab", "up", timeout=180)
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        yield config
    finally:
        down = cli(config, "lab", "down", timeout=120)
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def switched(own_lab: Path) -> tuple[dict, dict, dict]:
    """The demo's lifecycle for digits, then `init-model bird_sounds`, `model:` switched, its pipeline run.
    Returns (digits pipeline summary, bird-sounds pipeline summary, digits' aliases before the switch)."""
    config = own_lab
    for _ in range(2):  # `make demo` twice: the digits model's aliases are on v2, the new model's first version is 1
        demo = cli(config, "pipeline", "run", "--json", timeout=600)
        assert demo.returncode == 0, demo.stderr + demo.stdout
    before = aliases(config, DIGITS)
    assert before.get("staging") == before.get("production") == json.loads(demo.stdout)["version"] == "2"

    init = cli(config, "init-model", "bird_sounds")
    assert init.returncode == 0, init.stderr
    doc = yaml.safe_load(config.read_text())
    (config.parent / "demo-model.yaml").write_text(yaml.safe_dump(doc["model"]))  # the demo's, for later
    doc["model"].update(
        {
            "name": OWN,
            "project": "bird_sounds.project:Project",
            "dataset": {"name": "iris"},
            "params": {"max_iter": 500},
        }
    )
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    own = cli(config, "pipeline", "run", "--json", timeout=600)
    summary = json.loads(own.stdout) if own.stdout.strip().startswith("{") else {"raw": own.stdout + own.stderr}
    return json.loads(demo.stdout), summary, before


def test_staging_serves_the_new_model_under_its_own_build(own_lab: Path, switched):
    _demo, own, _before = switched
    served = version_of(own_lab, "staging")
    assert served["name"] == OWN, f"staging serves {served.get('name')} v{served.get('version')}: {own}"
    state = own_lab.parent / ".cxops"
    builds = json.loads((state / "builds" / OWN / served["version"] / "build.json").read_text())
    assert builds["name"] == OWN and served["model_digest"] == builds["model_digest"]
    digits_build = json.loads((state / "builds" / DIGITS / served["version"] / "build.json").read_text())
    assert digits_build["model_digest"] != builds["model_digest"]  # same version number, two builds


def test_the_digits_models_aliases_did_not_move(own_lab: Path, switched):
    """Neither the new model's pipeline nor a `cxops reconcile` run with the demo's configuration (a teammate, or
    the user switching back) moves the digits model's aliases to the new model's version numbers."""
    _demo, _own, before = switched
    assert aliases(own_lab, DIGITS) == before
    doc = yaml.safe_load(own_lab.read_text())
    doc["model"] = yaml.safe_load((own_lab.parent / "demo-model.yaml").read_text())
    demo_config = own_lab.parent / "demo.yaml"  # beside cxops.yaml: the same lab, the demo's model
    demo_config.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = cli(demo_config, "reconcile", "--json")
    assert res.returncode == 0, res.stderr
    assert aliases(own_lab, DIGITS) == before, res.stdout


def test_status_agrees_on_the_new_model(own_lab: Path, switched):
    res = cli(own_lab, "status", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["env"]: r for r in json.loads(res.stdout)}
    assert rows["staging"]["model"] == rows["staging"]["live_model"] == OWN
    served = version_of(own_lab, "staging")
    assert rows["staging"]["digest"] == rows["staging"]["live_digest"] == served["model_digest"]
    check = cli(own_lab, "status", "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_status_check_sees_another_models_build_served(own_lab: Path, switched):
    """The mix-up of the issue, made on purpose: staging's socket is pointed at a server of the digits build of
    the same version number (and the lab's nginx reloaded, so its pooled connections to the old server go), while
    git names bird-sounds. `status --check` must say so and exit 1; pointed back, it agrees again."""
    from cxops.lab import sockets

    def reload_endpoint() -> None:  # SIGHUP: nginx's documented reload; new workers open new upstream connections
        os.kill(int((state / "endpoint" / "run" / "nginx.pid").read_text().strip()), signal.SIGHUP)

    state = own_lab.parent / ".cxops"
    version = version_of(own_lab, "staging")["version"]
    digits_build = state / "builds" / DIGITS / version / "context"
    assert digits_build.is_dir()
    uds = sockets.fresh_socket(state, "staging")
    original = sockets.current_target(state, "staging")
    argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(digits_build), "--uds", str(uds)]
    server = subprocess.Popen(
        [*argv, "--env", "staging"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CXOPS_ENV": "staging"},
    )
    try:
        wait_until(lambda: uds.exists(), timeout=120, what="the digits server's socket", first=0.1, cap=1.0)
        sockets.point(state, "staging", uds)
        reload_endpoint()
        wait_until(
            lambda: version_of(own_lab, "staging").get("name") == DIGITS,
            timeout=30,
            what="staging answering from the digits build",
            first=0.1,
            cap=1.0,
        )
        check = cli(own_lab, "status", "--check")
        assert check.returncode == 1, check.stdout
        assert "staging" in check.stderr and DIGITS in check.stderr, check.stderr
    finally:
        sockets.point(state, "staging", original)
        reload_endpoint()
        wait_until(
            lambda: version_of(own_lab, "staging").get("name") == OWN,
            timeout=30,
            what="staging answering from its own build again",
            first=0.1,
            cap=1.0,
        )
        server.terminate()
        server.wait(timeout=30)
        uds.unlink(missing_ok=True)
    after = cli(own_lab, "status", "--check")
    assert after.returncode == 0, after.stdout + after.stderr
