"""The model server's OpenAPI document, apart from the routes: each scoring route's request body and refusals,
as JSON schemas no stricter than the parsers (cxops.serving.protocols). FastAPI puts them into /openapi.json and
/docs (cxops.serving.asgi builds it on first use)."""

from __future__ import annotations

from typing import Any

from cxops.serving.signature import V2_NUMERIC, InputSchema


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _row_schema(schema: InputSchema | None) -> dict[str, Any]:
    """JSON schema of one /predict row: nested arrays of the tensor's row shape, or the columns as an array in
    signature order or an object by name."""
    number: dict[str, Any] = {"type": "number"}
    if schema is None:
        return {"type": "array", "items": number}
    if schema.kind == "columns":
        n = len(schema.names)
        return {
            "oneOf": [
                {"type": "array", "items": number, "minItems": n, "maxItems": n},
                {
                    "type": "object",
                    "required": list(schema.names),
                    "additionalProperties": False,
                    "properties": {name: number for name in schema.names},
                },
            ]
        }
    row = number
    for d in reversed(schema.row_shape):
        row = {"type": "array", "items": row, **({"minItems": d, "maxItems": d} if d > 0 else {})}
    return row


def predict_schema(schema: InputSchema | None, max_batch: int) -> dict[str, Any]:
    """OpenAPI of /predict and /explain for this model: at most `max_batch` rows shaped by its signature (any rows
    while no model is loaded); the refusals 413, 422 and 503 documented."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {
                            "inputs": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": max_batch,
                                "items": _row_schema(schema),
                                "description": "a batch of rows shaped as the model's signature; "
                                "every feature a JSON number",
                            }
                        },
                    }
                }
            },
        },
        "responses": {
            "413": _error("the body is larger than a batch of serving.max_batch rows can be; refused unread"),
            "415": _error("not application/json"),
            "422": _error(
                "not rows the model's signature takes (the message names the field), or numbers outside "
                "the model's numeric range"
            ),
            "503": _error("no model is loaded (see /readyz)"),
        },
    }


def _protocol_schema(description: str, body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI of a protocol's scoring route: `body` is the request body's JSON schema, no stricter than the parser
    (a body it allows may still be refused for the model's signature: 400 naming the field)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": description, **body}}},
        },
        "responses": {
            "400": _error(
                "the body does not match the protocol or the model's signature (the message names the field)"
            ),
            "413": _error("the body is larger than a batch of serving.max_batch rows can be; refused unread"),
            "415": _error("not application/json"),
            "503": _error("no model is loaded (see /readyz)"),
            **extra,
        },
    }


_NUMBER: dict[str, Any] = {"type": "number"}
INVOCATIONS_SCHEMA = _protocol_schema(
    "MLflow scoring protocol: exactly one of inputs, instances, dataframe_split, dataframe_records",
    {
        "minProperties": 1,
        "properties": {
            "inputs": {"description": "rows (or {column: values}, or {tensor name: rows})"},
            "instances": {"description": "rows, as inputs"},
            "dataframe_split": {
                "type": "object",
                "required": ["data"],
                "properties": {  # columns: only a DataFrame signature reads them
                    "data": {"type": "array", "items": {"type": "array", "items": _NUMBER}},
                },
            },
            "dataframe_records": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": _NUMBER},
            },
        },
    },
    {},
)
V2_INFER_SCHEMA = _protocol_schema(
    "Open Inference Protocol v2 inference request: "
    '{"inputs": [{"name", "shape", "datatype", "data"}], "outputs"?, "id"?}',
    {
        "required": ["inputs"],
        "properties": {
            "inputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                        "datatype": {"type": "string", "enum": sorted(V2_NUMERIC)},
                        "data": {"type": "array"},
                    },
                },
            },
            "outputs": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            },
        },
    },
    {"404": _error("no model of that name or version is served here")},
)
V2_MODEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _error("no model of that name or version is served here"),
    503: _error("no model is loaded"),
}
NOT_READY: dict[int | str, dict[str, Any]] = {503: _error("no model is loaded")}
