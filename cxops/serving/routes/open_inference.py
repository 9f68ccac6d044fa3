"""Open Inference Protocol v2 over REST (KServe, Triton, MLServer): `GET /v2`, `/v2/health/live|ready`,
`/v2/models/{name}[/versions/{version}]` (metadata from the model's signature), `.../ready`, and
`POST .../infer` (outputs `probabilities` FP64 and `predictions` INT64). A name or version not served here is 404;
other refusals are 400 `{"error": message}`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops.serving import protocols
from cxops.serving.asgi import V2_PREFIX, Answer, ModelServer, Scoring, answer
from cxops.serving.dataplane import DataPlane, Proba, Top
from cxops.serving.model_dir import LoadedModel
from cxops.serving.openapi import NOT_READY, V2_INFER_SCHEMA, V2_MODEL_RESPONSES
from cxops.serving.protocols import BadRequest

OUTPUTS = ("probabilities", "predictions")


def v2_error(message: str) -> dict[str, Any]:
    """The protocol's error body."""
    return {"error": message}


def _infer(plane: DataPlane, model_version: str | None) -> Scoring:
    """The infer route of the model (`model_version` None) or of a named version ({version} in the path)."""
    max_batch, name, version = plane.max_batch, plane.name, plane.version

    def parse(doc: Any, m: LoadedModel) -> tuple[np.ndarray, Any]:
        X, request_id, wanted = protocols.v2_body(doc, m.schema, max_batch)
        if wanted is not None and (unknown := sorted(set(wanted) - set(OUTPUTS))):
            raise BadRequest(f"outputs: {unknown[0]!r} is not an output; outputs are {', '.join(OUTPUTS)}", 400)
        return X, (request_id, wanted)

    def respond(m: LoadedModel, X: np.ndarray, proba: Proba, tops: Top | None, ctx: Any) -> dict[str, Any]:
        request_id, wanted = ctx
        assert tops is not None  # v2 infer counts its predictions
        labels = tops[0]
        outputs = [
            {
                "name": "probabilities",
                "shape": [len(proba), len(m.classes)],
                "datatype": "FP64",
                "data": [p for row in proba for p in row],
            },
            {"name": "predictions", "shape": [len(labels)], "datatype": "INT64", "data": labels},
        ]
        body: dict[str, Any] = {
            "model_name": name,
            "model_version": version,
            "outputs": [o for o in outputs if wanted is None or o["name"] in wanted],
        }
        if request_id is not None:
            body["id"] = request_id
        return body

    route = f"{V2_PREFIX}/infer" if model_version is None else f"{V2_PREFIX}/versions/{{version}}/infer"

    def served_here(params: dict[str, str]) -> None:
        plane.check_served(params["name"], params.get("version"))

    return plane.scoring(route, parse, respond, v2_error, 400, count=True, check=served_here)


def add_routes(app: ModelServer, plane: DataPlane) -> None:
    """The v2 routes on `app`, scoring through `plane`."""
    app.post_scoring(f"{V2_PREFIX}/infer", _infer(plane, None), openapi_extra=V2_INFER_SCHEMA, summary="v2 inference")
    app.post_scoring(
        f"{V2_PREFIX}/versions/{{version}}/infer",
        _infer(plane, "version"),
        openapi_extra=V2_INFER_SCHEMA,
        summary="v2 inference on a named version",
    )

    @app.get("/v2", summary="v2 server metadata")
    async def v2_server() -> Answer:
        from cxops import __version__

        return answer({"name": "cxops", "version": __version__, "extensions": []})

    @app.get("/v2/health/live", summary="v2 server liveness")
    async def v2_live() -> Answer:
        return answer({"live": True})

    @app.get("/v2/health/ready", summary="v2 server readiness: the model is loaded", responses=NOT_READY)
    async def v2_ready() -> Answer:
        return answer({"ready": plane.ready}, 200 if plane.ready else 503)

    def metadata(model_name: str, model_version: str | None) -> Answer:
        try:
            plane.check_served(model_name, model_version)
            m = plane.model()
        except BadRequest as exc:
            return answer(v2_error(exc.message), exc.status)
        return answer(
            {
                "name": plane.name,
                "versions": [plane.version],
                "platform": f"mlflow_{m.flavor}",
                "inputs": m.schema.v2_inputs(),
                "outputs": [
                    {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(m.classes)]},
                    {"name": "predictions", "datatype": "INT64", "shape": [-1]},
                ],
            }
        )

    @app.get(
        V2_PREFIX,
        summary="v2 model metadata: inputs and outputs from the model's signature",
        responses=V2_MODEL_RESPONSES,
    )
    async def v2_model(name: str) -> Answer:
        return metadata(name, None)

    @app.get(
        f"{V2_PREFIX}/versions/{{version}}",
        summary="v2 model metadata of a named version",
        responses=V2_MODEL_RESPONSES,
    )
    async def v2_model_version(name: str, version: str) -> Answer:
        return metadata(name, version)

    @app.get(f"{V2_PREFIX}/ready", summary="v2 model readiness", responses=V2_MODEL_RESPONSES)
    async def v2_model_ready(name: str) -> Answer:
        try:
            plane.check_served(name, None)
            plane.model()
        except BadRequest as exc:
            return answer({"name": name, "ready": False, "error": exc.message}, exc.status)
        return answer({"name": name, "ready": True})
