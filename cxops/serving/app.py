"""The model server (an ASGI app, cxops.serving.asgi; FastAPI for its documentation). One scoring path behind
three protocols:

- cxops: `/predict` (classes, confidence, version) and `/explain` (probabilities, linear contributions);
- MLflow's scoring protocol: `POST /invocations` (inputs | instances | dataframe_split | dataframe_records),
  `GET /ping`, so MLflow clients work unchanged;
- Open Inference Protocol v2 REST (KServe, Triton, MLServer): `/v2`, `/v2/health/live|ready`,
  `/v2/models/{name}[/versions/{v}]`, `.../ready`, `.../infer`.

Built as KServe's server is: a data plane (cxops.serving.dataplane: the model, the scoring path, the metrics), one
module of routes per protocol over it (cxops.serving.routes), the OpenAPI document apart (cxops.serving.openapi).
Each protocol's parser (cxops.serving.protocols) validates the body against the model's signature and yields one
float64 array; the model scores it (verified linear fast path, or MLflow's pyfunc loader); the protocol's
formatter answers. Bodies are parsed with orjson straight into numpy: no pydantic model per row and no pandas
round trip on the fast path, which is where a generic scoring server spends its time. Metrics are labelled by
route (the route template, not the raw path).
"""

from __future__ import annotations

from pathlib import Path

from cxops.serving.asgi import ModelServer
from cxops.serving.batch_settings import BatchSettings
from cxops.serving.dataplane import DataPlane, body_limit, max_body_bytes, read_body
from cxops.serving.routes import cxops_api, mlflow_scoring, open_inference, operations

__all__ = ["body_limit", "create_app", "max_body_bytes", "read_body", "server_for"]


def server_for(plane: DataPlane) -> ModelServer:
    """The server of a data plane: every protocol's routes and the operations routes, in the order the OpenAPI
    document lists them."""
    app = ModelServer(title="cxops model server", version="1", docs_url="/docs", redoc_url=None)
    app.load_error = None if plane.ready else str(plane.error)
    app.scorer = plane.loaded.scorer if plane.loaded is not None else None
    for protocol in (cxops_api, mlflow_scoring, open_inference, operations):
        protocol.add_routes(app, plane)
    return app


def create_app(
    build_dir: Path, env: str = "local", max_batch: int = 1024, batching: BatchSettings | None = None
) -> ModelServer:
    """The server for one build directory. Scoring routes answer 503 while no model is loaded, 413 for a body over
    what `max_batch` rows allow, and the protocol's 4xx (422 for /predict, 400 for /invocations and v2) naming the
    field for anything the model's signature does not take. `batching`: adaptive batching of a pyfunc model's
    calls (cxops.serving.batching; None or disabled: each request scored alone)."""
    return server_for(DataPlane.load(build_dir, env, max_batch, batching))
