"""Property-based tests (hypothesis) of the request parsers' shape, datatype and column rules (issue 26, classes 5
and 6). The same parsers behind a real server, on both the direct path and uvicorn's ASGI cycle:
tests/integration/test_serving_protocol_rules.py.

- Open Inference Protocol v2: a tensor's data is one flat row-major list, or nested exactly as its shape; any
  other nesting (ragged, transposed, deeper, shallower) is 400 naming `inputs[0].data...`. Every value must be
  representable in the declared datatype: INTn/UINTn integers within range, FP16/FP32 finite.
- MLflow `dataframe_records`: aligned by column name (keys in any order), as pandas.DataFrame(records) does; a
  missing or unknown column is 400 naming it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cxops.serving import protocols
from cxops.serving.protocols import BadRequest
from cxops.serving.signature import parse_signature

MAX_BATCH = 50
# the v2 integer datatypes' ranges (n-bit two's complement / unsigned), restated here from the protocol
V2_INTEGER_RANGES = {f"INT{n}": (-(2 ** (n - 1)), 2 ** (n - 1) - 1) for n in (8, 16, 32, 64)}
V2_INTEGER_RANGES |= {f"UINT{n}": (0, 2**n - 1) for n in (8, 16, 32, 64)}
EXAMPLES = settings(max_examples=150, deadline=None)


def tensor_schema(row_shape: tuple[int, ...], dtype: str = "float64"):
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": [-1, *row_shape]}}
    return parse_signature({"signature": {"inputs": json.dumps([spec])}})


def nested(flat: list, shape: list[int]) -> list:
    """`flat` nested as `shape` in row-major order."""
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [nested(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def v2(shape: list[int], data: list, datatype: str = "FP64") -> dict:
    return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}


shapes = st.lists(st.integers(1, 4), min_size=2, max_size=4)
numbers = st.floats(-1e6, 1e6, allow_nan=False)


@EXAMPLES
@given(shape=shapes, data=st.data())
def test_property_flat_and_shape_nested_data_give_the_same_tensor(shape, data):
    flat = data.draw(st.lists(numbers, min_size=math.prod(shape), max_size=math.prod(shape)))
    schema = tensor_schema(tuple(shape[1:]))
    want = np.asarray(flat, dtype=np.float64).reshape(shape)
    for body in (v2(shape, flat), v2(shape, nested(flat, shape))):
        np.testing.assert_array_equal(protocols.v2_body(body, schema, MAX_BATCH)[0], want)


def _mis_nestings(flat: list, shape: list[int]) -> list[tuple[str, list]]:
    """Data whose values are the tensor's but whose nesting is not its shape."""
    out = []
    if shape[0] != shape[1]:  # transposed: the first two dimensions swapped
        out.append(("transposed", nested(flat, [shape[1], shape[0], *shape[2:]])))
    deep = nested(flat, shape)  # one nesting level more than the shape (3-D data declared 2-D, ...)
    out.append(("deeper", nested([[v] for v in flat], [*shape, 1])))
    ragged = json.loads(json.dumps(deep))
    inner = ragged
    while type(inner[0][0]) is list:
        inner = inner[0]
    inner[0] = inner[0][:-1]  # one value short in the first innermost list
    out.append(("ragged", ragged))
    if len(shape) > 2:
        out.append(("shallower", nested(flat, [shape[0], math.prod(shape[1:])])))
    return out


@EXAMPLES
@given(shape=shapes, data=st.data())
def test_property_data_nested_unlike_its_shape_is_400_naming_the_data(shape, data):
    flat = data.draw(st.lists(numbers, min_size=math.prod(shape), max_size=math.prod(shape)))
    schema = tensor_schema(tuple(shape[1:]))
    for kind, body_data in _mis_nestings(flat, shape):
        with pytest.raises(BadRequest) as exc:
            protocols.v2_body(v2(shape, body_data), schema, MAX_BATCH)
        assert exc.value.status == 400, kind
        assert exc.value.message.startswith("inputs[0].data"), (kind, exc.value.message)
        assert f"shape {shape}" in exc.value.message, (kind, exc.value.message)


@EXAMPLES
@given(
    datatype=st.sampled_from(sorted(V2_INTEGER_RANGES)),
    values=st.lists(st.one_of(st.integers(-(2**65), 2**65), st.floats(-1e20, 1e20, allow_nan=False)), max_size=6),
)
def test_property_integer_datatypes_take_exactly_the_integers_in_range(datatype, values):
    values = [1, *values]
    lo, hi = V2_INTEGER_RANGES[datatype]
    ok = all((type(v) is int or v.is_integer()) and lo <= v <= hi for v in values)
    schema = tensor_schema((len(values),))
    body = v2([1, len(values)], values, datatype)
    if ok:
        protocols.v2_body(body, schema, MAX_BATCH)
        return
    with pytest.raises(BadRequest) as exc:
        protocols.v2_body(body, schema, MAX_BATCH)
    k = next(i for i, v in enumerate(values) if not ((type(v) is int or v.is_integer()) and lo <= v <= hi))
    assert exc.value.status == 400
    assert exc.value.message.startswith(f"inputs[0].data[{k}]") and datatype in exc.value.message, exc.value.message


