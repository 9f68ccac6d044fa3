"""cxops.serving.routes.cxops_api alone: /predict and /explain built over a data plane with no other protocol.
The model is a real linear scorer with weights made here (tests/serving_plane.py)."""

from __future__ import annotations

import numpy as np
from serving_plane import CLASSES, COEF, MEAN, SCALE, VERSION, expected_proba, plane, request, server

from cxops.serving.routes import cxops_api

ROWS = [[1.0, 2.0, 3.0], [5.0, -1.0, 0.0], [-3.0, 4.0, 2.5]]


def test_predict_answers_each_rows_class_and_its_probability():
    r = request(server(cxops_api), "POST", "/predict", {"inputs": ROWS})
    assert r.status_code == 200, r.text
    want = expected_proba(ROWS)
    body = r.json()
    assert body["predictions"] == [CLASSES[i] for i in want.argmax(axis=1)]
    assert np.allclose(body["confidence"], want.max(axis=1), atol=1e-6)
    assert body["version"] == VERSION


def test_explain_gives_probabilities_and_the_predicted_classs_contributions():
    r = request(server(cxops_api), "POST", "/explain", {"inputs": ROWS})
    assert r.status_code == 200, r.text
    body = r.json()
    want = expected_proba(ROWS)
    assert np.allclose(body["probabilities"], want, atol=1e-6)
    z = (np.asarray(ROWS) - MEAN) / SCALE
    assert np.allclose(body["contributions"], COEF[want.argmax(axis=1)] * z, atol=1e-6)
    assert body["feature_space"] == "standardized"


def test_only_predict_counts_predictions():
    p = plane()
    app = server(cxops_api, over=p)
    request(app, "POST", "/explain", {"inputs": ROWS})
    assert p.metrics.predictions == {}
    request(app, "POST", "/predict", {"inputs": ROWS})
    assert sum(p.metrics.predictions.values()) == len(ROWS)


def test_a_row_the_signature_does_not_take_is_422_with_detail():
    r = request(server(cxops_api), "POST", "/predict", {"inputs": [[1.0, 2.0]]})
    assert r.status_code == 422
    assert "detail" in r.json() and "3" in r.json()["detail"]


def test_no_model_loaded_is_503_naming_why():
    r = request(server(cxops_api, over=plane(loaded=False)), "POST", "/predict", {"inputs": ROWS})
    assert r.status_code == 503
    assert "model file unreadable" in r.json()["detail"]


def test_other_protocols_routes_are_not_there():
    app = server(cxops_api)
    assert request(app, "POST", "/invocations", {"inputs": ROWS}).status_code == 404
    assert request(app, "GET", "/readyz").status_code == 404
