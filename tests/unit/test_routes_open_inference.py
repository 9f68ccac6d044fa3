"""cxops.serving.routes.open_inference alone: the Open Inference Protocol v2 routes built over a data plane with no
other protocol. The model is a real linear scorer with weights made here (tests/serving_plane.py)."""

from __future__ import annotations

import numpy as np
from serving_plane import NAME, VERSION, expected_proba, plane, request, server

from cxops.serving.routes import open_inference

ROWS = [[1.0, 2.0, 3.0], [5.0, -1.0, 0.0]]
INFER = {
    "id": "req-1",
    "inputs": [{"name": "input-0", "shape": [2, 3], "datatype": "FP64", "data": [x for row in ROWS for x in row]}],
}


def test_infer_answers_probabilities_and_predictions():
    r = request(server(open_inference), "POST", f"/v2/models/{NAME}/infer", INFER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (NAME, VERSION, "req-1")
    outputs = {o["name"]: o for o in body["outputs"]}
    want = expected_proba(ROWS)
    assert outputs["probabilities"]["shape"] == [2, 3]
    assert np.allclose(outputs["probabilities"]["data"], want.ravel(), atol=1e-12)
    assert outputs["predictions"]["data"] == want.argmax(axis=1).tolist()


def test_infer_on_the_served_version_and_only_the_outputs_asked_for():
    body = {**INFER, "outputs": [{"name": "predictions"}]}
    r = request(server(open_inference), "POST", f"/v2/models/{NAME}/versions/{VERSION}/infer", body)
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()["outputs"]] == ["predictions"]


def test_a_model_or_version_not_served_here_is_404_naming_what_is():
    app = server(open_inference)
    for path in ("/v2/models/other/infer", f"/v2/models/{NAME}/versions/8/infer"):
        r = request(app, "POST", path, INFER)
        assert r.status_code == 404
        assert f"serves {NAME!r} version {VERSION!r}" in r.json()["error"]


def test_metadata_and_readiness():
    app = server(open_inference)
    meta = request(app, "GET", f"/v2/models/{NAME}").json()
    assert meta["versions"] == [VERSION] and meta["inputs"][0]["shape"] == [-1, 3]
    assert request(app, "GET", f"/v2/models/{NAME}/ready").json() == {"name": NAME, "ready": True}
    assert request(app, "GET", "/v2/health/ready").json() == {"ready": True}
    down = server(open_inference, over=plane(loaded=False))
    assert request(down, "GET", "/v2/health/ready").status_code == 503
    assert request(down, "POST", f"/v2/models/{NAME}/infer", INFER).status_code == 503


def test_other_protocols_routes_are_not_there():
    app = server(open_inference)
    assert request(app, "POST", "/predict", {"inputs": ROWS}).status_code == 404
    assert request(app, "POST", "/invocations", {"inputs": ROWS}).status_code == 404
