"""The cluster configuration of the steps (issue 25 item 1, audit W1): `cxops workflows render` refuses lab values,
CXOPS_EXECUTOR=argo forbids the lab and points the steps at the cluster's GitOps remote and Service URLs, and the
tools image is the operator's, one per model project. Each command runs as a user (or a step pod) runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import cli, make_project

CLUSTER = {"workflows": {"gitops_remote": "git@git.example.org:team/gitops.git"}}


def _project(tmp_path: Path, overrides: dict) -> Path:
    config = make_project(tmp_path / "proj", overrides)
    data = yaml.safe_load(config.read_text())
    data["workflows"].pop("gitops_remote", None)  # the lab's own values: no cluster remote unless the test sets one
    for key, value in overrides.get("workflows", {}).items():
        data["workflows"][key] = value
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_render_refuses_a_lab_config_naming_each_bad_value(tmp_path: Path) -> None:
    config = _project(
        tmp_path,
        {
            "workflows": {"tools_image": "ghcr.io/cxops/cxops-tools:0.1.0"},
            "environments": {"staging": {"url": "http://127.0.0.1:8181"}},
        },
    )
    out = tmp_path / "rendered"
    r = cli(config, "workflows", "render", "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 3, r.stderr  # one line per bad value, no traceback
    assert "workflows.gitops_remote is unset" in r.stderr
    assert "environments.staging.url 'http://127.0.0.1:8181' is a loopback address" in r.stderr
    assert "http://model-server.cxops-staging.svc.cluster.local" in r.stderr  # what would be valid
    assert "workflows.tools_image 'ghcr.io/cxops/cxops-tools:0.1.0'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize(
    ("remote", "why"),
    [
        ("/srv/git/gitops.git", "is a local path"),
        ("git@github.com:cxops/cxops.git", "is the cxops project's own repository"),
    ],
)
def test_render_refuses_a_remote_no_pod_can_push_to(tmp_path: Path, remote: str, why: str) -> None:
    config = _project(tmp_path, {"workflows": {"gitops_remote": remote}})
    r = cli(config, "workflows", "render", "--check")
    assert r.returncode == 2
    assert f"workflows.gitops_remote {remote!r} {why}" in r.stderr


def test_render_with_cluster_values_uses_the_operators_image_per_model_project(tmp_path: Path) -> None:
    torch_project = {
        "name": "digits-cnn",
        "project": "cxops.model.examples.torch_cnn:TorchDigitsCNN",
        "requirements": ["torch==2.13.0"],
    }
    config = _project(tmp_path, {**CLUSTER, "model": torch_project})
    out = tmp_path / "rendered"
    r = cli(config, "workflows", "render", "--out", str(out))
    assert r.returncode == 0, r.stderr
    train = yaml.safe_load((out / "train-model.yaml").read_text())
    images = {t["container"]["image"] for t in train["spec"]["templates"] if "container" in t}
    assert images == {"registry.cxops.local/cxops/cxops-tools-torch-cnn:0.1.0"}, images
    # build-initial builds that image with the project's own requirements (audit W10: the image lacked torch)
    initial = yaml.safe_load((out / "build-initial.yaml").read_text())["spec"]
    args = {p["name"]: p["value"] for p in initial["arguments"]["parameters"]}
    assert args["image"] == "registry.cxops.local/cxops/cxops-tools-torch-cnn:0.1.0"
    assert args["model_requirements"] == "torch==2.13.0"
    (build,) = initial["templates"]
    env = {e["name"]: e["value"] for e in build["container"]["env"]}
    assert env["MODEL_REQUIREMENTS"] == "{{inputs.parameters.model_requirements}}"
    assert '--opt "build-arg:MODEL_REQUIREMENTS=$MODEL_REQUIREMENTS"' in build["container"]["command"][-1]


def test_executor_argo_forbids_the_lab(tmp_path: Path) -> None:
    """A step pod with the lab's config: one line naming the value, exit 2, no lab started, nothing created."""
    config = _project(tmp_path, {})
    r = cli(config, "step", "deploy", "staging", "1", env={"CXOPS_EXECUTOR": "argo"}, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "CXOPS_EXECUTOR=argo: workflows.gitops_remote is unset" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (config.parent / ".cxops").exists()  # no bare repo, no lab state, no server started


def test_executor_value_is_checked(tmp_path: Path) -> None:
    config = _project(tmp_path, CLUSTER)
    r = cli(config, "config", "check", env={"CXOPS_EXECUTOR": "kubernetes"})
    assert r.returncode == 2
    assert "CXOPS_EXECUTOR='kubernetes' is not an executor; valid: local, argo" in r.stderr


def test_model_requirements_must_be_exact_pins(tmp_path: Path) -> None:
    config = _project(tmp_path, {**CLUSTER, "model": {"requirements": ["torch>=2"]}})
    r = cli(config, "config", "check")
    assert r.returncode == 2
    assert "model.requirements: must be exact pins like torch==2.13.0" in r.stderr and "'torch>=2'" in r.stderr


def test_executor_argo_uses_the_cluster_remote_and_service_urls(tmp_path: Path, monkeypatch) -> None:
    from cxops.config import load_config
    from cxops.release.live import env_url

    config = _project(tmp_path, {**CLUSTER, "environments": {"canary": {"url": "http://canary.example.org"}}})
    monkeypatch.setenv("CXOPS_CONFIG", str(config))
    lab = load_config()
    assert lab.gitops.remote is None and env_url(lab, "staging").startswith("http://127.0.0.1:")
    monkeypatch.setenv("CXOPS_EXECUTOR", "argo")
    pod = load_config()
    assert pod.gitops.remote == "git@git.example.org:team/gitops.git"
    assert env_url(pod, "staging") == "http://model-server.cxops-staging.svc.cluster.local"
    assert env_url(pod, "production") == "http://model-server.cxops-production.svc.cluster.local"
    assert env_url(pod, "canary") == "http://canary.example.org"  # a URL cxops.yaml names is kept
