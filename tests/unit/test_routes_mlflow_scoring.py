"""cxops.serving.routes.mlflow_scoring alone: MLflow's /invocations and /ping built over a data plane with no other
protocol. The model is a real linear scorer with weights made here (tests/serving_plane.py)."""

from __future__ import annotations

import numpy as np
import pytest
from serving_plane import expected_proba, plane, request, server

from cxops.serving.routes import mlflow_scoring

ROWS = [[1.0, 2.0, 3.0], [5.0, -1.0, 0.0]]


@pytest.mark.parametrize(
    "body",
    [{"inputs": ROWS}, {"instances": ROWS}, {"dataframe_split": {"data": ROWS}}],
    ids=["inputs", "instances", "dataframe_split"],
)
def test_invocations_answers_the_class_probabilities(body: dict):
    r = request(server(mlflow_scoring), "POST", "/invocations", body)
    assert r.status_code == 200, r.text
    assert np.allclose(r.json()["predictions"], expected_proba(ROWS), atol=1e-12)


def test_a_bad_body_is_400_in_mlflows_error_shape():
    r = request(server(mlflow_scoring), "POST", "/invocations", {"inputs": ROWS, "instances": ROWS})
    assert r.status_code == 400
    assert r.json()["error_code"] == "BAD_REQUEST" and r.json()["message"]


def test_ping_says_whether_the_model_is_loaded():
    assert request(server(mlflow_scoring), "GET", "/ping").json() == {"status": "ok"}
    r = request(server(mlflow_scoring, over=plane(loaded=False)), "GET", "/ping")
    assert r.status_code == 503 and r.json() == {"status": "not ready"}


def test_other_protocols_routes_are_not_there():
    app = server(mlflow_scoring)
    assert request(app, "POST", "/predict", {"inputs": ROWS}).status_code == 404
    assert request(app, "GET", "/v2/health/live").status_code == 404
