"""Request parsers of the three protocols the server speaks, each turning a JSON body into the one float64 array
(rows, *row_shape) that the one scoring path takes, validated against the model's signature:

- cxops `/predict` and `/explain`: `{"inputs": [row, ...]}`, a row nested to the tensor's shape, or a list in
  column order / an object by column name for a DataFrame signature;
- MLflow's scoring protocol (`POST /invocations`, what `mlflow models serve` and mlflow.deployments send): exactly
  one of `inputs`, `instances`, `dataframe_split`, `dataframe_records` (mlflow.pyfunc.scoring_server);
- the Open Inference Protocol v2 REST (KServe, Triton, MLServer): `{"inputs": [{"name", "shape", "datatype",
  "data"}], "outputs"?, "id"?, "parameters"?}`.

Every refusal is a `BadRequest` whose message names the offending field (`inputs[2][5]`,
`dataframe_records[1].alcohol`, `inputs[0].shape`); the server maps it to the protocol's 4xx.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import numpy as np

from cxops.serving.signature import V2_NUMERIC, InputSchema

NUMBER_TYPES = frozenset((int, float))  # orjson gives int or float for a JSON number; bool is its own type
TYPE_NAMES = {"bool": "true/false", "str": "strings", "NoneType": "null", "list": "lists", "dict": "objects"}
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MLFLOW_KEY_SET = frozenset(MLFLOW_KEYS)


class BadRequest(Exception):
    """A body the server refuses: one sentence naming the field, and the HTTP status (4xx)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _type_name(v: Any) -> str:
    return TYPE_NAMES.get(type(v).__name__, type(v).__name__)


def _first_non_number(value: Any, where: str) -> tuple[str, Any] | None:
    """Path and value of the first leaf that is not a JSON number (the slow path, only after a refusal)."""
    if type(value) is list:
        for j, v in enumerate(value):
            if (hit := _first_non_number(v, f"{where}[{j}]")) is not None:
                return hit
        return None
    return None if type(value) in NUMBER_TYPES else (where, value)


def _check_numbers(kinds: set[type], value: Any, where: str) -> None:
    if not kinds <= NUMBER_TYPES:
        hit = _first_non_number(value, where)
        at, bad = hit if hit is not None else (where, None)
        raise BadRequest(f"{at}: every feature must be a JSON number; got {_type_name(bad)}")


def _check_nested(value: Any, shape: tuple[int, ...], where: str, kinds: set[type], what: str) -> None:
    """Walk one row against `shape` (-1 = any length), collecting leaf types C-level per innermost list."""
    want = shape[0]
    if type(value) is not list or (want != -1 and len(value) != want):
        got = len(value) if type(value) is list else _type_name(value)
        if len(shape) == 1 and what:
            raise BadRequest(f"{where}: needs {what}, got {got} (every row the same length)")
        raise BadRequest(f"{where}: expected a list of length {want if want != -1 else 'n'}, got {got}")
    if len(shape) == 1:
        kinds.update(map(type, value))
        return
    for j, v in enumerate(value):
        _check_nested(v, shape[1:], f"{where}[{j}]", kinds, what)


def _batch(n: int, max_batch: int, where: str) -> None:
    if n == 0:
        raise BadRequest(f"{where} must be a non-empty list of rows")
    if n > max_batch:
        raise BadRequest(f"{where}: batch of {n} rows exceeds the limit of {max_batch}")


def _to_array(rows: Any, schema: InputSchema, where: str, columns_first: bool = False) -> np.ndarray:
    """`rows` as a float64 array (`where` names them in a refusal): one shape for every row, integers where the
    signature takes integers."""
    try:
        X = np.asarray(rows, dtype=np.float64)
        if columns_first:  # built column by column: rows are the second axis
            X = X.T.copy()
    except (ValueError, TypeError):  # -1 dimensions of different lengths
        raise BadRequest(f"{where}: rows differ in shape; every row must have the same shape") from None
    integer = schema.integer_columns
    if schema.kind == "tensor" and integer and not np.array_equal(X, np.round(X)):
        raise BadRequest(f"{where}: the model takes integers ({schema.dtypes[0]}); got fractional numbers")
    if schema.kind == "columns" and X.ndim == 2 and X.shape[1] == len(schema.names):
        for j in integer:
            if not np.array_equal(X[:, j], np.round(X[:, j])):
                raise BadRequest(
                    f"{where}: column {schema.names[j]!r} takes integers ({schema.dtypes[j]}); got fractional numbers"
                )
    return X


