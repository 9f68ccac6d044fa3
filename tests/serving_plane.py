"""A model server's data plane (cxops.serving.dataplane) over a small linear model made here, and a way to send it
requests in process, for the tests that build one protocol's routes alone (tests/unit/test_routes_*.py).

The model is a real LoadedModel on the real linear scorer (cxops.serving.linear) with weights chosen here, not a
stand-in: what the tests check is the routes, and a model from MLflow would add minutes and nothing they assert.
The servers on real builds from the lab's MLflow are in tests/integration/test_serving*.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import numpy as np

from cxops.serving.asgi import ModelServer
from cxops.serving.dataplane import DataPlane
from cxops.serving.linear import LinearModel
from cxops.serving.model_dir import LoadedModel
from cxops.serving.signature import parse_signature

NAME, VERSION = "iris-like", "7"
FEATURES = 3
CLASSES = [0, 1, 2]
COEF = np.array([[2.0, -1.0, 0.5], [-1.0, 1.5, 0.0], [0.0, -0.5, 1.0]])
INTERCEPT = np.array([0.1, -0.2, 0.3])
MEAN = np.array([1.0, 2.0, 3.0])
SCALE = np.array([2.0, 1.0, 0.5])


def linear_model() -> LoadedModel:
    """A 3-feature, 3-class softmax-linear model behind a scaler, with a float64 tensor signature."""
    schema = parse_signature(
        {
            "signature": {
                "inputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}])
            }
        }
    )
    linear = LinearModel(MEAN, SCALE, COEF, INTERCEPT, np.array(CLASSES))
    return LoadedModel(
        schema=schema,
        classes=CLASSES,
        class_names=["a", "b", "c"],
        version={"name": NAME, "version": VERSION},
        flavor="sklearn",
        scorer="linear",
        linear=linear,
    )


def plane(loaded: bool = True, max_batch: int = 8) -> DataPlane:
    """The data plane of linear_model() (or of no model: `loaded` False, as a model that failed to load)."""
    lineage = {"name": NAME, "version": VERSION, "run_id": "r1"}
    if not loaded:
        return DataPlane(None, "model file unreadable", lineage, None, "test", max_batch)
    return DataPlane(linear_model(), None, lineage, "sha256:00", "test", max_batch)


def expected_proba(rows: list[list[float]]) -> np.ndarray:
    """The model's probabilities written out independently: standardise, logits, max-shifted softmax."""
    z = ((np.asarray(rows) - MEAN) / SCALE) @ COEF.T + INTERCEPT
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def server(*protocols: Any, over: DataPlane | None = None) -> ModelServer:
    """A ModelServer with only these route modules' routes (each `add_routes(app, plane)`)."""
    app = ModelServer(title="test", version="1")
    p = over if over is not None else plane()
    for protocol in protocols:
        protocol.add_routes(app, p)
    return app


def request(app: ModelServer, method: str, path: str, body: Any = None) -> httpx.Response:
    """One request to `app` in process (httpx's ASGI transport); `body` sent as JSON when given."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(go())
