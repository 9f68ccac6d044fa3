"""Argo Server submit and the ArgoCD sync wait against in-process fakes (httpx.MockTransport): bounded, clear
errors, and the tokens never appear in any message."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from wf_helpers import ROOT

from cxops.config import load_config
from cxops.errors import CxopsError
from cxops.workflows import argo
from cxops.workflows import argocd_wait as argocd

ARGO_TOKEN = "argo-secret-token-value"
CD_TOKEN = "cd-secret-token-value"


def cfg_with_server(url: str | None = "http://argo.test:2746"):
    cfg = load_config(ROOT / "cxops.yaml")
    return cfg.model_copy(update={"workflows": cfg.workflows.model_copy(update={"argo_server": url})})


def test_submit_posts_the_template_and_parameters(monkeypatch):
    monkeypatch.setenv("ARGO_TOKEN", ARGO_TOKEN)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, json={"message": "busy"})  # transient: retried
        return httpx.Response(200, json={"metadata": {"name": "train-model-x7k2p"}})

    server = argo.ArgoServer(cfg_with_server(), transport=httpx.MockTransport(handler))
    assert server.submit("train-model", ["chain=false"]) == "train-model-x7k2p"
    req = seen[-1]
    assert req.url.path == "/api/v1/workflows/argo/submit"
    assert req.headers["Authorization"] == f"Bearer {ARGO_TOKEN}"
    assert json.loads(req.content) == {
        "resourceKind": "WorkflowTemplate",
        "resourceName": "train-model",
        "submitOptions": {"parameters": ["chain=false"]},
    }


def test_submit_errors_are_one_line_and_never_show_the_token(monkeypatch):
    monkeypatch.setenv("ARGO_TOKEN", f"Bearer {ARGO_TOKEN}")
    for status in (401, 404):
        transport = httpx.MockTransport(lambda r, s=status: httpx.Response(s, json={"message": "nope"}))
        with pytest.raises(CxopsError) as exc:
            argo.ArgoServer(cfg_with_server(), transport=transport).submit("nope", [])
        assert ARGO_TOKEN not in str(exc.value) and "\n" not in str(exc.value)


def test_submit_gives_up_after_bounded_attempts(monkeypatch):
    calls = []

    def down(request):
        calls.append(request)
        raise httpx.ConnectError("refused")

    with pytest.raises(CxopsError, match="failed after 4 attempts"):
        argo.ArgoServer(cfg_with_server(), transport=httpx.MockTransport(down)).templates()
    assert len(calls) == argo.ATTEMPTS


def test_bad_param_and_missing_cluster_are_clear():
    with pytest.raises(CxopsError, match="NAME=VALUE"):
        argo.parse_params(["version"])
    with pytest.raises(CxopsError, match=r"workflows\.argo_server"):
        argo.ArgoServer(cfg_with_server(None))


def test_cli_submit_without_a_cluster_says_so():
    proc = subprocess.run(
        [sys.executable, "-m", "cxops", "workflows", "submit", "train-model", "--param", "a=b"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "error:" in proc.stderr and "argo_server" in proc.stderr


def app_json(sync="Synced", health="Healthy", revision="abc123def", images=("reg/m:1-aa",)):
    return {
        "status": {
            "sync": {"status": sync, "revision": revision},
            "health": {"status": health},
            "summary": {"images": list(images)},
        }
    }


def test_wait_synced_waits_for_revision_and_image(monkeypatch):
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", CD_TOKEN)
    states = [app_json(sync="OutOfSync", revision="old"), app_json(health="Progressing"), app_json()]

    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {CD_TOKEN}"
        assert request.url.path == "/api/v1/applications/cxops-demo-staging"
        return httpx.Response(200, json=states.pop(0) if len(states) > 1 else states[0])

    monkeypatch.setattr("cxops.waiting.time.sleep", lambda s: None)
    state = argocd.wait_synced(
        "https://argocd.test",
        "cxops-demo-staging",
        revision="abc123",
        image="reg/m:1-aa",
        timeout=30,
        transport=httpx.MockTransport(handler),
    )
    assert (state.sync, state.health) == ("Synced", "Healthy")


def test_wait_synced_is_bounded_and_reports_the_last_state(monkeypatch):
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", CD_TOKEN)
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=app_json(images=("reg/m:0-old",))))
    with pytest.raises(CxopsError, match=r"timed out.*last seen sync=Synced") as exc:
        argocd.wait_synced("https://argocd.test", "app", image="reg/m:1-aa", timeout=0.3, transport=transport)
    assert CD_TOKEN not in str(exc.value)


def test_wait_synced_refuses_without_a_scoped_token_and_on_forbidden(monkeypatch):
    monkeypatch.delenv("ARGOCD_AUTH_TOKEN", raising=False)
    with pytest.raises(CxopsError, match="ARGOCD_AUTH_TOKEN"):
        argocd.wait_synced("https://argocd.test", "app", timeout=1)
    monkeypatch.setenv("ARGOCD_AUTH_TOKEN", CD_TOKEN)
    transport = httpx.MockTransport(lambda r: httpx.Response(403, json={}))
    with pytest.raises(CxopsError, match="403"):
        argocd.wait_synced("https://argocd.test", "app", timeout=5, transport=transport)


def test_outcome_records_a_json_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cxops",
            "workflows",
            "outcome",
            "--workflow",
            "train-model-abc",
            "--status",
            "Failed",
            "--duration",
            "12.34",
            "--outputs-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout)
    assert line["status"] == "Failed" and line["duration_seconds"] == 12.3
    assert json.loads((tmp_path / "outcome.json").read_text())["workflow"] == "train-model-abc"
