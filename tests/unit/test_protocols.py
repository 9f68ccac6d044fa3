"""The protocol parsers and the signature reader on their own: every accepted form gives the same array, every
refusal names the field. (The same parsers behind a real server: tests/integration/test_models.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cxops.serving import protocols
from cxops.serving.protocols import BadRequest
from cxops.serving.signature import SignatureError, parse_signature

TENSOR = parse_signature(
    {
        "signature": {
            "inputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1, 2, 2]}}])
        }
    }
)
FLAT = parse_signature(
    {"signature": {"inputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}])}}
)
COLUMNS = parse_signature(
    {
        "signature": {
            "inputs": json.dumps(
                [{"type": "double", "name": "a"}, {"type": "double", "name": "b"}, {"type": "long", "name": "c"}]
            )
        }
    }
)
ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_signature_kinds_and_refusals():
    assert (TENSOR.kind, TENSOR.row_shape, TENSOR.dtypes) == ("tensor", (1, 2, 2), ("float32",))
    assert (COLUMNS.kind, COLUMNS.names, COLUMNS.dtypes) == ("columns", ("a", "b", "c"), ("float64",) * 2 + ("int64",))
    assert COLUMNS.v2_inputs()[2] == {"name": "c", "datatype": "INT64", "shape": [-1]}
    with pytest.raises(SignatureError, match="no input signature"):
        parse_signature({})
    with pytest.raises(SignatureError, match="column 's' has type string"):
        parse_signature({"signature": {"inputs": json.dumps([{"type": "string", "name": "s"}])}})


def test_every_columns_form_gives_the_same_array():
    want = np.asarray(ROWS)
    records = [dict(zip("abc", r, strict=True)) for r in ROWS]
    forms = [
        protocols.predict_body({"inputs": ROWS}, COLUMNS, 10),
        protocols.predict_body({"inputs": records}, COLUMNS, 10),
        protocols.invocations_body({"inputs": {"a": [1.0, 4.0], "b": [2.0, 5.0], "c": [3, 6]}}, COLUMNS, 10),
        protocols.invocations_body({"instances": records}, COLUMNS, 10),
        protocols.invocations_body(
            {"dataframe_split": {"columns": ["c", "a", "b"], "index": [0, 1], "data": [[3, 1.0, 2.0], [6, 4.0, 5.0]]}},
            COLUMNS,
            10,
        ),
        protocols.invocations_body({"dataframe_records": records}, COLUMNS, 10),
        protocols.v2_body(
            {
                "inputs": [
                    {"name": n, "shape": [2], "datatype": "FP64", "data": [r[j] for r in ROWS]}
                    for j, n in enumerate("abc")
                ]
            },
            COLUMNS,
            10,
        )[0],
        protocols.v2_body({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": ROWS}]}, COLUMNS, 10)[
            0
        ],
    ]
    for X in forms:
        np.testing.assert_array_equal(X, want)


def test_tensor_forms_and_shapes():
    img = [[[[1.0, 2.0], [3.0, 4.0]]]]
    X = protocols.predict_body({"inputs": img}, TENSOR, 10)
    assert X.shape == (1, 1, 2, 2)
    flat = protocols.invocations_body(
        {"dataframe_split": {"columns": list("wxyz"), "data": [[1.0, 2.0, 3.0, 4.0]]}}, TENSOR, 10
    )
    np.testing.assert_array_equal(flat, X)
    v2 = protocols.v2_body(
        {"inputs": [{"name": "i", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}], "id": "r"},
        TENSOR,
        10,
    )
    np.testing.assert_array_equal(v2[0], X)
    assert v2[1] == "r"


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: protocols.predict_body({"inputs": [[1.0, 2.0]]}, FLAT, 10), "inputs[0]: needs 3 features, got 2"),
        (lambda: protocols.predict_body({"inputs": [[1.0, "x", 3.0]]}, FLAT, 10), "inputs[0][1]: every feature"),
        (lambda: protocols.predict_body({"inputs": [[1.0, True, 3.0]]}, FLAT, 10), "got true/false"),
        (lambda: protocols.predict_body({"inputs": [[[[1.0, 2.0], [3.0]]]]}, TENSOR, 10), "inputs[0][0][1]"),
        (lambda: protocols.predict_body({"inputs": ROWS * 6}, FLAT, 10), "exceeds the limit of 10"),
        (lambda: protocols.predict_body({"rows": ROWS}, FLAT, 10), "expected a JSON object"),
        (lambda: protocols.invocations_body({"inputs": ROWS, "instances": ROWS}, FLAT, 10), "exactly one of"),
        (
            lambda: protocols.invocations_body({"dataframe_records": [{"a": 1.0, "b": 2.0}]}, COLUMNS, 10),
            "dataframe_records[0]: missing column 'c'",
        ),
        (
            lambda: protocols.invocations_body(
                {"dataframe_records": [{"a": 1.0, "b": 2.0, "c": 1, "d": 0}]}, COLUMNS, 10
            ),
            "unknown column 'd'",
        ),
        (
            lambda: protocols.invocations_body({"dataframe_records": [{"a": 1.0, "b": "2", "c": 1}]}, COLUMNS, 10),
            "dataframe_records[0].b: every feature",
        ),
        (
            lambda: protocols.invocations_body(
                {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3.5]]}}, COLUMNS, 10
            ),
            "integers",
        ),
        (
            lambda: protocols.v2_body(
                {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]}]}, COLUMNS, 10
            ),
            "missing inputs 'b', 'c'",
        ),
        (
            lambda: protocols.v2_body(
                {"inputs": [{"name": "i", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, TENSOR, 10
            ),
            "inputs[0].shape [1, 4]",
        ),
        (
            lambda: protocols.v2_body(
                {"inputs": [{"name": "i", "shape": [1, 3], "datatype": "FP32", "data": [1, 2]}]}, FLAT, 10
            ),
            "holds 2 values; shape [1, 3] needs 3",
        ),
        (
            lambda: protocols.v2_body(
                {"inputs": [{"name": "i", "shape": [1, 3], "datatype": "BYTES", "data": ["a"]}]}, FLAT, 10
            ),
            "datatype 'BYTES'",
        ),
    ],
)
def test_refusals_name_the_field(call, needle: str):
    with pytest.raises(BadRequest) as exc:
        call()
    assert needle in exc.value.message and 400 <= exc.value.status < 500
