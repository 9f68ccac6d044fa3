"""The serving overlays ArgoCD syncs: rendered by a real kustomize (kubectl's), validated against Kubernetes schemas."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helpers import REPO
from k8s_helpers import ensure_kubectl

from cxops.config import load_config
from cxops.gitops.overlay import desired_from_text, write_overlay
from cxops.names import env_namespace

ENVS = ("staging", "canary", "production")


@pytest.fixture(scope="module")
def kubectl() -> Path:
    return ensure_kubectl()


def kustomize(kubectl: Path, overlay: Path) -> list[dict]:
    out = subprocess.run([str(kubectl), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def validate(docs: list[dict]) -> None:
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)


@pytest.mark.parametrize("env", ENVS)
def test_committed_overlays_render_and_validate(kubectl: Path, env: str):
    docs = kustomize(kubectl, REPO / "k8s" / "serving" / "overlays" / env)
    validate(docs)
    kinds = {d["kind"] for d in docs}
    assert kinds == {"Deployment", "Service", "ConfigMap"}
    assert all(d["metadata"]["namespace"] == env_namespace(load_config(REPO / "cxops.yaml"), env) for d in docs)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 0, "nothing deployed yet: no pod runs a placeholder image"


def test_a_version_change_rolls_without_downtime(kubectl: Path):
    """A new version's pod is Ready before an old one goes: RollingUpdate, maxUnavailable 0, readiness on /readyz
    (the probe the server answers 200 only once its model is loaded), and a preStop pause before SIGTERM."""
    docs = kustomize(kubectl, REPO / "k8s" / "serving" / "overlays" / "production")
    spec = next(d for d in docs if d["kind"] == "Deployment")["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"


def test_a_deploy_edit_renders_the_image_version_and_replicas(kubectl: Path, tmp_path: Path):
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    overlay = tmp_path / "k8s" / "serving" / "overlays" / "production"
    image = "registry.example.org/cxops/digits-classifier:7-0123456789ab"
    write_overlay(overlay, "production", "digits-classifier", "7", image, replicas=3)
    docs = kustomize(kubectl, overlay)
    validate(docs)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["data"]["MODEL_VERSION"] == "7"
    # the configMapGenerator hashes the name, so a version change rolls the pods
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
    assert env_from == config["metadata"]["name"] and env_from.startswith("model-")
    assert desired_from_text("production", (overlay / "model.env").read_text()).version == "7"


def test_committed_traffic_split_matches_the_config_with_no_canary():
    from cxops import generated
    from cxops.gitops.traffic import traffic_files
    from cxops.names import traffic_dir

    cfg = load_config(REPO / "cxops.yaml")
    expected = {REPO / traffic_dir(cfg) / name: text for name, text in traffic_files(cfg, canary_active=False).items()}
    assert generated.drift(expected) == [], "the committed traffic split drifted from cxops.yaml"


def test_traffic_weight_follows_the_canary(kubectl: Path, tmp_path: Path):
    from cxops.gitops.traffic import canary_weight, write_traffic
    from cxops.names import traffic_dir

    cfg = load_config(REPO / "cxops.yaml")
    TRAFFIC_DIR = traffic_dir(cfg)
    write_traffic(tmp_path, cfg, canary_active=True)
    assert canary_weight(tmp_path, cfg) == cfg.environments.canary.weight
    docs = kustomize(kubectl, tmp_path / TRAFFIC_DIR)
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    weights = [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]]
    assert sum(weights) == 100 and weights[1] == cfg.environments.canary.weight
    write_traffic(tmp_path, cfg, canary_active=False)
    assert canary_weight(tmp_path, cfg) == 0


@pytest.mark.parametrize("env", ENVS)
def test_committed_overlays_name_the_configured_model_and_registry(env: str):

    cfg = load_config(REPO / "cxops.yaml")
    overlay = REPO / "k8s" / "serving" / "overlays" / env
    kust = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    image = next(i for i in kust["images"] if i["name"] == "cxops-serving")
    assert image["newName"] == f"{cfg.serving.image_registry}/{cfg.model.name}", "overlay drifted from cxops.yaml"
    assert kust["namespace"] == env_namespace(cfg, env)
    env_file = (overlay / "model.env").read_text()
    assert f"MODEL_NAME={cfg.model.name}\n" in env_file and f"CXOPS_ENV={env}\n" in env_file
