"""MLflow's scoring protocol, so MLflow clients work unchanged: `POST /invocations` (inputs | instances |
dataframe_split | dataframe_records; answers `{"predictions": class probabilities}`, what pyfunc predict returns)
and `GET /ping`. Refusals are 400 `{"error_code": "BAD_REQUEST", "message": ...}`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops.serving import protocols
from cxops.serving.asgi import Answer, ModelServer, answer
from cxops.serving.dataplane import DataPlane, Proba, Top
from cxops.serving.model_dir import LoadedModel
from cxops.serving.openapi import INVOCATIONS_SCHEMA, NOT_READY


def mlflow_error(message: str) -> dict[str, Any]:
    """The protocol's error body."""
    return {"error_code": "BAD_REQUEST", "message": message}


def invocations(m: LoadedModel, X: np.ndarray, proba: Proba, _: Top | None, __: Any) -> dict[str, Any]:
    """/invocations' answer: the class probabilities."""
    return {"predictions": proba}


def add_routes(app: ModelServer, plane: DataPlane) -> None:
    """/invocations and /ping on `app`, scoring through `plane`."""
    max_batch = plane.max_batch

    def parse(doc: Any, m: LoadedModel) -> tuple[np.ndarray, Any]:
        return protocols.invocations_body(doc, m.schema, max_batch), None

    app.post_scoring(
        "/invocations",
        plane.scoring("/invocations", parse, invocations, mlflow_error, 400, count=True),
        openapi_extra=INVOCATIONS_SCHEMA,
        summary="MLflow scoring protocol",
    )

    @app.get("/ping", summary="MLflow scoring protocol liveness: 200 when the model is loaded", responses=NOT_READY)
    async def ping() -> Answer:
        return answer(
            {"status": "ok"} if plane.ready else {"status": "not ready"},
            200 if plane.ready else 503,
        )
