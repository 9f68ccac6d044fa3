"""The model's input contract, read from its MLflow signature (MLmodel `signature.inputs`), without importing
mlflow. The server validates every request against it and turns it into one float64 array of shape
(rows, *row_shape) before scoring.

Two signature kinds (MLflow's schema JSON, see mlflow.types.schema): a tensor spec
`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1, 8, 8]}}]` and a column spec
`[{"type": "double", "name": "alcohol", "required": true}, ...]`. Numeric inputs only for now.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

# MLflow column types → numpy dtype; boolean/string/binary/datetime columns are not numeric features.
COLUMN_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}
NUMERIC_TENSOR_DTYPES = {
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
}
# Open Inference Protocol v2 tensor datatypes per numpy dtype (KServe/Triton "datatype" strings).
V2_DATATYPES = {
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
}
V2_NUMERIC = frozenset(V2_DATATYPES.values())


class SignatureError(Exception):
    """The model's signature is missing or is not one this server can validate (the model is then not ready)."""


@dataclass(frozen=True)
class InputSchema:
    """What one request row is. `row_shape` is the shape of one row (tensor: the spec's shape without the batch
    dimension, -1 = any length; columns: (number of columns,)); `names` are the column names (empty for a
    tensor); `dtypes` the numpy dtype per column, or the one tensor dtype; `tensor_name` the spec's name if any."""

    kind: str  # "tensor" | "columns"
    row_shape: tuple[int, ...]
    names: tuple[str, ...]
    dtypes: tuple[str, ...]
    tensor_name: str | None = None

    @property
    def n_values(self) -> int:
        """Numbers per row (a -1 dimension counts as 1; only used to size limits and messages)."""
        return math.prod(max(d, 1) for d in self.row_shape)

    @functools.cached_property
    def integer_columns(self) -> tuple[int, ...]:
        """Indexes of the integer-typed dtypes (a tensor has one dtype: (0,) or ())."""
        return tuple(i for i, d in enumerate(self.dtypes) if d.startswith(("int", "uint")))

    @property
    def is_integer(self) -> bool:
        return all(d.startswith(("int", "uint")) for d in self.dtypes)

    def describe_row(self) -> str:
        """'64 features', 'shape [1, 8, 8]' or '13 columns (alcohol, ...)': used in error messages."""
        if self.kind == "columns":
            return f"{len(self.names)} columns ({', '.join(self.names[:4])}{', ...' if len(self.names) > 4 else ''})"
        if len(self.row_shape) == 1:
            return f"{self.row_shape[0]} features"
        return f"shape {list(self.row_shape)}"

    def v2_inputs(self) -> list[dict[str, Any]]:
        """The inputs as Open Inference Protocol v2 model metadata declares them (name, datatype, shape)."""
        if self.kind == "columns":
            return [
                {"name": n, "datatype": V2_DATATYPES[d], "shape": [-1]}
                for n, d in zip(self.names, self.dtypes, strict=True)
            ]
        return [
            {
                "name": self.tensor_name or "input-0",
                "datatype": V2_DATATYPES[self.dtypes[0]],
                "shape": [-1, *self.row_shape],
            }
        ]

    def max_body_bytes(self, max_batch: int) -> int:
        """The largest honest body for `max_batch` rows in any supported protocol (bytes): 32 per number, plus
        the column names every record repeats; bodies above it are refused before they are read."""
        per_row = self.n_values * 32 + sum(len(n) + 6 for n in self.names) + 16
        return 4096 + max_batch * per_row


def parse_signature(mlmodel: dict[str, Any]) -> InputSchema:
    """The InputSchema of an MLmodel document (its YAML as a dict). SignatureError when there is no signature,
    more than one tensor, optional columns, or a non-numeric input."""
    sig = (mlmodel.get("signature") or {}).get("inputs")
    if not sig:
        raise SignatureError("the model has no input signature; log it with one (mlflow.models.infer_signature)")
    specs = json.loads(sig) if isinstance(sig, str) else sig
    if not isinstance(specs, list) or not specs:
        raise SignatureError(f"unreadable signature inputs: {sig!r}")
    if specs[0].get("type") == "tensor":
        if len(specs) != 1:
            raise SignatureError(f"the model takes {len(specs)} tensors; the server serves single-tensor models")
        spec = specs[0]["tensor-spec"]
        dtype, shape = str(spec["dtype"]), [int(d) for d in spec["shape"]]
        if dtype not in NUMERIC_TENSOR_DTYPES:
            raise SignatureError(f"tensor dtype {dtype} is not numeric; the server takes numeric tensors")
        if len(shape) < 2 or shape[0] != -1:
            raise SignatureError(f"tensor shape {shape} has no batch dimension first (-1)")
        return InputSchema("tensor", tuple(shape[1:]), (), (dtype,), specs[0].get("name"))
    names, dtypes = [], []
    for col in specs:
        ctype, name = col.get("type"), col.get("name")
        if name is None:
            raise SignatureError("unnamed columns in the signature; log the model with a named DataFrame example")
        if ctype not in COLUMN_DTYPES:
            raise SignatureError(
                f"column {name!r} has type {ctype}; the server takes numeric columns ({', '.join(COLUMN_DTYPES)})"
            )
        names.append(str(name))
        dtypes.append(COLUMN_DTYPES[ctype])
    return InputSchema("columns", (len(names),), tuple(names), tuple(dtypes))
