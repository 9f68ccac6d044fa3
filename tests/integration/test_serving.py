"""The model server on a real build: predictions, explanations, metrics, and every kind of bad request."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_port, lab_build, serving_process

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(lab: Path, cfg) -> Path:
    return lab_build(cfg)


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "cxops.serving",
        "--model-dir",
        str(built),
        "--port",
        str(port),
        "--env",
        "test",
        "--max-batch",
        "50",
    ]
    with serving_process(argv, f"{url}/readyz"):
        yield url


def golden(built: Path) -> dict:
    return json.loads((built / "golden.json").read_text())


def test_predict_matches_the_build_golden_set(server: str, built: Path):
    g = golden(built)
    r = httpx.post(f"{server}/predict", json={"inputs": g["inputs"]})
    assert r.status_code == 200
    body = r.json()
    assert body["predictions"] == g["predictions"]
    assert all(0 < c <= 1 for c in body["confidence"])


def test_version_reports_lineage(server: str, built: Path):
    v = httpx.get(f"{server}/version").json()
    lineage = json.loads((built / "version.json").read_text())
    assert v["version"] == lineage["version"] and v["run_id"] == lineage["run_id"]
    assert v["env"] == "test" and v["ready"] is True


def test_explain_gives_probabilities_and_contributions(server: str, built: Path):
    row = golden(built)["inputs"][0]
    body = httpx.post(f"{server}/explain", json={"inputs": [row]}).json()
    assert len(body["probabilities"][0]) == 10 and sum(body["probabilities"][0]) == pytest.approx(1, abs=1e-4)
    assert len(body["contributions"][0]) == 64


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"inputs": [[1.0, 2.0]]}, "needs 64 features, got 2"),
        ({"inputs": [["a"] * 64]}, "must be a JSON number; got strings"),
        ({"inputs": []}, "non-empty"),
        ({"inputs": [[0.0] * 64] * 51}, "exceeds the limit of 50"),
        ({"rows": [[0.0] * 64]}, "expected a JSON object"),
        ({"inputs": [[0.0] * 64, [0.0] * 63]}, "same length"),
    ],
)
def test_bad_requests_get_a_clear_422(server: str, payload: dict, needle: str):
    r = httpx.post(f"{server}/predict", json=payload)
    assert r.status_code == 422 and needle in r.json()["detail"]


def test_invalid_json_gets_422(server: str):
    r = httpx.post(f"{server}/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]


def test_metrics_count_requests_and_classes(server: str, built: Path):
    from cxops.pipeline.prom import delta, scrape

    before = scrape(server)
    httpx.post(f"{server}/predict", json={"inputs": golden(built)["inputs"][:3]})
    httpx.post(f"{server}/predict", json={"inputs": [[1.0]]})
    d = delta(scrape(server), before)
    assert d.requests.get("200", 0) == 1
    assert d.requests.get("422", 0) == 1
    assert sum(d.classes.values()) == 3
    assert d.confidence_count == 3
    text = httpx.get(f"{server}/metrics").text
    assert 'status="422"' in text.split("cxops_request_seconds_bucket", 1)[1], "latency is labelled by status"
    assert "cxops_model_info" in text


def test_openapi_documents_the_routes(server: str):
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/predict", "/explain", "/healthz", "/readyz", "/version", "/metrics"} <= set(paths)


def test_corrupt_model_file_means_not_ready(built: Path, tmp_path: Path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / "model" / "model.skops").write_bytes(b"garbage")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "cxops.serving", "--model-dir", str(broken), "--port", str(port)]
    with serving_process(argv, f"{url}/healthz"):
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        for route in ("/predict", "/explain"):  # like /readyz: unavailable, not the client's fault
            r = httpx.post(f"{url}{route}", json={"inputs": [[0.0] * 64]})
            assert r.status_code == 503 and r.json()["detail"].startswith("model not loaded")
        v = httpx.get(f"{url}/version").json()
        assert v["ready"] is False and v["version"] == json.loads((built / "version.json").read_text())["version"]
