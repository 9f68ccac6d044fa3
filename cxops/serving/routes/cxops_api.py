"""cxops's own protocol: `POST /predict` (classes, confidence, version) and `POST /explain` (probabilities and, for
a linear model, each feature's contribution to the predicted class). Refusals are 422 `{"detail": message}`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops.serving import protocols
from cxops.serving.asgi import ModelServer
from cxops.serving.dataplane import DataPlane, Proba, Top
from cxops.serving.model_dir import LoadedModel
from cxops.serving.openapi import predict_schema
from cxops.serving.protocols import BadRequest


def detail(message: str) -> dict[str, Any]:
    """The protocol's error body."""
    return {"detail": message}


def predict(m: LoadedModel, X: np.ndarray, proba: Proba, tops: Top | None, _: Any) -> dict[str, Any]:
    """/predict's answer: each row's predicted class, its probability (6 decimals), and the model's version."""
    assert tops is not None  # /predict counts its predictions
    return {
        "predictions": tops[0],
        "confidence": [round(c, 6) for c in tops[1]],
        "version": m.version.get("version"),
    }


def explain(m: LoadedModel, X: np.ndarray, proba: Proba, _: Top | None, __: Any) -> dict[str, Any]:
    """/explain's answer: classes, probabilities and, for a linear model, the standardized features' contributions
    to each row's predicted class (BadRequest 422 when they overflow)."""
    P = np.array(proba)
    out: dict[str, Any] = {
        "classes": m.classes,
        "class_names": m.class_names,
        "probabilities": P.round(6).tolist(),
    }
    if m.linear is not None:
        with np.errstate(all="ignore"):
            contributions = m.linear.contributions(X, P.argmax(axis=1))
        if not np.isfinite(contributions).all():
            raise BadRequest("inputs outside the model's numeric range: feature contributions overflow")
        out["contributions"] = contributions.round(6).tolist()
        out["feature_space"] = "standardized"
    return out


def add_routes(app: ModelServer, plane: DataPlane) -> None:
    """/predict and /explain on `app`, scoring through `plane`."""
    max_batch = plane.max_batch

    def parse(doc: Any, m: LoadedModel) -> tuple[np.ndarray, Any]:
        return protocols.predict_body(doc, m.schema, max_batch), None

    doc = predict_schema(plane.schema, max_batch)
    app.post_scoring(
        "/predict",
        plane.scoring("/predict", parse, predict, detail, 422, count=True),
        openapi_extra=doc,
        summary="Predict classes for a batch of rows",
    )
    app.post_scoring(
        "/explain",
        plane.scoring("/explain", parse, explain, detail, 422, count=False),
        openapi_extra=doc,
        summary="Per-class probabilities and feature contributions",
    )