def rows(value: Any, schema: InputSchema, max_batch: int, where: str = "inputs") -> np.ndarray:
    """A list of rows: nested to the tensor's row shape, or (DataFrame signature) lists in column order or
    objects by column name."""
    if type(value) is not list:
        raise BadRequest(f"{where} must be a non-empty list of rows, got {_type_name(value)}")
    _batch(len(value), max_batch, where)
    if schema.kind == "columns" and type(value[0]) is dict:
        return records(value, schema, max_batch, where)
    kinds: set[type] = set()
    shape = schema.row_shape
    if len(shape) == 1:  # flat rows, the common case: one pass, messages built only for a refusal
        want = shape[0]
        for row in value:
            if type(row) is not list or (want != -1 and len(row) != want):
                _refuse_rows(value, schema, where)
            kinds.update(map(type, row))
    else:
        for i, row in enumerate(value):
            _check_nested(row, shape, f"{where}[{i}]", kinds, "")
    _check_numbers(kinds, value, where)
    return _to_array(value, schema, where)


def _refuse_rows(value: list[Any], schema: InputSchema, where: str) -> NoReturn:
    """Raise the BadRequest naming the first row of `value` that is not a list of the row's length."""
    for i, row in enumerate(value):
        _check_nested(row, schema.row_shape, f"{where}[{i}]", set(), schema.describe_row())
    raise AssertionError("_refuse_rows called on valid rows")


def _flat_rows(data: list[list[Any]], schema: InputSchema, where: str) -> np.ndarray:
    """DataFrame-shaped rows (one flat list per row) for a tensor signature: C-order values of one row."""
    n_values = schema.n_values
    kinds: set[type] = set()
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != n_values:
            got = len(row) if type(row) is list else _type_name(row)
            raise BadRequest(f"{where}[{i}]: needs {n_values} values ({schema.describe_row()}), got {got}")
        kinds.update(map(type, row))
    _check_numbers(kinds, data, where)
    return _to_array(data, schema, where).reshape(len(data), *[max(d, 1) for d in schema.row_shape])


def records(value: Any, schema: InputSchema, max_batch: int, where: str = "dataframe_records") -> np.ndarray:
    """A list of objects column → number (pandas' "records" orient), aligned by column name as MLflow's
    pandas.DataFrame(records) aligns them: keys in any order. A DataFrame signature names the columns; for a tensor
    signature the first record's keys are the columns (in its order) and every record must have exactly those.
    A record with a missing or unknown column is refused naming them all."""
    if type(value) is not list:
        raise BadRequest(f"{where} must be a list of objects (one per row), got {_type_name(value)}")
    _batch(len(value), max_batch, where)
    if type(value[0]) is not dict:
        raise BadRequest(f"{where}[0] must be an object of column: number, got {_type_name(value[0])}")
    names = schema.names if schema.kind == "columns" else tuple(value[0])
    whose = "the model's columns" if schema.kind == "columns" else f"the columns of {where}[0]"
    keys = dict.fromkeys(names).keys()  # a keys view: compared with each record's keys as a set, in C
    out = []
    for i, rec in enumerate(value):
        if type(rec) is not dict:
            raise BadRequest(f"{where}[{i}] must be an object of column: number, got {_type_name(rec)}")
        if rec.keys() != keys:
            _column_mismatch(list(rec), names, f"{where}[{i}]", whose=whose)
        out.append([rec[n] for n in names])
    for i, row in enumerate(out):
        for j, v in enumerate(row):
            if type(v) not in NUMBER_TYPES:
                raise BadRequest(f"{where}[{i}].{names[j]}: every feature must be a JSON number; got {_type_name(v)}")
    if schema.kind != "columns":
        return _flat_rows(out, schema, where)
    return _to_array(out, schema, where)


NAMED_AT_MOST = 8  # names listed in one refusal; the rest are counted


def _listed(items: list[Any]) -> str:
    shown = ", ".join(repr(x) for x in items[:NAMED_AT_MOST])
    return shown + (f" (and {len(items) - NAMED_AT_MOST} more)" if len(items) > NAMED_AT_MOST else "")