@pytest.mark.parametrize(
    ("datatype", "value", "rule"),
    [
        ("INT64", 2.5, "has a fraction"),
        ("UINT8", 256, "range 0..255"),
        ("UINT8", -1, "range 0..255"),
        ("INT8", 128, "range -128..127"),
        ("FP16", 70000.0, "FP16's range"),
        ("FP32", 1e39, "FP32's range"),
    ],
)
def test_values_the_datatype_cannot_hold_are_refused(datatype, value, rule):
    with pytest.raises(BadRequest) as exc:
        protocols.v2_body(v2([1, 3], [0, value, 1], datatype), tensor_schema((3,)), MAX_BATCH)
    assert exc.value.status == 400 and exc.value.message.startswith("inputs[0].data[1]") and rule in exc.value.message


COLUMNS = parse_signature(
    {
        "signature": {
            "inputs": json.dumps(
                [{"type": "double", "name": n} for n in ("alcohol", "ash", "hue")]
                + [{"type": "long", "name": "proline"}]
            )
        }
    }
)
column_names = st.lists(
    st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=5), min_size=2, max_size=6
).filter(lambda names: len(set(names)) == len(names))


@EXAMPLES
@given(names=column_names, n_rows=st.integers(1, 5), data=st.data())
def test_property_records_are_aligned_by_name_for_a_tensor_signature(names, n_rows, data):
    schema = tensor_schema((len(names),))
    rows = [[float(r * 10 + j) for j in range(len(names))] for r in range(n_rows)]
    records = []
    for row in rows:  # each record's keys in its own order
        order = data.draw(st.permutations(range(len(names))))
        records.append({names[j]: row[j] for j in order})
    X = protocols.invocations_body({"dataframe_records": records}, schema, MAX_BATCH)
    first = list(records[0])  # pandas.DataFrame(records): the columns in the order they first appear
    want = [[row[names.index(c)] for c in first] for row in rows]
    np.testing.assert_array_equal(X, np.asarray(want))


@EXAMPLES
@given(n_rows=st.integers(1, 5), data=st.data())
def test_property_records_are_aligned_by_name_for_a_columns_signature(n_rows, data):
    names = list(COLUMNS.names)
    rows = [[float(r), 1.0 + r, 2.0 + r, 3 + r] for r in range(n_rows)]
    records = [{names[j]: row[j] for j in data.draw(st.permutations(range(len(names))))} for row in rows]
    X = protocols.invocations_body({"dataframe_records": records}, COLUMNS, MAX_BATCH)
    np.testing.assert_array_equal(X, np.asarray(rows))


@EXAMPLES
@given(names=column_names, data=st.data())
def test_property_a_missing_or_unknown_column_is_400_naming_it(names, data):
    schema = tensor_schema((len(names),))
    good = {n: 1.0 for n in names}
    dropped = data.draw(st.sampled_from(names))
    extra = data.draw(st.text(st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=4))
    assume(extra not in names)
    bad = {n: v for n, v in good.items() if n != dropped} | {extra: 2.0}
    for schema_, first in ((schema, good), (COLUMNS, dict.fromkeys(COLUMNS.names, 1.0))):
        if schema_ is COLUMNS:
            dropped = data.draw(st.sampled_from(COLUMNS.names))
            bad = {n: v for n, v in first.items() if n != dropped} | {extra: 2.0}
        with pytest.raises(BadRequest) as exc:
            protocols.invocations_body({"dataframe_records": [first, bad]}, schema_, MAX_BATCH)
        message = exc.value.message
        assert exc.value.status == 400 and message.startswith("dataframe_records[1]: "), message
        assert f"missing column {dropped!r}" in message and f"unknown column {extra!r}" in message, message


def test_records_with_keys_in_another_order_are_not_read_by_position():
    """The case from the bug report: the second record lists its columns in another order."""
    schema = tensor_schema((3,))
    body = {"dataframe_records": [{"c0": 1.0, "c1": 2.0, "c2": 3.0}, {"c2": 6.0, "c0": 4.0, "c1": 5.0}]}
    X = protocols.invocations_body(body, schema, MAX_BATCH)
    np.testing.assert_array_equal(X, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
