"""MLServer (Seldon's inference server) with its MLflow runtime, the peer with adaptive batching of its own.

Installed by scripts/install-mlserver in a venv of its own (.tools/mlserver: MLServer 1.7.1 pins a FastAPI the
project's lock is past), with the models' packages at the project's versions. It loads the same registered version
as `mlflow models serve` (`models:/NAME/VERSION` through the lab's tracking server). Its adaptive batching applies
to the Open Inference Protocol v2 `infer` route only (its `/invocations` is a custom handler that is never batched),
so it is loaded there, with the v2 form of the same single row.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".tools" / "mlserver" / "bin" / "mlserver"
NAME = "model"  # the name MLServer serves it under: the route is /v2/models/model/infer


def settings_dir(
    where: Path, model_uri: str, ports: tuple[int, int, int], max_batch_size: int, max_batch_time_s: float
) -> Path:
    """A settings folder for `mlserver start` (settings.json, model-settings.json): HTTP, gRPC and metrics on the
    given loopback ports; adaptive batching when `max_batch_size` > 1 (MLServer's max_batch_size requests,
    max_batch_time seconds). Everything else is MLServer's default (one inference worker process)."""
    http, grpc, metrics = ports
    where.mkdir(parents=True, exist_ok=True)
    (where / "settings.json").write_text(
        json.dumps({"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics})
    )
    model: dict[str, object] = {
        "name": NAME,
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": model_uri},
    }
    if max_batch_size > 1:
        model.update({"max_batch_size": max_batch_size, "max_batch_time": max_batch_time_s})
    (where / "model-settings.json").write_text(json.dumps(model))
    return where


def argv(folder: Path) -> list[str]:
    if not BIN.exists():
        raise SystemExit("MLServer is not installed: run scripts/install-mlserver")
    return [str(BIN), "start", str(folder)]


def v2_body(build_dir: Path) -> bytes:
    """The first golden row as a v2 inference request in the form MLServer's MLflow runtime decodes by the
    signature: one input per column for a DataFrame signature, one tensor named input-0 otherwise."""
    from cxops.serving.model_dir import read_mlmodel
    from cxops.serving.signature import V2_DATATYPES, parse_signature

    row = json.loads((build_dir / "golden.json").read_text())["inputs"][0]
    schema = parse_signature(read_mlmodel(build_dir / "model"))
    if schema.kind == "columns":
        values = list(row.values()) if isinstance(row, dict) else row
        inputs = [
            {"name": n, "shape": [1], "datatype": V2_DATATYPES[d], "data": [v]}
            for n, d, v in zip(schema.names, schema.dtypes, values, strict=True)
        ]
    else:
        flat: list[float] = []

        def walk(x: object) -> None:
            if isinstance(x, list):
                for y in x:
                    walk(y)
            else:
                flat.append(float(x))  # type: ignore[arg-type]

        walk(row)
        inputs = [
            {
                "name": "input-0",
                "shape": [1, *schema.row_shape],
                "datatype": V2_DATATYPES[schema.dtypes[0]],
                "data": flat,
            }
        ]
    return json.dumps({"inputs": inputs}).encode()