def _column_mismatch(
    got: list[Any], names: tuple[str, ...], where: str, whose: str = "the model's columns", noun: str = "column"
) -> NoReturn:
    """BadRequest naming every missing and every unknown name (up to NAMED_AT_MOST of each), and what is valid."""
    missing = [n for n in names if n not in got]
    extra = list(dict.fromkeys(g for g in got if g not in names))
    parts = [
        f"{label} {noun}{'s' if len(found) > 1 else ''} {_listed(found)}"
        for label, found in (("missing", missing), ("unknown", extra))
        if found
    ] or [f"{noun}s repeat"]
    raise BadRequest(f"{where}: {'; '.join(parts)}; {whose} are {_listed(list(names))}")


def split(value: Any, schema: InputSchema, max_batch: int, where: str = "dataframe_split") -> np.ndarray:
    """pandas' "split" orient: {"columns": [...], "data": [[...], ...], "index"?: [...]}."""
    if type(value) is not dict or "data" not in value:
        raise BadRequest(f'{where} must be an object {{"columns": [...], "data": [[...], ...]}}')
    data, columns = value["data"], value.get("columns")
    if type(data) is not list:
        raise BadRequest(f"{where}.data must be a list of rows, got {_type_name(data)}")
    _batch(len(data), max_batch, f"{where}.data")
    if schema.kind != "columns":
        return _flat_rows(data, schema, f"{where}.data")
    if columns is None:
        return rows(data, schema, max_batch, f"{where}.data")
    if type(columns) is not list or len(columns) != len(schema.names) or set(columns) != set(schema.names):
        _column_mismatch(columns if type(columns) is list else [], schema.names, f"{where}.columns")
    X = rows(data, schema, max_batch, f"{where}.data")
    order = [columns.index(n) for n in schema.names]
    return X[:, order]


def columnar(value: dict[str, Any], schema: InputSchema, max_batch: int, where: str) -> np.ndarray:
    """{column: [values]}: MLflow's columnar `inputs` for a DataFrame signature."""
    if len(value) != len(schema.names) or any(n not in value for n in schema.names):
        _column_mismatch(list(value), schema.names, where)
    cols = []
    for n in schema.names:
        col = value[n]
        if type(col) is not list:
            col = [col]
        if not all(type(v) in NUMBER_TYPES for v in col):
            bad = next(v for v in col if type(v) not in NUMBER_TYPES)
            raise BadRequest(f"{where}.{n}: every feature must be a JSON number; got {_type_name(bad)}")
        cols.append(col)
    if len({len(c) for c in cols}) != 1:
        raise BadRequest(f"{where}: columns have different lengths {sorted({len(c) for c in cols})}")
    _batch(len(cols[0]), max_batch, where)
    return _to_array(cols, schema, where, columns_first=True)


def predict_body(doc: Any, schema: InputSchema, max_batch: int) -> np.ndarray:
    """cxops' /predict and /explain: {"inputs": [row, ...]}."""
    if type(doc) is not dict or "inputs" not in doc:
        raise BadRequest('expected a JSON object {"inputs": [[...], ...]}')
    return rows(doc["inputs"], schema, max_batch)


def invocations_body(doc: Any, schema: InputSchema, max_batch: int) -> np.ndarray:
    """MLflow's /invocations: exactly one of dataframe_split, dataframe_records, instances, inputs (and
    optionally `params`, which these models do not take)."""
    if type(doc) is not dict:
        raise BadRequest(f"expected a JSON object with one of {', '.join(MLFLOW_KEYS)}", 400)
    found = MLFLOW_KEY_SET.intersection(doc)  # one C call: the common body has just one key
    if len(found) != 1 or len(doc) != 1 + ("params" in doc):
        keys = [k for k in MLFLOW_KEYS if k in found]
        extra = sorted(set(doc) - MLFLOW_KEY_SET - {"params"})
        raise BadRequest(
            f"expected exactly one of {', '.join(MLFLOW_KEYS)}; got {', '.join(keys + extra) or 'none'}", 400
        )
    if doc.get("params"):
        raise BadRequest("params: this model takes no inference parameters", 400)
    (key,) = found
    try:
        value = doc[key]
        if key == "dataframe_split":
            return split(value, schema, max_batch)
        if key == "dataframe_records":
            return records(value, schema, max_batch)
        if schema.kind == "columns" and type(value) is dict:
            return columnar(value, schema, max_batch, key)
        if type(value) is dict:  # a named single tensor: {"inputs": {"name": [...]}}
            if len(value) != 1:
                raise BadRequest(f"{key}: the model takes one tensor, got {len(value)} named inputs")
            name, value = next(iter(value.items()))
            key = f"{key}.{name}"
        return rows(value, schema, max_batch, key)
    except BadRequest as exc:
        raise BadRequest(exc.message, 400) from None


