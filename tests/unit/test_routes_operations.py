"""cxops.serving.routes.operations alone: /healthz, /readyz, /version and /metrics over a data plane with no
protocol. The model is a real linear scorer with weights made here (tests/serving_plane.py)."""

from __future__ import annotations

from serving_plane import NAME, VERSION, plane, request, server

from cxops.serving.routes import operations


def test_readyz_and_version_report_the_loaded_model():
    app = server(operations)
    assert request(app, "GET", "/healthz").json() == {"status": "ok"}
    assert request(app, "GET", "/readyz").json() == {"ready": True}
    v = request(app, "GET", "/version").json()
    assert (v["name"], v["version"], v["env"], v["scorer"], v["ready"]) == (NAME, VERSION, "test", "linear", True)
    assert v["model_digest"] == "sha256:00"


def test_a_model_that_did_not_load_is_not_ready_and_says_why():
    app = server(operations, over=plane(loaded=False))
    r = request(app, "GET", "/readyz")
    assert r.status_code == 503 and r.json()["reason"] == "model file unreadable"
    v = request(app, "GET", "/version").json()
    assert v["ready"] is False and v["error"] == "model file unreadable" and v["version"] == VERSION


def test_metrics_name_the_served_model():
    r = request(server(operations), "GET", "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert f'cxops_model_info{{env="test",name="{NAME}",version="{VERSION}"}} 1.0' in r.text