def _v2_fail(message: str) -> BadRequest:
    return BadRequest(message, 400)


# The value range of each Open Inference Protocol v2 integer datatype (two's complement / unsigned, n bits).
V2_INTEGER_RANGES = {f"INT{n}": (-(2 ** (n - 1)), 2 ** (n - 1) - 1) for n in (8, 16, 32, 64)}
V2_INTEGER_RANGES |= {f"UINT{n}": (0, 2**n - 1) for n in (8, 16, 32, 64)}
V2_FLOAT_DTYPES: dict[str, Any] = {"FP16": np.float16, "FP32": np.float32}  # FP64 holds every JSON number


def _v2_nested(data: list[Any], shape: list[int], where: str) -> list[Any]:
    """Row-major values of data nested as the tensor's shape: a list of shape[0] lists of shape[1] ... of numbers.
    Ragged, transposed, deeper or shallower nesting is refused naming the first place it differs."""
    out: list[Any] = []
    rule = f"nested data must follow shape {shape} exactly (or be one flat list in row-major order)"

    def walk(value: Any, depth: int, at: str) -> None:
        want = shape[depth]
        if type(value) is not list:
            got = "a number" if type(value) in NUMBER_TYPES else _type_name(value)
            raise _v2_fail(f"{at}: {got} where a list of {want} is needed; {rule}")
        if len(value) != want:
            raise _v2_fail(f"{at}: {len(value)} elements where dimension {depth} of the shape is {want}; {rule}")
        if depth == len(shape) - 1:
            if any(type(v) is list for v in value):
                raise _v2_fail(f"{at}: nested deeper than the shape's {len(shape)} dimensions; {rule}")
            out.extend(value)
            return
        for j, v in enumerate(value):
            walk(v, depth + 1, f"{at}[{j}]")

    walk(data, 0, where)
    return out


def _v2_datatype(flat: list[Any], dtype: str, kinds: set[type], where: str) -> None:
    """Every value representable in the declared datatype: integers (no fraction) within an INTn/UINTn range,
    finite in FP16/FP32 (a JSON number has no infinity). Refused naming the first value, its row-major index and
    the rule."""
    if dtype in V2_INTEGER_RANGES:
        lo, hi = V2_INTEGER_RANGES[dtype]
        if kinds == {int} and (not flat or (lo <= min(flat) and max(flat) <= hi)):
            return
        for k, v in enumerate(flat):
            if type(v) is float and not v.is_integer():
                raise _v2_fail(f"{where}.data[{k}] (row-major): {v!r} has a fraction; datatype {dtype} takes integers")
            if not lo <= v <= hi:
                raise _v2_fail(f"{where}.data[{k}] (row-major): {v!r} is outside datatype {dtype}'s range {lo}..{hi}")
        return
    if dtype in V2_FLOAT_DTYPES and flat:
        with np.errstate(over="ignore"):
            finite = np.isfinite(np.asarray(flat, dtype=np.float64).astype(V2_FLOAT_DTYPES[dtype]))
        if not finite.all():
            k = int(np.argmin(finite))
            top = float(np.finfo(V2_FLOAT_DTYPES[dtype]).max)
            raise _v2_fail(f"{where}.data[{k}] (row-major): {flat[k]!r} is outside datatype {dtype}'s range ±{top:g}")


def _v2_tensor(t: Any, i: int, max_batch: int) -> tuple[str, list[int], list[Any]]:
    """One v2 request tensor → (name, shape, flat data), checked for form, datatype and element count."""
    where = f"inputs[{i}]"
    if type(t) is not dict:
        raise _v2_fail(f"{where} must be an object with name, shape, datatype, data")
    for key in ("name", "shape", "datatype", "data"):
        if key not in t:
            raise _v2_fail(f"{where}.{key} is missing")
    shape, dtype, data = t["shape"], t["datatype"], t["data"]
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise _v2_fail(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
    if dtype not in V2_NUMERIC:
        raise _v2_fail(f"{where}.datatype {dtype!r} is not a numeric tensor type ({', '.join(sorted(V2_NUMERIC))})")
    if type(data) is not list:
        raise _v2_fail(f"{where}.data must be a list, got {_type_name(data)}")
    _batch(shape[0], max_batch, f"{where}.shape[0]")
    n_values = math.prod(shape)
    if data and type(data[0]) is list:  # nested data must follow the declared shape exactly
        flat = _v2_nested(data, shape, f"{where}.data")
    elif len(data) != n_values:
        raise _v2_fail(f"{where}.data holds {len(data)} values; shape {shape} needs {n_values}")
    else:
        flat = data
    kinds = set(map(type, flat))
    if not kinds <= NUMBER_TYPES:
        bad = next(v for v in flat if type(v) not in NUMBER_TYPES)
        raise _v2_fail(f"{where}.data: every element must be a JSON number; got {_type_name(bad)}")
    _v2_datatype(flat, dtype, kinds, where)
    return str(t["name"]), shape, flat


def v2_body(doc: Any, schema: InputSchema, max_batch: int) -> tuple[np.ndarray, Any, list[str] | None]:
    """Open Inference Protocol v2 inference request → (array, request id, requested output names or None).
    A tensor signature takes one input of shape [n, *row_shape]; a DataFrame signature one input per column
    (shape [n] or [n, 1], named as the column) or one input of shape [n, columns]."""
    if type(doc) is not dict or type(doc.get("inputs")) is not list or not doc["inputs"]:
        raise _v2_fail('expected a JSON object {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    outputs = doc.get("outputs")
    wanted = None
    if outputs is not None:
        if type(outputs) is not list or not all(type(o) is dict and type(o.get("name")) is str for o in outputs):
            raise _v2_fail('outputs must be a list of objects {"name": ...}')
        wanted = [o["name"] for o in outputs]
    tensors = [_v2_tensor(t, i, max_batch) for i, t in enumerate(doc["inputs"])]
    if schema.kind == "columns" and (len(tensors) > 1 or tensors[0][0] in schema.names):
        by_name = {name: (shape, flat) for name, shape, flat in tensors}
        if len(by_name) != len(tensors) or set(by_name) != set(schema.names):
            _column_mismatch_v2([n for n, _, _ in tensors], schema.names)
        cols, n_rows = [], None
        order = [n for n, _, _ in tensors]
        for name in schema.names:
            shape, flat = by_name[name]
            i = order.index(name)
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                raise _v2_fail(f"inputs[{i}].shape {shape}: a column is [n] or [n, 1]")
            if n_rows is not None and shape[0] != n_rows:
                raise _v2_fail(f"inputs[{i}].shape[0] is {shape[0]}, other columns have {n_rows} rows")
            n_rows = shape[0]
            cols.append(flat)
        return _to_array(cols, schema, "inputs", columns_first=True), doc.get("id"), wanted
    if len(tensors) != 1:
        raise _v2_fail(f"inputs: the model takes one input tensor, got {len(tensors)}")
    name, shape, flat = tensors[0]
    expected = [len(schema.names)] if schema.kind == "columns" else list(schema.row_shape)
    if schema.tensor_name and name != schema.tensor_name:
        raise _v2_fail(f"inputs[0].name {name!r} is not an input of this model; expected {schema.tensor_name!r}")
    if len(shape) != 1 + len(expected) or any(w not in (-1, g) for w, g in zip(expected, shape[1:], strict=True)):
        raise _v2_fail(f"inputs[0].shape {shape}: the model takes [n, {', '.join(map(str, expected))}]")
    return _to_array(flat, schema, "inputs[0].data").reshape(shape), doc.get("id"), wanted


def _column_mismatch_v2(got: list[str], names: tuple[str, ...]) -> NoReturn:
    try:
        _column_mismatch(got, names, "inputs", whose="the model's inputs", noun="input")
    except BadRequest as exc:
        raise _v2_fail(exc.message) from None
